"""Intervals for variance components, fixed effects and ICCs: profile likelihood and
parametric bootstrap.

**Profile.** The deviance is written in the natural parameters ``phi``: the SD of each
random effect, their correlations and the residual SD ``sigma`` (lme4's ``.sig01 ...``,
``.sigma``). For a value ``v`` of one parameter the deviance is minimised over the others
(``d(v)``); the ``1 - alpha`` interval is where ``d(v) - d_hat = chi2_1(1 - alpha)``
(Bates et al. 2015, section 5.1). As lme4 (``profile.merMod`` calls ``refitML``), the
variance components are profiled on the ML deviance, also for REML fits. An ICC is
profiled on the fit's own criterion with the ICC held fixed.

**Bootstrap.** ``n_boot`` data sets are simulated from the fit (fresh random effects and
residuals), each is refitted from the same cross-products (only the response changes),
and percentile intervals are reported. A progress bar (tqdm) shows on interactive
terminals; ``seed`` makes the draws reproducible.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.optimize import brentq, minimize
from scipy.stats import chi2
from tqdm.auto import tqdm

from mixedext._engine.deviance import ProfiledDeviance
from mixedext._engine.factor import lambda_blocks, theta_bounds
from mixedext._engine.fitting import fit_correlated, fit_profiled, refit
from mixedext._engine.optimize import minimize_theta
from mixedext.results.diagnostics import _is_ancestor
from mixedext.structures.spec import correlated_deviance

__all__ = ["Profile", "NaturalParameters", "profile_intervals",
           "fixed_effect_profile_intervals", "bootstrap_refits", "icc_profile_interval"]


class NaturalParameters:
    """``phi`` (SDs, correlations, sigma) <-> ``(theta, sigma)`` for a fit, and the
    deviance of its criterion in ``phi`` (on deviance objects of its own).

    Parameters
    ----------
    state : FitState
    """

    def __init__(self, state):
        self.state = state
        self.reml = state.reml
        self.terms = state.terms
        self.dev = state.profiled_deviance()
        names, kinds, lower, upper = [], [], [], []
        for t in self.terms:
            q = 1 if t.cov == "scalar" else t.q
            labels = [t.component or t.level] if t.cov == "scalar" else list(t.names)
            for a in range(q):
                names.append((t.level, labels[a], None))
                kinds.append("sd")
                lower.append(0.0)
                upper.append(np.inf)
            for a in range(q):
                for b in range(a + 1, q):
                    names.append((t.level, labels[a], labels[b]))
                    kinds.append("corr")
                    lower.append(-1.0)
                    upper.append(1.0)
        names.append(("Residual", None, None))
        kinds.append("sigma")
        lower.append(1e-8 * np.sqrt(state.sigma2))
        upper.append(np.inf)
        self.names, self.kinds = names, np.array(kinds)
        self.lower, self.upper = np.array(lower), np.array(upper)
        # a residual structure's parameters eta are profiled along (free in every profile)
        self.corr = state.correlated_deviance() if state.has_structure else None
        self.eta_hat = state.eta_or_empty
        self.hat = self.from_theta(state.theta, np.sqrt(state.sigma2))
        self.d_hat = self.deviance(self.hat)

    def from_theta(self, theta, sigma):
        out = []
        for t, lam in zip(self.terms, lambda_blocks(theta, self.terms)):
            cov = sigma ** 2 * lam @ lam.T
            q = 1 if t.cov == "scalar" else t.q
            sd = np.sqrt(np.diag(cov)[:q])
            out.extend(sd)
            for a in range(q):
                for b in range(a + 1, q):
                    out.append(cov[a, b] / (sd[a] * sd[b]) if sd[a] * sd[b] > 0 else 0.0)
        out.append(sigma)
        return np.array(out)

    def to_theta(self, phi):
        sigma = phi[-1]
        theta, pos = [], 0
        for t in self.terms:
            q = 1 if t.cov == "scalar" else t.q
            sd = phi[pos:pos + q]
            pos += q
            corr = np.eye(q)
            for a in range(q):
                for b in range(a + 1, q):
                    corr[a, b] = corr[b, a] = phi[pos]
                    pos += 1
            if t.cov == "scalar":
                theta.append(sd[0] / sigma)
                continue
            rel = corr * np.outer(sd, sd) / sigma ** 2
            lam = np.linalg.cholesky(rel + 1e-14 * np.eye(q))
            rows, cols = np.tril_indices(q)
            idx = np.lexsort((rows, cols))
            theta.extend(lam[rows[idx], cols[idx]])
        return np.array(theta), sigma

    def label(self, j) -> str:
        """A readable name of parameter ``j`` for messages."""
        level, term, term2 = self.names[j]
        if self.kinds[j] == "sigma":
            return "sigma (residual SD)"
        if self.kinds[j] == "corr":
            return f"the correlation of {term} and {term2} in {level}"
        return f"the SD of {term} in {level}"

    @property
    def hat_full(self):
        """``(phi, eta)`` at the estimates."""
        return np.concatenate([self.hat, self.eta_hat])

    def deviance(self, phi, eta=None):
        """The (non-profiled) REML or ML deviance at ``phi`` (and ``eta``)."""
        try:
            theta, sigma = self.to_theta(phi)
            if sigma <= 0:
                return np.inf
            if self.corr is None:
                out = self.dev.at_scale(theta, sigma ** 2, self.reml)
            else:
                out = self.corr.at_scale(theta, sigma ** 2,
                                         self.eta_hat if eta is None else eta, self.reml)
        except np.linalg.LinAlgError:
            return np.inf
        return out if np.isfinite(out) else np.inf

    def profile(self, j, value, start=None):
        """Minimum deviance with ``phi[j] = value`` over the other ``phi`` and ``eta``, and
        the minimiser ``(phi, eta)``."""
        k = len(self.hat)
        free = np.delete(np.arange(k + len(self.eta_hat)), j)
        full = self.hat_full if start is None else start.copy()
        # an SD at its bound 0 is a saddle of the deviance (even in it): restart it from
        # the estimate, or L-BFGS-B stays there
        stuck = np.flatnonzero((self.kinds == "sd") & (full[:k] < 1e-6 * np.maximum(
            self.hat, 1e-12)))
        full[stuck] = self.hat[stuck]
        x0 = full[free]

        def split(x):
            y = full.copy()
            y[free] = x
            y[j] = value
            return y

        def f(x):
            y = split(x)
            return self.deviance(y[:k], y[k:])

        lower = np.concatenate([self.lower, np.full(len(self.eta_hat), -np.inf)])[free]
        upper = np.concatenate([self.upper, np.full(len(self.eta_hat), np.inf)])[free]
        kinds = np.concatenate([self.kinds, np.full(len(self.eta_hat), "eta")])[free]
        bounds = [(lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None)
                  for lo, hi in zip(lower, upper)]
        bounds = [(b[0], b[1]) if b[0] is None or b[1] is None else
                  (b[0] + 1e-9 * (b[1] - b[0]) if kinds[i] == "corr" else b[0],
                   b[1] - 1e-9 if kinds[i] == "corr" else b[1])
                  for i, b in enumerate(bounds)]
        if len(free) == 0:
            return f(np.zeros(0)), split(np.zeros(0))
        with np.errstate(invalid="ignore", over="ignore"):  # inf at infeasible points
            r = minimize(f, x0, method="L-BFGS-B", jac="3-point", bounds=bounds,
                         options=dict(ftol=1e-11, gtol=1e-6, maxls=50))
        return float(r.fun), split(r.x)


def _endpoint(prof, j, target, direction):
    """Where the profiled deviance rises by ``target`` on one side of the estimate.

    The search walks outward from the estimate in doubling steps, each profile warm-started
    from the previous point's minimiser, until the deviance exceeds the cut-off; the root is
    then found in the last step with every evaluation started from the minimiser at its
    inner end. When the deviance at the parameter's bound (an SD of 0, a correlation of
    +-1) is still within the cut-off, the interval ends at the bound (as lme4's
    ``confint``). A bracket that cannot be found gives NaN with a warning.
    """
    hat = prof.hat[j]
    bound = prof.lower[j] if direction < 0 else prof.upper[j]
    kind = prof.kinds[j]
    scale = abs(hat) if hat != 0 else 1.0
    # the last point at which the deviance is evaluated on this side
    if kind == "corr":
        edge = bound - direction * 1e-9
    elif kind == "sigma" and direction < 0:
        edge = bound + 1e-6 * scale
    else:
        edge = bound
    if direction * (edge - hat) <= 1e-12 * scale:
        return bound
    name = prof.label(j)

    def excess(v, start):
        d, full = prof.profile(j, v, start)
        return d - prof.d_hat - target, full

    inner, start = hat, prof.hat_full
    step = 0.5 * scale if kind != "corr" else 0.5 * abs(edge - hat)
    for _ in range(64):
        v = hat + direction * step
        if not np.isfinite(edge) and not np.isfinite(v):
            break
        if np.isfinite(edge) and direction * (v - edge) >= 0:
            v = edge
        gv, full = excess(v, start)
        if not np.isfinite(gv):
            break
        if gv > 0:
            lo, hi = sorted((inner, v))
            try:
                return brentq(lambda u, s=start: excess(u, s)[0], lo, hi,
                              xtol=1e-6 * scale, rtol=1e-7)
            except ValueError:  # the deviance is not continuous along the profile
                break
        if v == edge:
            return bound  # still within the cut-off at the bound
        inner, start = v, full
        step *= 2
    warnings.warn(f"profile interval of {name}: no {'lower' if direction < 0 else 'upper'} "
                  "end found; NaN reported", RuntimeWarning, stacklevel=4)
    return np.nan


def profile_intervals(ml_state, alpha=0.05) -> pd.DataFrame:
    """Profile-likelihood intervals (ML deviance, as lme4) for every SD, correlation and
    sigma (with a residual structure, its parameters profiled along); ``ml_state`` the
    ML fit."""
    prof = NaturalParameters(ml_state)
    target = chi2.ppf(1 - alpha, 1)
    rows = []
    for j, (level, term, term2) in enumerate(prof.names):
        lower = _endpoint(prof, j, target, -1)
        upper = _endpoint(prof, j, target, +1)
        rows.append((level, term, term2, prof.kinds[j], prof.hat[j], lower, upper))
    return pd.DataFrame(rows, columns=["level", "term", "term2", "parameter", "estimate",
                                       "lower", "upper"])


def _beta_held_at(cp, j: int, value: float):
    """Cross-products of the model with ``beta_j`` held at ``value``: the response
    ``y - value x_j`` and column ``j`` of ``X`` dropped (a linear map of ``[X y]``)."""
    keep = np.delete(np.eye(cp.p + 1), j, axis=1)  # (p + 1, p): old -> new columns
    keep[j, -1] = -value
    return replace(cp, p=cp.p - 1, xyxy=keep.T @ cp.xyxy @ keep,
                   ztxy=[block @ keep for block in cp.ztxy])


def fixed_effect_profile_intervals(res, ml_state, alpha=0.05) -> pd.DataFrame:
    """Profile-likelihood intervals of the fixed effects (ML deviance, as lme4).

    For ``beta_j = b`` the ML deviance is minimised over ``theta`` (``sigma`` and the
    other coefficients profiled out analytically) for the model with offset ``b x_j``:
    from the cross-products with ``y - b x_j`` as response and ``x_j`` dropped (a linear
    map of ``[X y]``), or, with a residual structure, from its statistics gathered again
    and ``eta`` refitted too. The interval is where the deviance exceeds its minimum by
    ``chi2_1(1 - alpha)``. ``estimate`` is the fit's own (REML or ML) coefficient;
    ``ml_state`` the ML fit.
    """
    state, ml = res.fit_state, ml_state
    if state.has_structure:
        res._require_rows("profile intervals of fixed effects with a residual structure")
    estimates = np.asarray(state.beta)
    sol = ml.solution
    target = chi2.ppf(1 - alpha, 1)
    se = np.sqrt(np.diag(sol.xtvinvx_inv) * sol.sigma2)
    rows = []
    for j, name in enumerate(res.model.exog_names):
        refit_at = (_offset_refit_correlated(ml, res.model, j) if state.has_structure else
                    _offset_refit(ml, j))
        ends = [_beta_endpoint(refit_at, sol, j, target, se[j], direction, name)
                for direction in (-1, 1)]
        rows.append((name, estimates[j], ends[0], ends[1]))
    return pd.DataFrame(rows, columns=["term", "estimate", "lower", "upper"]).set_index("term")


def _offset_refit(state, j):
    """``refit(b, start) -> (ML deviance, theta)`` of the model with ``beta_j = b``."""
    base = state.profiled.cp
    reduced = ProfiledDeviance(None, None, state.terms, cp=_beta_held_at(base, j, 0.0))
    lower = theta_bounds(state.terms)

    def refit_at(b, start):
        reduced.set_cross_products(_beta_held_at(base, j, b))
        opt = minimize_theta(lambda th: reduced(th, False), start[:len(lower)], lower)
        return opt.deviance, opt.theta

    return refit_at


def _offset_refit_correlated(state, model, j):
    """As :func:`_offset_refit` with a residual structure: ``start`` is ``(theta, eta)``."""
    x = np.asarray(model.exog, dtype=float)
    y = np.asarray(model.endog, dtype=float)
    k = len(state.theta)

    def refit_at(b, start):
        dev = correlated_deviance(state.residual_spec, state.terms, np.delete(x, j, axis=1),
                                  y - b * x[:, j])
        _, sol = fit_correlated(dev, False, start[:k], start[k:])
        return sol.deviance, np.concatenate([sol.theta, sol.eta])

    return refit_at


def _beta_endpoint(refit, sol, j, target, se, direction, name) -> float:
    """Where the ML deviance with ``beta_j`` held fixed exceeds its minimum by ``target``,
    on one side of the estimate (``refit`` warm-started from the last point)."""
    hat = np.concatenate([sol.theta, [] if sol.eta is None else sol.eta])
    start = {"x": hat}

    def excess(b):
        dev, start["x"] = refit(b, start["x"])
        return dev - sol.deviance - target

    step = 2.0 * se
    for _ in range(64):
        gv = excess(sol.beta[j] + direction * step)
        if not gv < 0:
            break
        step *= 2
    if np.isfinite(gv) and gv > 0:
        start["x"] = hat
        a, b = sorted((sol.beta[j], sol.beta[j] + direction * step))
        try:
            return brentq(excess, a, b, xtol=1e-8 * max(se, 1e-300), rtol=1e-10)
        except ValueError:
            pass
    side = "lower" if direction < 0 else "upper"
    warnings.warn(f"profile interval of fixed effect {name!r}: no {side} end found; NaN "
                  "reported", RuntimeWarning, stacklevel=4)
    return np.nan


def bootstrap_refits(res, n_boot: int, seed=None, progress=None) -> list:
    """``n_boot`` parametric-bootstrap refits: a list of ``(theta, sigma2, beta)``.

    Without a residual structure only the response column of the cross-products changes;
    with one, the structure's statistics are gathered again for each simulated response
    and ``(theta, eta)`` refitted from the estimates. Every refit runs on deviance objects
    of its own: an interrupted bootstrap leaves the model and the results as they were.
    """
    state = res.fit_state
    model = res.model
    sims = res.simulate(n_boot, seed=seed)
    out = []
    disable = None if progress is None else not progress  # None: off when not a terminal
    dev = None if state.has_structure else state.profiled_deviance()
    x = np.asarray(model.exog, dtype=float)
    for i in tqdm(range(n_boot), disable=disable, desc="bootstrap", leave=False):
        y = sims[:, i]
        if state.has_structure:
            boot = correlated_deviance(state.residual_spec, state.terms, x, y)
            _, sol = fit_correlated(boot, state.reml, state.theta, state.eta)
        else:
            assert dev is not None  # made above for models without a residual structure
            dev.set_cross_products(_with_response(state.profiled.cp, state.terms, x, y))
            _, sol = fit_profiled(dev, state.reml, state.theta)
        out.append((sol.theta, sol.sigma2, sol.beta))
    return out


def _with_response(cp, terms, x, y):
    """Cross-products with the response column replaced by ``y`` (``x`` the fixed
    effects)."""
    wy = y if cp.weights is None else cp.weights * y
    xyxy = cp.xyxy.copy()
    xyxy[:-1, -1] = xyxy[-1, :-1] = x.T @ wy
    xyxy[-1, -1] = y @ wy
    ztxy = []
    for t, block in zip(terms, cp.ztxy):
        block = block.copy()
        for a in range(t.q):
            w = wy if t.z is None else wy * t.z[:, a]
            block[:, a, -1] = np.bincount(t.codes, weights=w, minlength=t.n_units)
        ztxy.append(block)
    return replace(cp, xyxy=xyxy, ztxy=ztxy)


def icc_profile_interval(state, level, alpha=0.05):
    """Profile-likelihood interval of the (cumulative) ICC of one random-intercept level.

    The ICC ``c`` of a level fixes ``A = c (B + 1) / (1 - c)`` with ``A`` the sum of the
    squared relative SDs ``theta^2`` of the level and its ancestors and ``B`` of the other
    levels; the profiled deviance is minimised over the rest.
    """

    terms = state.terms
    if any(t.z is not None or t.cov == "full" and t.q > 1 for t in terms):
        raise NotImplementedError("ICC intervals need random-intercept-only models")
    reml = state.reml
    # with a residual structure its parameters eta are profiled along
    eta_hat = state.eta_or_empty
    full = state.correlated_deviance() if state.has_structure else state.profiled_deviance()

    def dev(theta, eta):
        return full(np.concatenate([theta, eta]) if len(eta) else theta, reml)

    anc = np.array([_is_ancestor(t.level, level) for t in terms])
    if not anc.any():
        raise KeyError(f"level {level!r} is not a level of the model")
    theta_hat = state.theta
    a_hat = np.sum(theta_hat[anc] ** 2)
    b_hat = np.sum(theta_hat[~anc] ** 2)
    icc_hat = a_hat / (a_hat + b_hat + 1)
    d_hat = dev(theta_hat, eta_hat)
    n_t = len(terms)

    def profiled(c):
        def f(x):
            u, others, eta = x[:anc.sum()], x[anc.sum():n_t], x[n_t:]
            theta = np.empty(len(terms))
            theta[~anc] = others
            a = c * (np.sum(others ** 2) + 1) / (1 - c)
            norm_u = np.linalg.norm(u)
            theta[anc] = np.sqrt(a) * (np.abs(u) / norm_u if norm_u > 0 else
                                       np.full(anc.sum(), 1 / np.sqrt(anc.sum())))
            return dev(theta, eta)

        x0 = np.concatenate([np.maximum(theta_hat[anc], 1e-3), theta_hat[~anc], eta_hat])
        if len(x0) == 1:
            return f(x0)
        r = minimize(f, x0, method="L-BFGS-B", jac="3-point",
                     bounds=[(1e-6, None)] * anc.sum() + [(0, None)] * (~anc).sum()
                     + [(None, None)] * len(eta_hat),
                     options=dict(ftol=1e-14, gtol=1e-9))
        return float(r.fun)

    target = chi2.ppf(1 - alpha, 1)

    def g(c):
        return profiled(c) - d_hat - target

    eps = 1e-10

    def end(edge, bound):
        if g(edge) < 0:
            return bound  # still within the cut-off at the bound
        try:
            return brentq(g, *sorted((edge, icc_hat)), xtol=1e-12)
        except ValueError:
            side = "lower" if bound == 0 else "upper"
            warnings.warn(f"profile interval of the ICC of {level!r}: no {side} end found; "
                          "NaN reported", RuntimeWarning, stacklevel=4)
            return np.nan

    return icc_hat, end(eps, 0.0), end(1 - eps, 1.0)


class Profile:
    """The profile-likelihood intervals of one fit, each computed once and reused.

    The ML refit that lme4 profiles (for a REML fit) is made once and shared by the
    intervals of the variance parameters and of the fixed effects; the ICC is profiled on
    the fit's own criterion. Every table is kept per ``alpha`` (copies are returned).
    """

    def __init__(self, res):
        self._res = res
        self._state = res.fit_state
        self._tables = {}

    @cached_property
    def ml_state(self):
        """The ML fit of the same data (the fit itself for ML fits)."""
        return refit(self._state, reml=False)

    def _memo(self, key, compute) -> pd.DataFrame:
        if key not in self._tables:
            self._tables[key] = compute()
        return self._tables[key].copy()

    def variance_intervals(self, alpha=0.05) -> pd.DataFrame:
        """See :func:`profile_intervals`."""
        return self._memo(("vc", alpha), lambda: profile_intervals(self.ml_state, alpha))

    def fixed_effect_intervals(self, alpha=0.05) -> pd.DataFrame:
        """See :func:`fixed_effect_profile_intervals`."""
        return self._memo(("fe", alpha), lambda: fixed_effect_profile_intervals(
            self._res, self.ml_state, alpha))

    def icc_interval(self, level, alpha=0.05) -> tuple:
        """``(icc, lower, upper)``; see :func:`icc_profile_interval`."""
        key = ("icc", level, alpha)
        if key not in self._tables:
            self._tables[key] = icc_profile_interval(self._state, level, alpha)
        return self._tables[key]
