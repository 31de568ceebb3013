"""Results of :meth:`mixedext.BinomialMixedGLM.fit_ml` (maximum likelihood, as glmer).

Labelled, read-only pandas properties (``fe_params``, ``bse``, ``cov_params()``, ...) and
the random-effect reports shared with the linear model (``variance_components()``,
``icc()`` on the latent scale with residual variance ``pi^2 / 3``, ``r2()``,
``design_effect()``, ``shrinkage()``, plots).
"""

from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np
import pandas as pd
import patsy
from scipy.special import expit
from scipy.stats import norm

from mixedext._engine.factor import theta_bounds
from mixedext.results.prediction import needed_columns, on_complete_rows, random_contribution
from mixedext.results.reporting import RandomEffectsReport, conditional_sds, frames_by_level

__all__ = ["BinomialMixedResults"]


class BinomialMixedResults(RandomEffectsReport):
    """Maximum-likelihood fit of a binomial mixed model.

    Attributes
    ----------
    model : BinomialMixedGLM
    nagq : int
        1 for the Laplace approximation, more for adaptive Gauss-Hermite quadrature.
    converged : bool
    """

    _residual_row = False

    def __init__(self, model, dev, opt, state, hessian, nagq):
        self.model = model
        self._dev = dev
        self.family = dev.family
        self.scale = dev.family.latent_variance  # ICC / R² on the latent scale
        self._opt = opt
        self._state = state
        self._hessian = hessian
        self.nagq = nagq
        self.converged = opt.converged
        self.method = "ML (Laplace)" if nagq == 1 else f"ML (AGQ, {nagq} nodes)"
        self._k = dev.n_theta
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
        """Fixed effects (log-odds scale)."""
        return pd.Series(self._opt.theta[self._k:], index=self.model.fep_names,
                         name="fe_params")

    @cached_property
    def _vcov_all(self) -> np.ndarray:
        try:
            return 2.0 * np.linalg.inv(self._hessian)
        except np.linalg.LinAlgError:
            return np.full_like(self._hessian, np.nan)

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the fixed effects: the ``beta`` block of the inverse Hessian of
        ``-log L`` in ``(theta, beta)`` (glmer's default ``use.hessian = TRUE``)."""
        names = self.model.fep_names
        return pd.DataFrame(self._vcov_all[self._k:, self._k:], index=names, columns=names)

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
        q = norm.ppf(1 - alpha / 2)
        return pd.DataFrame({"lower": self.fe_params - q * self.bse,
                             "upper": self.fe_params + q * self.bse})

    # -- likelihood ----------------------------------------------------------------------
    @property
    def llf(self) -> float:
        """Log-likelihood (Laplace or AGQ approximation; binomial coefficients included,
        as glmer's ``logLik``)."""
        return -0.5 * self._opt.deviance

    @property
    def df_modelwc(self) -> int:
        return self._k + len(self.model.fep_names)

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * self.df_modelwc

    @property
    def bic(self) -> float:
        return -2 * self.llf + np.log(self.nobs) * self.df_modelwc

    @property
    def singular(self) -> bool:
        """lme4's rule: a bounded ``theta`` below 1e-4."""
        lower = theta_bounds(self.model.random_terms)
        return bool(np.any((lower == 0) & (self._opt.theta[:self._k] < 1e-4)))

    @property
    def optim_history(self) -> pd.DataFrame:
        cols = [f"theta{i}" for i in range(self._k)] + list(self.model.fep_names) + [
            "deviance"]
        return pd.DataFrame(self._opt.history, columns=cols).rename_axis("evaluation")

    # -- random effects and predictions ------------------------------------------------
    @property
    def random_effects(self) -> dict:
        """Conditional modes ``{level: DataFrame}`` (one row per unit, log-odds scale)."""
        return frames_by_level(self.model.random_terms, self._state.b)

    @property
    def random_effects_se(self) -> dict:
        """Conditional SDs of the random effects ``{level: DataFrame}`` (glmer's
        ``ranef(condVar = TRUE)``)."""
        return frames_by_level(self.model.random_terms, conditional_sds(self._condcov))

    @cached_property
    def _condcov(self) -> list:
        return self._dev.conditional_covariances(self._state)

    def predict(self, exog=None, which: str = "conditional") -> np.ndarray:
        """Predicted probabilities.

        ``which="conditional"``: with the conditional modes of the units seen in the fit
        (0 for unseen units; nested units matched by their full path, as for linear
        models); ``"marginal"``: the fixed-effect prediction with the random effects at 0
        (the typical unit, not the population average: see ``compare_gee``). ``exog``
        may be a DataFrame with the formula's columns (a Series labelled by its rows is
        returned), or a design matrix (marginal only). Rows of new data missing a variable
        the prediction needs get NaN.
        """
        if which not in ("conditional", "marginal"):
            raise ValueError(f"which must be 'conditional' or 'marginal', not {which!r}")
        if isinstance(exog, pd.DataFrame):
            columns = needed_columns(self.model, exog, which, self.model.random_terms)
            values = on_complete_rows(exog, columns, lambda part: self._predict(part, which))
            return pd.Series(values, index=exog.index)
        return self._predict(exog, which)

    def _predict(self, exog, which):
        beta = self.fe_params.to_numpy()
        if exog is None:
            return self.family.mean(self._state.eta if which == "conditional"
                                    else np.asarray(self.model.exog) @ beta)
        if not isinstance(exog, pd.DataFrame):
            if which == "conditional":
                raise TypeError("conditional predictions need a DataFrame with the "
                                "grouping columns")
            return self.family.mean(np.asarray(exog, float) @ beta)
        info = self.model.design_info
        if info is None:
            raise NotImplementedError("predictions on new data need the model built by "
                                      "binomial_mixedglm in this session (patsy's design "
                                      "is not kept when pickled)")

        x = np.asarray(patsy.build_design_matrices([info], exog)[0], dtype=float)
        eta = x @ beta
        if which == "conditional":
            eta = eta + random_contribution(self.model.random_terms, self._state.b, exog)[0]
        return self.family.mean(eta)

    def shrinkage(self, level: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
        """Raw vs shrunk unit effects on the log-odds scale, plus rates.

        ``raw`` is the unit's own (unpooled) log-odds offset: the maximum-likelihood shift
        of its rows' fixed-effect linear predictors, with half a success and half a
        failure added at the unit's mean predictor so that it stays finite for 0/n and n/n
        (an empirical logit adjusted for case mix); ``blup`` the conditional mode;
        ``factor`` ``1 - cond_var / tau^2``; ``rate_raw`` the observed proportion,
        ``rate_shrunk`` the mean conditional probability of the unit's rows.
        Random intercepts only.
        """
        terms = self.model.random_terms
        levels = list(dict.fromkeys(t.level for t in terms))
        level = levels[0] if level is None else level
        idx = [i for i, t in enumerate(terms) if t.level == level]
        if not idx:
            raise KeyError(f"level {level!r} is not a level of the model (levels: "
                           f"{', '.join(levels)})")
        i = idx[0]
        t = terms[i]
        if len(idx) > 1 or t.z is not None:
            raise NotImplementedError("shrinkage of a binomial model with random slopes is "
                                      "not available yet")
        m = self.family.trials
        y = self.family.y
        units = t.n_units
        succ = np.bincount(t.codes, weights=y, minlength=units)
        trials = np.bincount(t.codes, weights=m, minlength=units)
        rows = np.bincount(t.codes, minlength=units)
        fixed = self.model.exog @ self.fe_params.to_numpy()
        raw = _unit_offsets(t.codes, units, y, m, fixed, rows)
        blup = self._state.b[i][:, 0]
        cvar = self._condcov[i][:, 0, 0]
        tau2 = self._term_covariances()[i][0, 0]
        se = np.sqrt(cvar)
        z = norm.ppf(1 - alpha / 2)
        prob = self.family.mean(self._state.eta)
        frame = pd.DataFrame({
            "n": trials.astype(int), "raw": raw, "blup": blup,
            "factor": 1 - cvar / tau2 if tau2 > 0 else np.zeros(units), "cond_se": se,
            "lower": blup - z * se, "upper": blup + z * se,
            "rate_raw": succ / trials,
            "rate_shrunk": np.bincount(t.codes, weights=prob * m, minlength=units) / trials,
        }, index=pd.Index(t.unit_labels, name=level))
        frame["flag"] = (frame["lower"] > 0) | (frame["upper"] < 0)
        return frame

    def design_effect(self, cluster=None, method="mean") -> pd.DataFrame:
        """Design effect on the latent scale (see :meth:`MixedLMResults.design_effect`)."""
        return super().design_effect(cluster=cluster, method=method)

    # -- summary -------------------------------------------------------------------------
    def summary(self) -> str:
        """A text summary: fit information, fixed effects, variance components."""
        lines = [f"Binomial mixed model ({self.method})",
                 f"Dependent variable: {getattr(self.model, 'endog_name', 'y')}",
                 f"No. observations: {self.nobs}"]
        for t in self.model.random_terms:
            lines.append(f"No. units ({t.level}): {t.n_units}")
        lines += [f"Log-likelihood: {self.llf:.4f}   AIC: {self.aic:.4f}   BIC: {self.bic:.4f}",
                  f"Converged: {'Yes' if self.converged else 'No'}   "
                  f"Singular fit: {'Yes' if self.singular else 'No'}", ""]
        table = pd.DataFrame({"Coef.": self.fe_params, "Std.Err.": self.bse,
                              "z": self.zvalues, "P>|z|": self.pvalues})
        table = pd.concat([table, self.conf_int().rename(
            columns={"lower": "[0.025", "upper": "0.975]"})], axis=1)
        lines.append(table.to_string(float_format=lambda x: f"{x:.4f}"))
        lines += ["", "Random effects (log-odds scale):",
                  self.variance_components().to_string(index=False)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                icc = self.icc()
                table = icc.join(pd.concat([self.design_effect(lev)[
                    ["design_effect", "se_inflation"]] for lev in icc.index]))
            lines += ["", "ICC (latent scale, residual variance pi^2/3) and design effect:",
                      table.to_string(float_format=lambda x: f"{x:.4f}")]
        except (NotImplementedError, KeyError, ValueError):
            pass
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<BinomialMixedResults: {self.method}, llf={self.llf:.4f}>"


def _unit_offsets(codes, units, y, m, fixed, rows, iterations=50):
    """Per-unit ML offset ``a`` with ``sum_j [y_j - m_j expit(f_j + a)] + 1/2 -
    expit(mean f + a) = 0`` (half a success and half a failure), by vectorised Newton."""
    mean_fixed = np.bincount(codes, weights=fixed, minlength=units) / rows
    succ = np.bincount(codes, weights=y, minlength=units)
    trials = np.bincount(codes, weights=m, minlength=units)
    a = np.log((succ + 0.5) / (trials - succ + 0.5)) - mean_fixed
    for _ in range(iterations):
        mu = expit(fixed + a[codes])
        mu0 = expit(mean_fixed + a)
        score = succ - np.bincount(codes, weights=m * mu, minlength=units) + 0.5 - mu0
        info = np.bincount(codes, weights=m * mu * (1 - mu), minlength=units) + mu0 * (1 - mu0)
        step = score / info
        a = a + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return a
