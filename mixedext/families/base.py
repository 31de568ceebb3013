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
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from statsmodels.genmod import families as sm_families
from statsmodels.genmod.families.links import Link

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

F = TypeVar("F", bound=Callable)

__all__ = ["Family", "FAMILIES", "register", "FAMILY_PARAMETERS", "family_doc"]

FAMILIES: dict = {}  # name -> class

FAMILY_PARAMETERS = """
    Parameters
    ----------
    y : array_like
        The outcome, one value per row (successes for a binomial with trials).
    trials : array_like, optional
        Trials per row (default 1): a binomial's number of trials; the models of the
        other families give none.
    weights : array_like, optional
        Prior weights multiplying each row's log-likelihood (default 1).
    dispersion : float, optional
        The dispersion parameter (``theta`` of the negative binomial, the Gamma's
        ``shape``); None for families without one, or while it is being estimated.
"""

def register(family: type[Family]) -> type[Family]:
    """Make a family class available under its ``name`` (a class decorator).

    Parameters
    ----------
    family : type
        A subclass of :class:`Family` with a unique ``name``.

    Returns
    -------
    type
        ``family`` itself, now in ``FAMILIES[family.name]``.
    """
    FAMILIES[family.name] = family
    return family


def family_doc(notes: str) -> Callable[[F], F]:
    """Give a family's method :class:`Family`'s docstring of it with ``notes`` (its math).

    Parameters
    ----------
    notes : str
        The family's formulas, the docstring's Notes section.

    Returns
    -------
    callable
        A decorator setting the method's ``__doc__``.
    """
    def decorate(method: F) -> F:
        base = inspect.cleandoc(getattr(Family, method.__name__).__doc__)
        head, refs, tail = base.partition("\nReferences\n----------\n")
        notes_section = f"\nNotes\n-----\n{inspect.cleandoc(notes)}\n"
        method.__doc__ = head.rstrip("\n") + "\n" + notes_section + (
            "\n" + refs.lstrip("\n") + tail if refs else "")
        return method
    return decorate


class Family:
    __doc__ = """The conditional distribution of a GLMM's response given its linear predictor.

    The base class (see the module docstring); subclasses set ``name``, ``title``,
    ``link`` and implement the row-wise methods.
    """ + FAMILY_PARAMETERS

    name = ""
    title = ""
    link: Link  # statsmodels' link object, set by each subclass
    n_dispersion = 0
    dispersion_name: str | None = None
    latent_needs_mean = False  # latent_variance needs the null model's intercept
    canonical = False  # canonical link: Fisher's information is the observed one

    def __init__(self, y: ArrayLike, trials: ArrayLike | None = None,
                 weights: ArrayLike | None = None, dispersion: float | None = None):
        self.y = np.asarray(y, dtype=float)
        self.trials = np.ones_like(self.y) if trials is None else np.asarray(trials, float)
        self.weights = np.ones_like(self.y) if weights is None else np.asarray(weights, float)
        self.dispersion = dispersion

    @staticmethod
    def check_outcome(y: ArrayLike, name: str) -> None:
        """Refuse outcomes outside the family's support.

        The base class accepts every outcome.

        Parameters
        ----------
        y : array_like
            The outcome.
        name : str
            Its name, for the error message.

        Raises
        ------
        ValueError
            For values outside the family's support (in the families that have
            bounds), naming the outcome ``name``.
        """

    def with_dispersion(self, value: float) -> Family:
        """Copy the family at another dispersion (this one is unchanged).

        Parameters
        ----------
        value : float
            The new dispersion.

        Returns
        -------
        Family
            A new family of the same class, data and weights.
        """
        out = copy.copy(self)
        out.dispersion = float(value)
        return out

    def loglik_rows(self, eta: np.ndarray, constant: bool = True) -> np.ndarray:
        """Compute each row's log-likelihood ``w_i log p(y_i | eta_i)``.

        Parameters
        ----------
        eta : numpy.ndarray
            The linear predictor ``offset + X beta + Z b`` of every row.
        constant : bool, default True
            Include the terms free of ``eta`` at the current dispersion (the binomial
            coefficient, ``log y!``, ...); False leaves them out.

        Returns
        -------
        numpy.ndarray
            One value per row, times its prior weight.
        """
        raise NotImplementedError

    def loglik(self, eta: np.ndarray, constant: bool = True) -> float:
        """Compute the log-likelihood, the sum of :meth:`loglik_rows`.

        Parameters
        ----------
        eta : numpy.ndarray
            The linear predictor ``offset + X beta + Z b`` of every row.
        constant : bool, default True
            Include the terms free of ``eta`` (see :meth:`loglik_rows`).

        Returns
        -------
        float
            ``sum_i w_i log p(y_i | eta_i)``.
        """
        return float(self.loglik_rows(eta, constant).sum())

    def working(self, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Compute the IRLS (Fisher) weights and working residuals.

        Parameters
        ----------
        eta : numpy.ndarray
            The linear predictor ``offset + X beta + Z b`` of every row.

        Returns
        -------
        weights : numpy.ndarray
            ``w_i (dE[y_i]/deta_i)^2 / Var(y_i)`` per row (Fisher's information).
        residuals : numpy.ndarray
            ``(y_i - E[y_i]) / (dE[y_i]/deta_i)`` per row.
        """
        raise NotImplementedError

    def hessian_weights(self, eta: np.ndarray) -> np.ndarray:
        """Compute the observed information ``-d^2 loglik_i / deta_i^2`` per row.

        Used in the Laplace approximation's determinant; the base class returns
        Fisher's weights (:meth:`working`), equal for a canonical link.

        Parameters
        ----------
        eta : numpy.ndarray
            The linear predictor ``offset + X beta + Z b`` of every row.

        Returns
        -------
        numpy.ndarray
            One value per row, times its prior weight.
        """
        return self.working(eta)[0]

    def mean(self, eta: np.ndarray) -> np.ndarray:
        """Compute the mean per trial ``mu = g^{-1}(eta)``, the inverse link.

        Parameters
        ----------
        eta : numpy.ndarray
            The linear predictor ``offset + X beta + Z b`` of every row.

        Returns
        -------
        numpy.ndarray
            ``mu_i`` per row.
        """
        return self.link.inverse(np.asarray(eta, dtype=float))

    def variance(self, mu: np.ndarray) -> np.ndarray:
        """Compute the variance function ``V(mu)``: the variance of one trial.

        Parameters
        ----------
        mu : numpy.ndarray
            Means per trial.

        Returns
        -------
        numpy.ndarray
            ``V(mu_i)`` per row (at the family's dispersion).
        """
        raise NotImplementedError

    def deviance_residuals(self, eta: np.ndarray) -> np.ndarray:
        """Compute the deviance residuals ``sign(y_i - m_i mu_i) sqrt(w_i d_i)``.

        ``d_i`` is row ``i``'s unit deviance, twice the log-likelihood of the saturated
        model minus the model's.

        Parameters
        ----------
        eta : numpy.ndarray
            The linear predictor ``offset + X beta + Z b`` of every row.

        Returns
        -------
        numpy.ndarray
            One residual per row.
        """
        raise NotImplementedError

    def pearson_residuals(self, eta: np.ndarray) -> np.ndarray:
        """Compute the Pearson residuals ``sqrt(w_i) (y_i - m_i mu_i) / sqrt(m_i V(mu_i))``.

        Parameters
        ----------
        eta : numpy.ndarray
            The linear predictor ``offset + X beta + Z b`` of every row.

        Returns
        -------
        numpy.ndarray
            One residual per row (``m_i`` the trials, ``w_i`` the prior weight).
        """
        mu = self.mean(eta)
        return np.sqrt(self.weights) * (self.y - self.trials * mu) / np.sqrt(
            self.trials * self.variance(mu))

    def sample(self, eta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw one outcome per row from the family at ``eta``.

        Parameters
        ----------
        eta : numpy.ndarray
            The linear predictor ``offset + X beta + Z b`` of every row.
        rng : numpy.random.Generator
            The random number generator.

        Returns
        -------
        numpy.ndarray
            One draw per row (successes out of the trials for a binomial), as floats.
        """
        raise NotImplementedError

    def latent_variance(self, eta_null: float | None) -> float:
        """Compute the residual variance on the latent (link) scale, for the ICC and R².

        Parameters
        ----------
        eta_null : float or None
            The intercept of the null model (intercept only, same random effects), for
            families whose latent variance depends on the mean
            (``latent_needs_mean``); None otherwise.

        Returns
        -------
        float
            The distribution-specific variance of Nakagawa, Johnson and Schielzeth
            (2017).

        References
        ----------
        .. [1] Nakagawa, S., Johnson, P. C. D. and Schielzeth, H. (2017). The
           coefficient of determination R² and intra-class correlation coefficient
           from generalized linear mixed-effects models revisited and expanded.
           Journal of the Royal Society Interface 14, 20170213.
        """
        raise NotImplementedError

    def glm_family(self) -> sm_families.Family:
        """Build the statsmodels GLM family with the same link (start values, GEE).

        Returns
        -------
        statsmodels.genmod.families.Family
            The family of statsmodels' ``GLM`` and ``GEE``.
        """
        raise NotImplementedError
