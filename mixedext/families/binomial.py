"""Binomial responses with the logit link: ``y_i ~ Binomial(m_i, mu_i)``,
``logit(mu_i) = eta_i`` (``m_i = 1`` for binary outcomes)."""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from scipy.special import expit, gammaln
from statsmodels.genmod.families import links

from mixedext.families.base import Family, register

__all__ = ["Binomial"]


@register
class Binomial(Family):
    """Binomial with logit link; ``trials`` per row (1: binary)."""

    name = "binomial"
    title = "Binomial"
    canonical = True
    link = links.Logit()

    def __init__(self, y, trials=None, weights=None, dispersion=None):
        super().__init__(y, trials, weights, dispersion)
        m, y = self.trials, self.y
        self.log_coef = gammaln(m + 1) - gammaln(y + 1) - gammaln(m - y + 1)  # log C(m, y)

    def loglik_rows(self, eta, constant: bool = True) -> np.ndarray:
        """``log Binom(y | m, expit(eta))``; ``log(1 - mu) = log(mu) - eta``."""
        log_mu = -np.logaddexp(0.0, -eta)
        out = self.trials * log_mu - (self.trials - self.y) * eta
        return self.weights * (out + self.log_coef if constant else out)

    def working(self, eta):
        mu = expit(eta)
        w = np.maximum(self.trials * mu * (1.0 - mu), 1e-300)
        return self.weights * w, (self.y - self.trials * mu) / w

    def mean(self, eta):
        return expit(eta)

    def variance(self, mu):
        return mu * (1.0 - mu)

    def deviance_residuals(self, eta):
        mu = expit(eta)
        m, y = self.trials, self.y
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(y > 0, y * np.log(y / (m * mu)), 0.0)
            b = np.where(m - y > 0, (m - y) * np.log((m - y) / (m * (1 - mu))), 0.0)
        return np.sign(y - m * mu) * np.sqrt(np.maximum(2 * self.weights * (a + b), 0.0))

    def sample(self, eta, rng):
        return rng.binomial(self.trials.astype(np.int64), expit(eta)).astype(float)

    def latent_variance(self, eta_null=None) -> float:
        return np.pi ** 2 / 3  # variance of the standard logistic

    def glm_family(self):
        return sm.families.Binomial()
