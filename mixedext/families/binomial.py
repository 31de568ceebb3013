"""Binomial responses with the logit link: ``y_i ~ Binomial(m_i, mu_i)``,
``logit(mu_i) = eta_i`` (``m_i = 1`` for binary outcomes)."""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from scipy.special import expit, gammaln
from statsmodels.genmod.families import links

from mixedext.families.base import FAMILY_PARAMETERS, Family, family_doc, register

__all__ = ["Binomial"]


@register
class Binomial(Family):
    __doc__ = """Binomial with the logit link; ``trials`` per row (1: binary outcomes).

    ``y_i ~ Binomial(m_i, mu_i)``, ``logit(mu_i) = eta_i``.
    """ + FAMILY_PARAMETERS

    name = "binomial"
    title = "Binomial"
    canonical = True
    link = links.Logit()

    def __init__(self, y, trials=None, weights=None, dispersion=None):
        super().__init__(y, trials, weights, dispersion)
        m, y = self.trials, self.y
        self.log_coef = gammaln(m + 1) - gammaln(y + 1) - gammaln(m - y + 1)  # log C(m, y)

    @family_doc("""``w_i [y_i log mu_i + (m_i - y_i) log(1 - mu_i) + log C(m_i, y_i)]``
        (the binomial coefficient with ``constant``), computed as ``m_i log mu_i -
        (m_i - y_i) eta_i`` since ``log(1 - mu) = log(mu) - eta``.""")
    def loglik_rows(self, eta, constant: bool = True) -> np.ndarray:
        log_mu = -np.logaddexp(0.0, -eta)
        out = self.trials * log_mu - (self.trials - self.y) * eta
        return self.weights * (out + self.log_coef if constant else out)

    @family_doc("""Weights ``w_i m_i mu_i (1 - mu_i)``, residuals ``(y_i - m_i mu_i) /
        (m_i mu_i (1 - mu_i))``.""")
    def working(self, eta):
        mu = expit(eta)
        w = np.maximum(self.trials * mu * (1.0 - mu), 1e-300)
        return self.weights * w, (self.y - self.trials * mu) / w

    @family_doc("""``mu = expit(eta) = 1 / (1 + exp(-eta))``.""")
    def mean(self, eta):
        return expit(eta)

    @family_doc("""``V(mu) = mu (1 - mu)``.""")
    def variance(self, mu):
        return mu * (1.0 - mu)

    @family_doc("""``d_i = 2 [y_i log(y_i / (m_i mu_i)) + (m_i - y_i) log((m_i - y_i) /
        (m_i (1 - mu_i)))]``, a term 0 where its count is 0.""")
    def deviance_residuals(self, eta):
        mu = expit(eta)
        m, y = self.trials, self.y
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(y > 0, y * np.log(y / (m * mu)), 0.0)
            b = np.where(m - y > 0, (m - y) * np.log((m - y) / (m * (1 - mu))), 0.0)
        return np.sign(y - m * mu) * np.sqrt(np.maximum(2 * self.weights * (a + b), 0.0))

    @family_doc("""``Binomial(m_i, expit(eta_i))`` draws.""")
    def sample(self, eta, rng):
        return rng.binomial(self.trials.astype(np.int64), expit(eta)).astype(float)

    @family_doc("""``pi^2 / 3``, the variance of the standard logistic distribution (the
        logit link's latent scale), whatever ``eta_null``.""")
    def latent_variance(self, eta_null: float | None = None) -> float:
        return np.pi ** 2 / 3  # variance of the standard logistic

    @family_doc("""statsmodels' ``Binomial()`` (logit link).""")
    def glm_family(self):
        return sm.families.Binomial()
