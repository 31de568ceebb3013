"""Counts: ``y_i ~ Poisson(mu_i)``, ``log(mu_i) = eta_i`` (an offset such as the log of
the exposure is part of ``eta``)."""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from scipy.special import gammaln, xlogy
from statsmodels.genmod.families import links

from mixedext.families.base import FAMILY_PARAMETERS, Family, family_doc, register

__all__ = ["Poisson", "check_counts"]

MAX_ETA = 700.0  # exp overflows beyond


def check_counts(y, name: str) -> None:
    """Refuse an outcome that is not a count (negative or non-integer values).

    Parameters
    ----------
    y : array_like
        The outcome.
    name : str
        Its name, for the error message.

    Raises
    ------
    ValueError
        Naming the outcome and up to five of its values that are not counts.
    """
    y = np.asarray(y, dtype=float)
    bad = y[(y < 0) | (y != np.round(y))]
    if bad.size:
        raise ValueError(f"outcome {name!r} must hold counts (integers >= 0); found "
                         f"{', '.join(f'{v:g}' for v in np.unique(bad)[:5])}")


@register
class Poisson(Family):
    __doc__ = """Poisson with the log link: ``y_i ~ Poisson(mu_i)``, ``log(mu_i) = eta_i``.
    """ + FAMILY_PARAMETERS

    name = "poisson"
    title = "Poisson"
    canonical = True
    link = links.Log()
    latent_needs_mean = True

    def __init__(self, y, trials=None, weights=None, dispersion=None):
        super().__init__(y, trials, weights, dispersion)
        self.log_factorial = gammaln(self.y + 1.0)

    @staticmethod
    @family_doc("""Counts: integers >= 0.""")
    def check_outcome(y, name: str) -> None:
        check_counts(y, name)

    @family_doc("""``mu = exp(eta)``, ``eta`` capped at 700 (where ``exp`` overflows).""")
    def mean(self, eta):
        return np.exp(np.minimum(eta, MAX_ETA))

    @family_doc("""``w_i (y_i eta_i - mu_i - log y_i!)`` (``log y_i!`` with ``constant``).""")
    def loglik_rows(self, eta, constant: bool = True) -> np.ndarray:
        out = self.y * eta - self.mean(eta)
        return self.weights * (out - self.log_factorial if constant else out)

    @family_doc("""Weights ``w_i mu_i``, residuals ``(y_i - mu_i) / mu_i``.""")
    def working(self, eta):
        mu = np.maximum(self.mean(eta), 1e-300)
        return self.weights * mu, (self.y - mu) / mu

    @family_doc("""``V(mu) = mu``.""")
    def variance(self, mu):
        return mu

    @family_doc("""``d_i = 2 [y_i log(y_i / mu_i) - (y_i - mu_i)]`` (``0 log 0 = 0``).""")
    def deviance_residuals(self, eta):
        mu = self.mean(eta)
        unit = 2.0 * (xlogy(self.y, self.y) - xlogy(self.y, mu) - (self.y - mu))
        return np.sign(self.y - mu) * np.sqrt(np.maximum(self.weights * unit, 0.0))

    @family_doc("""``Poisson(mu_i)`` draws.""")
    def sample(self, eta, rng):
        return rng.poisson(self.mean(eta)).astype(float)

    @family_doc("""``log(1 + 1 / lambda)`` with ``lambda = exp(eta_null)``, the lognormal
        approximation (as ``performance::r2_nakagawa`` and ``icc``).""")
    def latent_variance(self, eta_null: float | None) -> float:
        if eta_null is None:
            raise ValueError("the Poisson latent variance needs the null model's "
                             "intercept (eta_null)")
        return float(np.log1p(np.exp(-eta_null)))

    @family_doc("""statsmodels' ``Poisson()`` (log link).""")
    def glm_family(self):
        return sm.families.Poisson()
