"""The conditional distribution of a GLMM's response given its linear predictor.

A family is one class: bound to the response (and trials or prior weights) once, it
gives what penalised IRLS, the Laplace approximation and adaptive Gauss-Hermite
quadrature need (:mod:`mixedext._engine.pirls`), and what the results report:

* ``link``: statsmodels' link object (``link.inverse(eta)`` is the mean per trial);
* ``loglik_rows(eta, constant=True)``: ``log p(y_i | eta_i)`` per row (``constant=False``
  drops the terms free of ``eta``, computed once, e.g. the binomial coefficient);
* ``working(eta)``: IRLS weights ``w = (dE[y]/deta)^2 / Var(y)`` and the working
  residual ``(y - E[y]) / (dE[y]/deta)`` (the working response is ``eta - offset`` plus it);
* ``mean(eta)``: the mean on the response scale (per trial);
* ``deviance_residuals(eta)``;
* ``latent_variance``: the residual variance on the latent scale, for the ICC and R²
  (Nakagawa & Schielzeth 2013).

Names: ``eta`` the linear predictor ``X beta + Z b``, ``mu`` the mean per trial.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Family", "FAMILIES", "register"]

FAMILIES: dict = {}  # name -> class


def register(cls):
    """Class decorator: make ``cls`` available under its ``name``."""
    FAMILIES[cls.name] = cls
    return cls


class Family:
    """Base class (see the module docstring); subclasses set ``name``, ``link`` and
    ``latent_variance`` and implement the row-wise methods."""

    name = ""
    link = None
    latent_variance = np.nan

    def __init__(self, y, trials=None):
        self.y = np.asarray(y, dtype=float)
        self.trials = np.ones_like(self.y) if trials is None else np.asarray(trials, float)

    def loglik_rows(self, eta, constant: bool = True) -> np.ndarray:
        raise NotImplementedError

    def loglik(self, eta, constant: bool = True) -> float:
        return float(self.loglik_rows(eta, constant).sum())

    def working(self, eta) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def mean(self, eta) -> np.ndarray:
        return self.link.inverse(np.asarray(eta, dtype=float))

    def deviance_residuals(self, eta) -> np.ndarray:
        raise NotImplementedError
