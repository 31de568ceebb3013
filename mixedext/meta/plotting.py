"""Forest and funnel plots of a meta-analysis (matplotlib, imported when a plot is drawn).

Both take a :class:`~mixedext.meta.results.MetaAnalysisResults`, an optional ``ax`` and
return the matplotlib Axes they drew on.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from mixedext.results.plotting import _axes

__all__ = ["forest_plot", "funnel_plot"]


def forest_plot(res, ax=None, alpha: float = 0.05):
    """Studies with raw and shrunken estimates and their ``1 - alpha`` intervals.

    Each study has two rows: its own estimate ``y_i +/- z sqrt(v_i)`` (a square sized by
    its random-effects weight ``1 / (v_i + tau^2)``) and, just below, its BLUP with the
    BLUP's interval (:meth:`~mixedext.meta.results.MetaAnalysisResults.blup`). Without
    moderators the pooled effect is the diamond at the bottom (its confidence interval)
    with the prediction interval as a line through it; with moderators each study's
    fitted value ``x_i' beta`` is marked instead.
    """
    blup = res.blup(alpha)
    k = res.k
    y = np.arange(k, 0, -1, dtype=float)
    axis = _axes(ax, figsize=(7, 1.2 + 0.32 * (k + 2)))
    z = norm.isf(alpha / 2)
    half = z * np.sqrt(res.variance.to_numpy())
    w = 1.0 / (res.variance.to_numpy() + res.tau2)
    axis.hlines(y, blup["raw"] - half, blup["raw"] + half, color="k", lw=1)
    axis.scatter(blup["raw"], y, marker="s", s=20 + 80 * w / w.max(), c="k", zorder=3,
                 label="study estimate")
    yb = y - 0.3
    axis.hlines(yb, blup["lower"], blup["upper"], color="C0", lw=1)
    axis.scatter(blup["blup"], yb, marker="o", s=18, c="C0", zorder=3,
                 label="BLUP (shrunken)")
    labels = [str(s) for s in res.study]
    ticks = list(y)
    if res.intercept_only:
        pred = res.prediction_interval(alpha=alpha).iloc[0]
        axis.hlines(-0.5, pred["pi_lower"], pred["pi_upper"], color="C3", lw=1.2, ls="--",
                    label=f"{1 - alpha:.0%} prediction interval")
        axis.fill([pred["ci_lower"], pred["pred"], pred["ci_upper"], pred["pred"]],
                  [-0.5, -0.2, -0.5, -0.8], color="C3", zorder=3,
                  label=f"pooled effect ({res.method})")
        axis.axvline(pred["pred"], color="C3", lw=0.7, ls=":")
        ticks.append(-0.5)
        labels.append("RE model")
    else:
        fitted = res.prediction_interval()["pred"].to_numpy()
        axis.scatter(fitted, y - 0.15, marker="D", s=14, c="grey", zorder=2,
                     label="fitted value")
    axis.axvline(0.0, color="grey", lw=0.8)
    axis.set_yticks(ticks, labels, fontsize=8)
    axis.set_ylim(min(ticks) - 0.8, k + 0.7)
    axis.set_xlabel(f"{res.effect.name} ({1 - alpha:.0%} intervals)")
    axis.set_title(f"Forest plot: {res.k} studies, tau^2 = {res.tau2:.4g}")
    axis.legend(fontsize=7, loc="best")
    return axis


def funnel_plot(res, ax=None, alpha: float = 0.05):
    """Estimates against their standard errors (the SE axis reversed), with the
    pseudo-confidence funnel ``centre +/- z SE``.

    Without moderators the estimates are the studies' ``y_i`` and the centre the pooled
    effect; with moderators they are the residuals ``y_i - x_i' beta`` around 0 (as
    metafor's ``funnel``).
    """
    se = np.sqrt(res.variance.to_numpy())
    if res.intercept_only:
        x, centre, what = res.effect.to_numpy(), res.mu, str(res.effect.name)
    else:
        fitted = res.prediction_interval()["pred"].to_numpy()
        x, centre, what = res.effect.to_numpy() - fitted, 0.0, "residual"
    axis = _axes(ax, figsize=(5.5, 4.5))
    z = norm.isf(alpha / 2)
    s = np.linspace(0.0, se.max() * 1.05, 50)
    axis.plot(centre - z * s, s, color="grey", ls="--", lw=0.9,
              label=f"{1 - alpha:.0%} pseudo-confidence region")
    axis.plot(centre + z * s, s, color="grey", ls="--", lw=0.9)
    axis.axvline(centre, color="grey", lw=0.9)
    axis.scatter(x, se, c="k", s=18, zorder=3, label="study")
    axis.set_ylim(s[-1], 0.0)
    axis.set_xlabel(what)
    axis.set_ylabel("standard error")
    axis.set_title(f"Funnel plot ({res.method})")
    axis.legend(fontsize=7, loc="best")
    return axis
