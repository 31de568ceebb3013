"""statsmodels' spelling of the random effects as levels: ``groups=``, ``re_formula=``,
``vc_formula=`` and ``nested=``.

statsmodels' ``MixedLM.from_formula(formula, data, groups=g, re_formula=r,
vc_formula={name: f})`` gives

* ``re_formula`` (default ``"1"`` without ``vc_formula``): effects with an unstructured
  covariance (``cov_re``) in every group, the level ``g``; ``"0"``: none (with a residual
  structure, the gls-type model);
* each ``vc_formula`` entry a variance component (``vcomp``) with a variance of its own:
  ``"0 + C(x)"`` (or ``"0 + x"``, ``x`` not numeric) a random intercept per value of ``x``
  within each group, the nested level ``g/x``; any other formula independent effects of
  its columns in every group, with one common variance;
* ``nested=[a, b]`` (mixedext) ``vc_formula`` entries ``"0 + C(a)"``, ``"0 + C(b)"`` at
  the nested levels ``g/a``, ``g/a/b``.

:func:`statsmodels_levels` turns the arguments into these levels (:class:`GroupLevel`,
an lme4-style :class:`~mixedext.formula.terms.LevelSpec` with statsmodels' covariance
and name), for pandas and Dask data alike; :func:`statsmodels_layout` records which
term is ``cov_re`` and which are the ``vcomp`` (:class:`StatsmodelsLayout`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from mixedext.formula.terms import LevelSpec

__all__ = ["GroupLevel", "StatsmodelsLayout", "statsmodels_levels", "statsmodels_layout"]

_INDICATOR_VC = r"^\s*0\s*\+\s*(?:C\(\s*(?P<c>[A-Za-z_.][\w.]*)\s*\)|(?P<n>[A-Za-z_.][\w.]*))\s*$"


@dataclass
class StatsmodelsLayout:
    """How the terms map to statsmodels' parameters (``cov_re`` and ``vcomp``).

    ``re_term`` is the index of the term that is statsmodels' ``cov_re`` (or None);
    ``vc_terms`` the terms of the variance components in statsmodels' (sorted) order;
    ``vc_colnames`` a format for each component's per-group column names (``None``: the
    term's covariate names).
    """

    group_name: str
    re_term: int | None
    re_names: list
    vc_terms: list = field(default_factory=list)
    vc_names: list = field(default_factory=list)
    vc_colnames: list = field(default_factory=list)


@dataclass(frozen=True)
class GroupLevel:
    """One random-effect level of statsmodels' spelling.

    ``spec``: its left-hand side (``"1"``: an intercept), grouping columns (the group
    column first) and name; ``role``: ``"re"`` (``cov_re``) or ``"vc"`` (a variance
    component named ``component``, covariance ``"scalar"``); ``colnames``: the format of
    an indicator component's per-group column names (``"C(x)[{}]"``), else None.
    """

    spec: LevelSpec
    role: str
    cov: str = "full"
    component: str | None = None
    colnames: str | None = None


def statsmodels_levels(group_name: str, re_formula, vc_formula, nested, dtypes) -> list:
    """The levels of ``groups=group_name`` with ``re_formula``, ``vc_formula`` and
    ``nested`` (outermost first); ``dtypes`` (``data.dtypes``) tells factor columns.

    The ``re_formula`` level may have no columns (``"0"``): its term is then dropped.
    """
    out = []
    one_level = (group_name,)
    if re_formula is None and vc_formula is None or (re_formula or "").strip() == "1":
        out.append(GroupLevel(LevelSpec("1", one_level, group_name), "re"))
    elif re_formula is not None:
        out.append(GroupLevel(LevelSpec(re_formula, one_level, group_name), "re"))
    vcs = dict(vc_formula or {})
    for col in nested:
        vcs.setdefault(col, f"0 + C({col})")
    for name in sorted(vcs):
        match = re.match(_INDICATOR_VC, vcs[name])
        col = match and (match["c"] or match["n"])
        if match is not None and col in dtypes.index and (match["c"] is not None or
                                    not pd.api.types.is_numeric_dtype(dtypes[col])):
            path = (group_name, *nested[:nested.index(col) + 1]) if col in nested else \
                (group_name, col)
            fmt = f"C({col})[{{}}]" if match["c"] else f"{col}[{{}}]"
            out.append(GroupLevel(LevelSpec("1", path, "/".join(path)), "vc", "scalar", name,
                                  fmt))
        else:
            out.append(GroupLevel(LevelSpec(vcs[name], one_level, group_name), "vc",
                                  "scalar", name))
    return out


def statsmodels_layout(group_name: str, levels, names) -> StatsmodelsLayout:
    """The layout of the terms built from ``levels``: ``names[i]`` the covariate names of
    level ``i``'s term, None where it has no columns (no term)."""
    layout = StatsmodelsLayout(group_name, None, [])
    k = 0
    for lev, term_names in zip(levels, names):
        if term_names is None:
            continue
        if lev.role == "re":
            layout.re_term = k
            layout.re_names = [n.replace("Intercept", group_name) for n in term_names]
        else:
            layout.vc_terms.append(k)
            layout.vc_names.append(lev.component)
            layout.vc_colnames.append(lev.colnames)
        k += 1
    return layout
