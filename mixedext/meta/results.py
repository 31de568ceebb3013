"""Results of :func:`mixedext.meta_analysis`: a read-only snapshot of one fit.

:class:`MetaAnalysisResults` copies the study data and the estimate of tau^2 when it is
built and computes everything else from them: the GLS coefficients at tau^2 with their
(Knapp-Hartung adjusted) covariance, heterogeneity, intervals, predictions, BLUPs, fit
statistics, Egger's test and leave-one-out refits, each as metafor's ``rma.uni``
methods compute it. :func:`fit_inputs` fits checked inputs (:mod:`mixedext.meta.inputs`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from mixedext._checks import check_alpha
from mixedext.meta.estimation import Gls, TauFit, estimate_tau2, gls, loglik
from mixedext.meta.heterogeneity import Heterogeneity, heterogeneity, interval_rows, q_profile
from mixedext.meta.inputs import INTERCEPT, MetaInputs, new_design
from mixedext.meta.plotting import forest_plot, funnel_plot
from mixedext.meta.summary import build_summary

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike
    from statsmodels.iolib.summary2 import Summary

__all__ = ["EggerTest", "MetaAnalysisResults", "fit_inputs"]


def fit_inputs(inputs: MetaInputs, method: str, test: str, alpha: float):
    """Estimate tau^2 by ``method`` and return the :class:`MetaAnalysisResults`."""
    tau = estimate_tau2(inputs.y, inputs.v, inputs.X, method)
    return MetaAnalysisResults(inputs, method, test, alpha, tau)


def _frozen(a: np.ndarray) -> np.ndarray:
    out = np.array(a, dtype=float, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class EggerTest:
    """Egger's regression test for funnel-plot asymmetry (metafor's ``regtest``).

    Made by :meth:`MetaAnalysisResults.egger_test`.

    Parameters
    ----------
    statistic : float
        The z (or t with Knapp-Hartung) of the standard-error coefficient.
    pvalue : float
        Its two-sided p-value.
    df : int or None
        Degrees of freedom of the t test (``k - p - 1``), None for z.
    limit_estimate : float or None
        Without moderators, the intercept of the model with the SE as a moderator (the
        "limit estimate" as the SE goes to 0); None otherwise.
    ci_lower : float or None
        The lower end of the limit estimate's interval.
    ci_upper : float or None
        The upper end of the limit estimate's interval.
    fit : MetaAnalysisResults
        The model with the standard error added as a moderator.
    """

    statistic: float
    pvalue: float
    df: int | None
    limit_estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    fit: MetaAnalysisResults


class MetaAnalysisResults:
    """A random-effects meta-analysis or mixed-effects meta-regression fit.

    Built by :func:`mixedext.meta_analysis`. All attributes are read-only and computed
    from copies of the data taken at construction.

    Parameters
    ----------
    inputs : MetaInputs
        The checked study data (:mod:`mixedext.meta.inputs`): effects, variances,
        design and study labels.
    method : {"REML", "ML", "DL", "PM"}
        The estimator of tau^2 that gave ``tau``.
    test : {"z", "knha"}
        Normal or Knapp-Hartung tests and intervals.
    alpha : float
        The default ``1 - alpha`` coverage of the intervals.
    tau : TauFit
        The estimate of tau^2 (:mod:`mixedext.meta.estimation`).

    Notes
    -----
    With ``w_i = 1 / (v_i + tau^2)`` and ``W = diag(w)`` the coefficients are the GLS
    estimates ``beta = (X'WX)^-1 X'W y`` with covariance ``(X'WX)^-1``. With
    ``test="knha"`` (Knapp & Hartung 2003) the covariance is multiplied by
    ``s^2 = sum w_i (y_i - x_i' beta)^2 / (k - p)`` (not truncated at 1, metafor's
    ``test="knha"``) and tests and intervals use the t distribution with ``k - p``
    degrees of freedom; otherwise the normal distribution.

    References
    ----------
    .. [1] Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor
       package. Journal of Statistical Software 36(3).
    .. [2] Knapp, G. and Hartung, J. (2003). Improved tests for a random effects
       meta-regression with a single covariate. Statistics in Medicine 22, 2693-2710.
    """

    # set once by __init__ (the instance is read-only afterwards)
    _inputs: MetaInputs
    _method: str
    _test: str
    _alpha: float
    _tau: TauFit
    _gls: Gls
    _s2w: float
    _het: Heterogeneity

    def __init__(self, inputs: MetaInputs, method: str, test: str, alpha: float,
                 tau: TauFit):
        set_ = object.__setattr__
        set_(self, "_inputs", dataclasses.replace(
            inputs, y=_frozen(inputs.y), v=_frozen(inputs.v), X=_frozen(inputs.X),
            study=inputs.study.copy()))
        set_(self, "_method", method)
        set_(self, "_test", test)
        set_(self, "_alpha", float(alpha))
        set_(self, "_tau", tau)
        y, v, X = self._inputs.y, self._inputs.v, self._inputs.X
        k, p = X.shape
        fit = gls(y, v, X, tau.tau2)
        s2w = 1.0
        if test == "knha":
            s2w = 0.0 if fit.rss <= np.finfo(float).eps else fit.rss / (k - p)
        set_(self, "_gls", fit)
        set_(self, "_s2w", s2w)
        set_(self, "_het", heterogeneity(y, v, X))

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only (cannot set {name!r})")

    def __repr__(self) -> str:
        kind = "meta-analysis" if self.intercept_only else "meta-regression"
        return (f"<{type(self).__name__}: random-effects {kind} of {self.k} studies, "
                f"{self.method}, tau2={self.tau2:.4g}>")

    # -- the data and the fit ----------------------------------------------------------
    @property
    def method(self) -> str:
        """The estimator of tau^2: ``"REML"``, ``"ML"``, ``"DL"`` or ``"PM"``."""
        return self._method

    @property
    def test(self) -> str:
        """``"z"`` or ``"knha"`` (Knapp-Hartung)."""
        return self._test

    @property
    def use_t(self) -> bool:
        """Whether tests and intervals use the t distribution (``test="knha"``)."""
        return self._test == "knha"

    @property
    def alpha(self) -> float:
        """The default ``alpha`` of the intervals (``1 - alpha`` coverage)."""
        return self._alpha

    @property
    def k(self) -> int:
        """Number of studies."""
        return self._inputs.X.shape[0]

    @property
    def p(self) -> int:
        """Number of coefficients (1 without moderators)."""
        return self._inputs.X.shape[1]

    @property
    def df_resid(self) -> int:
        """``k - p``: the degrees of freedom of QE and of the Knapp-Hartung t tests."""
        return self.k - self.p

    @property
    def mods(self) -> str | None:
        """The moderator formula (None without moderators)."""
        return self._inputs.mods

    @property
    def intercept_only(self) -> bool:
        """True for a meta-analysis without moderators."""
        return self._inputs.names == (INTERCEPT,)

    @property
    def study(self) -> pd.Index:
        """The study labels."""
        return self._inputs.study.copy()

    @property
    def effect(self) -> pd.Series:
        """The study estimates ``y_i``."""
        return pd.Series(self._inputs.y.copy(), index=self.study,
                         name=self._inputs.effect_name)

    @property
    def variance(self) -> pd.Series:
        """The (known) sampling variances ``v_i``."""
        return pd.Series(self._inputs.v.copy(), index=self.study,
                         name=self._inputs.variance_name)

    @property
    def design(self) -> pd.DataFrame:
        """The design ``X`` (a column of ones without moderators)."""
        return pd.DataFrame(self._inputs.X.copy(), index=self.study,
                            columns=list(self._inputs.names))

    @property
    def converged(self) -> bool:
        """Whether the estimation of tau^2 converged."""
        return self._tau.converged

    @property
    def iterations(self) -> int:
        """Fisher-scoring iterations (REML, ML); 0 for DL and PM."""
        return self._tau.iterations

    # -- tau^2 -------------------------------------------------------------------------
    @property
    def tau2(self) -> float:
        """The between-study variance tau^2 (exactly 0 on the boundary)."""
        return self._tau.tau2

    @property
    def tau(self) -> float:
        """The between-study SD, ``sqrt(tau^2)``."""
        return float(np.sqrt(self.tau2))

    @cached_property
    def se_tau2(self) -> float:
        """Standard error of tau^2, as metafor's ``se.tau2``.

        Notes
        -----
        REML ``sqrt(2 / tr(P P))``; ML ``sqrt(2 / sum w_i^2)``; PM
        ``sqrt(2 k^2 / (k - p) / (sum w_i)^2)``, all at the estimate; DL (with
        ``P_0``, ``P`` at ``tau^2 = 0``)
        ``sqrt(2 (k - p) + 4 tau^2 tr(P_0) + 2 tau^4 tr(P_0 P_0)) / tr(P_0)``.
        """
        g, k, p, t = self._gls, self.k, self.p, self.tau2
        if self.method == "REML":
            return float(np.sqrt(2.0 / g.trace_pp))
        if self.method == "ML":
            return float(np.sqrt(2.0 / np.sum(g.w ** 2)))
        if self.method == "PM":
            return float(np.sqrt(2.0 * k ** 2 / (k - p) / np.sum(g.w) ** 2))
        g0 = gls(self._inputs.y, self._inputs.v, self._inputs.X, 0.0)
        tr = g0.trace_p
        return float(np.sqrt(2 * (k - p) + 4 * t * tr + 2 * t ** 2 * g0.trace_pp) / tr)

    def conf_int_tau2(self, alpha: float | None = None) -> pd.DataFrame:
        """Q-profile interval of tau^2, with tau, I^2 and H^2 (metafor's ``confint(res)``).

        Parameters
        ----------
        alpha : float, optional
            ``1 - alpha`` coverage; the fit's ``alpha`` by default.

        Returns
        -------
        DataFrame
            Rows ``tau2``, ``tau``, ``I2``, ``H2``; columns ``estimate``, ``lower``,
            ``upper``.

        Notes
        -----
        The ends solve ``Q(tau^2) = chi^2_{k-p}(1 - alpha/2)`` (lower) and
        ``Q(tau^2) = chi^2_{k-p}(alpha/2)`` (upper) for the generalised
        ``Q(tau^2) = sum w_i(tau^2) (y_i - x_i' beta(tau^2))^2``, decreasing in tau^2
        (Viechtbauer 2007); an end is 0 when ``Q(0)`` is below its quantile. The interval
        does not depend on the estimator of tau^2. The I^2 and H^2 ends are the
        transformations of the tau^2 ends.
        """
        alpha = self._alpha_or_default(alpha)
        bounds = q_profile(self._inputs.y, self._inputs.v, self._inputs.X, alpha)
        rows = interval_rows(self._het, self.tau2, bounds)
        return pd.DataFrame.from_dict(rows, orient="index",
                                      columns=["estimate", "lower", "upper"])

    # -- heterogeneity -----------------------------------------------------------------
    @property
    def Q(self) -> float:
        """Cochran's Q; with moderators the residual heterogeneity QE.

        ``Q = sum (y_i - x_i' beta_FE)^2 / v_i`` (fixed-effect weights), chi^2 with
        ``k - p`` degrees of freedom when tau^2 = 0.
        """
        return self._het.Q

    @property
    def Q_df(self) -> int:
        """Degrees of freedom of Q: ``k - p``."""
        return self._het.df

    @property
    def Q_pvalue(self) -> float:
        """The p-value of the Q test of tau^2 = 0 (chi^2 with ``k - p`` df)."""
        return self._het.pvalue

    @property
    def typical_variance(self) -> float:
        """The "typical" sampling variance ``s^2 = (k - p) / tr(P)`` of I^2 and H^2."""
        return self._het.s2

    @property
    def I2(self) -> float:
        """I^2 in percent: ``100 tau^2 / (tau^2 + s^2)`` (residual with moderators)."""
        return self._het.I2(self.tau2)

    @property
    def H2(self) -> float:
        """H^2: ``(tau^2 + s^2) / s^2``."""
        return self._het.H2(self.tau2)

    # -- coefficients ------------------------------------------------------------------
    def _series(self, values, name) -> pd.Series:
        return pd.Series(np.array(values, dtype=float), index=list(self._inputs.names),
                         name=name)

    @property
    def params(self) -> pd.Series:
        """The coefficients, labelled by the design's column names (``Intercept``, ...)."""
        return self._series(self._gls.beta, "params")

    def cov_params(self) -> pd.DataFrame:
        """Compute the covariance of :attr:`params`.

        Returns
        -------
        pandas.DataFrame
            ``(X'WX)^-1`` (times ``s^2`` with Knapp-Hartung), labelled by the design's
            columns on both axes.
        """
        names = list(self._inputs.names)
        return pd.DataFrame(self._s2w * self._gls.cov, index=names, columns=names)

    @property
    def bse(self) -> pd.Series:
        """Standard errors of :attr:`params`."""
        return self._series(np.sqrt(self._s2w * np.diag(self._gls.cov)), "bse")

    @property
    def tvalues(self) -> pd.Series:
        """The z (or t with Knapp-Hartung) statistics of :attr:`params`."""
        return self._series(self._gls.beta / self.bse.to_numpy(), "tvalues")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of :attr:`tvalues`."""
        return self._series(2 * self._dist.sf(np.abs(self.tvalues.to_numpy())), "pvalues")

    @property
    def _dist(self):
        return stats.t(self.df_resid) if self.use_t else stats.norm()

    def _crit(self, alpha) -> float:
        return float(self._dist.isf(self._alpha_or_default(alpha) / 2))

    def _alpha_or_default(self, alpha) -> float:
        return self._alpha if alpha is None else check_alpha(alpha)

    def conf_int(self, alpha: float | None = None) -> pd.DataFrame:
        """Compute Wald intervals of :attr:`params`.

        Parameters
        ----------
        alpha : float, optional
            ``1 - alpha`` coverage; the fit's ``alpha`` by default.

        Returns
        -------
        pandas.DataFrame
            Indexed by coefficient; columns ``lower`` and ``upper``,
            ``beta_j -/+ c SE_j`` with ``c`` the normal quantile, or the t(k - p)
            quantile with Knapp-Hartung.

        Raises
        ------
        ValueError
            For ``alpha`` outside (0, 1).
        """
        crit, b, se = self._crit(alpha), self._gls.beta, self.bse.to_numpy()
        return pd.DataFrame({"lower": b - crit * se, "upper": b + crit * se},
                            index=list(self._inputs.names))

    def _require_intercept_only(self, what):
        if not self.intercept_only:
            raise AttributeError(f"{what} is the pooled effect of a model without moderators; "
                                 "this model has moderators, use params / bse")

    @property
    def mu(self) -> float:
        """The pooled (average) effect of a model without moderators."""
        self._require_intercept_only("mu")
        return float(self._gls.beta[0])

    @property
    def se(self) -> float:
        """Standard error of :attr:`mu`."""
        self._require_intercept_only("se")
        return float(self.bse.iloc[0])

    @cached_property
    def _moderator_test(self) -> tuple[float, tuple, float]:
        names = self._inputs.names
        idx = [i for i, n in enumerate(names) if n != INTERCEPT] or list(range(len(names)))
        b = self._gls.beta[idx]
        cov = self._s2w * self._gls.cov[np.ix_(idx, idx)]
        qm = float(b @ np.linalg.solve(cov, b))
        m = len(idx)
        if self.use_t:
            return qm / m, (m, self.df_resid), float(stats.f.sf(qm / m, m, self.df_resid))
        return qm, (m, None), float(stats.chi2.sf(qm, m))

    @property
    def QM(self) -> float:
        """The omnibus test statistic of the moderators.

        All coefficients but the intercept (the intercept alone without moderators): the
        Wald chi^2 ``b' V^-1 b`` of the ``m`` coefficients, or with Knapp-Hartung that
        divided by ``m`` (an F statistic).
        """
        return self._moderator_test[0]

    @property
    def QM_df(self) -> tuple:
        """``(m, None)`` for the chi^2 test, ``(m, k - p)`` for the F test."""
        return self._moderator_test[1]

    @property
    def QM_pvalue(self) -> float:
        """The p-value of :attr:`QM` (chi^2 with ``m`` df, or F with ``m`` and ``k - p`` df)."""
        return self._moderator_test[2]

    # -- likelihood --------------------------------------------------------------------
    @cached_property
    def _fit_stats(self) -> pd.DataFrame:
        y, v, X = self._inputs.y, self._inputs.v, self._inputs.X
        k, p = X.shape
        parms = p + 1
        out = {}
        for col, reml, n in (("ML", False, k), ("REML", True, k - p)):
            ll = loglik(y, v, X, self.tau2, reml, self._gls)
            dev = -2 * ll - (0.0 if reml else np.sum(np.log(2 * np.pi * v)))
            m = max(n, parms + 2)
            out[col] = [ll, dev, -2 * ll + 2 * parms, -2 * ll + parms * np.log(n),
                        -2 * ll + 2 * parms * m / (m - parms - 1)]
        return pd.DataFrame(out, index=["llf", "deviance", "aic", "bic", "aicc"])

    def fit_stats(self) -> pd.DataFrame:
        """Compute the log-likelihood, deviance, AIC, BIC and AICc, ML and REML.

        metafor's ``fitstats``.

        Returns
        -------
        pandas.DataFrame
            Rows ``llf``, ``deviance``, ``aic``, ``bic``, ``aicc``; columns ``ML``,
            ``REML``, both evaluated at the estimated tau^2 whatever the method.

        Notes
        -----
        ``llf_ML = -k/2 log(2 pi) - 1/2 sum log(v_i + tau^2) - 1/2 Q(tau^2)`` and
        ``llf_REML = -(k-p)/2 log(2 pi) + 1/2 log|X'X| - 1/2 sum log(v_i + tau^2)
        - 1/2 log|X'WX| - 1/2 Q(tau^2)`` (the ``log|X'X|`` term makes it invariant to
        rescaling the moderators). With ``p + 1`` parameters, AIC ``= -2 llf + 2 (p+1)``,
        BIC ``= -2 llf + (p+1) log(n)`` with ``n = k`` (ML) or ``k - p`` (REML), AICc
        ``= -2 llf + 2 (p+1) n' / (n' - p - 2)``, ``n' = max(n, p + 3)``. The ML deviance
        is relative to the saturated model (``-2 llf - sum log(2 pi v_i)``), the REML
        one ``-2 llf``.
        """
        return self._fit_stats.copy()

    @property
    def _stats_column(self) -> str:
        return "REML" if self.method == "REML" else "ML"

    @property
    def llf(self) -> float:
        """The log-likelihood: REML for ``method="REML"``, ML otherwise (metafor's ``logLik``)."""
        return float(self._fit_stats.loc["llf", self._stats_column])

    @property
    def aic(self) -> float:
        """AIC in the convention of :attr:`llf`."""
        return float(self._fit_stats.loc["aic", self._stats_column])

    @property
    def bic(self) -> float:
        """BIC in the convention of :attr:`llf` (``log(k - p)`` under REML)."""
        return float(self._fit_stats.loc["bic", self._stats_column])

    @property
    def aicc(self) -> float:
        """AICc in the convention of :attr:`llf`."""
        return float(self._fit_stats.loc["aicc", self._stats_column])

    @property
    def deviance(self) -> float:
        """Deviance in the convention of :attr:`llf`."""
        return float(self._fit_stats.loc["deviance", self._stats_column])

    # -- predictions -------------------------------------------------------------------
    def prediction_interval(self, newmods: pd.DataFrame | dict | ArrayLike | None = None,
                            alpha: float | None = None) -> pd.DataFrame:
        """Predict the (average) effects with confidence and prediction intervals.

        metafor's ``predict(res)``.

        Parameters
        ----------
        newmods : pandas.DataFrame, dict or array_like, optional
            Moderator values (models with moderators): a DataFrame or dict with the
            moderator columns (coded as the fitted data, ``C()`` levels included), or an
            array with the design's non-intercept columns (metafor's ``newmods``).
            Without it: the pooled effect of a model without moderators, the fitted
            value of every study with moderators.
        alpha : float, optional
            ``1 - alpha`` coverage; the fit's ``alpha`` by default.

        Returns
        -------
        pandas.DataFrame
            Columns ``pred``, ``se``, ``ci_lower``, ``ci_upper``, ``pi_lower``,
            ``pi_upper``.

        Raises
        ------
        ValueError
            For ``newmods`` with a model without moderators, or ``alpha`` outside (0, 1).

        Notes
        -----
        ``pred = x' beta``, ``se^2 = x' V x`` (``V`` = :meth:`cov_params`), the
        confidence interval ``pred +/- c se`` and the prediction interval of the true
        effect of a new study ``pred +/- c sqrt(se^2 + tau^2)``, ``c`` the normal
        quantile (or t(k - p) with Knapp-Hartung).
        """
        crit = self._crit(alpha)
        names, info = self._inputs.names, self._inputs.design_info
        if newmods is None:
            X = np.ones((1, 1)) if self.intercept_only else self._inputs.X
            index = None if self.intercept_only else self.study
        elif self.intercept_only:
            raise ValueError("newmods: the model has no moderators")
        else:
            X = new_design(newmods, names, info)
            index = newmods.index if isinstance(newmods, pd.DataFrame) else None
        cov = self.cov_params().to_numpy()
        pred = X @ self._gls.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", X, cov, X))
        half_pi = crit * np.sqrt(se ** 2 + self.tau2)
        return pd.DataFrame({"pred": pred, "se": se, "ci_lower": pred - crit * se,
                             "ci_upper": pred + crit * se, "pi_lower": pred - half_pi,
                             "pi_upper": pred + half_pi}, index=index)

    def blup(self, alpha: float | None = None) -> pd.DataFrame:
        """Best linear unbiased predictions of the true study effects (metafor's ``blup``).

        Parameters
        ----------
        alpha : float, optional
            ``1 - alpha`` coverage; the fit's ``alpha`` by default.

        Returns
        -------
        DataFrame
            One row per study: ``raw`` (the study's estimate ``y_i``), ``blup``, ``se``,
            ``lower``, ``upper`` and ``shrinkage`` (``B_i = v_i / (v_i + tau^2)``, the
            weight of the model's prediction).

        Notes
        -----
        With ``lambda_i = tau^2 / (tau^2 + v_i) = 1 - B_i``,
        ``blup_i = lambda_i y_i + (1 - lambda_i) x_i' beta`` and
        ``se_i^2 = lambda_i v_i + (1 - lambda_i)^2 x_i' V x_i``; the interval is
        ``blup_i +/- c se_i`` (normal, or t(k - p) with Knapp-Hartung). At tau^2 = 0
        every study is shrunk to the fitted value.
        """
        crit = self._crit(alpha)
        y, v, X = self._inputs.y, self._inputs.v, self._inputs.X
        lam = self.tau2 / (self.tau2 + v)
        fitted = X @ self._gls.beta
        cov = self.cov_params().to_numpy()
        pred = lam * y + (1 - lam) * fitted
        se = np.sqrt(lam * v + (1 - lam) ** 2 * np.einsum("ij,jk,ik->i", X, cov, X))
        return pd.DataFrame({"raw": y, "blup": pred, "se": se, "lower": pred - crit * se,
                             "upper": pred + crit * se, "shrinkage": 1 - lam},
                            index=self.study)

    # -- diagnostics -------------------------------------------------------------------
    @cached_property
    def _egger(self) -> EggerTest:
        inputs = self._inputs
        k, p = self.k, self.p
        if k < p + 2:
            raise ValueError(f"egger_test needs at least p + 2 = {p + 2} studies, got {k}")
        X = np.column_stack([inputs.X, np.sqrt(inputs.v)])
        if np.linalg.matrix_rank(X) <= p:
            raise ValueError("egger_test: the standard errors are collinear with the "
                             "design (equal variances?)")
        aug = dataclasses.replace(inputs, X=X, names=(*inputs.names, "sei"), mods=None,
                                  design_info=None)
        fit = fit_inputs(aug, self.method, self.test, self.alpha)
        limit, lower, upper = None, None, None
        if self.intercept_only:  # the intercept: the effect of a study with SE 0
            limit = float(fit.params.iloc[0])
            lower, upper = (float(c) for c in fit.conf_int().iloc[0])
        return EggerTest(statistic=float(fit.tvalues.iloc[-1]),
                         pvalue=float(fit.pvalues.iloc[-1]),
                         df=fit.df_resid if fit.use_t else None, limit_estimate=limit,
                         ci_lower=lower, ci_upper=upper, fit=fit)

    def egger_test(self) -> EggerTest:
        """Test for funnel-plot asymmetry by Egger's regression (metafor's ``regtest(res)``).

        metafor's default (``model = "rma"``, ``predictor = "sei"``): the standard error
        ``sqrt(v_i)`` is added as a moderator to this model, refitted with the same
        method and test; the test is the z (or t) test of its coefficient.

        Returns
        -------
        EggerTest
            The statistic, p-value, df, the limit estimate (without moderators) and the
            refitted model.

        Raises
        ------
        ValueError
            With fewer than ``p + 2`` studies, or standard errors collinear with the
            design.

        References
        ----------
        .. [1] Egger, M., Davey Smith, G., Schneider, M. and Minder, C. (1997). Bias in
           meta-analysis detected by a simple, graphical test. BMJ 315, 629-634.
        """
        return self._egger

    @cached_property
    def _leave_one_out(self) -> pd.DataFrame:
        if not self.intercept_only:
            raise ValueError("leave_one_out is for models without moderators "
                             "(as metafor's leave1out)")
        if self.k < 3:
            raise ValueError(f"leave_one_out needs at least 3 studies, got {self.k}")
        rows = []
        for i in range(self.k):
            keep = np.arange(self.k) != i
            sub = dataclasses.replace(self._inputs, y=self._inputs.y[keep],
                                      v=self._inputs.v[keep], X=self._inputs.X[keep],
                                      study=self._inputs.study[keep])
            r = fit_inputs(sub, self.method, self.test, self.alpha)
            ci = r.conf_int().iloc[0]
            rows.append([r.mu, r.se, float(r.tvalues.iloc[0]), float(r.pvalues.iloc[0]),
                         ci["lower"], ci["upper"], r.Q, r.Q_pvalue, r.tau2, r.I2, r.H2])
        return pd.DataFrame(rows, index=self.study,
                            columns=["estimate", "se", "statistic", "pvalue", "ci_lower",
                                     "ci_upper", "Q", "Q_pvalue", "tau2", "I2", "H2"])

    def leave_one_out(self) -> pd.DataFrame:
        """The model refitted without each study in turn (metafor's ``leave1out``).

        Returns
        -------
        DataFrame
            Indexed by the left-out study: ``estimate``, ``se``, ``statistic`` (z, or t
            with Knapp-Hartung), ``pvalue``, ``ci_lower``, ``ci_upper``, ``Q``,
            ``Q_pvalue``, ``tau2``, ``I2``, ``H2`` of the fit to the other ``k - 1``.

        Raises
        ------
        ValueError
            For models with moderators, or fewer than 3 studies.
        """
        return self._leave_one_out.copy()

    # -- reporting ---------------------------------------------------------------------
    def summary(self, alpha: float | None = None) -> Summary:
        """Summarise the fit (statsmodels' ``Summary``; ``print(res.summary())``).

        Parameters
        ----------
        alpha : float, optional
            ``1 - alpha`` coverage of the intervals; the fit's ``alpha`` by default.

        Returns
        -------
        statsmodels.iolib.summary2.Summary
            The model, tau^2 with its Q-profile interval, heterogeneity and the
            coefficients.

        Raises
        ------
        ValueError
            For ``alpha`` outside (0, 1).
        """
        return build_summary(self, self._alpha_or_default(alpha))

    def forest_plot(self, ax: Axes | None = None, alpha: float | None = None) -> Axes:
        """Draw a forest plot: raw and shrunken (BLUP) study estimates with their intervals.

        Without moderators the pooled effect is the diamond at the bottom (its confidence
        interval) with the prediction interval as a line through it; with moderators each
        study's fitted value is marked (see :func:`mixedext.meta.plotting.forest_plot`).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            The axes to draw on; by default a new figure.
        alpha : float, optional
            ``1 - alpha`` coverage of the intervals; the fit's ``alpha`` by default.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.
        """
        return forest_plot(self, ax=ax, alpha=self._alpha_or_default(alpha))

    def funnel_plot(self, ax: Axes | None = None, alpha: float | None = None) -> Axes:
        """Draw a funnel plot: estimates against their standard errors.

        Without moderators the studies' estimates around the pooled effect, with moderators
        the residuals around 0, in the pseudo-confidence funnel ``centre +/- z SE`` (see
        :func:`mixedext.meta.plotting.funnel_plot`).

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            The axes to draw on; by default a new figure.
        alpha : float, optional
            ``1 - alpha`` coverage of the funnel; the fit's ``alpha`` by default.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.
        """
        return funnel_plot(self, ax=ax, alpha=self._alpha_or_default(alpha))
