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
from functools import cached_property

import numpy as np
import pandas as pd
import patsy
from scipy.stats import norm

from mixedext._checks import check_alpha, check_count
from mixedext._engine.factor import lambda_blocks, theta_bounds
from mixedext._engine.fitting import fit_laplace
from mixedext._engine.pirls import LaplaceDeviance
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

__all__ = ["MixedGLMResults"]


class MixedGLMResults(RandomEffectsReport):
    """Maximum-likelihood fit of a generalised linear mixed model.

    Attributes
    ----------
    model : MixedGLMMixin
    family : Family
        The response's family at the fitted dispersion.
    nagq : int
        1 for the Laplace approximation, more for adaptive Gauss-Hermite quadrature.
    converged : bool
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
        """lme4's ``theta`` (relative covariance factors; here the random-effect SDs)."""
        return pd.Series(self._opt.theta[:self._k], name="theta")

    @property
    def fe_params(self) -> pd.Series:
        """Fixed effects (link scale)."""
        return pd.Series(self._opt.theta[self._k:self._k + self._p],
                         index=self.model.fep_names, name="fe_params")

    @cached_property
    def _vcov_all(self) -> np.ndarray:
        try:
            return 2.0 * np.linalg.inv(self._hessian)
        except np.linalg.LinAlgError:
            return np.full_like(self._hessian, np.nan)

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the fixed effects: their block of the inverse Hessian of
        ``-log L`` in all parameters (glmer's default ``use.hessian = TRUE``)."""
        names = self.model.fep_names
        block = self._vcov_all[self._k:self._k + self._p, self._k:self._k + self._p]
        return pd.DataFrame(block, index=names, columns=names)

    @property
    def bse(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self.cov_params())), index=self.model.fep_names,
                         name="bse")

    @property
    def zvalues(self) -> pd.Series:
        return self.fe_params / self.bse

    @property
    def pvalues(self) -> pd.Series:
        return pd.Series(2 * norm.sf(np.abs(self.zvalues)), index=self.model.fep_names)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald intervals for the fixed effects."""
        q = norm.ppf(1 - check_alpha(alpha) / 2)
        return pd.DataFrame({"lower": self.fe_params - q * self.bse,
                             "upper": self.fe_params + q * self.bse})

    # -- likelihood ----------------------------------------------------------------------
    @property
    def llf(self) -> float:
        """Log-likelihood (Laplace or AGQ approximation, normalising constants included,
        as glmer's and glmmTMB's ``logLik``)."""
        return -0.5 * self._opt.deviance

    @property
    def df_modelwc(self) -> int:
        return len(self._opt.theta)

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * self.df_modelwc

    @property
    def bic(self) -> float:
        return -2 * self.llf + np.log(self.nobs) * self.df_modelwc

    @property
    def singular(self) -> bool:
        """lme4's rule: a bounded ``theta`` below 1e-4."""
        lower = theta_bounds(self._terms)
        return bool(np.any((lower == 0) & (self._opt.theta[:self._k] < 1e-4)))

    @property
    def optim_history(self) -> pd.DataFrame:
        cols = [f"theta{i}" for i in range(self._k)] + list(self.model.fep_names)
        cols += [f"log_{self.family.dispersion_name}"] * self.family.n_dispersion
        return pd.DataFrame(self._opt.history, columns=[*cols, "deviance"]).rename_axis(
            "evaluation")

    # -- the latent scale --------------------------------------------------------------------
    @cached_property
    def observation_levels(self) -> tuple:
        """Levels with one unit per row (an observation-level random intercept, which
        models overdispersion): their variance is part of the latent residual variance
        for the ICC and R², as ``insight::get_variance``'s ``var.dispersion``."""
        return tuple(t.level for t in self._terms
                     if t.z is None and np.all(t.unit_sizes == 1))

    @cached_property
    def scale(self) -> float:  # type: ignore[override]  # read-only here, set in linear
        """The residual variance on the latent scale (see the module docstring), plus the
        variance of any observation-level random effect."""
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
        """Conditional modes ``{level: DataFrame}`` (one row per unit, link scale)."""
        return frames_by_level(self._terms, self._state.b)

    @property
    def random_effects_se(self) -> dict:
        """Conditional SDs of the random effects ``{level: DataFrame}`` (glmer's
        ``ranef(condVar = TRUE)``)."""
        return frames_by_level(self._terms, conditional_sds(self._condcov))

    @property
    def fittedvalues(self) -> np.ndarray:
        """Conditional means on the response scale (per trial), at the fitted rows."""
        return self.family.mean(self._state.eta)

    @property
    def resid_pearson(self) -> np.ndarray:
        """Pearson residuals at the conditional modes (glmer's / glmmTMB's
        ``residuals(type = "pearson")``)."""
        return self.family.pearson_residuals(self._state.eta)

    @property
    def resid_deviance(self) -> np.ndarray:
        return self.family.deviance_residuals(self._state.eta)

    def predict(self, exog=None, which: str = "conditional", *, linear: bool = False,
                offset=None, exposure=None):
        """Predicted means (``linear=True``: the linear predictor).

        Parameters
        ----------
        exog : DataFrame or array_like, optional
            New data with the formula's columns (a Series labelled by its rows is
            returned), or a design matrix (marginal only). None: the fitted rows.
        which : {"conditional", "marginal"}
            ``"conditional"``: with the conditional modes of the units seen in the fit
            (0 for unseen units; nested units matched by their full path);
            ``"marginal"``: the random effects at 0 (the typical unit, not the population
            average: see ``compare_gee``).
        linear : bool
            Return the linear predictor (statsmodels' ``predict(linear=True)``).
        offset, exposure : str or array_like, optional
            For new data: the offset (or the exposure, whose log is added to it), as a
            column name or one value per row. A model fitted with an offset from a column
            reads the same column of new data when neither is given.

        Rows of new data missing a variable the prediction needs get NaN.
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

    def simulate(self, nsim: int = 1, seed=None) -> np.ndarray:
        """New outcomes with fresh random effects (lme4's ``simulate(re.form = NA)``):
        an array (nobs, nsim), drawn from the family at the fitted dispersion."""
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
    def simulated_residuals(self, n_sim: int = 250, seed=None, conditional: bool = False,
                            progress=None):
        """DHARMa's scaled quantile residuals from ``n_sim`` simulations (randomised PIT
        for binomial, Poisson and negative binomial outcomes), with ``test_uniformity()``,
        ``test_dispersion()``, ``test_zero_inflation()``, ``test_outliers()`` and
        ``plot()``.

        By default each simulation draws fresh random effects (unconditional, as
        :meth:`simulate` and DHARMa's default for lme4), so the residuals check the
        random-effect distribution as well as the family; ``conditional=True`` draws
        from the family at the fitted conditional means (sharper for dispersion and zero
        inflation). See :mod:`mixedext.results.checking`.
        """
        return glmm_simulated_residuals(self, n_sim, seed, conditional, progress)

    def influence(self, level=None, progress=None) -> pd.DataFrame:
        """Group-deletion influence: the model refitted by maximum likelihood (as
        ``fit_ml``) on the rows without each unit of ``level`` (default the outermost).
        Cook's distance, DFBETAS, the change of every variance component (and of the
        dispersion), the refit's log-likelihood; see
        :mod:`mixedext.results.glmm_influence`."""
        return glmm_influence_table(self, level, progress)

    def plot_influence(self, level=None, ax=None, progress=None):
        """Cook's distance per unit of ``level`` with the ``4 / K`` line."""
        return plot_influence(self.influence(level, progress), ax=ax)

    def plot_residuals(self, ax=None):
        """Pearson residuals against the fitted conditional means (for discrete outcomes
        :meth:`simulated_residuals` is easier to read)."""
        return glmm_residual_plot(self, ax)

    def plot_qq(self, axes=None):
        """Normal QQ plots of the Pearson residuals and of each level's random effects."""
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
        """Raw vs shrunk unit effects on the link scale, and the means.

        ``raw`` is the unit's own (unpooled) offset: the maximum-likelihood shift of its
        rows' fixed-effect linear predictors (NaN for a unit whose own estimate is
        infinite, e.g. no events); ``blup`` the conditional mode; ``factor``
        ``1 - cond_var / tau^2``; ``mean_raw`` the unit's mean outcome and
        ``mean_shrunk`` the mean of its conditional means. Random intercepts only.
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

    def design_effect(self, cluster=None, method="mean") -> pd.DataFrame:
        """Design effect on the latent scale (see :meth:`MixedLMResults.design_effect`)."""
        return super().design_effect(cluster=cluster, method=method)

    # -- summary -------------------------------------------------------------------------
    def _extra_summary(self) -> list[str]:
        """Lines after the fit information (the dispersion, for families with one)."""
        return []

    def summary(self) -> str:
        """A text summary: fit information, fixed effects, variance components."""
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

