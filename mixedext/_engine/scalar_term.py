"""The profiled deviance of a model with one scalar random-effect term, in closed form.

With one term of one covariate per unit (a random intercept ``(1 | g)``, or ``(0 + z | g)``)
``Omega = theta^2 Z'Z + I`` is diagonal: ``c_i = 1 + theta^2 d_i`` with ``d_i = z_i'z_i``
the unit's ``Z'Z`` and ``v_i = z_i'[X y]`` its row of ``Z'[X y]``. The blocked
factorisation (:mod:`mixedext._engine.factor`) then reduces to

    log|L_theta|^2 = sum_i log c_i,
    [X y]' V^-1 [X y] / sigma^2 = [X y]'[X y] - theta^2 sum_i v_i v_i' / c_i,

whose Cholesky factor ``[[R_X', 0], [., r]]`` gives ``log|R_X|^2`` and ``r^2`` as in
:meth:`ProfiledDeviance._read`. One pass over the units with no Factor built: this is the
deviance an optimiser over ``theta`` evaluates (``solution()`` still factors in full).
"""

from __future__ import annotations

import numpy as np

from mixedext._engine.crossprod import CrossProducts

__all__ = ["ScalarTermDeviance"]

_LOG2PI = np.log(2.0 * np.pi)


class ScalarTermDeviance:
    """``d(theta)`` of :class:`~mixedext._engine.deviance.ProfiledDeviance` for one scalar
    term, from its cross-products ``cp``."""

    def __init__(self, cp: CrossProducts):
        self.d = np.ascontiguousarray(cp.ztz[0][:, 0, 0])
        # (p + 1, m), C-ordered: numpy's dot with its transpose is a fast BLAS product
        self.vt = np.ascontiguousarray(cp.ztxy[0][:, 0, :].T)
        self.xyxy, self.n, self.p, self.log_weights = cp.xyxy, cp.n, cp.p, cp.log_weights

    @staticmethod
    def applies(terms) -> bool:
        """One term with one covariate (and so one relative SD)."""
        return len(terms) == 1 and terms[0].q == 1

    def __call__(self, theta, reml: bool = True) -> float:
        """The REML (``reml``) or ML deviance at ``theta``; ``inf`` where ``[X y]' V^-1
        [X y]`` is not positive definite or the deviance is not a number."""
        t2 = float(theta[0]) ** 2
        c = self.d * t2
        c += 1.0
        xx = self.xyxy - np.dot(self.vt * (t2 / c), self.vt.T)
        try:
            lxx = np.linalg.cholesky(xx)
        except np.linalg.LinAlgError:
            return np.inf
        p = self.p
        r2 = lxx[p, p] ** 2
        dof = self.n - p if reml else self.n
        dev = float(np.log(c).sum()) + dof * (1.0 + _LOG2PI + np.log(r2 / dof)) \
            - self.log_weights
        if reml:
            dev += 2.0 * np.log(np.diag(lxx)[:p]).sum()
        return float(dev) if np.isfinite(dev) else np.inf
