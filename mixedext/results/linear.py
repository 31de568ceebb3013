"""``mixedext.MixedLMResults``: statsmodels' results with mixedext's reporting.

Results of the engine's fit carry statsmodels' attributes (``params`` packed as
statsmodels packs them, ``fe_params``, ``cov_re``, ``vcomp``, ``scale``, ...) so every
inherited method keeps working, and add labelled, read-only reporting:
``variance_components()``, ``random_effects`` by level, ``singular``, ``theta`` and
``optim_history``.

Names: ``sigma2`` the residual variance (statsmodels' ``scale``); ``psi`` the variance
parameters (variances and covariances of the random effects, statsmodels' ``cov_re``
lower triangle and ``vcomp``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.linalg as sla
from patsy import DesignInfo
from scipy.stats import norm
from statsmodels.base import wrapper as wrap
from statsmodels.base.model import LikelihoodModelResults
from statsmodels.regression import mixed_linear_model as sm_mlm
from statsmodels.stats.contrast import ContrastResults

from mixedext._checks import check_alpha, check_count
from mixedext._compat import cache_readonly
from mixedext._engine.differences import central_hessian, steps
from mixedext._engine.factor import lambda_blocks, theta_bounds
from mixedext._typing import Seed
from mixedext.formula.terms import value_labels
from mixedext.inference.ddf import anova_table, ddf_table
from mixedext.inference.profile import NaturalParameters, Profile, bootstrap_refits
from mixedext.results.checking import (
    linear_qq_plots,
    linear_residual_plot,
    linear_simulated_residuals,
)
from mixedext.results.checkplots import plot_influence
from mixedext.results.influence import influence_table
from mixedext.results.prediction import get_prediction, predict, simulate
from mixedext.results.reporting import (
    RandomEffectsReport,
    VarianceBlock,
    conditional_sds,
    frames_by_level,
)
from mixedext.results.residuals import normalized_residuals, pearson_residuals
from mixedext.results.summary import build_summary
from mixedext.structures.spec import cov_struct_intervals, residual_covariance

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike
    from statsmodels.iolib.summary2 import Summary

    from mixedext._engine.crossprod import RandomTerm
    from mixedext._engine.state import FitState
    from mixedext.results.simulated import SimulatedResiduals

__all__ = ["MixedLMResults", "MixedLMResultsWrapper", "from_statsmodels"]

SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance on theta


class MixedLMResults(RandomEffectsReport, sm_mlm.MixedLMResults):
    """Results of :class:`mixedext.MixedLM` (a subclass of statsmodels' results).

    Fits by mixedext's engine also have ``theta`` (lme4's relative covariance factor),
    ``optim_history`` (every deviance evaluation) and ``singular``; users get a results
    object from :meth:`MixedLM.fit <mixedext.MixedLM.fit>` rather than building one.

    Parameters
    ----------
    model : MixedLM
        The fitted model.
    params : numpy.ndarray
        The parameters packed as statsmodels packs them (fixed effects, then the
        lower triangle of ``cov_re / sigma^2`` and ``vcomp / sigma^2``).
    cov_params : numpy.ndarray
        The covariance of ``params`` divided by ``sigma^2`` (statsmodels'
        ``normalized_cov_params``).
    """

    _state: FitState | None = None  # FitState of fits by mixedext's engine

    @property
    def normalized_cov_params(self):
        """Covariance of the packed parameters over ``sigma^2`` (statsmodels' attribute).

        For the engine's fits the block of the variance parameters (a numerical Hessian of
        the deviance) is computed on first use.
        """
        cov = self.__dict__["_normalized_cov_params"]
        pending = self.__dict__.pop("_psi_block_pending", None)
        if pending is not None:
            k_fe, sigma2 = pending
            cov[k_fe:, k_fe:] = self._psi_covariance / sigma2 ** 2
        return cov

    @normalized_cov_params.setter
    def normalized_cov_params(self, value):
        self.__dict__["_normalized_cov_params"] = value

    @cached_property
    def _psi_covariance(self) -> np.ndarray:
        """Covariance of ``(psi)``, the variance parameters (see :func:`_psi_covariance`)."""
        return _psi_covariance(self.model, self._state)

    def __init__(self, model, params, cov_params):
        if model.exog is not None:
            super().__init__(model, params, cov_params)
            return
        # a row-less model (reduced cross-products): X has full rank (checked by fit)

        LikelihoodModelResults.__init__(self, model, params, normalized_cov_params=cov_params)
        self.nobs = model.nobs
        self.df_resid = model.nobs - model.k_fe

    @cache_readonly
    def bse_fe(self):
        """Standard errors of the fixed effects (lme4's ``vcov``)."""
        return np.sqrt(np.diag(self.cov_params())[:self.k_fe])

    @cache_readonly
    def bse_re(self):
        """Standard errors of the variance parameters, labelled by variance parameter.

        The random-effect variances and covariances, on their own scale, from the
        observed information of the fit's criterion; a residual structure's parameters
        count as nuisance (statsmodels' own labelling fails with variance components).
        """
        return np.sqrt(self.scale * np.diag(self.cov_params())[self.k_fe:])

    def _require_rows(self, what):
        if self.model.exog is None:
            raise NotImplementedError(
                f"{what} needs the rows, which this model (fitted from cross-products reduced "
                "over Dask partitions) does not hold; compute it per partition, e.g. "
                "ddf.map_partitions(lambda part: pd.Series(res.predict(part, "
                "which='conditional'), index=part.index))")

    # -- construction (the one place statsmodels' results class is replaced) -------------
    @classmethod
    def from_engine(cls, model: sm_mlm.MixedLM, state: FitState) -> MixedLMResultsWrapper:
        """Build the results of the engine's fit, reading only its fit state.

        Parameters
        ----------
        model : MixedLM
            The model the engine fitted.
        state : FitState
            The optimum and what it was computed from
            (:class:`mixedext._engine.state.FitState`).

        Returns
        -------
        MixedLMResultsWrapper
            statsmodels' wrapper (labelled pandas outputs) around a :class:`MixedLMResults`
            that carries statsmodels' attributes (``fe_params``, ``cov_re``, ``vcomp``,
            ``scale``, ...) computed from ``state``.
        """
        sol, opt = state.solution, state.optim
        cov_re, vcomp = _statsmodels_variances(model, state)
        sigma2 = sol.sigma2
        params_obj = sm_mlm.MixedLMParams.from_components(
            fe_params=np.array(sol.beta), cov_re=cov_re / sigma2, vcomp=vcomp / sigma2)
        packed = params_obj.get_packed(use_sqrt=False, has_fe=True)
        k_fe = len(sol.beta)
        ncov = np.zeros((len(packed), len(packed)))
        ncov[:k_fe, :k_fe] = sol.xtvinvx_inv
        if not state.terms and not state.reml:
            # marginal (gls) model by ML: nlme's gls scales vcov(beta) by n / (n - p)
            ncov[:k_fe, :k_fe] *= model.nobs / (model.nobs - k_fe)
        res = cls(model, packed, ncov)
        res._state = state
        res.__dict__["_psi_block_pending"] = (k_fe, sigma2)  # filled on first use
        res.params_object = params_obj
        res.fe_params = np.array(sol.beta)  # statsmodels' attributes: copies, writeable
        res.cov_re = cov_re
        res.vcomp = vcomp
        res.scale = sigma2
        res.cov_re_unscaled = cov_re / sigma2
        res.method = "REML" if state.reml else "ML"
        res.converged = opt.converged
        res.hist = None
        res.reml = state.reml
        res.cov_pen = None
        res.k_fe, res.k_re, res.k_re2, res.k_vc = k_fe, model.k_re, model.k_re2, model.k_vc
        res.use_sqrt = model.use_sqrt
        res.freepat = None
        return MixedLMResultsWrapper(res)

    # -- likelihood and information criteria ----------------------------------------------
    @cache_readonly
    def llf(self):
        """Log-likelihood (the REML log-likelihood for REML fits)."""
        if self._state is not None:
            return -0.5 * self._state.deviance
        return sm_mlm.MixedLMResults.llf.fget(self)

    @cache_readonly
    def df_modelwc(self) -> int:
        """Number of estimated parameters (fixed, variance, structure and sigma^2).

        The fixed effects, the variance parameters, the residual structure's parameters
        and sigma^2.
        """
        if self._state is not None:
            state = self._state
            return self.k_fe + len(state.theta) + len(state.eta_or_empty) + 1
        return self.params.size + 1

    @cache_readonly
    def aic(self):
        """Akaike information criterion (REML fits: the REML AIC, as nlme reports it).

        The REML AIC compares covariance structures with the same fixed effects.
        """
        return -2.0 * self.llf + 2.0 * self.df_modelwc

    @cache_readonly
    def bic(self):
        """Bayesian information criterion; REML fits use ``log(n - p)`` as nlme does."""
        n = self.nobs - (self.k_fe if self.reml else 0)
        return -2.0 * self.llf + np.log(n) * self.df_modelwc

    # -- engine quantities ---------------------------------------------------------------
    @property
    def engine_fit(self) -> bool:
        """Whether this fit was made by mixedext's engine (False: statsmodels' optimiser)."""
        return self._state is not None

    @property
    def fit_state(self) -> FitState:
        """The fit state: the optimum and what it was computed from, fixed when the fit ended.

        A :class:`~mixedext._engine.state.FitState` (what every method of these results reads);
        accessing it on a fit by statsmodels' optimiser raises ``NotImplementedError``.
        """
        return self._require_engine("the fit state")

    def _variance_parameters(self):
        state = self._require_engine("the covariance of the random effects")
        return state.theta, state.sigma2

    def _covariance_blocks(self) -> list[VarianceBlock]:
        if self._state is None:
            return _statsmodels_blocks(self)
        return super()._covariance_blocks()

    def _require_engine(self, what: str) -> FitState:
        if self._state is None:
            raise NotImplementedError(f"{what} is available for fits by mixedext's engine; "
                                      "this model was fitted by statsmodels' optimiser")
        return self._state

    @property
    def theta(self) -> pd.Series:
        """The relative covariance factors at the optimum (lme4's ``theta``).

        A Series labelled by level (and, for vector terms, by the covariates of each
        lower-triangle entry of ``Lambda``, column by column, as lme4's ``getME(m, "theta")``).
        """
        state = self._require_engine("theta")
        names = []
        for t in state.terms:
            if t.cov == "scalar" or t.q == 1:
                names.append(t.level)
                continue
            rows, cols = np.tril_indices(t.q)
            for i in np.lexsort((rows, cols)):
                names.append(f"{t.level}.{t.names[cols[i]]}" if rows[i] == cols[i]
                             else f"{t.level}.{t.names[rows[i]]}.{t.names[cols[i]]}")
        return pd.Series(state.theta, index=names, name="theta")

    @property
    def singular(self) -> bool:
        """True when a variance parameter sits at (or within 1e-4 of) its bound 0.

        lme4's rule (``isSingular``): a component of ``theta`` with lower bound 0
        below ``1e-4``.
        """
        if self._state is None:
            return bool(np.any(np.diag(np.atleast_2d(self.cov_re)) < 1e-8 * self.scale)
                        or np.any(np.asarray(self.vcomp) < 1e-8 * self.scale))
        lower = theta_bounds(list(self._state.terms))
        return bool(np.any((lower == 0) & (self._state.theta < SINGULAR_TOL)))

    @property
    def cov_struct_params(self) -> pd.Series:
        """Parameters of the residual covariance structure on their natural scale.

        ``rho``, ``phi``, correlations ``corr[s,t]``, SD ratios ``sd_ratio[level]``, and the
        variance functions' ``power``, ``expon``, ``const``, per level ``power[A]``, as nlme
        names them; an empty Series for a model without a residual structure.
        """
        state = self._require_engine("cov_struct_params")
        if state.eta is None:
            return pd.Series(dtype=float, name="cov_struct")
        return pd.Series(state.structure.natural(state.eta), name="cov_struct", dtype=float)

    def conf_int_cov_struct(self, alpha: float = 0.05) -> pd.DataFrame:
        """Compute approximate intervals for the residual-structure parameters.

        The intervals of nlme's ``intervals(m, which = "var-cov")`` for the parameters of
        ``cov_struct=``, ``het_var=`` and ``variance=``.

        Parameters
        ----------
        alpha : float, default 0.05
            The intervals have coverage ``1 - alpha``.

        Returns
        -------
        pandas.DataFrame
            Indexed by the names of :attr:`cov_struct_params`; columns ``estimate``,
            ``std_err`` (delta method, natural scale), ``lower`` and ``upper``.

        Raises
        ------
        ValueError
            For a model without a residual structure, or ``alpha`` outside (0, 1).
        NotImplementedError
            For a fit by statsmodels' optimiser.

        Notes
        -----
        The covariance of the parameters is ``2 H^{-1}``, ``H`` the Hessian (central
        differences) of the fit's deviance (REML or ML, profiled over ``beta`` and
        ``sigma^2``) in the relative covariance factors ``theta`` and the structure's
        parameters; variances on their boundary 0 are held there. Each interval is
        ``estimate +/- z SE`` on a scale without bounds and mapped back: ``atanh`` for the
        AR(1) ``rho`` and the unstructured correlations, ``logit`` for ``phi``,
        ``log((rho - a) / (1 - rho))`` for the exchangeable ``rho`` (``a`` its lower
        bound), ``log`` for SD ratios and ``const``, none (the estimate's own scale) for
        ``power`` and ``expon``. These are nlme's scales, except for the
        unstructured correlations (nlme's ``corSymm`` uses a spherical parametrisation,
        so its intervals differ). A parameter on its boundary (e.g. ``phi`` at 0) gets
        NaN. The reference level of ``het_var`` has SD ratio 1 and a zero-width interval.

        References
        ----------
        .. [1] Pinheiro, J. C. and Bates, D. M. (2000). Mixed-Effects Models in S and
           S-PLUS. Springer, section 2.4.3.
        """
        alpha = check_alpha(alpha)
        if self._require_engine("conf_int_cov_struct").eta is None:
            raise ValueError("this model has no residual structure (cov_struct=, het_var= or "
                             "variance=)")
        return cov_struct_intervals(self, alpha)

    def residual_cov(self, times: ArrayLike | None = None,
                     unit: object = None) -> pd.DataFrame:
        """Compute the within-unit residual covariance ``sigma^2 R``.

        Over the distinct times of the data (or the positions given), or over the rows of one
        residual unit; nlme's ``getVarCov``.

        Parameters
        ----------
        times : array_like, optional
            Positions to evaluate the covariance at; required for continuous-time AR(1)
            and the spatial correlations (real-valued positions; with ``coords=`` one row
            of coordinates per point). By default the distinct times of the data. With
            ``het_var`` the reference level's SD (ratio 1) is used, unless ``het_var`` is
            the time column (heterogeneous AR(1): each time's SD).
        unit : str or int, optional
            The label of a residual unit (e.g. a subject): that unit's rows in time order,
            labelled by the data's row labels, with their own SDs (``het_var`` levels and
            variance functions; nlme's ``getVarCov(fit, individual = unit)``, for ``lme``
            its ``type = "conditional"``). Required with ``variance=``.

        Returns
        -------
        pandas.DataFrame
            The square covariance matrix, labelled by time (``"0"``, ``"0.5"``, a tuple
            of coordinates) or by row. Without a residual structure ``sigma^2 I`` over
            ``times``.

        Raises
        ------
        ValueError
            For ``unit=`` without a residual structure, a model with ``variance=`` and no
            ``unit=``, or a structure over real-valued positions without ``times=``.
        """
        if unit is not None and (self._state is None or not self._state.has_structure):
            raise ValueError("unit= needs a residual structure (cov_struct=, het_var= or "
                             "variance=); without one R is the identity")
        if self._state is None or not self._state.has_structure:
            times = np.asarray(times if times is not None else [0.0])
            labels = [f"{t:g}" for t in times]
            return pd.DataFrame(self.scale * np.eye(len(times)), index=labels, columns=labels)
        return residual_covariance(self, times, unit)

    @property
    def optim_history(self) -> pd.DataFrame:
        """Every evaluation of the deviance during the fit.

        One row per evaluation: ``theta`` (then the residual parameters on their
        unconstrained scale, ``eta0, ...``) and ``deviance``.
        """
        opt = self._require_engine("optim_history").optim
        extra = len(opt.history[0]) - 1 - len(self.theta) if opt.history else 0
        cols = [*self.theta.index, *[f"eta{i}" for i in range(extra)], "deviance"]
        return pd.DataFrame(opt.history, columns=cols).rename_axis("evaluation")

    # -- random effects ------------------------------------------------------------------
    @cache_readonly
    def random_effects(self):
        """Conditional modes (BLUPs) of the random effects.

        Models given statsmodels-style (``groups``, ``re_formula``, ``vc_formula``) keep
        statsmodels' form: a dict mapping each group to a Series. Models with lme4-style
        terms give ``{level: DataFrame}`` with one row per unit (``"1/3"``) and one column
        per random-effect covariate.
        """
        if self._state is None:
            return sm_mlm.MixedLMResults.random_effects.fget(self)
        state = self._state
        if self.model.statsmodels_layout is None:  # a DataFrame per level; its terms side by side
            return frames_by_level(state.terms, state.solution.b)
        return _statsmodels_random_effects(self.model, state)

    @cache_readonly
    def random_effects_se(self) -> dict:
        """Conditional SDs of the random effects ``{level: DataFrame}``.

        lme4's ``ranef(condVar = TRUE)``, laid out as ``random_effects`` of lme4-style
        models.
        """
        state = self._require_engine("random_effects_se")
        return frames_by_level(state.terms, conditional_sds(state.conditional_covariances()))

    @cache_readonly
    def fittedvalues(self):
        """Fitted values ``X beta + Z b`` (fixed effects plus predicted random effects)."""
        if self._state is None:
            return sm_mlm.MixedLMResults.fittedvalues.fget(self)
        self._require_rows("fittedvalues")
        sol = self._state.solution
        fit = self.model.exog @ sol.beta
        if self.model.offset is not None:
            fit = fit + self.model.offset
        for t, b in zip(self._state.terms, sol.b):
            rb = b[t.codes]
            fit += rb[:, 0] if t.z is None else np.einsum("nq,nq->n", t.z, rb)
        return fit

    # -- intervals (mixedext.inference.profile) ---------------------------------------------
    @cached_property
    def _profile(self):
        """Profile-likelihood intervals of this fit, each computed once."""
        return Profile(self)

    def conf_int_vc(self, method: str = "profile", alpha: float = 0.05, *,
                    n_boot: int = 1000, seed: Seed = None,
                    progress: bool | None = None) -> pd.DataFrame:
        """Compute intervals for every random-effect SD, correlation and the residual SD.

        Parameters
        ----------
        method : {"profile", "bootstrap", "wald"}, default "profile"
            ``"profile"``: profile likelihood of the fit's criterion (REML or ML; lme4's
            ``confint(method = "profile")``); ``"bootstrap"``: percentiles of
            ``n_boot`` parametric-bootstrap refits (lme4's ``method = "boot"``);
            ``"wald"``: estimate -/+ z SE from the observed information.
        alpha : float, default 0.05
            The intervals have coverage ``1 - alpha``.
        n_boot : int, default 1000
            Bootstrap refits (``method="bootstrap"`` only).
        seed : int or numpy.random.Generator, optional
            Seed of the bootstrap simulations (``method="bootstrap"`` only).
        progress : bool, optional
            Show a progress bar of the refits; by default only on a terminal.

        Returns
        -------
        pandas.DataFrame
            One row per parameter: ``level``, ``term``, ``term2``, ``parameter``
            (``"sd"``, ``"corr"`` or ``"sigma"``), ``estimate``, ``lower``, ``upper``
            and, for SDs, ``variance_lower`` and ``variance_upper``.

        Raises
        ------
        ValueError
            For an unknown ``method``, ``alpha`` outside (0, 1) or ``n_boot`` not a
            positive integer.
        NotImplementedError
            For a fit by statsmodels' optimiser (``fit(method=...)`` and the other
            statsmodels-only options).

        Notes
        -----
        With ``d(psi)`` the deviance (-2 times the REML or ML log-likelihood) profiled
        over every other parameter, the profile interval of a parameter ``psi`` is
        ``{psi : d(psi) - d(psi_hat) <= chi2_1(1 - alpha)}`` (Bates et al. 2015,
        section 5.1); being a likelihood set, it is the same for an SD and (squared) for
        its variance.

        References
        ----------
        .. [1] Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear
           mixed-effects models using lme4. Journal of Statistical Software 67(1).

        Examples
        --------
        >>> import mixedext as mx
        >>> res = mx.mixedlm("Yield ~ 1 + (1 | Batch)", mx.datasets.load("dyestuff")).fit()
        >>> ci = res.conf_int_vc()
        >>> ci[["level", "parameter", "estimate", "lower", "upper"]].round(2)
              level parameter  estimate  lower  upper
        0     Batch        sd     37.26  12.20  84.06
        1  Residual     sigma     49.51  38.23  67.66
        """


        alpha = check_alpha(alpha)
        if method == "bootstrap":
            n_boot = check_count("n_boot", n_boot)
        state = self._require_engine("conf_int_vc")
        if method == "profile":
            table = self._profile.variance_intervals(alpha)
        elif method in ("bootstrap", "wald"):
            prof = NaturalParameters(state)
            table = pd.DataFrame(prof.names, columns=["level", "term", "term2"])
            table["parameter"] = prof.kinds
            table["estimate"] = prof.hat
            if method == "bootstrap":
                fits = bootstrap_refits(self, n_boot, seed=seed, progress=progress)
                draws = np.array([prof.from_theta(th, np.sqrt(s2)) for th, s2, _ in fits])
                table["lower"] = np.quantile(draws, alpha / 2, axis=0)
                table["upper"] = np.quantile(draws, 1 - alpha / 2, axis=0)
            else:
                z = norm.ppf(1 - alpha / 2)
                se_var = np.sqrt(np.diag(np.atleast_2d(self._psi_covariance)))
                se = np.full(len(table), np.nan)
                state = self.fit_state
                if self.model.statsmodels_layout is None and all(
                        t.q == 1 or t.cov == "scalar" for t in state.terms):
                    sd = prof.hat[:-1]
                    se[:-1] = se_var / (2 * np.maximum(sd, 1e-300))
                table["lower"] = np.maximum(table["estimate"] - z * se, 0)
                table["upper"] = table["estimate"] + z * se
        else:
            raise ValueError(f"method must be 'profile', 'bootstrap' or 'wald', not {method!r}")
        is_sd = table["parameter"] != "corr"
        table["variance_lower"] = np.where(is_sd, table["lower"] ** 2, np.nan)
        table["variance_upper"] = np.where(is_sd, table["upper"] ** 2, np.nan)
        return table

    def conf_int_fe(self, method: str = "profile", alpha: float = 0.05) -> pd.DataFrame:
        """Compute intervals for the fixed effects.

        Parameters
        ----------
        method : {"profile", "wald"}, default "profile"
            ``"profile"``: profile likelihood (lme4's ``confint(method = "profile")``);
            ``"wald"``: estimate -/+ z SE.
        alpha : float, default 0.05
            The intervals have coverage ``1 - alpha``.

        Returns
        -------
        pandas.DataFrame
            Indexed by term; columns ``estimate``, ``lower``, ``upper``.

        Raises
        ------
        ValueError
            For an unknown ``method`` or ``alpha`` outside (0, 1).
        NotImplementedError
            For a fit by statsmodels' optimiser.

        Notes
        -----
        The profile interval of a coefficient ``beta_j`` is
        ``{beta_j : d(beta_j) - d_hat <= chi2_1(1 - alpha)}``, ``d(beta_j)`` the ML deviance
        minimised over the variance parameters and the other coefficients with ``beta_j``
        held fixed (the ML deviance also for REML fits, as lme4), ``d_hat`` its minimum.
        The Wald interval is ``beta_j -/+ z_{1 - alpha/2} SE_j``.

        References
        ----------
        .. [1] Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear
           mixed-effects models using lme4. Journal of Statistical Software 67(1).
        """
        alpha = check_alpha(alpha)
        self._require_engine("conf_int_fe")
        if method == "profile":
            return self._profile.fixed_effect_intervals(alpha)
        if method != "wald":
            raise ValueError(f"method must be 'profile' or 'wald', not {method!r}")
        z = norm.ppf(1 - alpha / 2)
        est, se = np.asarray(self.fe_params), np.asarray(self.bse_fe)
        return pd.DataFrame({"estimate": est, "lower": est - z * se, "upper": est + z * se},
                            index=pd.Index(self.model.exog_names, name="term"))

    # -- prediction and simulation (mixedext.results.prediction) ---------------------------------
    def predict(self, exog=None, transform=True, *args, which: str = "marginal",
                offset=None, **kwargs):
        """Predict the mean of the outcome, marginal or conditional on the units.

        Parameters
        ----------
        exog : pandas.DataFrame, dict or array_like, optional
            New data (a frame with the formula's columns for formula models, or the
            fixed-effect design); by default the fitted rows.
        transform : bool, default True
            Statsmodels' argument (applies to array ``exog`` as in statsmodels).
        *args
            Passed to statsmodels' ``predict`` for array ``exog``.
        which : {"marginal", "conditional"}, default "marginal"
            ``"marginal"``: ``X beta`` (statsmodels', lme4's ``re.form = NA``);
            ``"conditional"``: ``X beta + Z b`` with the conditional modes ``b`` of the
            units seen in the fit (0 for unseen units; nested units matched by their
            full path).
        offset : str or array_like, optional
            The offset of new rows (a column name or one value per row); by default the
            column the model was fitted with. The fitted rows use their own.
        **kwargs
            Passed to statsmodels' ``predict`` for array ``exog``.

        Returns
        -------
        pandas.Series or numpy.ndarray
            A Series labelled by the new rows for a data frame (NaN in place for rows
            with missing values), else an array.

        Raises
        ------
        ValueError
            For an unknown ``which`` or new data without the columns the prediction
            reads.

        See Also
        --------
        get_prediction : Predictions with standard errors and intervals.
        mixedext.results.prediction : How new data are matched to units.

        Examples
        --------
        >>> import mixedext as mx
        >>> dyes = mx.datasets.load("dyestuff")
        >>> res = mx.mixedlm("Yield ~ 1 + (1 | Batch)", dyes).fit()
        >>> res.predict(dyes.head(2)).round(2)
        0    1527.5
        1    1527.5
        dtype: float64
        >>> res.predict(dyes.head(2), which="conditional").round(2)
        0    1509.89
        1    1509.89
        dtype: float64
        """
        if isinstance(exog, dict):
            exog = pd.DataFrame(exog)
        if which == "marginal" and exog is not None and not isinstance(exog, pd.DataFrame) \
                and self.model.offset is None and offset is None:
            return super().predict(exog, transform, *args, **kwargs)
        values = predict(self, exog, which=which, offset=offset)
        if isinstance(exog, pd.DataFrame):  # as statsmodels: labelled by the new rows
            return pd.Series(values, index=exog.index)
        return values

    def get_prediction(self, exog: pd.DataFrame | None = None, which: str = "marginal",
                       alpha: float = 0.05) -> pd.DataFrame:
        """Predict with confidence intervals for the mean and prediction intervals.

        A prediction interval covers a new observation; for marginal predictions (and
        units not seen in the fit) it includes a new unit's random effects.

        Parameters
        ----------
        exog : pandas.DataFrame, optional
            New data with the formula's columns; by default the fitted rows.
        which : {"marginal", "conditional"}, default "marginal"
            ``"marginal"``: ``X beta``; ``"conditional"``: ``X beta + Z b`` with the
            conditional modes of the units seen in the fit.
        alpha : float, default 0.05
            The intervals have coverage ``1 - alpha``.

        Returns
        -------
        pandas.DataFrame
            One row per row of ``exog`` (in order): ``mean``, ``mean_se``,
            ``mean_ci_lower``, ``mean_ci_upper``, ``obs_ci_lower``, ``obs_ci_upper``; NaN
            for rows missing a variable of the fixed or random terms.

        Raises
        ------
        ValueError
            For an unknown ``which`` or ``alpha`` outside (0, 1).
        TypeError
            For new data given as an array (intervals need the grouping columns).
        NotImplementedError
            For a fit by statsmodels' optimiser, or without new data for a model that does
            not hold its rows (built from Dask data frames).

        Notes
        -----
        The mean's SE is ``sqrt(x' V_beta x)``, plus ``z' Var(b | y) z`` for the
        conditional mean of a seen unit; the prediction interval's variance adds the
        residual variance and, for a marginal prediction or an unseen unit, the
        random-effect variance ``z' Sigma z``. Intervals are ``mean -/+ z_{1 - alpha/2}``
        times the SD. With prior weights the residual variance of a fitted row is
        ``sigma^2 / w_i`` (a new row's ``sigma^2``); with a residual structure each row's
        ``sigma^2 s_i^2``, ``s_i`` its SD ratio; a model's offset is added to the mean.
        """
        if which not in ("marginal", "conditional"):
            raise ValueError(f"which must be 'marginal' or 'conditional', not {which!r}")
        if exog is None:
            self._require_rows("get_prediction without new data")
        alpha = check_alpha(alpha)
        self._require_engine("get_prediction")
        return get_prediction(self, exog, which=which, alpha=alpha)

    def simulate(self, nsim: int = 1, seed: Seed = None) -> np.ndarray:
        """Simulate new outcomes with fresh random effects.

        lme4's ``simulate(re.form = NA)``: the random effects and the residuals (from the
        fitted residual structure, with the rows' SDs and prior weights) are drawn anew.

        Parameters
        ----------
        nsim : int, default 1
            Number of simulated outcome vectors.
        seed : int or numpy.random.Generator, optional
            Seed of the draws.

        Returns
        -------
        numpy.ndarray
            Shape ``(nobs, nsim)``.

        Raises
        ------
        ValueError
            For ``nsim`` not a positive integer.
        NotImplementedError
            For a fit by statsmodels' optimiser or a model without its rows.
        """
        self._require_rows("simulate (and bootstrap intervals)")
        nsim = check_count("nsim", nsim)
        self._require_engine("simulate")
        return simulate(self, nsim=nsim, seed=seed)

    # -- model checking (mixedext.results.checking, .residuals, .influence) ---------------
    @property
    def resid_pearson(self) -> pd.Series:
        """Conditional residuals over their residual SD (nlme's ``type = "pearson"``).

        ``(y - X beta - Z b) / (sigma s_i)``, ``s_i`` each row's residual SD ratio (1
        without ``het_var`` or ``variance=``); see :mod:`mixedext.results.residuals`.
        """
        return pearson_residuals(self)

    @property
    def resid_normalized(self) -> pd.Series:
        """Conditional residuals whitened within each residual unit (nlme's ``"normalized"``).

        ``T_u S_u^{-1} r_u / sigma`` per residual unit ``u`` (``r_u`` its conditional
        residuals, ``S_u`` its SD ratios, ``T_u' T_u = C_u^{-1}`` with nlme's factor of the
        unit's correlation ``C_u``); equal to the Pearson residuals without a residual
        correlation. See :mod:`mixedext.results.residuals`.
        """
        return normalized_residuals(self)

    def simulated_residuals(self, n_sim: int = 250, seed: Seed = None,
                            conditional: bool = False,
                            progress: bool | None = None) -> SimulatedResiduals:
        """Compute DHARMa's scaled quantile residuals from ``n_sim`` simulations.

        By default the simulations draw fresh random effects (unconditional, DHARMa's
        default ``re.form = NA`` for lme4): each residual compares the observation with
        its marginal distribution under the model, so the random-effect distribution is
        checked too.

        Parameters
        ----------
        n_sim : int, default 250
            Number of simulations (at least 2; DHARMa's default 250).
        seed : int or numpy.random.Generator, optional
            Seed of the simulations.
        conditional : bool, default False
            Simulate the fitted values plus residual draws (from the residual structure)
            instead of fresh random effects.
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
        Row ``i``'s residual is the empirical probability integral transform
        ``u_i = #{s : y_i^(s) < y_i} / n_sim`` of the observed outcome among its simulated
        values; uniform on [0, 1] for a correctly specified model. See
        :mod:`mixedext.results.simulated`.

        References
        ----------
        .. [1] Hartig, F. (2022). DHARMa: Residual Diagnostics for Hierarchical
           (Multi-Level / Mixed) Regression Models. R package.
        """
        return linear_simulated_residuals(self, n_sim, seed, conditional, progress)

    def influence(self, level: str | None = None,
                  progress: bool | None = None) -> pd.DataFrame:
        """Compute the group-deletion influence of each unit of a level.

        The model is refitted without each unit of ``level`` exactly: all deletions
        together where every term nests in the level, else from downdated
        cross-products; with a residual structure, a fit of the remaining rows. See
        :mod:`mixedext.results.influence`.

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
            ``delta_<component>`` per variance component (and residual-structure
            parameter), the refit's ``llf``, ``nobs`` and ``converged``.

        Raises
        ------
        KeyError
            For a ``level`` that is not a level of the model.
        ValueError
            For a model without random effects.
        NotImplementedError
            For a fit by statsmodels' optimiser or a model without its rows.

        Notes
        -----
        ``D_i = (beta_hat - beta_(-i))' V^{-1} (beta_hat - beta_(-i)) / p`` with ``V`` the
        full fit's covariance of ``beta_hat`` (influence.ME's Cook's distance), and
        ``DFBETAS_ij = (beta_(-i),j - beta_hat_j) / SE_(-i),j``.

        References
        ----------
        .. [1] Nieuwenhuis, R., te Grotenhuis, M. and Pelzer, B. (2012). influence.ME:
           tools for detecting influential data in mixed effects models. The R Journal
           4(2), 38-47.
        """
        return influence_table(self, level, progress)

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

    def plot_residuals(self, kind: str = "pearson", ax: Axes | None = None) -> Axes:
        """Plot residuals against the fitted values, with their binned medians.

        Parameters
        ----------
        kind : {"pearson", "normalized", "response"}, default "pearson"
            The residuals (see :attr:`resid_pearson`, :attr:`resid_normalized`; response:
            ``y - X beta - Z b``).
        ax : matplotlib.axes.Axes, optional
            The axes to draw on; by default a new figure.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.

        Raises
        ------
        ValueError
            For an unknown ``kind``.
        """
        return linear_residual_plot(self, kind, ax)

    def plot_qq(self, kind: str = "pearson", axes: Sequence[Axes] | None = None) -> list[Axes]:
        """Plot normal QQ plots of the residuals and of the random effects of each level.

        Parameters
        ----------
        kind : {"pearson", "normalized", "response"}, default "pearson"
            The residuals (as :meth:`plot_residuals`).
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
            For an unknown ``kind`` or too few ``axes``.
        """
        return linear_qq_plots(self, kind, axes)

    # -- summary -------------------------------------------------------------------------
    def summary(self, yname: str | None = None, xname_fe: Sequence[str] | None = None,
                xname_re: Sequence[str] | None = None, title: str | None = None,
                alpha: float = 0.05, ddf: str | None = None) -> Summary:
        """Summarise the fit: statsmodels' summary, with the variance components.

        One line per variance component and the units per level (and the REML AIC/BIC
        labelled as such).

        Parameters
        ----------
        yname : str, optional
            Name of the outcome (default the model's).
        xname_fe : list of str, optional
            Names of the fixed effects (default the model's).
        xname_re : list of str, optional
            Names of the random-effect parameters (default the model's).
        title : str, optional
            Title of the summary.
        alpha : float, default 0.05
            The intervals of the fixed effects have coverage ``1 - alpha``.
        ddf : {"satterthwaite", "kenward-roger", "residual"}, optional
            t-tests with lmerTest's Satterthwaite degrees of freedom, pbkrtest's
            Kenward-Roger degrees of freedom and adjusted standard errors, or ``n - p``;
            by default z-tests as statsmodels.

        Returns
        -------
        statsmodels.iolib.summary2.Summary
            Printable; ``as_text()``, ``as_html()`` and ``tables`` as statsmodels.

        Raises
        ------
        ValueError
            For an unknown ``ddf``.
        """
        return build_summary(self, yname=yname, xname_fe=xname_fe, xname_re=xname_re,
                             title=title, alpha=alpha, ddf=ddf)

    def t_test(self, r_matrix: ArrayLike | str, use_t: bool | None = None,
               ddf: str | None = None) -> ContrastResults:
        """Test linear hypotheses on the fixed effects (statsmodels' ``t_test``).

        Parameters
        ----------
        r_matrix : array_like, str or tuple
            The contrasts in statsmodels' forms: a matrix (or vector), one row per
            contrast; a string such as ``"Days = 10"`` or ``"a - b = 0, c = 0"``; a tuple
            ``(matrix, q)``. With ``ddf`` they are over the fixed effects.
        use_t : bool, optional
            Statsmodels' argument (without ``ddf`` only).
        ddf : {"satterthwaite", "kenward-roger", "residual"}, optional
            Degrees of freedom per contrast row (lmerTest's Satterthwaite, pbkrtest's
            Kenward-Roger with its adjusted standard errors, or ``n - p``); by default
            statsmodels' test.

        Returns
        -------
        statsmodels.stats.contrast.ContrastResults
            Estimates, standard errors, t statistics, df and p-values per row.

        Raises
        ------
        ValueError
            For an unknown ``ddf``.
        """
        if ddf is None:
            return super().t_test(r_matrix, use_t=use_t)

        if isinstance(r_matrix, str):
            constraint = DesignInfo(list(self.model.exog_names)).linear_constraint(r_matrix)
            L, q = constraint.coefs, constraint.constants[:, 0]
        elif isinstance(r_matrix, tuple):
            L, q = np.atleast_2d(np.asarray(r_matrix[0], dtype=float)), \
                np.ravel(np.asarray(r_matrix[1], dtype=float))
        else:
            L = np.atleast_2d(np.asarray(r_matrix, dtype=float))
            q = np.zeros(len(L))
        table = self._ddf_table(L, ddf)
        effect, sd = table["estimate"].to_numpy(), table["se"].to_numpy()
        return ContrastResults(effect=effect, sd=sd, t=(effect - q) / sd,
                               df_denom=table["df"].to_numpy(), distribution="t")

    def _ddf_table(self, L, ddf):
        return ddf_table(self, L, ddf)

    def anova(self, ddf: str = "satterthwaite") -> pd.DataFrame:
        """Compute an F test per fixed-effect term (lmerTest's ``anova``).

        Parameters
        ----------
        ddf : {"satterthwaite", "kenward-roger"}, default "satterthwaite"
            The denominator degrees of freedom.

        Returns
        -------
        pandas.DataFrame
            Indexed by term (the intercept left out): ``F``, ``num_df``, ``den_df``,
            ``pvalue``.

        Raises
        ------
        ValueError
            For an unknown ``ddf``.
        NotImplementedError
            For a model not built from a formula.

        Notes
        -----
        Each term's test is of ``L beta = 0`` with ``L`` selecting its coefficients: type
        III for models without interactions among the tested terms. The F statistic is
        ``(L beta)' (L V L')^{-1} (L beta) / r`` (``r`` the term's columns), with
        Kenward-Roger's adjusted ``V`` and scaling for ``ddf="kenward-roger"``.

        References
        ----------
        .. [1] Kuznetsova, A., Brockhoff, P. B. and Christensen, R. H. B. (2017). lmerTest
           package: tests in linear mixed effects models. Journal of Statistical Software
           82(13).
        """
        return anova_table(self, ddf=ddf)


class MixedLMResultsWrapper(sm_mlm.MixedLMResultsWrapper):
    # statsmodels labels bse_re with the random-effect covariance names only, which fails
    # as soon as there are variance components; label every variance parameter
    _attrs = {"bse_re": ("generic_columns", "variance_param_names")}
    _wrap_attrs = wrap.union_dicts(sm_mlm.MixedLMResultsWrapper._wrap_attrs, _attrs)
    _methods: dict[str, str] = {}
    _wrap_methods = wrap.union_dicts(sm_mlm.MixedLMResultsWrapper._wrap_methods, _methods)


wrap.populate_wrapper(MixedLMResultsWrapper, MixedLMResults)


def from_statsmodels(res) -> MixedLMResultsWrapper:
    """Re-class results of statsmodels' own ``fit`` as mixedext results."""
    inner = getattr(res, "_results", res)
    inner.__class__ = MixedLMResults
    return MixedLMResultsWrapper(inner)


# -- helpers ------------------------------------------------------------------------------
def _term_covariances(state) -> list[np.ndarray]:
    return [state.sigma2 * lam @ lam.T for lam in lambda_blocks(state.theta, state.terms)]


def _statsmodels_variances(model, state):
    """statsmodels' ``cov_re`` and ``vcomp`` from the engine's optimum."""
    covs = _term_covariances(state)
    lay = model.statsmodels_layout
    if lay is None:
        vcomp = np.concatenate([c[np.tril_indices(c.shape[0])] for c in covs]) \
            if covs else np.zeros(0)
        return np.zeros((0, 0)), vcomp
    cov_re = covs[lay.re_term] if lay.re_term is not None else np.zeros((0, 0))
    vcomp = np.array([covs[k][0, 0] for k in lay.vc_terms])
    return cov_re, vcomp


def psi_to_theta(model, psi, sigma2):
    """Inverse of ``psi = sigma^2 Lambda Lambda'`` term by term (statsmodels' order)."""
    terms = model.random_terms
    lay = model.statsmodels_layout
    if lay is None:
        order = range(len(terms))
    else:
        order = ([lay.re_term] if lay.re_term is not None else []) + list(lay.vc_terms)
    theta_parts, pos = {}, 0
    for k in order:
        t = terms[k]
        if t.cov == "scalar":
            theta_parts[k] = [np.sqrt(psi[pos] / sigma2)]
            pos += 1
            continue
        q = t.q
        cov = np.zeros((q, q))
        cov[np.tril_indices(q)] = psi[pos:pos + q * (q + 1) // 2]
        pos += q * (q + 1) // 2
        cov = cov + np.tril(cov, -1).T
        lam = np.linalg.cholesky(cov / sigma2)
        rows, cols = np.tril_indices(q)
        idx = np.lexsort((rows, cols))
        theta_parts[k] = lam[rows[idx], cols[idx]]
    return np.concatenate([theta_parts[k] for k in range(len(terms))])


def _psi_covariance(model, state) -> np.ndarray:
    """Covariance of the variance parameters from the observed information.

    The Hessian of the (REML or ML, profiled over ``beta``) deviance in
    ``(psi, sigma^2)`` (and a residual structure's ``eta``, whose block is then
    marginalised), by central differences; NaN where it is not positive definite (e.g. a
    variance on its boundary 0).
    """
    cov_re, vcomp = _statsmodels_variances(model, state)
    psi0 = np.concatenate([cov_re[np.tril_indices(cov_re.shape[0])], vcomp])
    k = len(psi0)
    if k == 0:
        return np.zeros((0, 0))
    eta0 = state.eta_or_empty
    deviance = state.deviance_at_scale()

    def f(x):
        psi, s2, eta = x[:k], x[k], x[k + 1:]
        if s2 <= 0:
            return np.nan
        try:
            out = deviance(psi_to_theta(model, psi, s2), s2, eta)
        except np.linalg.LinAlgError:
            return np.nan
        return 0.5 * out if np.isfinite(out) else np.nan

    x0 = np.concatenate([psi0, [state.sigma2], eta0])
    m = len(x0)
    # variances on the scale of sigma^2, the structure's parameters on their own
    step = np.concatenate([steps(x0[:k + 1], floor=1e-2 * state.sigma2),
                           steps(eta0, floor=1.0)])
    hess = central_hessian(f, x0, step)
    try:
        if not np.all(np.isfinite(hess)):
            raise np.linalg.LinAlgError
        chol = sla.cho_factor(hess)
        cov = sla.cho_solve(chol, np.eye(m))
    except (np.linalg.LinAlgError, ValueError):
        return np.full((k, k), np.nan)
    return cov[:k, :k]


def _statsmodels_random_effects(model, state) -> dict:
    """statsmodels' ``random_effects`` layout: ``{group: Series}``."""
    lay = model.statsmodels_layout
    terms, sol = state.terms, state.solution
    labels = model.group_labels
    parts: list[tuple[str, np.ndarray, RandomTerm | None, str | None]] = []
    if lay.re_term is not None:
        parts.append(("re", sol.b[lay.re_term], None, None))
    for k, fmt in zip(lay.vc_terms, lay.vc_colnames):
        parts.append(("vc", sol.b[k], terms[k], fmt))
    # units of each vc term, grouped by the group they belong to
    unit_group: dict[int, np.ndarray] = {}
    for _, _, t, fmt in parts:
        if t is None or fmt is None:
            continue
        if t.codes is None:  # no rows (Dask): a unit's label starts with its group's
            prefix = pd.Series(t.unit_labels).str.split("/").str[0].to_numpy()
            unit_group[id(t)] = pd.Index(value_labels(np.asarray(labels))).get_indexer(prefix)
            continue
        group_codes, _ = pd.factorize(np.asarray(model.groups), sort=True)
        first_row = np.full(t.n_units, -1)
        first_row[t.codes[::-1]] = np.arange(len(t.codes))[::-1]
        unit_group[id(t)] = group_codes[first_row]
    out = {}
    for g_ix, g in enumerate(labels):
        names, vals = [], []
        for kind, b, t, fmt in parts:
            if kind == "re":
                names.extend(lay.re_names)
                vals.extend(b[g_ix])
            elif fmt is None:
                assert t is not None  # a vc part always has its term
                names.extend(f"{t.component}[{n}]" for n in t.names)
                vals.extend(b[g_ix])
            else:
                assert t is not None  # a vc part with a format always has its term
                units = np.flatnonzero(unit_group[id(t)] == g_ix)
                names.extend(f"{t.component}[{fmt.format(str(lab).rsplit('/', 1)[-1])}]"
                             for lab in t.unit_labels[units])
                vals.extend(b[units, 0])
        out[g] = pd.Series(vals, index=names, dtype=float)
    return out


def _statsmodels_blocks(res) -> list[VarianceBlock]:
    """Covariance blocks for results of statsmodels' own fit."""
    model = res.model
    lay = model.statsmodels_layout
    terms = model.random_terms or []
    gname = lay.group_name if lay is not None else "Group"
    out = []
    if res.k_re > 0:
        names = ["Intercept" if n == gname else n for n in model.data.exog_re_names]
        term = terms[lay.re_term] if lay is not None and lay.re_term is not None else None
        out.append(VarianceBlock(gname, names, np.atleast_2d(np.asarray(res.cov_re)), term))
    for j, name in enumerate(model.data.vcomp_names):
        term = terms[lay.vc_terms[j]] if lay is not None else None
        level = term.level if term is not None else gname
        out.append(VarianceBlock(level, [name], np.array([[np.asarray(res.vcomp)[j]]]), term))
    return out
