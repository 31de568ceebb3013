"""Overdispersed counts: the negative binomial NB2, ``y_i ~ NB(mu_i, theta)`` with
``Var(y_i) = mu_i + mu_i^2 / theta`` and ``log(mu_i) = eta_i``.

``theta`` is lme4's / MASS's ``size`` (glmmTMB's ``nbinom2`` ``sigma``); statsmodels'
``alpha`` is ``1 / theta``.
"""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from scipy.special import gammaln
from statsmodels.genmod.families import links

from mixedext.families.base import FAMILY_PARAMETERS, Family, family_doc, register
from mixedext.families.poisson import MAX_ETA, check_counts

__all__ = ["NegativeBinomial"]


@register
class NegativeBinomial(Family):
    __doc__ = """Negative binomial NB2 with the log link; the dispersion is ``theta`` (size).

    ``Var(y_i) = mu_i + mu_i^2 / theta``, ``log(mu_i) = eta_i``.
    """ + FAMILY_PARAMETERS

    dispersion: float  # theta, set before any evaluation (estimated with the others)

    name = "negbin"
    title = "Negative binomial"
    link = links.Log()
    latent_needs_mean = True
    n_dispersion = 1
    dispersion_name = "theta"

    @staticmethod
    @family_doc("""Counts: integers >= 0.""")
    def check_outcome(y, name: str) -> None:
        check_counts(y, name)

    @family_doc("""``mu = exp(eta)``, ``eta`` capped at 700 (where ``exp`` overflows).""")
    def mean(self, eta):
        return np.exp(np.minimum(eta, MAX_ETA))

    def _log_theta_mu(self, eta):
        return np.logaddexp(np.log(self.dispersion), np.minimum(eta, MAX_ETA))

    @family_doc("""``w_i [y_i eta_i - (theta + y_i) log(theta + mu_i) + log Gamma(y_i + theta)
        - log Gamma(theta) - log y_i! + theta log theta]`` (the last four terms with
        ``constant``).""")
    def loglik_rows(self, eta, constant: bool = True) -> np.ndarray:
        th, y = self.dispersion, self.y
        out = y * eta - (th + y) * self._log_theta_mu(eta)
        if constant:
            out = out + gammaln(y + th) - gammaln(th) - gammaln(y + 1.0) + th * np.log(th)
        return self.weights * out

    @family_doc("""Weights ``w_i mu_i theta / (theta + mu_i)``, residuals ``(y_i - mu_i) /
        mu_i``.""")
    def working(self, eta):
        mu = np.maximum(self.mean(eta), 1e-300)
        th = self.dispersion
        return self.weights * mu * th / (th + mu), (self.y - mu) / mu

    @family_doc("""``w_i (theta + y_i) mu_i theta / (theta + mu_i)^2`` (the log link is not
        canonical for NB2: this is not Fisher's weight; glmmTMB's Laplace uses it).""")
    def hessian_weights(self, eta):
        mu = self.mean(eta)
        th = self.dispersion
        return self.weights * (th + self.y) * mu * th / (th + mu) ** 2

    @family_doc("""``V(mu) = mu + mu^2 / theta``.""")
    def variance(self, mu):
        return mu + mu ** 2 / self.dispersion

    @family_doc("""``d_i = 2 [y_i log(y_i / mu_i) - (y_i + theta) log((y_i + theta) /
        (mu_i + theta))]`` (``0 log 0 = 0``).""")
    def deviance_residuals(self, eta):
        mu, th, y = self.mean(eta), self.dispersion, self.y
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(y > 0, y * np.log(y / mu), 0.0)
        unit = 2.0 * (a - (y + th) * np.log((y + th) / (mu + th)))
        return np.sign(y - mu) * np.sqrt(np.maximum(self.weights * unit, 0.0))

    @family_doc("""Draws with ``theta`` successes and success probability ``theta / (theta +
        mu_i)`` (numpy's negative binomial), mean ``mu_i``.""")
    def sample(self, eta, rng):
        mu, th = self.mean(eta), self.dispersion
        return rng.negative_binomial(th, th / (th + mu)).astype(float)

    @family_doc("""``log(1 + 1 / lambda + 1 / theta)`` with ``lambda = exp(eta_null)``, the
        lognormal approximation (as ``performance::r2_nakagawa`` and ``icc``).""")
    def latent_variance(self, eta_null: float | None) -> float:
        if eta_null is None:
            raise ValueError("the negative binomial latent variance needs the null "
                             "model's intercept (eta_null)")
        return float(np.log1p(np.exp(-eta_null) + 1.0 / self.dispersion))

    @family_doc("""statsmodels' ``NegativeBinomial(alpha=1 / theta)`` (log link).""")
    def glm_family(self):
        return sm.families.NegativeBinomial(alpha=1.0 / self.dispersion)
