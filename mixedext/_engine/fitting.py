"""The optimiser strategies, once each: from a deviance to its optimum (and a FitState).

Without a residual structure the profiled deviance is minimised over ``theta``
(:func:`~mixedext._engine.optimize.minimize_theta`, Newton-polished). With one, the
deviance over ``(theta, eta)`` is minimised jointly: L-BFGS-B with forward differences to
the neighbourhood, then Newton steps (``theta`` and ``eta`` are strongly correlated, and
L-BFGS-B alone crawls along the ridge), or for many parameters L-BFGS-B again with
central differences. Fits, ML refits for profiles and bootstrap refits all run here, and
so does a GLMM's joint minimisation over ``(theta, beta)`` (:func:`fit_laplace`).
"""

from __future__ import annotations

import numpy as np

from mixedext._engine.deviance import CorrelatedDeviance, ProfiledDeviance
from mixedext._engine.factor import theta_bounds
from mixedext._engine.optimize import minimize_theta, newton_polish
from mixedext._engine.state import FitState

__all__ = ["default_start", "fit_profiled", "fit_correlated", "fit_state", "refit",
           "fit_laplace"]


def default_start(terms) -> np.ndarray:
    """lme4's start: 1 on the diagonals of each Lambda, 0 elsewhere."""
    return np.where(theta_bounds(terms) == 0.0, 1.0, 0.0)


def theta_scales(dev: ProfiledDeviance) -> np.ndarray:
    """Per component of ``theta``, the root-mean-square of its random-effect covariate
    (row ``i`` of a Lambda block scales with covariate ``i``; a term with one variance for
    several covariates with their pooled RMS). The optimiser works in ``theta * scale``,
    so the fit does not depend on the units of the covariates."""
    out = []
    for t, ztz in zip(dev.terms, dev.cp.ztz):
        rms = np.sqrt(np.maximum(np.einsum("maa->a", ztz) / max(dev.n, 1), 1e-300))
        if t.cov == "scalar":
            out.append(np.sqrt(np.mean(rms ** 2)))
            continue
        rows, cols = np.tril_indices(t.q)
        order = np.lexsort((rows, cols))
        out.extend(rms[rows[order]])
    return np.asarray(out, dtype=float)


def fit_profiled(dev: ProfiledDeviance, reml: bool, theta0=None, options=None):
    """Minimise the profiled deviance over ``theta``: ``(OptimResult, Solution)``
    (``options``: L-BFGS-B's, see :func:`minimize_theta`). The optimiser's coordinates
    are ``theta * theta_scales(dev)``; its start, lme4's in those coordinates."""
    scale = theta_scales(dev)
    phi0 = default_start(dev.terms) if theta0 is None else np.asarray(theta0) * scale
    opt = minimize_theta(lambda phi: dev(phi / scale, reml), phi0, theta_bounds(dev.terms),
                         polish=True, **(options or {}))
    opt.theta = opt.theta / scale
    opt.history = [(*(np.asarray(row[:-1]) / scale), row[-1]) for row in opt.history]
    return opt, dev.solution(opt.theta, reml)


def fit_correlated(dev: CorrelatedDeviance, reml: bool, theta0=None, eta0=None,
                   options=None):
    """Minimise the deviance over ``(theta, eta)``: ``(OptimResult, Solution)``; ``dev``
    is left at the optimum's ``eta``."""
    lower = theta_bounds(dev.terms)
    theta0 = default_start(dev.terms) if theta0 is None else theta0
    k = len(theta0)
    x0 = np.concatenate([theta0, dev.structure.start() if eta0 is None else eta0])
    lo = np.concatenate([lower, np.full(dev.structure.n_eta, -np.inf)])

    def deviance(x):
        return dev(x, reml)

    kw = dict(ftol=1e-10, gtol=1e-4) | (options or {})
    opt = minimize_theta(deviance, x0, lo, jac="2-point", polish=True, **kw)
    if len(x0) > 6:
        first = opt
        opt = minimize_theta(deviance, first.theta, lo, **kw)
        opt.history[:0] = first.history
        opt.nfev = len(opt.history)
    dev.set_eta(opt.theta[k:])
    sol = dev.inner.solution(opt.theta[:k], reml)
    sol.deviance += dev.logdet_r
    sol.eta = opt.theta[k:]
    return opt, sol


def fit_state(reml: bool, profiled: ProfiledDeviance | None = None,
              correlated: CorrelatedDeviance | None = None, *, residual_spec=None,
              theta0=None, eta0=None, options=None) -> FitState:
    """Fit by REML or ML and capture the state (the deviance objects given are moved to
    the optimum; the state keeps copies of its own). ``options``: L-BFGS-B's."""
    if correlated is None:
        opt, sol = fit_profiled(profiled, reml, theta0, options)
        return FitState.capture(reml, sol, opt, profiled.terms, profiled)
    opt, sol = fit_correlated(correlated, reml, theta0, eta0, options)
    return FitState.capture(reml, sol, opt, correlated.terms, correlated.inner, correlated,
                            residual_spec)


def refit(state: FitState, reml: bool) -> FitState:
    """The fit of the same data by the other criterion (e.g. ML for a profile of a REML
    fit), from the default start as a fresh fit, on deviance objects of its own."""
    if state.reml == reml:
        return state
    if state.correlated is None:
        return fit_state(reml, state.profiled_deviance())
    return fit_state(reml, correlated=state.correlated_deviance(),
                     residual_spec=state.residual_spec)


def fit_laplace(dev, beta0, nagq: int = 1, *, maxiter: int = 2000):
    """Minimise a GLMM's deviance (:class:`~mixedext._engine.pirls.LaplaceDeviance`)
    jointly over ``(theta, beta)`` from lme4's ``theta`` and ``beta0``: L-BFGS-B (forward
    differences where Newton steps follow, up to 6 parameters) on the Laplace deviance,
    then on the adaptive Gauss-Hermite one for ``nagq > 1``, Newton-polished."""
    lower_t = theta_bounds(dev.terms)
    x0 = np.concatenate([np.where(lower_t == 0, 1.0, 0.0), beta0])
    lower = np.concatenate([lower_t, np.full(len(beta0), -np.inf)])
    k = dev.n_theta

    def objective(x, q):
        return dev.deviance(x[:k], x[k:], q)

    jac = "2-point" if len(x0) <= 6 else "3-point"
    opt = minimize_theta(lambda x: objective(x, 1), x0, lower, maxiter=maxiter, jac=jac,
                         polish=nagq == 1)
    if nagq > 1:
        opt = minimize_theta(lambda x: objective(x, nagq), opt.theta, lower,
                             maxiter=maxiter, jac=jac, polish=True)
    if len(x0) > 6:  # minimize_theta polishes up to 6 parameters itself
        opt.theta, opt.deviance, _ = newton_polish(lambda x: objective(x, nagq), opt.theta,
                                                   lower, fx=opt.deviance)
    return opt
