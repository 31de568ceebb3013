"""Plots of unit estimates (caterpillar, shrinkage and funnel plots) and of marginal means.

matplotlib is imported only when a plot is drawn. Every function takes an optional
``ax`` and returns the matplotlib Axes it drew on (an array of Axes for a caterpillar plot
of several random-effect terms drawn without ``ax``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from scipy.stats import norm

__all__ = ["plot_caterpillar", "plot_shrinkage", "plot_funnel", "plot_marginal_means"]


def _axes(ax, ncols=1, **kw):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax
    _, axes = plt.subplots(1, ncols, **kw)
    return axes


def _by_term(table):
    if "term" not in table:
        return [(None, table)]
    return [(term, table[table["term"] == term]) for term in dict.fromkeys(table["term"])]


def plot_caterpillar(res, level=None, ax=None, alpha=0.05):
    """Units of a level sorted by their conditional mode, with ``1 - alpha`` intervals.

    Units whose interval excludes 0 (``flag``) are drawn in a second colour.
    """
    table = res.shrinkage(level=level, alpha=alpha)
    parts = _by_term(table)
    n_units = len(parts[0][1])
    height = min(12.0, max(3.0, 0.18 * n_units + 1))  # capped: many units, no labels
    axes = _axes(ax, len(parts), figsize=(4 * len(parts) + 1, height), squeeze=False)
    flat = np.ravel(axes) if ax is None else [ax] * len(parts)
    for axis, (term, sub) in zip(flat, parts):
        sub = sub.sort_values("blup")
        y = np.arange(len(sub))
        colour = np.where(sub["flag"], "C3", "C0")
        axis.hlines(y, sub["lower"], sub["upper"], colors=colour, lw=1.2)
        axis.scatter(sub["blup"], y, c=colour, s=14, zorder=3)
        axis.axvline(0, color="grey", lw=0.8, ls="--")
        if len(sub) <= 60:
            axis.set_yticks(y, [str(u) for u in sub.index], fontsize=7)
        else:
            axis.set_yticks([])
        lev = table.index.name
        axis.set_xlabel(f"conditional mode{'' if term is None else f' ({term})'}")
        axis.set_ylabel(f"units of {lev}")
        axis.set_title(f"{lev}: {int((1 - alpha) * 100)}% conditional intervals")
    return axes if ax is None and len(parts) > 1 else flat[0]


def plot_shrinkage(res, level=None, ax=None):
    """Raw (unpooled) against shrunk (BLUP) estimate per unit, point size by unit size.

    Arrows run from the raw estimate on the identity line to the shrunk estimate: small
    units move further towards 0 (the population mean).
    """
    table = res.shrinkage(level=level)
    term, sub = _by_term(table)[0]
    sub = sub.dropna(subset=["raw"])
    axis = _axes(ax, figsize=(5.5, 5))
    size = 15 + 185 * sub["n"] / sub["n"].max()
    axis.scatter(sub["raw"], sub["blup"], s=size, alpha=0.6, c="C0", edgecolors="k",
                 linewidths=0.4, zorder=3, label="unit (size ~ n)")
    for raw, blup in zip(sub["raw"], sub["blup"]):
        axis.annotate("", xy=(raw, blup), xytext=(raw, raw),
                      arrowprops=dict(arrowstyle="->", color="grey", lw=0.7))
    lim = np.nanmax(np.abs(np.r_[sub["raw"], sub["blup"]])) * 1.05
    axis.plot([-lim, lim], [-lim, lim], color="k", lw=0.8, ls=":", label="no shrinkage")
    axis.axhline(0, color="grey", lw=0.8, ls="--")
    axis.set_xlabel("raw (unpooled) estimate")
    axis.set_ylabel("shrunk estimate (conditional mode)")
    axis.set_title(f"Shrinkage: {table.index.name}" + ("" if term is None else f" ({term})"))
    axis.legend(loc="upper left", fontsize=8)
    return axis


def plot_funnel(res, level=None, ax=None, limits=(0.95, 0.998)):
    """Unit estimates against unit size with control limits (benchmarking).

    Raw unit estimates (deviations from the fixed-effect prediction) are plotted against
    the number of observations ``n``; funnel lines at ``+/- z s / sqrt(n)`` show the range
    expected from chance alone for each coverage in ``limits`` (95% and 99.8% by default;
    Spiegelhalter 2005, *Stat Med* 24:1185). ``s`` is the residual SD of a linear model;
    for a binomial model, on the log-odds scale, ``1 / sqrt(p (1 - p))`` at the average
    fixed-effect probability ``p`` (the SD of an empirical logit per trial).
    """
    table = res.shrinkage(level=level)
    term, sub = _by_term(table)[0]
    axis = _axes(ax, figsize=(6, 4.5))
    n = np.linspace(max(1, sub["n"].min() * 0.8), sub["n"].max() * 1.1, 200)
    sd = _per_observation_sd(res)
    for cov, style in zip(limits, ["--", ":"]):
        z = norm.ppf(0.5 + cov / 2)
        axis.plot(n, z * sd / np.sqrt(n), color="C3", ls=style, lw=1,
                  label=f"{cov:.1%} limits")
        axis.plot(n, -z * sd / np.sqrt(n), color="C3", ls=style, lw=1)
    axis.scatter(sub["n"], sub["raw"], s=16, c="C0", label="raw estimate", zorder=3)
    axis.scatter(sub["n"], sub["blup"], s=12, marker="x", c="C2", label="shrunk estimate",
                 zorder=3)
    axis.axhline(0, color="grey", lw=0.8)
    axis.set_xlabel("observations per unit (n)")
    axis.set_ylabel("unit effect" + ("" if term is None else f" ({term})"))
    axis.set_title(f"Funnel plot: {table.index.name}")
    axis.legend(fontsize=8)
    return axis


def _per_observation_sd(res) -> float:
    """SD of one observation's contribution to a unit's raw estimate."""
    model = res.model
    if hasattr(model, "fit_ml"):  # binomial: log-odds scale

        p = float(np.mean(expit(np.asarray(model.exog) @ res.fe_params.to_numpy())))
        return 1.0 / np.sqrt(p * (1.0 - p))
    return float(np.sqrt(res.scale))


def plot_marginal_means(res, specs, by=None, ax=None, **kwargs):
    """Marginal means of ``specs`` with their ``1 - alpha`` intervals, one series per
    ``by`` group (dodged sideways); ``kwargs`` go to ``res.marginal_means`` (``at``,
    ``ddf``, ``type``, ``weights``, ``alpha``)."""
    table = res.marginal_means(specs, by=by, **kwargs)
    names = list(table.index.names)
    n_specs = len(names) - (0 if by is None else len([by] if isinstance(by, str) else by))
    frame = table.reset_index()
    spec_labels = frame[names[:n_specs]].astype(str).agg(" ".join, axis=1)
    groups = (frame[names[n_specs:]].astype(str).agg(" ".join, axis=1) if n_specs < len(names)
              else None)
    positions = {lab: i for i, lab in enumerate(dict.fromkeys(spec_labels))}
    series = [(None, frame.index)] if groups is None else \
        [(g, frame.index[groups == g]) for g in dict.fromkeys(groups)]
    axis = _axes(ax, figsize=(max(4.0, 0.9 * len(positions) + 2), 4))
    width = 0.6 / max(1, len(series))
    for k, (group, rows) in enumerate(series):
        shift = (k - (len(series) - 1) / 2) * width
        x = np.array([positions[spec_labels[i]] for i in rows]) + shift
        sub = frame.loc[rows]
        yerr = [sub["mean"] - sub["lower"], sub["upper"] - sub["mean"]]
        axis.errorbar(x, sub["mean"], yerr=yerr, fmt="o", capsize=3, color=f"C{k % 10}",
                      label=group)
    axis.set_xticks(list(positions.values()), list(positions))
    axis.set_xlabel(" x ".join(names[:n_specs]))
    scale = table.attrs.get("type", "link")
    axis.set_ylabel("marginal mean" + (" (response scale)" if scale == "response" else ""))
    if groups is not None:
        axis.legend(title=" x ".join(names[n_specs:]), fontsize=8)
    axis.set_title(f"Marginal means of {' x '.join(names[:n_specs])}")
    return axis
