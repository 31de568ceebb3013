"""Conditional (mixed model) versus marginal (GEE) effects, side by side.

Two questions, two answers:

* the **clinician's**: for *this* patient (unit), how do the odds change with the
  treatment? The mixed model's fixed effects are *conditional* (subject-specific):
  they compare outcomes with the random effects held fixed;
* the **policymaker's**: across the population, how do the odds change? A GEE gives
  *marginal* (population-averaged) effects (Liang & Zeger 1986, *Biometrika* 73:13).

For a linear model the two coincide. For a logistic model they do not
(non-collapsibility): averaging ``expit(x beta + b)`` over ``b`` flattens the curve, so
marginal log-odds ratios are closer to 0. For a random intercept with variance
``sigma^2``, ``beta_marginal ~ beta / sqrt(1 + c^2 sigma^2)``, ``c = 16 sqrt(3) / (15 pi)``
(Zeger, Liang & Albert 1988, *Biometrics* 44:1049). ``marginal_implied`` computes the
marginal effect implied by the fitted mixed model exactly: the population-averaged
probability of every row (the random effects integrated out by Gauss-Hermite
quadrature), then the least-squares logit fit of those probabilities on ``X``
(GLMMadaptive's ``marginal_coefs``; Hedeker et al. 2018, *Stat Med* 37:4146).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit
from scipy.stats import norm

from mixedext._checks import check_alpha

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["GEEComparison", "compare_gee", "ATTENUATION_C", "marginal_means",
           "marginal_probabilities"]

ATTENUATION_C = 16 * np.sqrt(3) / (15 * np.pi)
_STRUCTURES = ("independence", "exchangeable", "ar1")


@dataclass
class GEEComparison:
    """Conditional vs marginal fixed effects (made by ``compare_gee()``).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per fixed effect: ``conditional``, ``conditional_se``,
        ``marginal_gee``, ``marginal_gee_se`` (robust), ``marginal_implied``,
        ``attenuation_approx``, ``ratio_gee`` and ``ratio_implied`` (marginal /
        conditional); odds ratios for the estimates when built with ``exp=True``.
    gee_results : statsmodels.genmod.generalized_estimating_equations.GEEResults
        The GEE fit.
    exp : bool, default False
        Whether the estimates in ``table`` are exponentiated (odds ratios).
    """

    table: pd.DataFrame
    gee_results: object
    exp: bool = False

    def plot(self, ax: Axes | None = None, alpha: float = 0.05,
             terms: Sequence[str] | None = None) -> Axes:
        """Plot the conditional and marginal (GEE) effects with their Wald intervals.

        The marginal effects implied by the mixed model are marked with crosses.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            The axes to draw on; by default a new figure.
        alpha : float, default 0.05
            The intervals have coverage ``1 - alpha``.
        terms : sequence of str, optional
            The fixed effects to draw; by default all but the intercept.

        Returns
        -------
        matplotlib.axes.Axes
            The axes drawn on.

        Raises
        ------
        ValueError
            For ``alpha`` outside (0, 1).
        """
        import matplotlib.pyplot as plt

        alpha = check_alpha(alpha)

        tab = self.table
        if terms is None:
            terms = [t for t in tab.index if t != "Intercept"] or list(tab.index)
        tab = tab.loc[list(terms)]
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 0.6 * len(tab) + 1.5))
        z = norm.ppf(1 - alpha / 2)
        y = np.arange(len(tab))
        for off, est, se, label, colour in [
                (-0.12, "conditional", "conditional_se", "mixed model (conditional)", "C0"),
                (0.12, "marginal_gee", "marginal_gee_se", "GEE (marginal)", "C1")]:
            centre = np.log(tab[est]) if self.exp else tab[est]
            lo, hi = centre - z * tab[se], centre + z * tab[se]
            if self.exp:
                centre, lo, hi = np.exp(centre), np.exp(lo), np.exp(hi)
            ax.errorbar(centre, y + off, xerr=[centre - lo, hi - centre], fmt="o",
                        color=colour, label=label, capsize=3)
        ax.scatter(tab["marginal_implied"], y + 0.12, marker="x", color="k", zorder=3,
                   label="implied by the mixed model")
        ax.axvline(1.0 if self.exp else 0.0, color="grey", lw=0.8, ls="--")
        ax.set_yticks(y, tab.index)
        ax.set_xlabel("odds ratio" if self.exp else "coefficient")
        ax.legend(fontsize=8)
        ax.set_title("Conditional vs marginal effects")
        return ax


def marginal_means(inverse_link, eta: np.ndarray, variance: np.ndarray, n_nodes: int = 40):
    """``E[inverse_link(eta + b)]`` for ``b ~ N(0, variance)`` per row (Gauss-Hermite)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    weights = weights / weights.sum()
    sd = np.sqrt(np.maximum(variance, 0.0))
    return inverse_link(eta[:, None] + sd[:, None] * nodes[None, :]) @ weights


def marginal_probabilities(eta: np.ndarray, variance: np.ndarray, n_nodes: int = 40):
    """``E[expit(eta + b)]`` for ``b ~ N(0, variance)`` per row (Gauss-Hermite)."""
    return marginal_means(expit, eta, variance, n_nodes)


def _approximate_marginal(res, cond, exog) -> np.ndarray:
    """The closed-form marginal coefficients of random-intercept models: the logit's
    attenuation ``beta / sqrt(1 + c^2 sigma^2)``; for a log link only the intercept
    moves, by ``sigma^2 / 2``. NaN with random slopes."""
    if any(t.z is not None for t in res.model.random_terms):
        return np.full(len(cond), np.nan)
    total = sum(float(c[0, 0]) for c in res._term_covariances())
    if res.family.name == "binomial":
        return cond / np.sqrt(1 + ATTENUATION_C ** 2 * total)
    out = cond.copy()
    out[np.all(exog == 1.0, axis=0)] += total / 2  # exp(eta + b) averages to exp(eta + s2/2)
    return out


def _row_random_variance(res) -> np.ndarray:
    """Variance of the total random effect ``z_i' Sigma z_i`` of every row."""
    model = res.model
    n = len(model.exog)
    out = np.zeros(n)
    for t, cov in zip(model.random_terms, res._term_covariances()):
        z = np.ones((n, 1)) if t.z is None else t.z
        out += np.einsum("na,ab,nb->n", z, cov, z)
    return out


def _outermost(res):
    blocks = res._covariance_blocks()
    top = [b for b in blocks if "/" not in b.level and b.term is not None]
    return min(top, key=lambda b: b.term.n_units).term


def compare_gee(res, cov_struct: str = "exchangeable", *, exp: bool = False,
                maxiter: int = 200) -> GEEComparison:
    """Fit a GEE with the same mean model and compare it with the mixed model.

    Parameters
    ----------
    res : MixedLMResults or MixedGLMResults
    cov_struct : {"exchangeable", "independence", "ar1"}
        Working correlation within the outermost clusters.

    Notes
    -----
    The GEE is statsmodels' and agrees with geepack's ``geeglm`` (coefficients and
    robust SEs within 1e-3) for 0/1 outcomes and linear models with independence and
    exchangeable working correlations. Two known differences: statsmodels'
    ``Autoregressive`` estimates the AR(1) parameter differently from geepack's
    ``corstr = "ar1"`` (clearance example: alpha 0.23 vs 0.37, coefficients ~3% apart);
    for binomial counts (``trials=``) statsmodels weights the rows by their trials, and
    its exchangeable alpha differs from geepack's ``cbind()`` fit (cbpp: 0.002 vs 0.041).
    exp : bool
        Report odds ratios (``exp`` of the estimates; SE columns stay on the log scale).
    """

    if cov_struct not in _STRUCTURES:
        raise ValueError(f"cov_struct must be one of {', '.join(_STRUCTURES)}, "
                         f"not {cov_struct!r}")
    model = res.model
    glmm = hasattr(model, "fit_ml")
    cluster = _outermost(res)
    exog = np.asarray(model.exog, dtype=float)
    names = list(model.fep_names if glmm else model.exog_names)
    offset = res._offset if glmm else None
    order = np.argsort(cluster.codes, kind="stable")
    working = {"exchangeable": sm.cov_struct.Exchangeable,
               "independence": sm.cov_struct.Independence,
               "ar1": lambda: sm.cov_struct.Autoregressive(grid=True)}[cov_struct]()
    if glmm:
        trials, prior = res.family.trials, res.family.weights
        endog = res.family.y / trials
        family = res.family.glm_family()
        weights = trials * prior if np.any(trials * prior != 1) else None
        cond = res.fe_params.to_numpy()
        cond_se = res.bse.to_numpy()
    else:
        endog = np.asarray(model.endog, dtype=float)
        family = sm.families.Gaussian()
        weights = None
        cond = np.asarray(res.fe_params)
        cond_se = np.asarray(res.bse_fe)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gee = sm.GEE(endog[order], exog[order], groups=cluster.codes[order], family=family,
                     cov_struct=working,
                     weights=None if weights is None else weights[order],
                     offset=None if offset is None else offset[order])
        gres = gee.fit(maxiter=maxiter)
    if glmm:
        link = res.family.link
        fixed = offset + exog @ cond
        mbar = marginal_means(res.family.mean, fixed, _row_random_variance(res))
        if res.family.name == "binomial":
            mbar = np.clip(mbar, 1e-12, 1 - 1e-12)
        implied = np.linalg.lstsq(exog, link(mbar) - offset, rcond=None)[0]
        approx = _approximate_marginal(res, cond, exog)
    else:
        implied = cond.copy()  # linear: integrating the random effects out changes nothing
        approx = cond.copy()
    table = pd.DataFrame({
        "conditional": cond, "conditional_se": cond_se,
        "marginal_gee": np.asarray(gres.params), "marginal_gee_se": np.asarray(gres.bse),
        "marginal_implied": implied, "attenuation_approx": approx}, index=names)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["ratio_gee"] = table["marginal_gee"] / table["conditional"]
        table["ratio_implied"] = table["marginal_implied"] / table["conditional"]
    if exp:
        for col in ("conditional", "marginal_gee", "marginal_implied", "attenuation_approx"):
            table[col] = np.exp(table[col])
    return GEEComparison(table=table, gee_results=gres, exp=exp)
