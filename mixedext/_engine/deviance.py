"""The profiled REML/ML deviance of a linear mixed model (Bates et al. 2015, JSS 67(1)).

Model ``y = X beta + Z b + e``, ``b = Lambda_theta u``, ``u ~ N(0, sigma^2 I)``,
``e ~ N(0, sigma^2 I)``. With ``L_theta L_theta' = Lambda' Z'Z Lambda + I`` and ``r^2`` the
penalised residual sum of squares at the conditional optimum of ``(beta, u)``:

    ML:   d(theta)   = log|L_theta|^2 + n [1 + log(2 pi r^2 / n)]
    REML: d_R(theta) = log|L_theta|^2 + log|R_X|^2 + (n - p) [1 + log(2 pi r^2 / (n - p))]

and the log-likelihood is ``-d / 2``. Each evaluation takes three steps (as
MixedModels.jl): set ``theta``, update the blocked Cholesky factor, read the deviance.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from mixedext._engine.condvar import conditional_covariances
from mixedext._engine.crossprod import CrossProducts, RandomTerm, cross_products
from mixedext._engine.factor import BlockedCholesky, Factor, NotPositiveDefinite, plan_elimination
from mixedext._engine.grams import CrossProductAssembler
from mixedext._engine.scalar_term import ScalarTermDeviance

__all__ = ["ProfiledDeviance", "Solution", "NotPositiveDefinite"]

_LOG2PI = np.log(2.0 * np.pi)

ETA_CACHE = 4  # residual-structure parameter values whose cross-products are kept (LRU)


@dataclass
class Solution:
    """Everything the results need at one ``theta``.

    ``b`` and ``u`` are per term in the user's order, shape (m, q); ``xtvinvx_inv`` is
    ``(X' V^-1 X)^-1 sigma^2`` i.e. ``(R_X' R_X)^-1``; multiply by ``sigma2`` for
    ``vcov(beta)``.
    """

    theta: np.ndarray
    beta: np.ndarray
    sigma2: float
    deviance: float
    r2: float
    logdet_l: float
    logdet_rx: float
    xtvinvx_inv: np.ndarray
    u: list
    b: list
    factor: Factor
    eta: np.ndarray | None = None  # residual-structure parameters (unconstrained scale)


class ProfiledDeviance:
    """The profiled deviance of one model, from cross-products computed once.

    Parameters
    ----------
    exog : ndarray (n, p)
    endog : ndarray (n,)
    terms : list of RandomTerm
    weights : ndarray (n,), optional
        Prior weights (residual variance ``sigma^2 / w_i``, as ``lmer(weights =)``): the
        cross-products are weighted and the deviance gains ``- sum log w_i``.
    """

    def __init__(self, exog: np.ndarray | None, endog: np.ndarray | None,
                 terms: list[RandomTerm],
                 cp: CrossProducts | None = None, weights=None):
        self.terms = list(terms)
        if cp is None:
            assert exog is not None and endog is not None  # the rows, without cross-products
            cp = cross_products(exog, endog, self.terms, weights)
        self.cp = cp
        self.plan = plan_elimination(self.terms, self.cp)
        self.chol = BlockedCholesky(self.terms, self.cp, self.plan)
        self.n, self.p = self.cp.n, self.cp.p
        self._closed_form = self._closed_form_for(self.cp)

    def copy(self) -> ProfiledDeviance:
        """A deviance of its own over the same cross-products: ``set_cross_products`` on
        the copy leaves this one as it is (the cross-products, the elimination plan and
        the factorisation's index work are shared, never modified)."""
        return copy.copy(self)

    def set_cross_products(self, cp: CrossProducts) -> None:
        """New cross-products with the same sparsity (e.g. whitened for new residual
        correlation parameters); the elimination plan is kept."""
        self.cp = cp
        self.chol = BlockedCholesky(self.terms, cp, self.plan)
        self._closed_form = self._closed_form_for(cp)

    def _closed_form_for(self, cp: CrossProducts):
        """The deviance's closed form for these cross-products where the terms have one
        (:class:`ScalarTermDeviance`), else None."""
        return ScalarTermDeviance(cp) if ScalarTermDeviance.applies(self.terms) else None

    @property
    def n_theta(self) -> int:
        return sum(t.n_theta for t in self.terms)

    def factor(self, theta: np.ndarray) -> Factor:
        return self.chol.factorize(np.asarray(theta, dtype=float), self.terms)

    def _read(self, f: Factor, reml: bool) -> tuple[float, float, float]:
        p, lxx = self.p, f.lxx
        assert lxx is not None  # factored with the [X y] block
        r2 = lxx[p, p] ** 2
        logdet_rx = 2.0 * np.log(np.diag(lxx)[:p]).sum()
        dof = self.n - p if reml else self.n
        dev = f.logdet + dof * (1.0 + _LOG2PI + np.log(r2 / dof)) - self.cp.log_weights
        if reml:
            dev += logdet_rx
        return dev, r2, logdet_rx

    def at_scale(self, theta: np.ndarray, sigma2: float, reml: bool = True) -> float:
        """The deviance at ``(theta, sigma^2)``, not profiled over ``sigma^2`` (``beta``
        still is): ``log|L|^2 + dof log(2 pi sigma^2) + r^2 / sigma^2`` (REML: ``+ log|R_X|^2``,
        ``dof = n - p``). Raises ``LinAlgError`` where Omega is not positive definite."""
        f = self.factor(theta)
        _, r2, logdet_rx = self._read(f, reml)
        dof = self.n - self.p if reml else self.n
        out = f.logdet + dof * np.log(2 * np.pi * sigma2) + r2 / sigma2 - self.cp.log_weights
        return out + (logdet_rx if reml else 0.0)

    def __call__(self, theta: np.ndarray, reml: bool = True) -> float:
        """The deviance at ``theta`` (``inf`` where Omega is not positive definite)."""
        if self._closed_form is not None:
            return self._closed_form(theta, reml)
        try:
            f = self.factor(theta)
        except np.linalg.LinAlgError:
            return np.inf
        return self._read(f, reml)[0]

    def solution(self, theta: np.ndarray, reml: bool = True) -> Solution:
        """Fixed effects, scale, conditional modes and their factor at ``theta``."""
        theta = np.asarray(theta, dtype=float)
        f = self.factor(theta)
        dev, r2, logdet_rx = self._read(f, reml)
        p = self.p
        lxx = f.lxx
        assert lxx is not None  # factored with the [X y] block
        beta = sla.solve_triangular(lxx[:p, :p], lxx[p, :p], lower=True, trans="T")
        rx_inv = sla.solve_triangular(lxx[:p, :p], np.eye(p), lower=True)
        xtvinvx_inv = rx_inv.T @ rx_inv
        sigma2 = r2 / (self.n - p if reml else self.n)
        # conditional modes: L_Z' u = w_y - W_X beta
        chol = self.chol
        rows = list(f.xrow)
        if chol.tail:
            off, tail_xrow = chol.tail_offsets, f.tail_xrow
            assert tail_xrow is not None  # a factor with a dense tail
            rows += [tail_xrow[off[j]:off[j + 1]] for j in range(len(chol.tail))]
        v = [r[:, p] - r[:, :p] @ beta for r in rows]
        u_elim = chol.solve_upper(f, v)
        u_user, b_user = [None] * len(self.terms), [None] * len(self.terms)
        for pos, i in enumerate(self.plan.order):
            t = self.terms[i]
            uu = u_elim[pos].reshape(t.n_units, t.q)
            u_user[i] = uu
            b_user[i] = uu @ f.lambdas[pos].T
        return Solution(theta=theta, beta=beta, sigma2=sigma2, deviance=dev, r2=r2,
                        logdet_l=f.logdet, logdet_rx=logdet_rx, xtvinvx_inv=xtvinvx_inv,
                        u=u_user, b=b_user, factor=f)

    def conditional_covariances(self, sol: Solution) -> list:
        """``Var(b | y)`` per term in the user's order, each (m, q, q) (lme4's condVar)."""
        elim = conditional_covariances(self.chol, sol.factor, sol.sigma2)
        out = [None] * len(self.terms)
        for pos, i in enumerate(self.plan.order):
            out[i] = elim[pos]
        return out


class CorrelatedDeviance:
    """The deviance over ``(theta, eta)`` for residuals correlated within units.

    For residual parameters ``eta`` the structure gives the whitened Gram matrices and
    ``log|R|``; the profiled deviance over ``theta`` of the whitened model plus ``log|R|``
    is the deviance (Pinheiro & Bates 2000, section 5.1). ``inner`` is the profiled
    deviance at the last ``eta`` evaluated.
    """

    def __init__(self, terms, structure, parents, z_slices, p, n, counts):
        self.terms = list(terms)
        self.structure = structure

        self._assemble = CrossProductAssembler(structure.cols, parents, z_slices, p, counts, n)
        self.inner = None
        self._eta = None
        self.logdet_r = 0.0
        self.n_theta = sum(t.n_theta for t in self.terms)
        self._cache: dict = {}  # eta (bytes) -> (CrossProducts, log|R|), by last use

    def copy(self) -> CorrelatedDeviance:
        """A deviance of its own, at this one's ``eta``: ``set_eta`` on the copy leaves
        this one as it is (the structure's statistics are shared, never modified)."""
        out = copy.copy(self)
        out.inner = None if self.inner is None else self.inner.copy()
        out._cache = dict(self._cache)
        return out

    def set_eta(self, eta) -> bool:
        """Whiten for ``eta``; False where ``R`` is not positive definite."""
        eta = np.asarray(eta, dtype=float)
        if self._eta is not None and np.array_equal(eta, self._eta):
            return True
        key = eta.tobytes()
        if key in self._cache:  # now the most recently used
            cp, logdet = self._cache[key] = self._cache.pop(key)
        else:
            g, logdet = self.structure.grams(eta)
            if g is None or not np.isfinite(logdet):
                return False
            cp = self._assemble(g)
            self._cache[key] = (cp, logdet)
            while len(self._cache) > ETA_CACHE:
                del self._cache[next(iter(self._cache))]
        if self.inner is None:
            self.inner = ProfiledDeviance(None, None, self.terms, cp=cp)
        else:
            self.inner.set_cross_products(cp)
        self._eta, self.logdet_r = eta.copy(), logdet
        return True

    def at_scale(self, theta, sigma2, eta, reml: bool = True) -> float:
        """:meth:`ProfiledDeviance.at_scale` at residual parameters ``eta`` (plus
        ``log|R|``); ``inf`` where ``R`` is not positive definite."""
        if not self.set_eta(eta):
            return np.inf
        return self.inner.at_scale(theta, sigma2, reml) + self.logdet_r

    def __call__(self, params, reml: bool = True) -> float:
        params = np.asarray(params, dtype=float)
        if not self.set_eta(params[self.n_theta:]):
            return np.inf
        return self.inner(params[:self.n_theta], reml) + self.logdet_r
