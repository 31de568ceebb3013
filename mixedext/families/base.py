"""The conditional distribution of a GLMM's response given its linear predictor.

A family is one class: bound to the response (with trials, prior weights and its
dispersion) once, it gives what penalised IRLS, the Laplace approximation and adaptive
Gauss-Hermite quadrature need (:mod:`mixedext._engine.pirls`), and what the results
report:

* ``link``: statsmodels' link object (``link.inverse(eta)`` is the mean per trial);
* ``loglik_rows(eta, constant=True)``: ``w_i log p(y_i | eta_i)`` per row with prior
  weights ``w_i`` (``constant=False`` drops the terms free of ``eta`` at the current
  dispersion, computed once, e.g. the binomial coefficient);
* ``working(eta)``: IRLS weights ``w = w_i (dE[y]/deta)^2 / Var(y)`` (Fisher's) and the
  working residual ``(y - E[y]) / (dE[y]/deta)``;
* ``hessian_weights(eta)``: ``-d^2 loglik_i / deta^2``, the observed information, used in
  the Laplace approximation's determinant (equal to the Fisher weights for a canonical
  link: binomial logit, Poisson log, whose classes set ``canonical = True``);
* ``mean(eta)``, ``variance(mu)`` (per unit dispersion), ``deviance_residuals(eta)``,
  ``sample(eta, rng)``;
* ``latent_variance(eta_null)``: the residual variance on the latent scale for the ICC
  and R² (Nakagawa, Johnson & Schielzeth 2017), from the null model's intercept where it
  depends on the mean;
* a dispersion parameter when ``n_dispersion == 1`` (``dispersion_name``: the negative
  binomial's ``theta``, the Gamma's ``shape``), estimated with the other parameters on
  the log scale; ``with_dispersion(value)`` returns the family at another value.

Names: ``eta`` the linear predictor ``offset + X beta + Z b``, ``mu`` the mean per trial.
"""

from __future__ import annotations

import copy

import numpy as np
from statsmodels.genmod.families.links import Link

__all__ = ["Family", "FAMILIES", "register"]

FAMILIES: dict = {}  # name -> class


def register(cls):
    """Class decorator: make ``cls`` available under its ``name``."""
    FAMILIES[cls.name] = cls
    return cls


class Family:
    """Base class (see the module docstring); subclasses set ``name``, ``title``,
    ``link`` and implement the row-wise methods."""

    name = ""
    title = ""
    link: Link  # statsmodels' link object, set by each subclass
    n_dispersion = 0
    dispersion_name: str | None = None
    latent_needs_mean = False  # latent_variance needs the null model's intercept
    canonical = False  # canonical link: Fisher's information is the observed one

    def __init__(self, y, trials=None, weights=None, dispersion=None):
        self.y = np.asarray(y, dtype=float)
        self.trials = np.ones_like(self.y) if trials is None else np.asarray(trials, float)
        self.weights = np.ones_like(self.y) if weights is None else np.asarray(weights, float)
        self.dispersion = dispersion

    @staticmethod
    def check_outcome(y, name: str) -> None:
        """Refuse outcomes outside the family's support (naming the outcome ``name``)."""

    def with_dispersion(self, value: float) -> Family:
        """The family at dispersion ``value`` (a new object; this one is unchanged)."""
        out = copy.copy(self)
        out.dispersion = float(value)
        return out

    def loglik_rows(self, eta, constant: bool = True) -> np.ndarray:
        raise NotImplementedError

    def loglik(self, eta, constant: bool = True) -> float:
        return float(self.loglik_rows(eta, constant).sum())

    def working(self, eta) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def hessian_weights(self, eta) -> np.ndarray:
        return self.working(eta)[0]

    def mean(self, eta) -> np.ndarray:
        return self.link.inverse(np.asarray(eta, dtype=float))

    def variance(self, mu) -> np.ndarray:
        raise NotImplementedError

    def deviance_residuals(self, eta) -> np.ndarray:
        raise NotImplementedError

    def pearson_residuals(self, eta) -> np.ndarray:
        """``sqrt(w_i) (y - E[y]) / sd(y)`` per row."""
        mu = self.mean(eta)
        return np.sqrt(self.weights) * (self.y - self.trials * mu) / np.sqrt(
            self.trials * self.variance(mu))

    def sample(self, eta, rng) -> np.ndarray:
        raise NotImplementedError

    def latent_variance(self, eta_null: float) -> float:
        raise NotImplementedError

    def glm_family(self):
        """The statsmodels GLM family with the same link (start values, GEE)."""
        raise NotImplementedError
