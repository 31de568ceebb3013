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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mixedext._checks import check_alpha, check_count
from mixedext._engine.crossprod import RandomTerm
from mixedext._engine.factor import lambda_blocks
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
from mixedext.results.gee import compare_gee
from mixedext.results.plotting import (
    plot_caterpillar,
    plot_funnel,
    plot_marginal_means,
    plot_shrinkage,
)

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
            n_boot: int = 1000, seed=None, progress=None) -> pd.DataFrame:
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
        """Nakagawa's marginal and conditional R² (as ``performance::r2_nakagawa``)."""
        self._require_rows("r2 (the variance of the fixed-effect predictions)")
        return r2_table(self)

    def lrt(self, other) -> pd.Series:
        """Likelihood-ratio test against another fit of nested model (either order).

        See :func:`mixedext.lrt` for the boundary (mixture chi-square) rules.
        """
        return lrt(self, other)

    def design_effect(self, cluster: str | None = None, method: str = "mean") -> pd.DataFrame:
        """Design effect of randomising (or sampling) whole units of level ``cluster``.

        ``DE = 1 + sum_{j at or inside cluster} (m_j - 1) sigma2_j / T`` (inner levels
        count too); ``method="unequal"`` inflates ``m_j`` by ``1 + CV_j^2`` (Eldridge et
        al. 2006). Columns ``mean_cluster_size``, ``cv_cluster_size``, ``icc``,
        ``design_effect``, ``effective_n`` (``n / DE``) and ``se_inflation``
        (``sqrt(DE)``).
        """
        return design_effect_table(self, cluster=cluster, method=method)

    def shrinkage(self, level: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
        """Raw (unpooled) vs shrunk (BLUP) estimate of every unit of a level.

        One row per unit (per unit and term with random slopes), indexed by unit name:
        ``n``, ``raw`` (the unit's mean partial residual ``y - X beta - (other random
        effects)``, for a single level the mean marginal residual; least squares per
        unit for slopes), ``blup`` (conditional mode), ``factor`` (the reliability
        ``1 - cond_var / tau^2``; ``tau^2 / (tau^2 + sigma^2 / n)`` for a single-level
        random intercept), ``cond_se`` (lme4's ``ranef(condVar = TRUE)``),
        ``lower``/``upper`` (``blup -/+ z cond_se``) and ``flag`` (the interval excludes
        0).

        For a nested level the reliability also carries the uncertainty of the parent's
        effect, so it is smaller than the fraction ``blup / raw`` by which the unit is
        actually pulled in.
        """
        return shrinkage_table(self, level=level, alpha=alpha)

    def plot_caterpillar(self, level: str | None = None, ax=None, alpha: float = 0.05):
        """Caterpillar plot of a level's conditional modes with intervals (matplotlib)."""
        return plot_caterpillar(self, level=level, ax=ax, alpha=alpha)

    def plot_shrinkage(self, level: str | None = None, ax=None):
        """Raw vs shrunk estimate per unit, arrows, point size by unit size."""
        return plot_shrinkage(self, level=level, ax=ax)

    def plot_funnel(self, level: str | None = None, ax=None):
        """Unit estimates vs unit size with control limits (benchmarking)."""
        return plot_funnel(self, level=level, ax=ax)

    def compare_gee(self, cov_struct: str = "exchangeable", *, exp: bool = False):
        """Conditional (this model) vs marginal (GEE) effects; see :mod:`mixedext.results.gee`.

        Returns a :class:`~mixedext.results.gee.GEEComparison` with ``.table``, ``.gee_results``
        and ``.plot()``.
        """
        self._require_rows("compare_gee (a GEE fit on the rows)")
        return compare_gee(self, cov_struct=cov_struct, exp=exp)

    # -- marginal means and contrasts (mixedext.inference.marginal / .contrasts) ----------
    def marginal_means(self, specs, by=None, at=None, ddf=None, type="link",
                       weights="equal", alpha=0.05) -> pd.DataFrame:
        """Estimated marginal means of ``specs`` (within ``by``), as R's emmeans.

        Columns ``mean``, ``se``, ``df``, ``lower``, ``upper``; ``ddf`` Satterthwaite by
        default for a linear model (``"kenward-roger"``, ``"residual"``,
        ``"asymptotic"``), asymptotic for a GLMM; ``type="response"`` back-transforms a
        GLMM's means. See :func:`mixedext.inference.marginal.marginal_means`.
        """
        return marginal_means(self, specs, by=by, at=at, ddf=ddf, type=type,
                              weights=weights, alpha=alpha)

    def contrasts(self, specs, method="pairwise", adjust=None, by=None, at=None, ddf=None,
                  type="link", ref=0, weights="equal") -> pd.DataFrame:
        """Contrasts of marginal means (emmeans' ``contrast`` / ``pairs``), adjusted within
        each ``by`` group: Tukey for pairwise, dunnettx for ``"trt.vs.ctrl"`` by default;
        odds ratios for a logit GLMM with ``type="response"``. See
        :func:`mixedext.inference.contrasts.contrasts`.
        """
        return contrasts(self, specs, method=method, adjust=adjust, by=by, at=at, ddf=ddf,
                         type=type, ref=ref, weights=weights)

    def plot_marginal_means(self, specs, by=None, ax=None, **kwargs):
        """Marginal means with intervals (matplotlib); ``kwargs`` as ``marginal_means``."""
        return plot_marginal_means(self, specs, by=by, ax=ax, **kwargs)
