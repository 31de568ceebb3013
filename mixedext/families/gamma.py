"""Positive continuous outcomes: ``y_i ~ Gamma(shape nu, mean mu_i)`` with
``Var(y_i) = mu_i^2 / nu`` and ``log(mu_i) = eta_i``.

The dispersion is the shape ``nu``; glmmTMB's ``sigma`` for this family is the
coefficient of variation ``1 / sqrt(nu)`` and statsmodels' GLM ``scale`` is ``1 / nu``.
Prior weights multiply the log-likelihood rows (as glmmTMB's ``weights``).
"""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from scipy.special import gammaln
from statsmodels.genmod.families import links

from mixedext.families.base import FAMILY_PARAMETERS, Family, family_doc, register
from mixedext.families.poisson import MAX_ETA

__all__ = ["Gamma"]


@register
class Gamma(Family):
    __doc__ = """Gamma with the log link; the dispersion is the shape ``nu``.

    ``Var(y_i) = mu_i^2 / nu``, ``log(mu_i) = eta_i``.
    """ + FAMILY_PARAMETERS

    dispersion: float  # the shape, set before any evaluation (estimated with the others)

    name = "gamma"
    title = "Gamma"
    link = links.Log()
    n_dispersion = 1
    dispersion_name = "shape"

    def __init__(self, y, trials=None, weights=None, dispersion=None):
        super().__init__(y, trials, weights, dispersion)
        self.log_y = np.log(np.where(self.y > 0, self.y, 1.0))

    @staticmethod
    @family_doc("""Positive values.""")
    def check_outcome(y, name: str) -> None:
        y = np.asarray(y, dtype=float)
        if np.any(y <= 0):
            raise ValueError(f"outcome {name!r} must be positive for a Gamma model; found "
                             f"{int(np.sum(y <= 0))} value(s) <= 0 (min {y.min():g})")

    @family_doc("""``mu = exp(eta)``, ``eta`` clipped to [-700, 700].""")
    def mean(self, eta):
        return np.exp(np.clip(eta, -MAX_ETA, MAX_ETA))

    @family_doc("""``w_i [-nu (eta_i + y_i / mu_i) + nu log nu + (nu - 1) log y_i -
        log Gamma(nu)]`` (the last three terms with ``constant``).""")
    def loglik_rows(self, eta, constant: bool = True) -> np.ndarray:
        nu = self.dispersion
        out = -nu * (eta + self.y / self.mean(eta))
        if constant:
            out = out + nu * np.log(nu) + (nu - 1.0) * self.log_y - gammaln(nu)
        return self.weights * out

    @family_doc("""Weights ``w_i nu``, residuals ``(y_i - mu_i) / mu_i``.""")
    def working(self, eta):
        mu = self.mean(eta)
        return self.weights * np.full_like(mu, self.dispersion), (self.y - mu) / mu

    @family_doc("""``w_i nu y_i / mu_i`` (the log link is not canonical for the Gamma: this
        is not Fisher's weight; glmmTMB's Laplace uses it).""")
    def hessian_weights(self, eta):
        return self.weights * self.dispersion * self.y / self.mean(eta)

    @family_doc("""``V(mu) = mu^2 / nu``.""")
    def variance(self, mu):
        return mu ** 2 / self.dispersion

    @family_doc("""``d_i = 2 [-log(y_i / mu_i) + (y_i - mu_i) / mu_i]``.""")
    def deviance_residuals(self, eta):
        mu, y = self.mean(eta), self.y
        unit = 2.0 * (-np.log(y / mu) + (y - mu) / mu)
        return np.sign(y - mu) * np.sqrt(np.maximum(self.weights * unit, 0.0))

    @family_doc("""``Gamma(shape nu, scale mu_i / nu)`` draws.""")
    def sample(self, eta, rng):
        nu = self.dispersion
        return rng.gamma(nu, self.mean(eta) / nu)

    @family_doc("""``log(1 + 1 / nu)``, the lognormal approximation, whatever ``eta_null``
        (insight uses its first-order approximation ``1 / nu``).""")
    def latent_variance(self, eta_null: float | None = None) -> float:
        return float(np.log1p(1.0 / self.dispersion))

    @family_doc("""statsmodels' ``Gamma(link=Log())``.""")
    def glm_family(self):
        return sm.families.Gamma(link=links.Log())
