"""Model-checking plots: residuals against fitted values, normal QQ plots of the
residuals and of the random effects, simulated (DHARMa) residuals, Cook's distances.

matplotlib is imported only when a plot is drawn. Every function takes an optional
``ax`` (or ``axes``) and returns what it drew on.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["plot_residuals", "plot_qq", "plot_simulated_residuals", "plot_influence",
           "binned_quantiles"]


def _subplots(n, width=4.5, height=4.0):
    import matplotlib.pyplot as plt

    _, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return list(axes[0])


def binned_quantiles(x, y, quantiles=(0.25, 0.5, 0.75), bins: int = 10):
    """Quantiles of ``y`` within ``bins`` equal-count bins of ``x``: the bins' mean
    ``x`` (bins,) and the quantiles (len(quantiles), bins)."""
    order = np.argsort(x, kind="stable")
    groups = [g for g in np.array_split(order, max(1, min(bins, len(x)))) if len(g)]
    centres = np.array([np.mean(x[g]) for g in groups])
    values = np.array([[np.quantile(y[g], q) for g in groups] for q in quantiles])
    return centres, values


def plot_residuals(fitted, resid, ax=None, label="residuals"):
    """Residuals against fitted values, with a zero line and binned medians."""
    ax = _subplots(1)[0] if ax is None else ax
    fitted, resid = np.asarray(fitted, dtype=float), np.asarray(resid, dtype=float)
    ax.scatter(fitted, resid, s=10, alpha=0.6, c="C0", edgecolors="none")
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    centres, med = binned_quantiles(fitted, resid, quantiles=(0.5,))
    ax.plot(centres, med[0], color="C3", lw=1.2, label="binned median")
    ax.set_xlabel("fitted values")
    ax.set_ylabel(label)
    ax.set_title(f"{label.capitalize()} vs fitted")
    ax.legend(fontsize=8)
    return ax


def _qq(ax, values, title):
    values = np.sort(np.asarray(values, dtype=float))
    values = values[np.isfinite(values)]
    n = len(values)
    theory = stats.norm.ppf((np.arange(1, n + 1) - 0.5) / n)
    ax.scatter(theory, values, s=10, c="C0", edgecolors="none")
    if n > 1:
        q1, q3 = np.quantile(values, [0.25, 0.75])
        slope = (q3 - q1) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
        ax.plot(theory, np.median(values) + slope * theory, color="C3", lw=1)
    ax.set_xlabel("normal quantiles")
    ax.set_ylabel("sample quantiles")
    ax.set_title(title, fontsize=10)


def plot_qq(resid, random_effects: dict, axes=None, label="residuals"):
    """Normal QQ plots: of ``resid``, then of each random-effect column of each level
    (``random_effects`` ``{level: DataFrame}``). Returns the list of Axes."""
    panels = [(label, resid)]
    for level, frame in random_effects.items():
        for col in frame.columns:
            panels.append((f"{level}: {col}", frame[col].to_numpy()))
    axes = _subplots(len(panels), 3.6, 3.6) if axes is None else list(np.ravel(axes))
    if len(axes) < len(panels):
        raise ValueError(f"plot_qq needs {len(panels)} axes (residuals and each random "
                         f"effect), got {len(axes)}")
    for ax, (title, values) in zip(axes, panels):
        _qq(ax, values, title)
    return axes[:len(panels)]


def plot_simulated_residuals(sim, axes=None, quantiles=(0.25, 0.5, 0.75)):
    """DHARMa's two panels: the residuals' QQ plot against U(0, 1) (with the KS test's
    p-value) and the residuals against the rank-transformed predictions with their
    binned quantiles (dashed: where they should lie)."""
    axes = _subplots(2) if axes is None else list(np.ravel(axes))
    u = np.sort(sim.residuals.to_numpy())
    n = len(u)
    expected = (np.arange(1, n + 1) - 0.5) / n
    ks = sim.test_uniformity()
    axes[0].scatter(expected, u, s=8, c="C0", edgecolors="none")
    axes[0].plot([0, 1], [0, 1], color="C3", lw=1)
    axes[0].set_xlabel("expected (uniform)")
    axes[0].set_ylabel("observed")
    axes[0].set_title(f"QQ plot, KS p = {ks.pvalue:.3g}", fontsize=10)
    pred = sim.predicted
    rank = (stats.rankdata(pred) - 1) / max(n - 1, 1)
    resid = sim.residuals.to_numpy()
    outside = (resid == 0) | (resid == 1)
    axes[1].scatter(rank[~outside], resid[~outside], s=8, c="C0", alpha=0.6,
                    edgecolors="none")
    axes[1].scatter(rank[outside], resid[outside], s=14, c="C3", marker="*",
                    label="outside the simulations")
    centres, values = binned_quantiles(rank, resid, quantiles)
    for q, line in zip(quantiles, values):
        axes[1].axhline(q, color="grey", lw=0.7, ls="--")
        axes[1].plot(centres, line, color="C1", lw=1.2)
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].set_xlabel("model predictions (rank transformed)")
    axes[1].set_ylabel("simulated residual")
    axes[1].set_title("Residuals vs predicted (binned quantiles)", fontsize=10)
    if outside.any():
        axes[1].legend(fontsize=8)
    return axes[:2]


def plot_influence(table, ax=None):
    """Cook's distance per unit (``table`` from ``results.influence()``) with the
    ``4 / K`` reference line (``K`` units); units above it are labelled."""
    ax = _subplots(1, max(4.5, 0.12 * len(table) + 2))[0] if ax is None else ax
    cook = table["cooks_distance"].to_numpy(dtype=float)
    x = np.arange(len(cook))
    cut = 4.0 / len(cook)
    ax.vlines(x, 0, cook, color="C0", lw=1.2)
    ax.scatter(x, cook, s=12, c=np.where(cook > cut, "C3", "C0"), zorder=3)
    ax.axhline(cut, color="C3", lw=0.8, ls="--", label=f"4 / K = {cut:.3g}")
    for i in np.flatnonzero(cook > cut):
        ax.annotate(str(table.index[i]), (x[i], cook[i]), fontsize=7,
                    textcoords="offset points", xytext=(2, 3))
    ax.set_xlabel(f"unit of {table.index.name}")
    ax.set_ylabel("Cook's distance")
    ax.set_title(f"Influence of each unit of {table.index.name}")
    ax.legend(fontsize=8)
    return ax
