"""The observed information of a GLMM's maximum-likelihood fit.

The deviance ``-2 log L(theta, beta[, log dispersion])`` of a
:class:`~mixedext._engine.pirls.LaplaceDeviance` (Laplace or adaptive Gauss-Hermite) is
differentiated twice by central differences at the optimum, in all parameters, as glmer's
default ``use.hessian = TRUE`` and glmmTMB's; ``2 H^-1`` is the covariance of the
estimates. Used by ``fit_ml`` and by refits (group-deletion influence).
"""

from __future__ import annotations

import numpy as np

from mixedext._engine.differences import central_hessian, steps
from mixedext._engine.factor import theta_bounds

__all__ = ["laplace_hessian"]


def laplace_hessian(dev, x: np.ndarray, n_beta: int, nagq: int = 1) -> np.ndarray:
    """Hessian of ``dev``'s deviance at ``x = (theta, beta[, log dispersion])``.

    Steps are 1e-3 of each parameter (at least 1e-4): well above the noise of the PIRLS
    modes. Variances at their bound 0 get one-sided differences. ``dev`` is left at
    ``x`` (its dispersion and modes).
    """
    x = np.asarray(x, dtype=float)
    k, family = dev.n_theta, dev.family
    lower = np.concatenate([theta_bounds(dev.terms), np.full(len(x) - k, -np.inf)])

    def objective(v):
        if family.n_dispersion:
            dev.set_dispersion(np.exp(v[-1]))
        return dev.deviance(v[:k], v[k:k + n_beta], nagq)

    hess = central_hessian(objective, x, steps(x, 1e-3, 0.1), lower)
    objective(x)
    return hess
