"""Contrasts of estimated marginal means (emmeans' ``contrast`` and ``pairs``) with
multiplicity adjustments.

For the ``k`` means ``m = L beta`` of one ``by`` group (rows of
:func:`mixedext.inference.marginal.mean_rows`), a contrast with coefficients ``c``
estimates ``c' m = (c' L) beta``; its SE and df are those of the row ``c' L`` (each
contrast its own df, by the ``ddf`` method), ``t = estimate / SE`` and the unadjusted
``p = 2 P(T_df > |t|)``.

Methods (coefficients over the group's means in emmeans' order, labels as emmeans):

* ``"pairwise"``: ``e_i - e_j`` for ``i < j``, ``"a - b"``; ``"revpairwise"``: ``e_j -
  e_i``, ``"b - a"``;
* ``"trt.vs.ctrl"``: ``e_i - e_ref`` for ``i != ref``, ``"a - ref"`` (``ref`` an index
  from 0 or a level label);
* ``"poly"``: emmeans' integer orthogonal polynomials of degree 1 to ``min(6, k - 1)``,
  ``"linear"``, ``"quadratic"``, ``"cubic"``, ``"quartic"``, ``"degree 5"``, ...;
* a dict ``{label: coefficients}``, or a ``(n, k)`` array or DataFrame (its index the
  labels, else ``"c1"``, ``"c2"``, ...).

A level label joins the levels of the ``specs`` variables with spaces, a number prefixed
by its variable's name (``"visit2"``), in parentheses when it holds ``- + / *``.

Adjustments, within each ``by`` group of ``n`` contrasts among ``k`` means:

* ``"tukey"``: ``p = P(Q_{k, df} > sqrt(2) |t|)``, ``Q`` the studentized range
  (``scipy.stats.studentized_range``) with each contrast's df; for pairwise comparisons
  only (otherwise ``"sidak"``, with a warning, as emmeans);
* ``"dunnettx"``: emmeans' approximation to Dunnett's test, ``p = 1 - [w F_Q(sqrt(2) |t|;
  k', df) + (1 - w) (1 - p_t)^n]`` with ``w = (n - 1) / n``, ``k' = (1 + sqrt(1 + 8 n)) / 2``
  and ``p_t`` the unadjusted p;
* ``"sidak"``, ``"holm"``, ``"bonferroni"``: ``statsmodels.stats.multitest.multipletests``
  of the group's unadjusted p; ``"none"``.

Defaults as emmeans: Tukey for pairwise comparisons, dunnettx for ``trt.vs.ctrl``, none
otherwise; a family of one contrast is not adjusted.

On the response scale (``type="response"``) of a logit (log) model, contrasts whose
coefficients sum to 0 become odds ratios (ratios) ``exp(c' m)``, labelled ``"a / b"``, SE
``exp(c' m) SE`` (delta method); the test stays on the link scale (emmeans). Other
contrasts stay on the link scale, with a warning. A linear model's response scale is its
link scale.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm, studentized_range
from scipy.stats import t as tdist
from statsmodels.stats.multitest import multipletests

from mixedext.inference.marginal import (
    check_choice,
    estimate_rows,
    level_index,
    mean_rows,
    model_link,
    reference_grid,
    resolve_ddf,
)

__all__ = ["ADJUSTMENTS", "METHODS", "contrast_matrix", "adjust_pvalues", "contrasts",
           "level_labels"]

METHODS = ("pairwise", "revpairwise", "trt.vs.ctrl", "poly")
ADJUSTMENTS = ("tukey", "dunnettx", "sidak", "holm", "bonferroni", "none")
_DEFAULT_ADJUST = {"pairwise": "tukey", "revpairwise": "tukey", "trt.vs.ctrl": "dunnettx"}
_POLY_NAMES = ("linear", "quadratic", "cubic", "quartic")


def _label(name: str, value) -> str:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        return str(value)
    value = float(value)
    return f"{name}{int(value) if value.is_integer() else repr(value)}"


def level_labels(names, levels) -> list[str]:
    """emmeans' label of each combination of ``levels`` of the variables ``names``."""
    return [" ".join(_label(n, v) for n, v in zip(names, lev)) for lev in levels]


def _paren(label: str) -> str:
    return f"({label})" if re.search(r"[-+/*]", label) else label


def _poly(k: int) -> tuple[np.ndarray, list[str]]:
    """emmeans' ``poly.emmc``: R's ``poly(1:k)`` columns scaled to small integers."""
    degree = min(6, k - 1)
    x = np.arange(k) - (k - 1) / 2
    q, r = np.linalg.qr(np.vander(x, degree + 1, increasing=True))
    q = q * np.sign(np.diag(r))  # R's poly: a positive leading coefficient
    rows = []
    for j in range(1, degree + 1):
        con = q[:, j] / q[q[:, j] > 0.01, j].min()
        gap = np.max(np.abs(con - np.round(con)))
        while gap > 0.05:
            con = con / gap
            gap = np.max(np.abs(con - np.round(con)))
        rows.append(np.round(con))
    names = [*_POLY_NAMES, *(f"degree {d}" for d in range(5, 21))][:degree]
    return np.array(rows), names


def _reference(ref, labels) -> int:
    if isinstance(ref, (int, np.integer)) and not isinstance(ref, (bool, np.bool_)):
        if not 0 <= ref < len(labels):
            raise ValueError(f"ref={ref} is out of range: give an index from 0 to "
                             f"{len(labels) - 1} or one of {', '.join(labels)}")
        return int(ref)
    if isinstance(ref, str) and ref in labels:
        return labels.index(ref)
    raise ValueError(f"ref must be an index from 0 or a level label "
                     f"({', '.join(labels)}), not {ref!r}")


def contrast_matrix(method, labels, ref=0) -> tuple[np.ndarray, list[str], str | None]:
    """Coefficients ``(n, k)`` over the means labelled ``labels``, the contrasts' labels and
    emmeans' kind (``"pairs"`` for pairwise comparisons, else None)."""
    k = len(labels)
    shown = [_paren(lab) for lab in labels]
    if isinstance(method, str):
        check_choice("method", method, METHODS)
        if k < 2:
            raise ValueError(f"method={method!r} needs at least 2 means per group, got {k}")
        eye = np.eye(k)
        if method == "pairwise":
            pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        elif method == "revpairwise":
            pairs = [(j, i) for j in range(1, k) for i in range(j)]
        elif method == "trt.vs.ctrl":
            r = _reference(ref, labels)
            pairs = [(i, r) for i in range(k) if i != r]
        else:
            coef, names = _poly(k)
            return coef, names, None
        coef = np.array([eye[i] - eye[j] for i, j in pairs])
        names = [f"{shown[i]} - {shown[j]}" for i, j in pairs]
        return coef, names, "pairs" if "pairwise" in method else None
    if isinstance(method, dict):
        names = [str(n) for n in method]
        coef = np.array([np.asarray(v, dtype=float).ravel() for v in method.values()])
    elif isinstance(method, (np.ndarray, pd.DataFrame, list)):
        coef = np.atleast_2d(np.asarray(method, dtype=float))
        names = ([str(i) for i in method.index] if isinstance(method, pd.DataFrame)
                 else [f"c{i + 1}" for i in range(len(coef))])
    else:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, a dict "
                         f"{{label: coefficients}} or a matrix, not {method!r}")
    if coef.ndim != 2 or coef.shape[1] != k or not len(coef):
        raise ValueError(f"method: each contrast needs {k} coefficients (one per mean: "
                         f"{', '.join(labels)}), got shape {coef.shape}")
    return coef, names, None


def adjust_pvalues(t, df, p, adjust: str, n_means: int) -> np.ndarray:
    """Adjusted p-values of one family of contrasts (see the module docstring)."""
    t, df, p = (np.asarray(a, dtype=float) for a in (t, df, p))
    n = len(p)
    if adjust == "none" or n == 1:
        return p
    abst = np.abs(t)
    if adjust == "tukey":
        return studentized_range.sf(np.sqrt(2) * abst, n_means, df)
    if adjust == "dunnettx":
        w = (n - 1) / n
        k = (1 + np.sqrt(1 + 8 * n)) / 2
        tukey = studentized_range.sf(np.sqrt(2) * abst, k, df)
        sidak = 1 - (1 - p) ** n
        return w * tukey + (1 - w) * sidak
    return multipletests(p, method=adjust)[1]


def contrasts(res, specs, method="pairwise", adjust: str | None = None, by=None,
              at: dict | None = None, ddf: str | None = None, type: str = "link", ref=0,
              weights: str = "equal") -> pd.DataFrame:
    """Contrasts of the marginal means of ``specs`` within each ``by`` group, as emmeans.

    Parameters
    ----------
    res : MixedLMResults or BinomialMixedResults
    specs, by, at, ddf, weights
        As :func:`mixedext.inference.marginal.marginal_means`.
    method : {"pairwise", "revpairwise", "trt.vs.ctrl", "poly"}, dict or matrix
        The contrasts (see the module docstring).
    adjust : {"tukey", "dunnettx", "sidak", "holm", "bonferroni", "none"}, optional
        Multiplicity adjustment within each ``by`` group; default as emmeans.
    type : {"link", "response"}
        ``"response"``: ratios (odds ratios) for a logit or log GLMM.
    ref : int or str
        ``trt.vs.ctrl``'s control: an index from 0 or a level label.

    Returns
    -------
    DataFrame
        Indexed by ``contrast`` (then the ``by`` levels); columns ``estimate``, ``se``,
        ``df``, ``t`` (``z`` for asymptotic df) and ``pvalue`` (adjusted). ``attrs``
        holds ``adjust`` (the one applied), ``ddf``, ``type`` and emmeans' ``notes``.

    Notes
    -----
    With ``C`` a group's coefficients and ``L`` its means' rows, the estimates are
    ``C L beta`` with SE ``sqrt(diag(C L V L' C'))``; see the module docstring for the
    adjustments and the response scale.
    """
    check_choice("type", type, ("link", "response"))
    ddf = resolve_ddf(res, ddf)
    grid = reference_grid(res, at)
    rows = mean_rows(grid, specs, by, weights, at)
    labels = level_labels(rows.specs, rows.levels)
    blocks, entries, kind, sums = [], [], None, []
    for group in rows.groups:
        coef, group_names, kind = contrast_matrix(method, [labels[i] for i in group], ref)
        blocks.append(coef @ rows.L[group])
        by_levels = rows.levels[group[0]][len(rows.specs):]
        entries += [(name, by_levels) for name in group_names]
        sums.append(coef.sum(axis=1))
    if adjust is None:
        adjust = _DEFAULT_ADJUST.get(method, "none") if isinstance(method, str) else "none"
    check_choice("adjust", adjust, ADJUSTMENTS)
    if adjust == "tukey" and kind != "pairs":
        warnings.warn("adjust='tukey' is only for one set of pairwise comparisons: "
                      "'sidak' is used (as emmeans)", UserWarning, stacklevel=3)
        adjust = "sidak"
    table = estimate_rows(res, np.vstack(blocks), ddf)
    est, se, df, t = (table[c].to_numpy(dtype=float) for c in ("estimate", "se", "df", "t"))
    p = 2 * (norm.sf(np.abs(t)) if ddf == "asymptotic" else tdist.sf(np.abs(t), df))
    pvalue = np.empty_like(p)
    bounds = np.cumsum([0, *map(len, blocks)])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        pvalue[lo:hi] = adjust_pvalues(t[lo:hi], df[lo:hi], p[lo:hi], adjust,
                                       len(rows.groups[0]))
    notes = list(rows.notes)
    link = model_link(res)
    ratio = type == "response" and link is not None and _link_name(link) in ("logit", "log")
    if ratio and not np.allclose(np.concatenate(sums), 0):
        warnings.warn("contrasts whose coefficients do not sum to 0 stay on the link scale "
                      "(as emmeans)", UserWarning, stacklevel=3)
        ratio = False
    if ratio:
        est = np.exp(est)
        se = est * se
        entries = [(name.replace(" - ", " / "), lev) for name, lev in entries]
        scale = "odds ratio" if _link_name(link) == "logit" else "ratio"
        notes.append(f"Tests are performed on the log {scale} scale")
    stat = "z" if ddf == "asymptotic" else "t"
    out = pd.DataFrame({"estimate": est, "se": se, "df": df, stat: t, "pvalue": pvalue},
                       index=level_index([(name, *lev) for name, lev in entries],
                                         ("contrast", *rows.by)))
    out.attrs.update(adjust=adjust, ddf=ddf, type="ratio" if ratio else type, notes=notes)
    return out


def _link_name(link) -> str:
    return type(link).__name__.lower()
