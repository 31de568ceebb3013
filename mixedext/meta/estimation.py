"""Estimation of the random-effects meta-regression: GLS at a given tau^2 and the four
estimators of tau^2 (REML, ML, DerSimonian-Laird, Paule-Mandel).

Every quantity is computed from the QR decomposition of the weighted design
``W^(1/2) X`` (``W = diag(w)``, ``w_i = 1 / (v_i + tau^2)``), never from ``(X'WX)^-1``
formed explicitly, so designs with badly scaled columns (a calendar year next to an
intercept) keep their accuracy. With ``H = Q Q'`` the hat matrix of the weighted fit,
``h_i`` its diagonal and ``P = W - W X (X'WX)^-1 X'W``:

* ``P y = w * r`` (``r`` the GLS residuals), so ``y'P y = sum(w r^2)`` (the generalised
  Q) and ``y'P P y = sum(w^2 r^2)``;
* ``tr(P) = sum(w (1 - h))`` and
  ``tr(P P) = sum(w^2) - 2 sum(h w^2) + ||Q' W Q||_F^2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

__all__ = ["Gls", "TauFit", "gls", "generalised_q", "solve_q", "estimate_tau2",
           "loglik", "METHODS"]

METHODS = ("REML", "ML", "DL", "PM")

_MAXITER = 200
_TOL = 1e-12  # relative change of tau^2 that ends Fisher scoring


@dataclass(frozen=True)
class Gls:
    """The GLS fit at one tau^2: weights, coefficients, their covariance
    ``(X'WX)^-1``, residuals ``y - X beta``, ``rss = sum(w r^2)``, the leverages ``h``,
    ``log|X'WX|`` and the orthonormal factor ``q`` of ``W^(1/2) X``."""

    tau2: float
    w: np.ndarray
    beta: np.ndarray
    cov: np.ndarray
    resid: np.ndarray
    rss: float
    h: np.ndarray
    logdet: float
    q: np.ndarray

    @property
    def trace_p(self) -> float:
        """``tr(P)``."""
        return float(np.sum(self.w * (1.0 - self.h)))

    @property
    def trace_pp(self) -> float:
        """``tr(P P)``."""
        qwq = self.q.T @ (self.w[:, None] * self.q)
        return float(np.sum(self.w ** 2) - 2 * np.sum(self.h * self.w ** 2) + np.sum(qwq ** 2))


@dataclass(frozen=True)
class TauFit:
    """An estimate of tau^2 and how it was reached (``iterations`` of Fisher scoring,
    0 for the closed-form and root-finding estimators)."""

    tau2: float
    converged: bool
    iterations: int


def gls(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> Gls:
    """Weighted least squares with weights ``1 / (v + tau2)``."""
    w = 1.0 / (v + tau2)
    sw = np.sqrt(w)
    q, r = np.linalg.qr(sw[:, None] * X)
    beta = np.linalg.solve(r, q.T @ (sw * y))
    r_inv = np.linalg.solve(r, np.eye(r.shape[0]))
    resid = y - X @ beta
    return Gls(tau2=float(tau2), w=w, beta=beta, cov=r_inv @ r_inv.T, resid=resid,
               rss=float(np.sum(w * resid ** 2)), h=np.sum(q ** 2, axis=1),
               logdet=float(2 * np.sum(np.log(np.abs(np.diag(r))))), q=q)


def generalised_q(y, v, X, tau2: float) -> float:
    """``Q(tau^2) = sum w_i (y_i - x_i' beta(tau^2))^2``, decreasing in tau^2."""
    return gls(y, v, X, tau2).rss


def solve_q(y, v, X, target: float) -> float:
    """The tau^2 >= 0 where ``Q(tau^2) = target``; 0 when ``Q(0) <= target``.

    The root is bracketed by doubling an upper end from ``max(1, var(y))`` and found by
    Brent's method to 1e-14 relative.
    """
    def excess(t):
        return generalised_q(y, v, X, t) - target

    if excess(0.0) <= 0:
        return 0.0
    hi = max(1.0, float(np.var(y)))
    while excess(hi) > 0:
        hi *= 2.0
        if not np.isfinite(hi) or hi > 1e300:  # pragma: no cover - Q -> 0 < target
            raise RuntimeError("no tau^2 solves the Q equation")
    return float(optimize.brentq(excess, 0.0, hi, xtol=1e-300, rtol=1e-14, maxiter=500))


def loglik(y, v, X, tau2: float, reml: bool, fit: Gls | None = None) -> float:
    """metafor's log-likelihood at tau^2: ML, or REML with its ``+ 1/2 log|X'X|``
    (``REMLf = TRUE``) so that it does not depend on the scaling of the design."""
    g = gls(y, v, X, tau2) if fit is None else fit
    k, p = X.shape
    ll = -0.5 * np.sum(np.log(v + tau2)) - 0.5 * g.rss
    if not reml:
        return float(ll - 0.5 * k * np.log(2 * np.pi))
    logdet_xx = 2 * np.sum(np.log(np.abs(np.diag(np.linalg.qr(X, mode="r")))))
    return float(ll - 0.5 * (k - p) * np.log(2 * np.pi) + 0.5 * logdet_xx - 0.5 * g.logdet)


def _score_info(g: Gls, reml: bool) -> tuple[float, float]:
    """Score and Fisher information of the (restricted) log-likelihood in tau^2."""
    wr2 = float(np.sum((g.w * g.resid) ** 2))
    if reml:
        return 0.5 * (wr2 - g.trace_p), 0.5 * g.trace_pp
    return 0.5 * (wr2 - np.sum(g.w)), 0.5 * float(np.sum(g.w ** 2))


def _hedges_start(y, v, X) -> float:
    """metafor's start for Fisher scoring: the Hedges (HE) estimator, truncated at 0."""
    q, _ = np.linalg.qr(X)
    resid = y - q @ (q.T @ y)
    k, p = X.shape
    h = np.sum(q ** 2, axis=1)
    return max(0.0, float((resid @ resid - np.sum(v * (1 - h))) / (k - p)))


def _fisher_scoring(y, v, X, reml: bool, start: float) -> TauFit:
    """Fisher scoring in tau^2 >= 0 with step halving (a step never lowers the
    likelihood and never leaves the half-line); stops when the step is below 1e-12
    relative, or at 0 when the score there is not positive."""
    tau2 = start
    g = gls(y, v, X, tau2)
    ll = loglik(y, v, X, tau2, reml, g)
    for it in range(1, _MAXITER + 1):
        score, info = _score_info(g, reml)
        if tau2 == 0.0 and score <= 0:
            return TauFit(0.0, True, it)
        step = score / info
        for _ in range(60):
            new = max(0.0, tau2 + step)
            g_new = gls(y, v, X, new)
            ll_new = loglik(y, v, X, new, reml, g_new)
            if ll_new >= ll - 1e-13 * abs(ll):
                break
            step /= 2.0
        done = abs(new - tau2) <= _TOL * max(1.0, tau2)
        tau2, g, ll = new, g_new, ll_new
        if done:
            return TauFit(tau2, True, it)
    return TauFit(tau2, False, _MAXITER)


def _polish(y, v, X, reml: bool, tau2: float) -> float:
    """Refine an interior maximum by Brent's method on the score, bracketed around it
    (Fisher scoring converges linearly, and slowly where the expected information is far
    from the observed one)."""
    def score(t):
        return _score_info(gls(y, v, X, t), reml)[0]

    for rel in (1e-6, 1e-3, 1e-1):
        delta = rel * max(tau2, 1e-8)
        lo, hi = max(0.0, tau2 - delta), tau2 + delta
        if score(lo) > 0 > score(hi):
            return float(optimize.brentq(score, lo, hi, xtol=1e-300, rtol=1e-15))
    return tau2


def _bounded_max(y, v, X, reml: bool) -> float:
    """Fallback: maximise the likelihood on [0, hi] (hi where the score is negative)."""
    def negll(t):
        return -loglik(y, v, X, t, reml)

    hi = max(1.0, float(np.var(y)))
    while _score_info(gls(y, v, X, hi), reml)[0] > 0:
        hi *= 2.0
    res = optimize.minimize_scalar(negll, bounds=(0.0, hi), method="bounded",
                                   options={"xatol": 1e-12 * hi, "maxiter": 2000})
    return float(res.x)


def _likelihood_tau2(y, v, X, reml: bool) -> TauFit:
    """REML / ML: Fisher scoring from the HE start (as metafor), a polished interior
    root of the score, a bounded-search fallback, and the check of the tau^2 = 0
    boundary (the larger likelihood wins)."""
    fit = _fisher_scoring(y, v, X, reml, _hedges_start(y, v, X))
    tau2 = fit.tau2
    if not fit.converged:
        tau2 = _bounded_max(y, v, X, reml)
    if tau2 > 0:
        tau2 = _polish(y, v, X, reml, tau2)
        if loglik(y, v, X, 0.0, reml) >= loglik(y, v, X, tau2, reml):
            tau2 = 0.0
    return TauFit(tau2, True, fit.iterations)


def _dersimonian_laird(y, v, X) -> float:
    """``max(0, (Q - (k - p)) / tr(P))`` at the fixed-effect weights ``1 / v``."""
    g = gls(y, v, X, 0.0)
    k, p = X.shape
    return max(0.0, (g.rss - (k - p)) / g.trace_p)


def estimate_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> TauFit:
    """tau^2 by ``method`` (one of :data:`METHODS`); 0 on the boundary."""
    if method in ("REML", "ML"):
        return _likelihood_tau2(y, v, X, reml=method == "REML")
    if method == "DL":
        return TauFit(_dersimonian_laird(y, v, X), True, 0)
    k, p = X.shape
    return TauFit(solve_q(y, v, X, float(k - p)), True, 0)
