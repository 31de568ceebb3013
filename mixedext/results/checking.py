"""Model checking of fitted linear and generalised linear mixed models: what the
results' ``simulated_residuals()``, ``plot_residuals()`` and ``plot_qq()`` compute.

Simulated residuals (:mod:`mixedext.results.simulated`) come by default from
*unconditional* simulations: fresh random effects for every draw (lme4's ``simulate(re.form
= NA)``, DHARMa's default for lme4). Each row's residual then compares the observation with
its marginal distribution, so a misspecified random-effect distribution shows, and the
residuals do not inherit the shrinkage of the conditional modes. ``conditional=True``
simulates at the fitted random effects instead (a linear model: the fitted values plus
residual draws from the residual structure; a GLMM: draws from the family at the
conditional means), which tests the observation level (the family, dispersion, zero
inflation) more sharply but is conservative for everything the random effects absorb.
"""

from __future__ import annotations

import numpy as np

from mixedext.results.checkplots import plot_qq, plot_residuals
from mixedext.results.prediction import _residual_draws
from mixedext.results.reporting import frames_by_level
from mixedext.results.residuals import normalized_residuals, pearson_residuals
from mixedext.results.simulated import SimulatedResiduals, simulate_residuals

__all__ = ["linear_simulated_residuals", "glmm_simulated_residuals",
           "linear_residual_plot", "glmm_residual_plot", "linear_qq_plots", "glmm_qq_plots",
           "DISCRETE_FAMILIES"]

DISCRETE_FAMILIES = ("binomial", "poisson", "negbin")


def linear_simulated_residuals(res, n_sim=250, seed=None, conditional=False,
                               progress=None) -> SimulatedResiduals:
    """Simulated residuals of a linear mixed model (see the module docstring)."""
    res._require_rows("simulated_residuals")
    res._require_engine("simulated_residuals")
    model = res.model
    fitted = np.asarray(res.fittedvalues, dtype=float)
    sd = np.sqrt(res.scale) if model.weights is None else \
        np.sqrt(res.scale / np.asarray(model.weights))

    def conditional_draw(rng):
        return fitted + sd * _residual_draws(res, 1, rng)[:, 0]

    return simulate_residuals(res, n_sim, seed, conditional, progress, integer=False,
                              observed=model.endog, predicted=fitted,
                              conditional_draw=conditional_draw)


def glmm_simulated_residuals(res, n_sim=250, seed=None, conditional=False,
                             progress=None) -> SimulatedResiduals:
    """Simulated residuals of a GLMM (see the module docstring); randomised for the
    discrete families (binomial, Poisson, negative binomial)."""
    family = res.family
    eta = res.predict(linear=True)

    return simulate_residuals(res, n_sim, seed, conditional, progress,
                              integer=family.name in DISCRETE_FAMILIES, observed=family.y,
                              predicted=family.trials * res.fittedvalues,
                              conditional_draw=lambda rng: family.sample(eta, rng))


_KINDS = ("pearson", "normalized", "response")


def _linear_residuals(res, kind):
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, _KINDS))}, not {kind!r}")
    return {"pearson": lambda: pearson_residuals(res),
            "normalized": lambda: normalized_residuals(res),
            "response": lambda: np.asarray(res.resid)}[kind]()


def linear_residual_plot(res, kind="pearson", ax=None):
    """Residuals (``kind`` Pearson, normalized or response) against fitted values."""
    return plot_residuals(res.fittedvalues, _linear_residuals(res, kind), ax=ax,
                          label=f"{kind} residuals")


def glmm_residual_plot(res, ax=None):
    """Pearson residuals against the fitted (conditional) means."""
    return plot_residuals(res.fittedvalues, res.resid_pearson, ax=ax,
                          label="pearson residuals")


def glmm_qq_plots(res, axes=None):
    """Normal QQ plots of the Pearson residuals and of every random effect."""
    return plot_qq(res.resid_pearson, res.random_effects, axes=axes,
                   label="pearson residuals")


def linear_qq_plots(res, kind="pearson", axes=None):
    """Normal QQ plots of the residuals (``kind`` as :func:`linear_residual_plot`) and of
    every random effect, level by level."""
    state = res.fit_state
    return plot_qq(np.asarray(_linear_residuals(res, kind)),
                   frames_by_level(state.terms, state.solution.b), axes=axes,
                   label=f"{kind} residuals")
