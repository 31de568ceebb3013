"""Reporting shared by the linear and the binomial mixed-model results.

:class:`RandomEffectsReport` gives every results class the same labelled reports of the
random effects: ``variance_components()``, ``icc()``, ``r2()``, ``design_effect()``,
``shrinkage()``, ``lrt()``, the plots, and emmeans' marginal means and contrasts
(``marginal_means()``, ``contrasts()``, ``plot_marginal_means()``). A results class provides
``_variance_parameters()`` (``theta`` and the scale the covariances are relative to),
``scale`` (the residual variance; ``pi^2 / 3`` on the latent scale of a logit model),
``model.random_terms`` and ``_residual_row`` (whether ``variance_components()`` ends
with the residual variance).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedext._checks import check_alpha, check_count
from mixedext._engine.crossprod import RandomTerm
from mixedext._engine.factor import lambda_blocks
from mixedext._typing import Seed
from mixedext.inference.contrasts import contrasts
from mixedext.inference.lrt import lrt
from mixedext.inference.marginal import marginal_means
from mixedext.inference.profile import Profile, bootstrap_refits
from mixedext.results.diagnostics import (
    _is_ancestor,
    design_effect_table,
    icc_table,
    r2_table,
    shrinkage_table,
)
from mixedext.results.gee import GEEComparison, compare_gee
from mixedext.results.plotting import (
    plot_caterpillar,
    plot_funnel,
    plot_marginal_means,
    plot_shrinkage,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

__all__ = ["RandomEffectsReport", "VarianceBlock", "frames_by_level", "conditional_sds"]


@dataclass(frozen=True)
class VarianceBlock:
    """The covariance of one random-effect term: its level, covariate names, the
    ``q x q`` covariance and the term itself (None when unknown)."""

    level: str
    names: list
    cov: np.ndarray
    term: RandomTerm | None = None

    @property
    def intercept_only(self) -> bool:
        # a term without rows (Dask) has z None for its slopes too: its names tell
        return self.term is not None and self.term.z is None and \
            tuple(self.term.names) == ("Intercept",)

    @property
    def unit_sizes(self) -> np.ndarray | None:
        return None if self.term is None else self.term.unit_sizes



def frames_by_level(terms, values) -> dict:
    """``{level: DataFrame}`` with one row per unit and one column per covariate; terms
    on the same level (``(1 | g) + (0 + x | g)``) side by side."""
    out: dict[str, pd.DataFrame] = {}
    for t, v in zip(terms, values):
        frame = pd.DataFrame(v, index=pd.Index(t.unit_labels, name=t.level),
                             columns=list(t.names))
        out[t.level] = pd.concat([out[t.level], frame], axis=1) if t.level in out else frame
    return out


def conditional_sds(covariances) -> list:
    """Square roots of the diagonals of per-unit conditional covariances (m, q, q)."""
    return [np.sqrt(np.diagonal(c, axis1=1, axis2=2)) for c in covariances]


class RandomEffectsReport:
    """Mixin: reports on the random effects of a fitted mixed model."""

    _residual_row = True

    if TYPE_CHECKING:  # provided by the concrete results classes
        model: Any
        _profile: Profile
        scale: float  # the residual variance (1 for families without one)

        def _variance_parameters(self) -> tuple[np.ndarray, float]: ...

        def _require_engine(self, what: str) -> Any: ...

    def variance_components(self) -> pd.DataFrame:
        """Variances, covariances and correlations of the random effects, in long form.

        Like lme4's ``as.data.frame(VarCorr(m))``: one row per variance (``term2`` empty)
        and per covariance (``term2`` set, ``std`` NaN), levels outermost first and
        ``"Residual"`` last.

        Returns
        -------
        DataFrame
            Columns ``level``, ``term``, ``term2``, ``variance``, ``std``, ``corr``.
        """
        rows = []
        for block in self._covariance_blocks():
            lev, names, cov = block.level, block.names, block.cov
            q = cov.shape[0]
            sd = np.sqrt(np.diag(cov))
            for i in range(q):
                rows.append((lev, names[i], None, cov[i, i], sd[i], np.nan))
            for j in range(q):
                for i in range(j + 1, q):
                    corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan
                    rows.append((lev, names[j], names[i], cov[i, j], np.nan, corr))
        if self._residual_row:
            rows.append(("Residual", None, None, self.scale, np.sqrt(self.scale), np.nan))
        return pd.DataFrame(rows, columns=["level", "term", "term2", "variance", "std", "corr"])

    def _require_rows(self, what) -> None:
        """Raise for methods that need the data's rows when a fit does not hold them
        (models built from Dask data frames); every row-holding fit passes."""

    def _covariance_blocks(self) -> list[VarianceBlock]:
        """One :class:`VarianceBlock` per random-effect term, outermost level first."""
        model = self.model
        out = []
        for t, cov in zip(model.random_terms, self._term_covariances()):
            if t.cov == "scalar":
                out.append(VarianceBlock(t.level, [t.component or t.level], cov[:1, :1], t))
            else:
                out.append(VarianceBlock(t.level, list(t.names), cov, t))
        depth = [b.level.count("/") for b in out]
        return [out[i] for i in sorted(range(len(out)), key=lambda i: (depth[i], i))]

    def _term_covariances(self) -> list[np.ndarray]:
        """``sigma^2 Lambda_k Lambda_k'`` per term, in the model's term order."""
        theta, sigma2 = self._variance_parameters()
        return [sigma2 * lam @ lam.T for lam in lambda_blocks(theta, self.model.random_terms)]

    # -- reporting (mixedext.results.diagnostics) ------------------------------------------
    def icc(self, ci: bool = False, alpha: float = 0.05, method: str = "profile", *,
            n_boot: int = 1000, seed: Seed = None,
            progress: bool | None = None) -> pd.DataFrame:
        """Compute the intraclass correlation of each level, outermost first.

        Parameters
        ----------
        ci : bool, default False
            Add the columns ``lower`` and ``upper``, an interval of coverage
            ``1 - alpha``.
        alpha : float, default 0.05
            One minus the coverage of the intervals (``ci=True``).
        method : {"profile", "bootstrap"}, default "profile"
            The interval: profile likelihood with the ICC held fixed (linear models) or
            percentiles of ``n_boot`` parametric-bootstrap refits.
        n_boot : int, default 1000
            Bootstrap refits (``method="bootstrap"``).
        seed : int or numpy.random.Generator, optional
            Seed of the bootstrap simulations.
        progress : bool, optional
            Show a progress bar of the refits; by default only on a terminal.

        Returns
        -------
        pandas.DataFrame
            Indexed by level: ``icc`` (cumulative: the correlation of two observations
            that share the unit of that level, so ancestors' variances count), ``share``
            (the level's own fraction of the total variance, as
            ``performance::icc(by_group = TRUE)``), and with ``ci=True`` ``lower`` and
            ``upper``.

        Raises
        ------
        ValueError
            For an unknown ``method``, ``alpha`` outside (0, 1) or ``n_boot`` not a
            positive integer.
        NotImplementedError
            For ``method="profile"`` on a fit by statsmodels' optimiser.

        Notes
        -----
        With nested levels ``1..L`` (outermost first), variances ``sigma_j^2`` and the
        total ``T = sum_j sigma_j^2 + sigma^2`` (``sigma^2`` the residual variance; for
        GLMMs the latent-scale residual variance of the family), the ICC of level ``l``
        is ``sum_{j <= l} sigma_j^2 / T`` and its share ``sigma_l^2 / T`` (Snijders and
        Bosker 2012, section 4.2). With random slopes, the variance of the random
        effects is averaged over the rows (performance's adjusted ICC; a warning says
        so). See :mod:`mixedext.results.diagnostics`.

        References
        ----------
        .. [1] Snijders, T. A. B. and Bosker, R. J. (2012). Multilevel Analysis, 2nd ed.
           Sage.

        Examples
        --------
        >>> import mixedext as mx
        >>> res = mx.mixedlm("Yield ~ 1 + (1 | Batch)", mx.datasets.load("dyestuff")).fit()
        >>> res.icc(ci=True).round(3)
                 icc  share  lower  upper
        level
        Batch  0.418  0.418  0.069  0.819
        """
        table = icc_table(self)
        if not ci:
            return table
        alpha = check_alpha(alpha)
        if method == "bootstrap":
            n_boot = check_count("n_boot", n_boot)
        if method == "profile":
            self._require_engine("icc(ci=True)")
            bounds = [self._profile.icc_interval(lev, alpha)[1:] for lev in table.index]
        elif method == "bootstrap":
            bounds = self._icc_bootstrap(table, alpha, n_boot, seed, progress)
        else:
            raise ValueError(f"method must be 'profile' or 'bootstrap', not {method!r}")
        table["lower"] = [b[0] for b in bounds]
        table["upper"] = [b[1] for b in bounds]
        return table

    def _icc_bootstrap(self, table, alpha, n_boot, seed, progress):
        self._require_engine("icc(ci=True)")
        terms = self.model.random_terms
        draws = []
        for theta, _, _ in bootstrap_refits(self, n_boot, seed=seed, progress=progress):
            rel = [float(np.sum(lam ** 2)) for lam in lambda_blocks(theta, terms)]
            total = sum(rel) + 1.0
            draws.append([sum(r for t, r in zip(terms, rel) if _is_ancestor(t.level, lev))
                          / total for lev in table.index])
        draws = np.array(draws)
        return list(zip(np.quantile(draws, alpha / 2, axis=0),
                        np.quantile(draws, 1 - alpha / 2, axis=0)))

    def r2(self) -> pd.Series:
        """Compute Nakagawa's marginal and conditional R² (``performance::r2_nakagawa``).

        Returns
        -------
        pandas.Series
            ``marginal`` and ``conditional``, named ``"R2"``.

        Raises
        ------
        NotImplementedError
            For a model that does not hold its rows (built from Dask data frames).

        Notes
        -----
        With ``var_f = var(X beta)`` (``n - 1`` denominator, as performance), ``var_r`` the
        random-effect variance of one observation (the sum over levels; with random slopes
        ``mean_i z_i' Sigma z_i``) and ``var_e`` the residual variance (for a GLMM the
        family's latent-scale variance), the marginal R² is
        ``var_f / (var_f + var_r + var_e)`` and the conditional
        ``(var_f + var_r) / (var_f + var_r + var_e)``.

        References
        ----------
        .. [1] Nakagawa, S., Johnson, P. C. D. and Schielzeth, H. (2017). The coefficient of
           determination R² and intra-class correlation coefficient from generalized
           linear mixed-effects models revisited and expanded. Journal of the Royal
           Society Interface 14, 20170213.
        """
        self._require_rows("r2 (the variance of the fixed-effect predictions)")
        return r2_table(self)

    def lrt(self, other: RandomEffectsReport) -> pd.Series:
        """Test this fit against another fit of a nested model (a likelihood-ratio test).

        Parameters
        ----------
        other : MixedLMResults or MixedGLMResults
            A fit of a model nested in this one, or of one this model nests in (either
            order), to the same data and by the same criterion.

        Returns
        -------
        pandas.Series
            ``llf_restricted``, ``llf_full``, ``df_diff``, ``statistic``, ``pvalue`` and
            ``distribution``; see :func:`mixedext.lrt` for the boundary (mixture
            chi-square) rules.

        Raises
        ------
        ValueError
            For fits that cannot be compared (see :func:`mixedext.lrt`).
        """
        return lrt(self, other)

    def design_effect(self, cluster: str | None = None, method: str = "mean") -> pd.DataFrame:
        """Compute the design effect of randomising (or sampling) whole units of a level.

        Parameters
        ----------
        cluster : str, optional
            The level whose units are randomised; by default the outermost.
        method : {"mean", "unequal"}, default "mean"
            ``"unequal"`` inflates each level's mean unit size ``m_j`` by ``1 + CV_j^2``
            (the coefficient of variation of the unit sizes).

        Returns
        -------
        pandas.DataFrame
            One row, indexed by the level: ``mean_cluster_size``, ``cv_cluster_size``,
            ``icc``, ``design_effect``, ``effective_n`` (``n / DE``) and ``se_inflation``
            (``sqrt(DE)``).

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
        ``DE = 1 + sum_j (m_j - 1) sigma_j^2 / T`` over the levels ``j`` at or inside
        ``cluster`` (inner levels count too), with ``T`` the total variance (random-effect
        variances plus the residual variance); for one level ``1 + (m - 1) ICC``.

        References
        ----------
        .. [1] Eldridge, S. M., Ashby, D. and Kerry, S. (2006). Sample size for cluster
           randomized trials: effect of coefficient of variation of cluster size and
           analysis method. International Journal of Epidemiology 35, 1292-1300.
        """
        return design_effect_table(self, cluster=cluster, method=method)

    def shrinkage(self, level: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
        """Compare the raw (unpooled) and shrunk (BLUP) estimate of every unit of a level.

        For a nested level the reliability also carries the uncertainty of the parent's
        effect, so it is smaller than the fraction ``blup / raw`` by which the unit is
        actually pulled in.

        Parameters
        ----------
        level : str, optional
            The level; by default the outermost.
        alpha : float, default 0.05
            The conditional intervals have coverage ``1 - alpha``.

        Returns
        -------
        pandas.DataFrame
            One row per unit (per unit and ``term`` with random slopes), indexed by unit:
            ``n``, ``raw`` (the unit's mean partial residual ``y - X beta - (ancestors'
            random effects)``; least squares per unit for slopes, NaN where a unit cannot
            identify them), ``blup`` (conditional mode), ``factor`` (the reliability),
            ``cond_se`` (lme4's ``ranef(condVar = TRUE)``), ``lower``/``upper``
            (``blup -/+ z cond_se``) and ``flag`` (the interval excludes 0).

        Raises
        ------
        KeyError
            For a ``level`` that is not a level of the model.
        NotImplementedError
            For a fit by statsmodels' optimiser or a model without its rows.

        Notes
        -----
        The reliability is ``factor = 1 - Var(b_i | y) / tau^2`` (``tau^2`` the level's
        variance); ``tau^2 / (tau^2 + sigma^2 / n_i)`` for a single-level random
        intercept.
        """
        return shrinkage_table(self, level=level, alpha=alpha)

    def plot_caterpillar(self, level: str | None = None, ax: Axes | None = None,
                         alpha: float = 0.05) -> Axes | np.ndarray:
        """Plot a level's conditional modes, sorted, with their intervals (matplotlib).

        Units whose interval excludes 0 are drawn in a second colour.

        Parameters
        ----------
        level : str, optional
            The level; by default the outermost.
        ax : matplotlib.axes.Axes, optional
            The axes to draw on; by default a new figure (one panel per random-effect
            term of the level).
        alpha : float, default 0.05
            The intervals have coverage ``1 - alpha``.

        Returns
        -------
        matplotlib.axes.Axes or numpy.ndarray
            The axes drawn on (an array of Axes for several terms drawn without ``ax``).
        """
        return plot_caterpillar(self, level=level, ax=ax, alpha=alpha)

    def plot_shrinkage(self, level: str | None = None, ax: Axes | None = None) -> Axes:
        """Plot the raw against the shrunk estimate per unit, point size by unit size.

        Arrows run from the raw estimate on the identity line to the shrunk estimate.

        Parameters
        ----------
        level : str, optional
            The level; by default the outermost.
        ax : matplotlib.axes.Axes, optional
            The axes to draw on; by default a new figure.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.
        """
        return plot_shrinkage(self, level=level, ax=ax)

    def plot_funnel(self, level: str | None = None, ax: Axes | None = None) -> Axes:
        """Plot the unit estimates against unit size with control limits (benchmarking).

        Parameters
        ----------
        level : str, optional
            The level; by default the outermost.
        ax : matplotlib.axes.Axes, optional
            The axes to draw on; by default a new figure.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.

        Notes
        -----
        The funnel lines at ``+/- z s / sqrt(n)`` show the range of a unit's raw estimate
        expected from chance alone, for coverages 95% and 99.8%; ``s`` is the residual SD
        of a linear model and, for a binomial model on the log-odds scale,
        ``1 / sqrt(p (1 - p))`` at the average fixed-effect probability ``p``.

        References
        ----------
        .. [1] Spiegelhalter, D. J. (2005). Funnel plots for comparing institutional
           performance. Statistics in Medicine 24, 1185-1202.
        """
        return plot_funnel(self, level=level, ax=ax)

    def compare_gee(self, cov_struct: str = "exchangeable", *,
                    exp: bool = False) -> GEEComparison:
        """Compare the conditional (this model) and marginal (GEE) fixed effects.

        A GEE with the same mean model (statsmodels' ``GEE``, clustered by the outermost
        level) is fitted and set beside the mixed model's effects and the marginal effects
        the mixed model implies.

        Parameters
        ----------
        cov_struct : {"exchangeable", "independence", "ar1"}, default "exchangeable"
            The GEE's working correlation within the clusters.
        exp : bool, default False
            Report odds ratios (``exp`` of the estimates; SE columns stay on the log
            scale).

        Returns
        -------
        GEEComparison
            With ``.table``, ``.gee_results`` and ``.plot()``.

        Raises
        ------
        ValueError
            For an unknown ``cov_struct``.
        NotImplementedError
            For a model that does not hold its rows.

        Notes
        -----
        For a logit model with a random intercept of variance ``sigma^2`` the marginal
        effects are attenuated, ``beta_marginal ~ beta / sqrt(1 + c^2 sigma^2)`` with
        ``c = 16 sqrt(3) / (15 pi)``; see :mod:`mixedext.results.gee`.

        References
        ----------
        .. [1] Zeger, S. L., Liang, K.-Y. and Albert, P. S. (1988). Models for longitudinal
           data: a generalized estimating equation approach. Biometrics 44, 1049-1060.
        """
        self._require_rows("compare_gee (a GEE fit on the rows)")
        return compare_gee(self, cov_struct=cov_struct, exp=exp)

    # -- marginal means and contrasts (mixedext.inference.marginal / .contrasts) ----------
    def marginal_means(self, specs: str | Sequence[str], by: str | Sequence[str] | None = None,
                       at: dict[str, Any] | None = None, ddf: str | None = None,
                       type: str = "link", weights: str = "equal",
                       alpha: float = 0.05) -> pd.DataFrame:
        """Compute estimated marginal means of ``specs`` (within ``by``), as R's emmeans.

        Parameters
        ----------
        specs : str or list of str
            Factors (or covariates with ``at`` values) whose levels index the means.
        by : str or list of str, optional
            Factors the means are grouped by.
        at : dict, optional
            ``{covariate: value(s)}`` or ``{factor: level(s)}`` for the reference grid.
        ddf : {"satterthwaite", "kenward-roger", "residual", "asymptotic"}, optional
            Degrees of freedom; by default Satterthwaite for a linear model, asymptotic
            (the only choice) for a GLMM.
        type : {"link", "response"}, default "link"
            The scale of the means; ``"response"`` back-transforms a GLMM's means (the same
            for a linear model).
        weights : {"equal", "proportional"}, default "equal"
            Weights of the averaged-over grid rows.
        alpha : float, default 0.05
            The intervals have coverage ``1 - alpha``.

        Returns
        -------
        pandas.DataFrame
            Indexed by the levels of ``specs`` then ``by``; columns ``mean``, ``se``,
            ``df``, ``lower``, ``upper``; ``attrs`` holds ``ddf``, ``type``, ``weights``,
            ``covariates`` and emmeans' ``notes``.

        Raises
        ------
        ValueError
            For an unknown ``type``, ``ddf`` or ``weights``, ``alpha`` outside (0, 1), or
            variables that are not in the fixed-effect formula.
        NotImplementedError
            For a model not built from a formula.

        Notes
        -----
        The mean of a combination ``c`` is ``m_c = l_c' beta``, ``l_c`` the weighted
        average of the design rows of the reference grid that carry ``c``, with
        ``SE = sqrt(l_c' V l_c)``; see :func:`mixedext.inference.marginal.marginal_means`.

        References
        ----------
        .. [1] Searle, S. R., Speed, F. M. and Milliken, G. A. (1980). Population marginal
           means in the linear model: an alternative to least squares means. The American
           Statistician 34, 216-221.
        """
        return marginal_means(self, specs, by=by, at=at, ddf=ddf, type=type,
                              weights=weights, alpha=alpha)

    def contrasts(self, specs: str | Sequence[str],
                  method: str | Mapping[str, Sequence[float]] | ArrayLike = "pairwise",
                  adjust: str | None = None, by: str | Sequence[str] | None = None,
                  at: dict[str, Any] | None = None, ddf: str | None = None,
                  type: str = "link", ref: int | str = 0,
                  weights: str = "equal") -> pd.DataFrame:
        """Compute contrasts of marginal means (emmeans' ``contrast`` and ``pairs``).

        Adjusted within each ``by`` group: Tukey for pairwise comparisons, dunnettx for
        ``"trt.vs.ctrl"`` by default; odds ratios for a logit GLMM with
        ``type="response"``.

        Parameters
        ----------
        specs : str or list of str
            Factors whose levels index the means (as :meth:`marginal_means`).
        method : {"pairwise", "revpairwise", "trt.vs.ctrl", "poly"}, dict or array_like
            The contrasts, or their coefficients (a dict ``{label: coefficients}``, or a
            matrix with one row per contrast).
        adjust : {"tukey", "dunnettx", "sidak", "holm", "bonferroni", "none"}, optional
            Multiplicity adjustment within each ``by`` group; by default as emmeans.
        by : str or list of str, optional
            Factors the contrasts are grouped by.
        at : dict, optional
            Values of the reference grid (as :meth:`marginal_means`).
        ddf : {"satterthwaite", "kenward-roger", "residual", "asymptotic"}, optional
            Degrees of freedom (as :meth:`marginal_means`).
        type : {"link", "response"}, default "link"
            ``"response"``: ratios (odds ratios) for a logit or log GLMM.
        ref : int or str, default 0
            The control of ``"trt.vs.ctrl"``: an index from 0 or a level label.
        weights : {"equal", "proportional"}, default "equal"
            Weights of the averaged-over grid rows.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``contrast`` (then the ``by`` levels); columns ``estimate``, ``se``,
            ``df``, ``t`` (``z`` for asymptotic df) and ``pvalue`` (adjusted); ``attrs``
            holds ``adjust`` (the one applied), ``ddf``, ``type`` and ``notes``.

        Raises
        ------
        ValueError
            For an unknown ``method``, ``adjust``, ``type`` or ``ddf``, a ``ref`` that is
            not a mean of the group, or coefficients of the wrong length.
        NotImplementedError
            For a model not built from a formula.

        Notes
        -----
        With ``C`` a group's coefficients and ``L`` its means' rows, the estimates are
        ``C L beta`` with SE ``sqrt(diag(C L V L' C'))``; see
        :mod:`mixedext.inference.contrasts` for the adjustments.

        References
        ----------
        .. [1] Lenth, R. V. (2016). Least-squares means: the R package lsmeans. Journal of
           Statistical Software 69(1).
        """
        return contrasts(self, specs, method=method, adjust=adjust, by=by, at=at, ddf=ddf,
                         type=type, ref=ref, weights=weights)

    def plot_marginal_means(self, specs: str | Sequence[str],
                            by: str | Sequence[str] | None = None,
                            ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Plot marginal means with their intervals (matplotlib).

        One series per ``by`` group, dodged sideways.

        Parameters
        ----------
        specs : str or list of str
            Factors whose levels index the means.
        by : str or list of str, optional
            Factors the means are grouped by.
        ax : matplotlib.axes.Axes, optional
            The axes to draw on; by default a new figure.
        **kwargs
            Passed to :meth:`marginal_means` (``at``, ``ddf``, ``type``, ``weights``,
            ``alpha``).

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.
        """
        return plot_marginal_means(self, specs, by=by, ax=ax, **kwargs)
