"""Satterthwaite denominator degrees of freedom for fixed-effect contrasts (lmerTest)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg as sla
from scipy.stats import f as fdist

from mixedext._engine.differences import central_hessian, central_jacobian, steps
from mixedext.inference.tables import contrast_t_table, unwrap

__all__ = ["Satterthwaite"]


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
        res = unwrap(res)
        state = res._require_engine("Satterthwaite degrees of freedom")
        self.beta = np.asarray(state.beta)
        # deviance objects of its own: the differences below move them
        self._corr = state.correlated_deviance() if state.has_structure else None
        self._dev = state.profiled_deviance()
        self._reml = state.reml
        self._k = len(state.theta)
        self.varpar = np.concatenate([state.theta, [np.sqrt(state.sigma2)],
                                      state.eta_or_empty])
        self._step = steps(self.varpar, rel_step, floor=0.1)
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
        dev = self._at(vp)
        f = dev.factor(vp[:self._k])
        p = dev.p
        rx_inv = sla.solve_triangular(f.lxx[:p, :p], np.eye(p), lower=True)
        return vp[self._k] ** 2 * rx_inv.T @ rx_inv

    def _hessian(self):
        return central_hessian(self._deviance, self.varpar, self._step)

    def _vcov_jacobian(self):
        return central_jacobian(self._vcov, self.varpar, self._step)

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
