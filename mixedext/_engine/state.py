"""The state of a linear mixed-model fit, fixed when the fit ends.

A :class:`FitState` is what every results method reads: the criterion (REML or ML), the
optimum (``theta``, a residual structure's parameters ``eta``, ``beta``, ``sigma^2``, the
deviance), the solution there (conditional modes and the Cholesky factor), the random-
effect terms and the statistics the fit was computed from. Nothing done later to the
model (a refit, a profile, a bootstrap, an interrupt) changes it:

* its arrays are read-only;
* work that perturbs a deviance (profiles, bootstrap refits, Hessians) asks the state for
  a deviance object of its own (:meth:`FitState.profiled_deviance`,
  :meth:`FitState.correlated_deviance`) and changes only that copy.

Names: ``profiled`` the profiled deviance over ``theta`` at the fit's statistics (with a
residual structure: whitened at the fit's ``eta``); ``correlated`` the deviance over
``(theta, eta)`` (None without a residual structure).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedext._engine.deviance import CorrelatedDeviance, ProfiledDeviance, Solution
from mixedext._engine.optimize import OptimResult

__all__ = ["FitState"]


def _frozen(a):
    if a is None:
        return None
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class FitState:
    """The optimum of a fit and what it was computed from (see the module docstring).

    Parameters
    ----------
    reml : bool
        The criterion: REML (True) or ML.
    solution : Solution
        The engine's solution at the optimum.
    optim : OptimResult
        How the optimum was reached (history of deviance evaluations).
    terms : tuple of RandomTerm
        The random-effect terms, in the user's order.
    profiled : ProfiledDeviance
        The fit's profiled deviance (at the fit's ``eta``); never perturbed.
    correlated : CorrelatedDeviance or None
        The deviance over ``(theta, eta)`` with a residual structure; never perturbed.
    residual_spec : ResidualSpec or None
        The residual structure as validated against the data.
    """

    reml: bool
    solution: Solution
    optim: OptimResult
    terms: tuple
    profiled: ProfiledDeviance
    correlated: CorrelatedDeviance | None = None
    residual_spec: object | None = None

    @classmethod
    def capture(cls, reml, solution, optim, terms, profiled, correlated=None,
                residual_spec=None) -> FitState:
        """The state at the end of a fit; the deviance objects are copied, so the
        model's own may move on."""
        for name in ("theta", "beta", "eta"):
            setattr(solution, name, _frozen(getattr(solution, name)))
        return cls(bool(reml), solution, optim, tuple(terms), profiled.copy(),
                   None if correlated is None else correlated.copy(), residual_spec)

    # -- the optimum ------------------------------------------------------------------
    @property
    def theta(self) -> np.ndarray:
        return self.solution.theta

    @property
    def eta(self) -> np.ndarray | None:
        return self.solution.eta

    @property
    def beta(self) -> np.ndarray:
        return self.solution.beta

    @property
    def sigma2(self) -> float:
        return self.solution.sigma2

    @property
    def deviance(self) -> float:
        return self.solution.deviance

    @property
    def has_structure(self) -> bool:
        """True with a residual structure (``cov_struct=`` / ``het_var=``)."""
        return self.correlated is not None

    @property
    def structure(self):
        """The residual structure's kernel (None without one)."""
        return None if self.correlated is None else self.correlated.structure

    @property
    def eta_or_empty(self) -> np.ndarray:
        return np.zeros(0) if self.eta is None else np.asarray(self.eta)

    # -- deviance objects of one's own --------------------------------------------------
    def profiled_deviance(self) -> ProfiledDeviance:
        """A copy of the fit's profiled deviance, free to perturb."""
        return self.profiled.copy()

    def correlated_deviance(self) -> CorrelatedDeviance:
        """A copy of the deviance over ``(theta, eta)``, at the fit's ``eta``."""
        if self.correlated is None:
            raise ValueError("this fit has no residual structure")
        return self.correlated.copy()

    def deviance_at_scale(self, reml: bool | None = None):
        """``f(theta, sigma2, eta) -> deviance`` not profiled over ``sigma^2``, on a
        deviance of its own (``reml`` defaults to the fit's criterion)."""
        reml = self.reml if reml is None else reml
        if self.correlated is None:
            dev = self.profiled_deviance()
            return lambda theta, sigma2, eta=None: dev.at_scale(theta, sigma2, reml)
        corr = self.correlated_deviance()
        return lambda theta, sigma2, eta: corr.at_scale(theta, sigma2, eta, reml)

    def conditional_covariances(self) -> list:
        """``Var(b | y)`` per term (lme4's condVar) at the optimum."""
        return self.profiled.conditional_covariances(self.solution)
