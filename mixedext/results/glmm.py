"""Results of a GLMM's maximum-likelihood fit (:meth:`MixedGLMMixin.fit_ml
<mixedext.models.glmm.MixedGLMMixin.fit_ml>`), for every family.

Labelled, read-only pandas properties (``fe_params``, ``bse``, ``cov_params()``, ...),
predictions on the response or link scale with offsets, simulation, and the random-effect
reports shared with the linear model (``variance_components()``, ``icc()`` and ``r2()`` on
the latent scale, ``design_effect()``, ``shrinkage()``, plots, ``compare_gee()``).

A results object is a snapshot: it keeps the optimum, the conditional modes and the
family at the fitted dispersion, never the deviance object the optimiser moved.

The latent-scale residual variance ``scale`` is the family's (Nakagawa, Johnson &
Schielzeth 2017): ``pi^2 / 3`` for the logit link; for the log link the lognormal
approximation ``log(1 + 1 / lambda [+ 1 / theta])`` with ``lambda = exp(beta_0)`` of the
null model (intercept only, same random effects, offsets and weights), as
``performance::icc`` / ``r2_nakagawa``; ``log(1 + 1 / nu)`` for the Gamma (insight uses
its first-order approximation ``1 / nu``). An observation-level random effect's variance
joins the residual (overdispersion).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import patsy
from scipy.stats import norm

from mixedext._checks import check_alpha, check_count
from mixedext._engine.factor import lambda_blocks, theta_bounds
from mixedext._engine.fitting import fit_laplace
from mixedext._engine.pirls import LaplaceDeviance
from mixedext._typing import Seed
from mixedext.results.checking import (
    glmm_qq_plots,
    glmm_residual_plot,
    glmm_simulated_residuals,
)
from mixedext.results.checkplots import plot_influence
from mixedext.results.glmm_influence import glmm_influence_table
from mixedext.results.prediction import (
    needed_columns,
    new_offset,
    on_complete_rows,
    random_contribution,
)
from mixedext.results.reporting import RandomEffectsReport, conditional_sds, frames_by_level

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

    from mixedext.results.simulated import SimulatedResiduals

__all__ = ["MixedGLMResults", "RESULTS_PARAMETERS"]

RESULTS_PARAMETERS = """
    Parameters
    ----------
    model : MixedGLMMixin
        The fitted model (:class:`~mixedext.BinomialMixedGLM`,
        :class:`~mixedext.PoissonMixedGLM`, ...).
    dev : LaplaceDeviance
        The deviance the optimiser minimised; its family, terms and offset are copied.
    opt : OptimResult
        The optimum: ``theta`` (relative covariance factors, fixed effects, then the
        log dispersion), ``deviance``, ``converged`` and ``history``.
    state : PirlsState
        The penalised IRLS solution at the optimum (conditional modes ``b`` and the
        linear predictor ``eta``).
    hessian : numpy.ndarray
        The Hessian of the deviance in all parameters at the optimum.
    nagq : int
        1 for the Laplace approximation, more for adaptive Gauss-Hermite quadrature.
"""


class MixedGLMResults(RandomEffectsReport):
    __doc__ = """Maximum-likelihood fit of a generalised linear mixed model.

    Results are made by :meth:`fit_ml <mixedext.models.glmm.MixedGLMMixin.fit_ml>`
    and are snapshots: the optimum, the conditional modes and the family at the
    fitted dispersion.
    """ + RESULTS_PARAMETERS + """
    Attributes
    ----------
    model : MixedGLMMixin
        The fitted model.
    family : Family
        The response's family at the fitted dispersion.
    nagq : int
        1 for the Laplace approximation, more for adaptive Gauss-Hermite quadrature.
    converged : bool
        Whether the optimiser converged.
    """

    _residual_row = False

    def __init__(self, model, dev, opt, state, hessian, nagq):
        self.model = model
        self.family = dev.family
        self._terms = list(dev.terms)
        self._offset = dev.offset.copy()
        self._opt = opt
        self._state = state
        self._hessian = hessian
        self._condcov = dev.conditional_covariances(state)
        self.nagq = nagq
        self.converged = opt.converged
        self.method = "ML (Laplace)" if nagq == 1 else f"ML (AGQ, {nagq} nodes)"
        self._k = dev.n_theta
        self._p = len(model.fep_names)
        self.nobs = len(model.endog)

    # -- parameters --------------------------------------------------------------------
    def _variance_parameters(self):
        return self._opt.theta[:self._k], 1.0

    @property
    def theta(self) -> pd.Series:
        """The relative covariance factors at the optimum (lme4's ``theta``).

        The entries of each term's factor ``Lambda`` (the covariance is
        ``Lambda Lambda'``: a GLMM without a dispersion of its own has scale 1), so for a
        scalar random intercept its SD.
        """
        return pd.Series(self._opt.theta[:self._k], name="theta")

    @property
    def fe_params(self) -> pd.Series:
        """The fixed effects on the link scale, labelled by term."""
        return pd.Series(self._opt.theta[self._k:self._k + self._p],
                         index=self.model.fep_names, name="fe_params")

    @cached_property
    def _vcov_all(self) -> np.ndarray:
        try:
            return 2.0 * np.linalg.inv(self._hessian)
        except np.linalg.LinAlgError:
            return np.full_like(self._hessian, np.nan)

    def cov_params(self) -> pd.DataFrame:
        """Compute the covariance of the fixed effects.

        Returns
        -------
        pandas.DataFrame
            Labelled by term on both axes.

        Notes
        -----
        The fixed effects' block of ``2 H^{-1}``, ``H`` the Hessian of the deviance
        (``-2 log L``, Laplace or AGQ) in all parameters at the optimum (glmer's default
        ``use.hessian = TRUE``); NaN where ``H`` is singular.
        """
        names = self.model.fep_names
        block = self._vcov_all[self._k:self._k + self._p, self._k:self._k + self._p]
        return pd.DataFrame(block, index=names, columns=names)

    @property
    def bse(self) -> pd.Series:
        """Standard errors of the fixed effects (square roots of :meth:`cov_params`'s diagonal)."""
        return pd.Series(np.sqrt(np.diag(self.cov_params())), index=self.model.fep_names,
                         name="bse")

    @property
    def zvalues(self) -> pd.Series:
        """Wald z statistics of the fixed effects, ``fe_params / bse``."""
        return self.fe_params / self.bse

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of the Wald z tests of the fixed effects, ``2 P(Z > |z|)``."""
        return pd.Series(2 * norm.sf(np.abs(self.zvalues)), index=self.model.fep_names)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Compute Wald intervals for the fixed effects.

        Parameters
        ----------
        alpha : float, default 0.05
            The intervals have coverage ``1 - alpha``.

        Returns
        -------
        pandas.DataFrame
            Indexed by term; columns ``lower`` and ``upper``,
            ``fe_params -/+ z_{1 - alpha/2} bse``.

        Raises
        ------
        ValueError
            For ``alpha`` outside (0, 1).
        """
        q = norm.ppf(1 - check_alpha(alpha) / 2)
        return pd.DataFrame({"lower": self.fe_params - q * self.bse,
                             "upper": self.fe_params + q * self.bse})

    # -- likelihood ----------------------------------------------------------------------
    @property
    def llf(self) -> float:
        """The log-likelihood at the optimum (Laplace or AGQ approximation).

        Normalising constants included, as glmer's and glmmTMB's ``logLik``.
        """
        return -0.5 * self._opt.deviance

    @property
    def df_modelwc(self) -> int:
        """The number of estimated parameters (covariance factors, fixed effects, dispersion)."""
        return len(self._opt.theta)

    @property
    def aic(self) -> float:
        """Akaike's information criterion, ``-2 llf + 2 k`` (``k`` = :attr:`df_modelwc`)."""
        return -2 * self.llf + 2 * self.df_modelwc

    @property
    def bic(self) -> float:
        """The Bayesian information criterion, ``-2 llf + log(n) k`` (``k``: df_modelwc)."""
        return -2 * self.llf + np.log(self.nobs) * self.df_modelwc

    @property
    def singular(self) -> bool:
        """Whether a variance parameter sits at its bound 0 (lme4's ``isSingular``).

        True when a component of ``theta`` with lower bound 0 is below ``1e-4``.
        """
        lower = theta_bounds(self._terms)
        return bool(np.any((lower == 0) & (self._opt.theta[:self._k] < 1e-4)))

    @property
    def optim_history(self) -> pd.DataFrame:
        """Every evaluation of the deviance during the fit.

        One row per evaluation: ``theta0, ...``, the fixed effects, the log dispersion
        (``log_theta``, ``log_shape``) for families with one, and ``deviance``.
        """
        cols = [f"theta{i}" for i in range(self._k)] + list(self.model.fep_names)
        cols += [f"log_{self.family.dispersion_name}"] * self.family.n_dispersion
        return pd.DataFrame(self._opt.history, columns=[*cols, "deviance"]).rename_axis(
            "evaluation")

    # -- the latent scale --------------------------------------------------------------------
    @cached_property
    def observation_levels(self) -> tuple:
        """The levels with one unit per row (observation-level random intercepts).

        Such a random intercept models overdispersion: its variance is part of the latent
        residual variance for the ICC and R², as ``insight::get_variance``'s
        ``var.dispersion``.
        """
        return tuple(t.level for t in self._terms
                     if t.z is None and np.all(t.unit_sizes == 1))

    @cached_property
    def scale(self) -> float:  # type: ignore[override]  # read-only here, set in linear
        """The residual variance on the latent scale (see the module docstring).

        The family's latent variance (``pi^2 / 3`` for the logit link, the lognormal
        approximation for the log link) plus the variance of any observation-level random
        effect.
        """
        extra = sum(float(cov[0, 0]) for t, cov in zip(self._terms, self._term_covariances())
                    if t.level in self.observation_levels)
        return self.family.latent_variance(self._null_intercept()) + extra

    def _null_intercept(self) -> float | None:
        """``beta_0`` of the null model, for families whose latent variance needs it
        (fitted once; the optimiser's probes where the deviance overflows stay quiet)."""
        if not self.family.latent_needs_mean:
            return None
        if "_null_beta0" not in self.__dict__:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                self.__dict__["_null_beta0"] = self._fit_null_intercept()
        return self.__dict__["_null_beta0"]

    def _fit_null_intercept(self) -> float:
        ones = np.ones((self.nobs, 1))
        family = self.family if not self.family.n_dispersion else \
            self.family.with_dispersion(self.family.dispersion)
        dev = LaplaceDeviance(ones, family, self._terms, offset=self._offset)
        y = family.y
        start = np.log(max(float(np.sum(family.weights * y)), 0.5)
                       / float(np.sum(family.weights * np.exp(self._offset))))
        opt = fit_laplace(dev, np.array([start]), self.nagq,
                          dispersion0=family.dispersion if family.n_dispersion else None)
        return float(opt.theta[self._k])

    # -- random effects and predictions ------------------------------------------------
    @property
    def random_effects(self) -> dict:
        """Conditional modes of the random effects ``{level: DataFrame}`` (link scale).

        One row per unit and one column per random-effect covariate.
        """
        return frames_by_level(self._terms, self._state.b)

    @property
    def random_effects_se(self) -> dict:
        """Conditional SDs of the random effects ``{level: DataFrame}``.

        glmer's ``ranef(condVar = TRUE)``, laid out as :attr:`random_effects`.
        """
        return frames_by_level(self._terms, conditional_sds(self._condcov))

    @property
    def fittedvalues(self) -> np.ndarray:
        """Conditional means on the response scale (per trial), at the fitted rows."""
        return self.family.mean(self._state.eta)

    @property
    def resid_pearson(self) -> np.ndarray:
        """Pearson residuals at the conditional modes (glmer's ``type = "pearson"``).

        ``sqrt(w_i) (y_i - m_i mu_i) / sqrt(m_i V(mu_i))`` per row (``mu_i`` the
        conditional mean per trial, ``m_i`` the trials, ``w_i`` the prior weight, ``V``
        the family's variance function at the fitted dispersion), as glmer's and
        glmmTMB's ``residuals(type = "pearson")``.
        """
        return self.family.pearson_residuals(self._state.eta)

    @property
    def resid_deviance(self) -> np.ndarray:
        """Deviance residuals at the conditional modes (glmer's ``type = "deviance"``).

        ``sign(y - mu) sqrt(d_i)``, ``d_i`` row ``i``'s contribution to the family's
        deviance.
        """
        return self.family.deviance_residuals(self._state.eta)

    def predict(self, exog: pd.DataFrame | dict | ArrayLike | None = None,
                which: str = "conditional", *, linear: bool = False,
                offset: str | ArrayLike | None = None,
                exposure: str | ArrayLike | None = None) -> pd.Series | np.ndarray:
        """Predict the mean (or the linear predictor), conditional or marginal.

        Parameters
        ----------
        exog : pandas.DataFrame, dict or array_like, optional
            New data with the formula's columns (a Series labelled by its rows is
            returned), or a design matrix (marginal only). None: the fitted rows.
        which : {"conditional", "marginal"}, default "conditional"
            ``"conditional"``: with the conditional modes of the units seen in the fit
            (0 for unseen units; nested units matched by their full path);
            ``"marginal"``: the random effects at 0 (the typical unit, not the population
            average: see :meth:`compare_gee`).
        linear : bool, default False
            Return the linear predictor (statsmodels' ``predict(linear=True)``).
        offset : str or array_like, optional
            For new data: the offset, as a column name or one value per row. A model
            fitted with an offset from a column reads the same column of new data when
            neither ``offset`` nor ``exposure`` is given.
        exposure : str or array_like, optional
            For new data: the exposure, whose log is added to the offset.

        Returns
        -------
        pandas.Series or numpy.ndarray
            Means on the response scale (per trial), or the linear predictor: a Series
            labelled by the rows of a data frame (NaN for rows missing a variable the
            prediction needs), else an array.

        Raises
        ------
        ValueError
            For an unknown ``which``, or ``offset=`` / ``exposure=`` without new data.
        TypeError
            For conditional predictions of new data given as an array.
        NotImplementedError
            For new data with a model whose formula's design is not available (unpickled).
        """
        if which not in ("conditional", "marginal"):
            raise ValueError(f"which must be 'conditional' or 'marginal', not {which!r}")
        if exog is None:
            if offset is not None or exposure is not None:
                raise ValueError("offset= and exposure= are for new data; the fitted rows "
                                 "use the model's own")
            eta = self._state.eta if which == "conditional" else \
                self._offset + np.asarray(self.model.exog) @ self.fe_params.to_numpy()
            return eta if linear else self.family.mean(eta)
        if isinstance(exog, dict):
            exog = pd.DataFrame(exog)
        if isinstance(exog, pd.DataFrame):
            columns = needed_columns(self.model, exog, which, self._terms)
            known = new_offset(self.model, exog, offset, exposure)
            values = on_complete_rows(exog.assign(__offset__=known), columns,
                                      lambda part: self._predict(part, which, linear))
            return pd.Series(values, index=exog.index)
        if which == "conditional":
            raise TypeError("conditional predictions need a DataFrame with the grouping "
                            "columns")
        x = np.asarray(exog, float)
        x = x[:, None] if x.ndim == 1 else x
        known = new_offset(self.model, x, offset, exposure)
        eta = known + x @ self.fe_params.to_numpy()
        return eta if linear else self.family.mean(eta)

    def _predict(self, frame, which, linear):
        info = self.model.design_info
        if info is None:
            raise NotImplementedError("predictions on new data need the model built from a "
                                      "formula in this session (patsy's design is not kept "
                                      "when pickled)")
        x = np.asarray(patsy.build_design_matrices([info], frame)[0], dtype=float)
        eta = frame["__offset__"].to_numpy(float) + x @ self.fe_params.to_numpy()
        if which == "conditional":
            eta = eta + random_contribution(self._terms, self._state.b, frame)[0]
        return eta if linear else self.family.mean(eta)

    def simulate(self, nsim: int = 1, seed: Seed = None) -> np.ndarray:
        """Simulate new outcomes with fresh random effects (lme4's ``simulate(re.form = NA)``).

        Drawn from the family at the fitted dispersion.

        Parameters
        ----------
        nsim : int, default 1
            Number of simulated outcome vectors.
        seed : int or numpy.random.Generator, optional
            Seed of the draws.

        Returns
        -------
        numpy.ndarray
            Shape ``(nobs, nsim)``: successes for a binomial model, counts, or values.

        Raises
        ------
        ValueError
            For ``nsim`` not a positive integer.
        """
        nsim = check_count("nsim", nsim)
        rng = np.random.default_rng(seed)
        fixed = self._offset + np.asarray(self.model.exog) @ self.fe_params.to_numpy()
        lams = lambda_blocks(self._opt.theta[:self._k], self._terms)
        out = np.empty((self.nobs, nsim))
        for j in range(nsim):
            eta = fixed.copy()
            for t, lam in zip(self._terms, lams):
                b = rng.standard_normal((t.n_units, t.q)) @ lam.T
                z = np.ones((self.nobs, 1)) if t.z is None else t.z
                eta += np.einsum("nq,nq->n", z, b[t.codes])
            out[:, j] = self.family.sample(eta, rng)
        return out

    # -- model checking (mixedext.results.checking) ----------------------------------------
    def simulated_residuals(self, n_sim: int = 250, seed: Seed = None,
                            conditional: bool = False,
                            progress: bool | None = None) -> SimulatedResiduals:
        """Compute DHARMa's scaled quantile residuals from ``n_sim`` simulations.

        Randomised PIT for binomial, Poisson and negative binomial outcomes. By default
        each simulation draws fresh random effects (unconditional, as :meth:`simulate`
        and DHARMa's default for lme4), so the residuals check the random-effect
        distribution as well as the family.

        Parameters
        ----------
        n_sim : int, default 250
            Number of simulations (at least 2).
        seed : int or numpy.random.Generator, optional
            Seed of the simulations.
        conditional : bool, default False
            Draw from the family at the fitted conditional means (sharper for dispersion
            and zero inflation).
        progress : bool, optional
            Show a progress bar; by default only on a terminal for long simulations.

        Returns
        -------
        SimulatedResiduals
            The residuals with ``test_uniformity()``, ``test_dispersion()``,
            ``test_zero_inflation()``, ``test_outliers()`` and ``plot()``.

        Raises
        ------
        ValueError
            For ``n_sim`` not an integer of at least 2.

        Notes
        -----
        For a discrete outcome row ``i``'s residual is drawn uniformly between
        ``#{s : y_i^(s) < y_i} / n_sim`` and ``#{s : y_i^(s) <= y_i} / n_sim``; see
        :mod:`mixedext.results.simulated`.

        References
        ----------
        .. [1] Dunn, P. K. and Smyth, G. K. (1996). Randomized quantile residuals.
           Journal of Computational and Graphical Statistics 5, 236-244.
        """
        return glmm_simulated_residuals(self, n_sim, seed, conditional, progress)

    def influence(self, level: str | None = None,
                  progress: bool | None = None) -> pd.DataFrame:
        """Compute the group-deletion influence of each unit of a level.

        The model is refitted by maximum likelihood (as ``fit_ml``) on the rows without
        each unit of ``level``; see :mod:`mixedext.results.glmm_influence`.

        Parameters
        ----------
        level : str, optional
            The level whose units are deleted; by default the outermost.
        progress : bool, optional
            Show a progress bar over the units; by default only on a terminal.

        Returns
        -------
        pandas.DataFrame
            Indexed by unit: ``cooks_distance``, ``dfbetas_<name>`` per fixed effect,
            ``delta_<component>`` per variance component, ``delta_theta`` /
            ``delta_shape`` for a family with a dispersion, the refit's ``llf``, ``nobs``
            and ``converged``; NaN rows (with a warning) where a refit fails.

        Raises
        ------
        KeyError
            For a ``level`` that is not a level of the model.

        Notes
        -----
        ``D_i = (beta_hat - beta_(-i))' V^{-1} (beta_hat - beta_(-i)) / p`` with ``V`` the
        full fit's covariance of ``beta_hat``; ``DFBETAS`` with the refit's standard
        errors.
        """
        return glmm_influence_table(self, level, progress)

    def plot_influence(self, level: str | None = None, ax: Axes | None = None,
                       progress: bool | None = None) -> Axes:
        """Plot Cook's distance per unit of ``level`` with the ``4 / K`` line.

        Parameters
        ----------
        level : str, optional
            The level whose units are deleted (see :meth:`influence`).
        ax : matplotlib.axes.Axes, optional
            The axes to draw on; by default a new figure.
        progress : bool, optional
            Show a progress bar over the refits.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on; units above ``4 / K`` (``K`` units) are labelled.
        """
        return plot_influence(self.influence(level, progress), ax=ax)

    def plot_residuals(self, ax: Axes | None = None) -> Axes:
        """Plot the Pearson residuals against the fitted conditional means.

        For discrete outcomes :meth:`simulated_residuals` is easier to read.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            The axes to draw on; by default a new figure.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.
        """
        return glmm_residual_plot(self, ax)

    def plot_qq(self, axes: Sequence[Axes] | None = None) -> list[Axes]:
        """Plot normal QQ plots of the Pearson residuals and of each level's random effects.

        Parameters
        ----------
        axes : sequence of matplotlib.axes.Axes, optional
            One axes for the residuals and one per random-effect column of each level; by
            default a new figure with a row of panels.

        Returns
        -------
        list of matplotlib.axes.Axes
            The panels drawn on.

        Raises
        ------
        ValueError
            For too few ``axes``.
        """
        return glmm_qq_plots(self, axes)

    # -- shrinkage -------------------------------------------------------------------------
    def _intercept_term(self, level):
        terms = self._terms
        levels = list(dict.fromkeys(t.level for t in terms))
        level = levels[0] if level is None else level
        idx = [i for i, t in enumerate(terms) if t.level == level]
        if not idx:
            raise KeyError(f"level {level!r} is not a level of the model (levels: "
                           f"{', '.join(levels)})")
        if len(idx) > 1 or terms[idx[0]].z is not None:
            raise NotImplementedError(f"shrinkage of a {self.family.title.lower()} model "
                                      "with random slopes is not available yet")
        return level, idx[0]

    def shrinkage(self, level: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
        """Compare raw and shrunk unit effects on the link scale, and the unit means.

        Random intercepts only.

        Parameters
        ----------
        level : str, optional
            The level; by default the outermost.
        alpha : float, default 0.05
            The conditional intervals have coverage ``1 - alpha``.

        Returns
        -------
        pandas.DataFrame
            Indexed by unit: ``n`` (trials), ``raw`` (the unit's own, unpooled, offset:
            the maximum-likelihood shift of its rows' fixed-effect linear predictors, NaN
            where it is infinite, e.g. no events), ``blup`` (the conditional mode),
            ``factor`` (``1 - cond_var / tau^2``), ``cond_se``, ``lower``, ``upper``,
            ``flag`` (the interval excludes 0), ``mean_raw`` (the unit's mean outcome)
            and ``mean_shrunk`` (the mean of its conditional means).

        Raises
        ------
        ValueError
            For ``alpha`` outside (0, 1).
        KeyError
            For a ``level`` that is not a level of the model.
        NotImplementedError
            For a level with random slopes.
        """
        alpha = check_alpha(alpha)
        level, i = self._intercept_term(level)
        t = self._terms[i]
        fixed = self._offset + self.model.exog @ self.fe_params.to_numpy()
        raw = self._raw_offsets(t, fixed)
        frame = self._shrinkage_frame(level, i, raw, alpha)
        y, m = self.family.y, self.family.trials
        rows = np.bincount(t.codes, minlength=t.n_units)
        frame["mean_raw"] = np.bincount(t.codes, weights=y, minlength=t.n_units) / rows
        frame["mean_shrunk"] = np.bincount(t.codes, weights=m * self.fittedvalues,
                                           minlength=t.n_units) / rows
        return frame

    def _shrinkage_frame(self, level, i, raw, alpha) -> pd.DataFrame:
        t = self._terms[i]
        blup = self._state.b[i][:, 0]
        cvar = self._condcov[i][:, 0, 0]
        tau2 = self._term_covariances()[i][0, 0]
        se = np.sqrt(cvar)
        z = norm.ppf(1 - alpha / 2)
        frame = pd.DataFrame({
            "n": np.bincount(t.codes, weights=self.family.trials,
                             minlength=t.n_units).astype(int),
            "raw": raw, "blup": blup,
            "factor": 1 - cvar / tau2 if tau2 > 0 else np.zeros(t.n_units), "cond_se": se,
            "lower": blup - z * se, "upper": blup + z * se,
        }, index=pd.Index(t.unit_labels, name=level))
        frame["flag"] = (frame["lower"] > 0) | (frame["upper"] < 0)
        return frame

    def _raw_offsets(self, t, fixed, iterations=100) -> np.ndarray:
        """Per unit, the ``a`` maximising ``sum_j loglik(fixed_j + a)`` (Newton with the
        family's Fisher weights, from 0); NaN where it diverges."""
        a = np.zeros(t.n_units)
        for _ in range(iterations):
            w, resid = self.family.working(fixed + a[t.codes])
            score = np.bincount(t.codes, weights=w * resid, minlength=t.n_units)
            info = np.bincount(t.codes, weights=w, minlength=t.n_units)
            step = np.clip(score / np.maximum(info, 1e-300), -5, 5)
            a = a + step
            if np.max(np.abs(step)) < 1e-10:
                break
        a[np.abs(a) > 30] = np.nan
        return a

    def design_effect(self, cluster: str | None = None,
                      method: str = "mean") -> pd.DataFrame:
        """Compute the design effect on the latent scale.

        As :meth:`MixedLMResults.design_effect <mixedext.MixedLMResults.design_effect>`,
        with the family's latent residual variance (:attr:`scale`).

        Parameters
        ----------
        cluster : str, optional
            The level whose units are randomised; by default the outermost.
        method : {"mean", "unequal"}, default "mean"
            ``"unequal"`` inflates each level's mean unit size by ``1 + CV^2``.

        Returns
        -------
        pandas.DataFrame
            One row, indexed by the level: ``mean_cluster_size``, ``cv_cluster_size``,
            ``icc``, ``design_effect``, ``effective_n`` and ``se_inflation``.

        Raises
        ------
        ValueError
            For an unknown ``method``.
        KeyError
            For a ``cluster`` that is not a level of the model.
        NotImplementedError
            For a model with random slopes.

        Notes
        -----
        ``DE = 1 + sum_j (m_j - 1) sigma_j^2 / T`` over the levels at or inside
        ``cluster``, ``T`` the random-effect variances plus the latent residual variance.
        """
        return super().design_effect(cluster=cluster, method=method)

    # -- summary -------------------------------------------------------------------------
    def _extra_summary(self) -> list[str]:
        """Lines after the fit information (the dispersion, for families with one)."""
        return []

    def summary(self) -> str:
        """Summarise the fit as text.

        Returns
        -------
        str
            The fit information (family, method, observations, units per level,
            log-likelihood, AIC, BIC, convergence, singularity and the dispersion for
            families with one), the fixed effects with Wald z tests and 95% intervals, the
            variance components and, where available, the latent-scale ICC and design
            effect of each level.
        """
        title = self.family.title
        lines = [f"{title} mixed model ({self.method})",
                 f"Dependent variable: {getattr(self.model, 'endog_name', 'y')}",
                 f"No. observations: {self.nobs}"]
        for t in self._terms:
            lines.append(f"No. units ({t.level}): {t.n_units}")
        lines += [f"Log-likelihood: {self.llf:.4f}   AIC: {self.aic:.4f}   BIC: {self.bic:.4f}",
                  f"Converged: {'Yes' if self.converged else 'No'}   "
                  f"Singular fit: {'Yes' if self.singular else 'No'}", *self._extra_summary(),
                  ""]
        table = pd.DataFrame({"Coef.": self.fe_params, "Std.Err.": self.bse,
                              "z": self.zvalues, "P>|z|": self.pvalues})
        table = pd.concat([table, self.conf_int().rename(
            columns={"lower": "[0.025", "upper": "0.975]"})], axis=1)
        lines.append(table.to_string(float_format=lambda x: f"{x:.4f}"))
        lines += ["", f"Random effects ({self.family.link.__class__.__name__.lower()} "
                  "scale):", self.variance_components().to_string(index=False)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                icc = self.icc()
                table = icc.join(pd.concat([self.design_effect(lev)[
                    ["design_effect", "se_inflation"]] for lev in icc.index]))
            lines += ["", f"ICC (latent scale, residual variance {self.scale:.4g}) and "
                      "design effect:", table.to_string(float_format=lambda x: f"{x:.4f}")]
        except (NotImplementedError, KeyError, ValueError):
            pass
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.method}, llf={self.llf:.4f}>"

