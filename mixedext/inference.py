"""Likelihood-ratio tests between nested mixed models.

When the restriction puts a variance on the boundary of its parameter space (a variance
of 0), the LR statistic is not chi-square with ``k`` degrees of freedom: dropping one
variance component gives a 50:50 mixture of chi-square(0) and chi-square(1); dropping a
random slope together with its ``k - 1`` covariances a 50:50 mixture of chi-square(k-1) and
chi-square(k) (Self & Liang 1987, *JASA* 82:605; Stram & Lee 1994, *Biometrics* 50:1171).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2

__all__ = ["lrt", "Satterthwaite", "anova_table"]


def _unwrap(res):
    return getattr(res, "_results", res)


def _random_structure(res) -> dict:
    """``{(level, covariate): number of variance parameters}`` of a fit."""
    out = {}
    for b in _unwrap(res)._covariance_blocks():
        q = len(b.names)
        out[(b.level, tuple(b.names))] = q * (q + 1) // 2
    return out


def lrt(m0, m1) -> pd.Series:
    """Likelihood-ratio test of two nested fits (given in either order).

    Parameters
    ----------
    m0, m1 : MixedLMResults
        Fits of nested models to the same data, both by REML or both by ML. REML fits
        must have the same fixed effects (their REML likelihoods are not comparable
        otherwise).

    Returns
    -------
    Series
        ``llf_restricted``, ``llf_full``, ``df_diff``, ``statistic`` (``2 (llf1 - llf0)``),
        ``pvalue`` and ``distribution`` (``"chi2(k)"`` or ``"0.5 chi2(k-1) + 0.5 chi2(k)"``).
    """
    a, b = _unwrap(m0), _unwrap(m1)
    if a.method != b.method:
        raise ValueError(f"cannot compare a {a.method} fit with a {b.method} fit; refit both "
                         "by ML (reml=False) or both by REML")
    if a.model.nobs != b.model.nobs:
        raise ValueError(f"the fits use different numbers of rows ({a.model.nobs} vs "
                         f"{b.model.nobs}); likelihoods are comparable only on the same data")
    if a.df_modelwc > b.df_modelwc:
        a, b = b, a
    same_fixed = list(a.model.exog_names) == list(b.model.exog_names)
    if a.method == "REML" and not same_fixed:
        raise ValueError("REML likelihoods of models with different fixed effects are not "
                         "comparable; refit both with reml=False for this test")
    k = int(b.df_modelwc - a.df_modelwc)
    if k <= 0:
        raise ValueError("the models have the same number of parameters: not nested")
    stat = max(0.0, 2.0 * (b.llf - a.llf))
    ra, rb = _random_structure(a), _random_structure(b)
    extra = {key: n for key, n in rb.items() if key not in ra}
    dropped_one_term = same_fixed and len(extra) == 1 and set(ra) <= set(rb)
    slope_dropped = False
    if same_fixed and not dropped_one_term:
        # a covariate removed from a term with several: its variance and covariances go
        shared = {lev for lev, _ in ra} & {lev for lev, _ in rb}
        for lev in shared:
            na = [names for (la, names) in ra if la == lev]
            nb = [names for (lb, names) in rb if lb == lev]
            if len(na) == len(nb) == 1 and set(na[0]) < set(nb[0]) \
                    and len(nb[0]) == len(na[0]) + 1:
                slope_dropped = True
    if dropped_one_term or slope_dropped:
        pvalue = 0.5 * chi2.sf(stat, k) + (0.5 * chi2.sf(stat, k - 1) if k > 1 else
                                           0.5 * float(stat <= 0))
        dist = f"0.5 chi2({k - 1}) + 0.5 chi2({k})"
    else:
        pvalue = chi2.sf(stat, k)
        dist = f"chi2({k})"
    return pd.Series({"llf_restricted": a.llf, "llf_full": b.llf, "df_diff": k,
                      "statistic": stat, "pvalue": float(np.clip(pvalue, 0, 1)),
                      "distribution": dist}, name="LRT")


def contrast_t_table(beta, vcov, L, df) -> pd.DataFrame:
    """Estimate, SE (from ``vcov``), df (``df(row)``), t and p for each row of ``L``."""
    from scipy.stats import t as tdist

    L = np.atleast_2d(np.asarray(L, dtype=float))
    est = L @ beta
    se = np.sqrt(np.einsum("ra,ab,rb->r", L, vcov, L))
    dfs = np.array([df(row) for row in L])
    tval = est / se
    return pd.DataFrame({"estimate": est, "se": se, "df": dfs, "t": tval,
                         "pvalue": 2 * tdist.sf(np.abs(tval), dfs)})


# -- Satterthwaite degrees of freedom (lmerTest) -------------------------------------------
class Satterthwaite:
    """Satterthwaite denominator degrees of freedom for fixed-effect contrasts.

    As lmerTest (Kuznetsova, Brockhoff & Christensen 2017, *J Stat Softw* 82(13)): with
    ``C(v) = vcov(beta)`` as a function of the variance parameters ``v = (theta, sigma)``
    and ``A = 2 H^{-1}`` their asymptotic covariance (``H`` the Hessian of the REML or ML
    deviance in ``v``), a contrast ``l`` has ``df = 2 (l' C l)^2 / (g' A g)``,
    ``g = d(l' C l) / dv``. Multi-row contrasts use lmerTest's eigen-decomposition
    (``contestMD``). Derivatives are central differences of the engine's deviance.
    With a residual structure its parameters ``eta`` join ``v``.
    """

    def __init__(self, res, rel_step: float = 1e-4):
        res = _unwrap(res)
        state = res._require_engine("Satterthwaite degrees of freedom")
        self.beta = np.asarray(state.beta)
        # deviance objects of its own: the differences below move them
        self._corr = state.correlated_deviance() if state.has_structure else None
        self._dev = state.profiled_deviance()
        self._reml = state.reml
        self._k = len(state.theta)
        self.varpar = np.concatenate([state.theta, [np.sqrt(state.sigma2)],
                                      state.eta_or_empty])
        self._step = rel_step * np.maximum(np.abs(self.varpar), 0.1)
        self.vcov = self._vcov(self.varpar)
        self.A = 2.0 * np.linalg.pinv(self._hessian())
        self._jac = self._vcov_jacobian()

    def _at(self, vp):
        """The profiled deviance at ``vp``'s residual parameters."""
        if self._corr is None:
            return self._dev
        if not self._corr.set_eta(vp[self._k + 1:]):
            raise np.linalg.LinAlgError("residual covariance not positive definite")
        return self._corr.inner

    def _deviance(self, vp):
        theta, s2 = vp[:self._k], vp[self._k] ** 2
        if self._corr is None:
            return self._dev.at_scale(theta, s2, self._reml)
        return self._corr.at_scale(theta, s2, vp[self._k + 1:], self._reml)

    def _vcov(self, vp):
        import scipy.linalg as sla

        dev = self._at(vp)
        f = dev.factor(vp[:self._k])
        p = dev.p
        rx_inv = sla.solve_triangular(f.lxx[:p, :p], np.eye(p), lower=True)
        return vp[self._k] ** 2 * rx_inv.T @ rx_inv

    def _hessian(self):
        from ._engine.optimize import central_hessian

        return central_hessian(self._deviance, self.varpar, self._step)

    def _vcov_jacobian(self):
        out = []
        for i in range(len(self.varpar)):
            e = np.zeros(len(self.varpar))
            e[i] = self._step[i]
            out.append((self._vcov(self.varpar + e) - self._vcov(self.varpar - e))
                       / (2 * self._step[i]))
        return out

    def df(self, l) -> float:
        """Satterthwaite df of the 1-df contrast ``l' beta``."""
        l = np.asarray(l, dtype=float)
        var = l @ self.vcov @ l
        grad = np.array([l @ d @ l for d in self._jac])
        return float(2 * var ** 2 / (grad @ self.A @ grad))

    def t_table(self, L) -> pd.DataFrame:
        """Estimate, SE, df, t and p for each row of ``L``."""
        return contrast_t_table(self.beta, self.vcov, L, self.df)

    def f_test(self, L) -> dict:
        """lmerTest's multi-df F test of ``L beta = 0`` (``contestMD``)."""
        from scipy.stats import f as fdist

        L = np.atleast_2d(np.asarray(L, dtype=float))
        q = L.shape[0]
        vl = L @ self.vcov @ L.T
        evals, evecs = np.linalg.eigh(vl)
        order = np.argsort(evals)[::-1]
        evals, evecs = evals[order], evecs[:, order]
        pl = evecs.T @ L
        t2 = (pl @ self.beta) ** 2 / evals
        fstat = t2.sum() / q
        nu = np.array([self.df(row) for row in pl])
        if q == 1:
            ddf = nu[0]
        elif np.all(np.abs(np.diff(nu)) < 1e-8):
            ddf = nu.mean()
        elif np.any(nu <= 2):
            ddf = 2.0
        else:
            e = np.sum(nu / (nu - 2))
            ddf = 2 * e / (e - q)
        return {"F": fstat, "num_df": q, "den_df": ddf, "pvalue": fdist.sf(fstat, q, ddf)}


def anova_table(res, ddf: str = "satterthwaite") -> pd.DataFrame:
    """F tests of each fixed-effect model term (all its coefficients 0), as lmerTest's
    ``anova(type = 3)`` for models without interactions between the tested terms."""
    res = _unwrap(res)
    if ddf == "satterthwaite":
        tests = Satterthwaite(res)
    elif ddf == "kenward-roger":
        from .kenward_roger import KenwardRoger

        tests = KenwardRoger(res)
    else:
        raise ValueError(f"ddf must be 'satterthwaite' or 'kenward-roger', not {ddf!r}")
    info = getattr(res.model.data, "model_spec", None)
    if not hasattr(info, "term_name_slices"):
        raise NotImplementedError("anova needs a model built from a formula")
    rows = {}
    names = list(res.model.exog_names)
    for term, sl in info.term_name_slices.items():
        if term == "Intercept":
            continue
        L = np.zeros((sl.stop - sl.start, len(names)))
        L[np.arange(sl.stop - sl.start), np.arange(sl.start, sl.stop)] = 1.0
        out = tests.f_test(L)
        rows[term] = out
    columns = ["F", "num_df", "den_df", "pvalue"]
    if not rows:  # an intercept-only model: nothing to test
        return pd.DataFrame(columns=columns, dtype=float)
    frame = pd.DataFrame(rows).T[columns].astype(float)
    frame["num_df"] = frame["num_df"].astype(int)
    return frame
