"""Fits beyond memory: per-unit statistics reduced over Dask partitions.

Once the cross-products of ``[Z X y]`` per unit are known (:class:`CrossProducts`), or a
residual structure's statistics, the fit never touches the rows again. For a
``dask.dataframe.DataFrame``:

1. a first pass collects the levels of the string columns and the units of every
   grouping level (so all partitions code levels and units alike);
2. each partition builds its design with patsy from the formulas and the driver's sample
   rows (:class:`DesignRecipe`: patsy's design infos cannot be pickled, so each task
   rebuilds them, the same as the driver's) and its statistics with the global unit
   indexing;
3. the partition results are summed in a tree of ``dask.delayed`` additions (any
   scheduler: threads, processes, a ``distributed`` cluster, where every task and
   statistic crosses a process boundary) and the optimisation runs locally on the
   reduced statistics. The driver holds ``O(units q^2)`` numbers, never the rows.

The random effects are lme4-style terms in the formula (random intercepts, nested,
crossed, random slopes) or statsmodels' ``groups=`` (a column name) with
``re_formula=`` / ``vc_formula=`` / ``nested=`` (:mod:`mixedext.formula.groups`),
``re_formula="0"`` included: no random effects, only a residual structure within the
groups (nlme's ``gls``).

Residual structures (``cov_struct=``, ``het_var=``, ``variance=``, ``coords=``,
``nugget=``): a registered structure with Dask statistics
(:class:`~mixedext.structures.base.ResidualStructure`'s ``partition_statistics`` /
``add_statistics`` / ``from_statistics``) is reduced to them: ``"ar1"`` (integer times:
per-gap lag statistics; real times or with ``het_var``: per-(unit, gap, level) lag
products), ``"car1"``, ``"exchangeable"`` (per-(unit, level) sums), ``"unstructured"``
(``W`` at each (unit, time)) and ``het_var=`` / ``variance="ident(g)"`` alone (nlme's
``varIdent``). The spatial, ARMA and Toeplitz correlations, and any structure with other
variance functions, have no such statistics: the partitions keep their units' kernels
and are evaluated at every step of the fit (:mod:`mixedext.models.dask_rows`). The
residual units are the innermost level (nested levels only) or, with no random effects,
the groups. When the structure needs whole units in a partition, or ``time=`` or
``coords=`` is given (so repeated times or points within a unit are found), the data are
first shuffled by the outermost grouping column. ``cov_groups=``, ``subset=``,
``weights=`` and ``offset=`` are refused on Dask, naming the argument.

What needs the rows (fitted values, residuals, ``shrinkage`` raw estimates, the
variance of a random slope averaged over the rows) raises an error that says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pandas as pd
import patsy

from mixedext._engine.crossprod import CrossProducts, RandomTerm, cross_products
from mixedext._engine.deviance import CorrelatedDeviance
from mixedext.formula.groups import statsmodels_layout, statsmodels_levels
from mixedext.formula.terms import (
    formula_variables,
    join_labels,
    level_covariates,
    split_formula,
    unit_codes,
)
from mixedext.models.dask_rows import PartitionRows, rows_structure, skip_empty
from mixedext.structures import structure_class
from mixedext.structures.spec import (
    ResidualSpec,
    check_arguments,
    check_distinct_times,
    check_duplicate_points,
    check_nugget,
    check_time_dtype,
    coords_columns,
    coords_points,
    set_variance,
    w_columns,
    z_columns,
)
from mixedext.structures.variance import parse_variance, variance_columns

__all__ = ["is_dask_frame", "dask_cross_products", "add_cross_products"]


def is_dask_frame(data) -> bool:
    return type(data).__module__.startswith("dask") and hasattr(data, "map_partitions")


def add_cross_products(a: CrossProducts, b: CrossProducts) -> CrossProducts:
    """Sum of the cross-products of two disjoint sets of rows (same unit indexing)."""
    return CrossProducts(
        n=a.n + b.n, p=a.p, xyxy=a.xyxy + b.xyxy,
        ztz=[x + y for x, y in zip(a.ztz, b.ztz)],
        ztxy=[x + y for x, y in zip(a.ztxy, b.ztxy)],
        pairs={k: (a.pairs[k] + b.pairs[k]).tocsr() for k in a.pairs},
        counts=[x + y for x, y in zip(a.counts, b.counts)])


@dataclass(frozen=True)
class DesignRecipe:
    """How every partition builds its design as the driver does: patsy's design infos
    cannot be pickled (to the worker processes of a ``distributed`` cluster), so each
    task rebuilds them from the fixed-effect formula, the random-effect ``levels`` and
    the sample rows (string columns as Categoricals of all their values) the driver
    built them from."""

    fixed: str
    levels: tuple
    sample: pd.DataFrame

    def build(self):
        """``(y, x)`` of the sample (patsy DataFrames) and each level's design info of
        its covariates (None for a random intercept)."""
        y, x = patsy.dmatrices(self.fixed, self.sample, return_type="dataframe",
                               NA_action="raise")
        z_info = [None if lev.lhs.strip() == "1" else
                  patsy.dmatrix(lev.lhs, self.sample).design_info for lev in self.levels]
        return (y, x), z_info


def _partition_cross_products(part, levels, categories, recipe, units):
    """Cross-products of one partition with the global coding."""
    x, y, terms = _partition_design(part, levels, categories, recipe, units)
    return cross_products(x, y, terms)


def _partition_design(part, levels, categories, recipe, units):
    """``X``, ``y`` and the random-effect terms of one partition, globally coded."""
    part = part.copy()
    for col, cats in categories.items():
        part[col] = pd.Categorical(part[col], categories=cats)
    (y_frame, x_frame), z_info = recipe.build()
    y, x = patsy.build_design_matrices([y_frame.design_info, x_frame.design_info], part,
                                       NA_action="raise")
    terms = []
    for lev, labels, info in zip(levels, units, z_info):
        codes = pd.Index(labels).get_indexer(join_labels([part[f] for f in lev.factors]))
        z, names = level_covariates(lev, part, design_info=info)
        terms.append(RandomTerm(lev.name, codes.astype(np.int64), labels, names=names, z=z))
    return np.asarray(x, float), np.asarray(y, float)[:, 0], terms


def _tree_sum(parts, add):
    import dask

    while len(parts) > 1:  # tree reduction: the driver never holds all partitions
        parts = [dask.delayed(add)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0].compute()


def dask_cross_products(ddf, formula: str, *, missing: str = "none", cov_struct=None,
                        time=None, het_var=None, groups=None, re_formula=None,
                        vc_formula=None, nested=None, coords=None, nugget=False,
                        variance=None):
    """Cross-products (or a residual structure's statistics) of a model over a Dask
    DataFrame: lme4-style terms in ``formula``, or statsmodels' ``groups`` (a column
    name) with ``re_formula`` / ``vc_formula`` / ``nested``.

    Returns
    -------
    cp : CrossProducts or None
        None with a residual structure (its deviance is ``info["correlated"]``).
    terms : list of RandomTerm
        Without row codes (``codes=None``) and with the rows per unit in ``sizes``.
    info : dict
        ``exog_names``, ``endog_name``, patsy's design info of the fixed effects; with
        ``groups``: statsmodels' ``layout`` and ``group_labels``; with a residual
        structure: ``correlated`` and the row-less ``residual_spec``.
    """
    import dask

    fixed, levels = split_formula(formula)
    options: list = [{} for _ in levels]
    if groups is not None:
        if not isinstance(groups, str):
            raise TypeError("groups= on a Dask data frame must name one of its columns (an "
                            "array of groups cannot follow the partitions)")
        sm_levels = statsmodels_levels(groups, re_formula, vc_formula, list(nested or []),
                                       ddf.dtypes)
        levels = [lev.spec for lev in sm_levels]
        options = [{"cov": lev.cov, "component": lev.component} for lev in sm_levels]
    if not levels and groups is None:
        raise ValueError("Dask data frames need the random effects as (1 | g) terms in "
                         "the formula, or groups=")
    kind = cov_struct or "independence"
    structured = kind != "independence" or het_var is not None or variance is not None
    cls = structure_class(kind)
    check_nugget(cls, kind, nugget)
    coord_cols = None if coords is None else coords_columns(cls, kind, coords, time)
    if structured or time is not None or coords is not None:
        check_arguments(kind, time, het_var, coords=coords)
    factors = sorted({f for lev in levels for f in lev.factors} | ({groups} - {None}))
    variance_cols = variance_columns(variance)
    extra = [c for c in (time, het_var) if c is not None] + list(coord_cols or []) + \
        variance_cols
    used = list(dict.fromkeys(formula_variables([formula, *[lev.lhs for lev in levels]],
                                                list(ddf.columns)) + factors + extra))
    for arg, col in (("time", time), ("het_var", het_var), ("groups", groups),
                     *[("coords", c) for c in coord_cols or []]):
        if col is not None and col not in ddf.columns:
            raise KeyError(f"{arg} column {col!r} is not in data")
    for col in variance_cols:
        if col not in ddf.columns:
            raise KeyError(f"variance={variance!r}: column {col!r} is not in data")
    for col in factors:
        if col not in ddf.columns:
            raise KeyError(f"grouping column {col!r} is not in data")
    ddf = ddf[used]
    if missing == "drop":
        ddf = ddf.dropna()
    # string columns, and numeric ones in C() (their levels: all values, not the sample's)
    in_c = _c_columns([formula, *[lev.lhs for lev in levels]]) - set(factors)
    text = [c for c in used if not pd.api.types.is_numeric_dtype(ddf[c].dtype) or c in in_c]
    frames = [list(lev.factors) for lev in levels] + ([[groups]] if groups is not None else [])
    # one pass over the rows: missing values, the levels of the string columns, the units
    counted = [] if missing == "drop" else [ddf.isna().sum()]
    computed = dask.compute(*counted, *[ddf[c].drop_duplicates() for c in text],
                            *[ddf[cols].drop_duplicates() for cols in frames])
    nan, uniques = computed[:len(counted)], computed[len(counted):]
    if nan and nan[0].any():
        bad = ", ".join(f"{c!r} ({int(k)} rows)" for c, k in nan[0].items() if k)
        raise ValueError(f"missing values (NaN) in column {bad}; pass missing='drop'")
    sample = _first_rows(ddf, 1000)
    if time is not None:
        check_time_dtype(sample[time], time)
    for col in coord_cols or []:
        check_time_dtype(sample[col], col, "coords")
    categories = {c: sorted(u.tolist()) for c, u in zip(text, uniques[:len(text)])}
    unit_frames = uniques[len(text):]
    for col, cats in categories.items():
        sample[col] = pd.Categorical(sample[col], categories=cats)
    (y, x), z_info = DesignRecipe(fixed, tuple(levels), sample).build()
    units = [_unit_labels(frame, lev.factors) for lev, frame in zip(levels, unit_frames)]
    if groups is not None:  # re_formula="0": no cov_re term
        names = [("Intercept",) if info is None else
                 None if not info.column_names else tuple(info.column_names)
                 for info in z_info]
        layout = statsmodels_layout(groups, sm_levels, names)
        keep = [k for k, nm in enumerate(names) if nm is not None]
        levels = [levels[k] for k in keep]
        options = [options[k] for k in keep]
        z_info = [z_info[k] for k in keep]
        units = [units[k] for k in keep]
    residual, res_labels = None, None
    if structured and levels:
        inner = _nested_inner(levels, f"cov_struct={kind!r}" if het_var is None
                              else "het_var")
        residual, res_labels = levels[inner].factors, units[inner]
    elif structured:  # no random effects (gls): the groups are the residual units
        residual, res_labels = (groups,), _unit_labels(unit_frames[-1], (groups,))
    args = (levels, categories, DesignRecipe(fixed, tuple(levels), sample), units)
    info = {"exog_names": list(x.columns), "endog_name": y.columns[0],
            "design_info": x.design_info, "formula": formula, "fixed_formula": fixed,
            "frame": sample}
    if groups is not None:
        info.update(layout=layout, group_labels=np.unique(unit_frames[-1][groups]).tolist())
    if structured:
        positions = Positions(time, coord_cols, bool(nugget))
        terms = _dask_structure(ddf, args, z_info, kind, residual, res_labels, positions,
                                het_var, variance, x, sample, options, info)
        return None, terms, info
    parts = [dask.delayed(_partition_cross_products)(p, *args) for p in ddf.to_delayed()]
    cp = _tree_sum(parts, add_cross_products)
    terms = _rowless_terms(levels, units, z_info, cp.counts, options)
    return cp, terms, info


def _c_columns(formulas) -> set:
    """The columns named directly in ``C(...)`` in any of ``formulas``."""
    return {m.group(1) for f in formulas for m in _C_COLUMN.finditer(f)}


_C_COLUMN = re.compile(r"\bC\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*[,)]")


def _first_rows(ddf, n: int) -> pd.DataFrame:
    """The first ``n`` rows (fewer if there are fewer), reading only the partitions that
    hold them."""
    parts, total = [], 0
    for i in range(ddf.npartitions):
        part = ddf.get_partition(i).compute()
        parts.append(part.head(n - total))
        total += len(parts[-1])
        if total >= n:
            break
    return pd.concat(parts).copy()


def _unit_labels(frame, factors) -> np.ndarray:
    """The labels of the units of ``factors`` (a frame of their distinct rows), sorted as
    :func:`~mixedext.formula.terms.unit_codes` sorts them."""
    _, labels = unit_codes([frame[f].to_numpy() for f in factors])
    return np.asarray(labels, dtype=object)


def _rowless_terms(levels, units, z_info, counts, options):
    terms = []
    for lev, labels, info, cnt, opt in zip(levels, units, z_info, counts, options):
        names = ("Intercept",) if info is None else tuple(info.column_names)
        terms.append(RandomTerm(lev.name, None, labels, names=names, z=None,
                                lhs=lev.lhs, factors=lev.factors, sizes=cnt, **opt))
    return terms


def _nested_inner(levels, what: str) -> int:
    """The innermost level (the residual units); every level must contain it."""
    inner = int(np.argmax([len(lev.factors) for lev in levels]))
    if any(lev.factors != levels[inner].factors[:len(lev.factors)] for lev in levels):
        raise NotImplementedError(f"{what} on Dask needs nested levels (the residual units "
                                  "inside every random-effect unit)")
    return inner


def _partition_structure(part, levels, categories, recipe, units, cls, kind, residual,
                         res_labels, time, het, continuous):
    """A residual structure's statistics of one partition, and its unit counts (None for
    a partition without rows)."""
    if len(part) == 0:
        return None
    x, y, terms = _partition_design(part, levels, categories, recipe, units)
    w, positions = w_columns(terms, x, y)
    codes = pd.Index(res_labels).get_indexer(join_labels([part[f] for f in residual]))
    spec = _partition_spec(part, kind, codes.astype(np.int64), len(res_labels),
                           Positions(time), het)
    spec.continuous = continuous  # the whole data's, not this partition's
    return {"structure": cls.partition_statistics(spec, w, z_columns(positions)),
            "counts": [np.bincount(term.codes, minlength=term.n_units) for term in terms],
            "n": len(y)}


@skip_empty
def _add_structure(cls, a, b):
    return {"structure": cls.add_statistics(a["structure"], b["structure"]),
            "counts": [x + y for x, y in zip(a["counts"], b["counts"])], "n": a["n"] + b["n"]}


_MAX_LISTED_TIMES = 10_000  # distinct times kept for reporting (residual_cov)


def _partition_times(part, time):
    """The distinct times of a partition (None beyond ``_MAX_LISTED_TIMES``) and whether
    all are integers."""
    t = np.unique(part[time].to_numpy(dtype=float))
    return (t if len(t) <= _MAX_LISTED_TIMES else None), bool(np.all(t == np.round(t)))


def _add_times(a, b):
    times = None if a[0] is None or b[0] is None else np.union1d(a[0], b[0])
    if times is not None and len(times) > _MAX_LISTED_TIMES:
        times = None
    return times, a[1] and b[1]


@dataclass(frozen=True)
class Positions:
    """Where the rows of a residual unit are: ``time=`` (a column) or ``coords=`` (the
    columns of points), and whether a spatial correlation has a nugget."""

    time: str | None = None
    coords: list | None = None
    nugget: bool = False


def _split_variance(cls, het_var, variance):
    """``(het_var, whether other variance functions remain)``: a first ``ident(g)`` is the
    structure's ``het`` where it takes one, as in memory (``structures.spec.set_variance``)."""
    if variance is None:
        return het_var, False
    parsed = parse_variance(variance)
    if het_var is None and cls.takes_het and any(p[0] == "ident" for p in parsed):
        return next(p[2] for p in parsed if p[0] == "ident"), len(parsed) > 1
    return het_var, True


def _sorted_levels(ddf, col) -> np.ndarray:
    return np.sort(ddf[col].drop_duplicates().compute().to_numpy())


def _dask_structure(ddf, args, z_info, kind, residual, res_labels, positions, het_var,
                    variance, x, sample, options, info):
    """Random effects + a residual structure within the residual units (``residual``:
    their grouping columns): from the structure's statistics summed over partitions, or,
    for a structure without them and for variance functions, from kernels kept by the
    partitions (:mod:`mixedext.models.dask_rows`). The data are first shuffled by the
    outermost grouping column when the structure needs whole units in a partition, or
    positions are given (so that repeated times are found)."""
    import dask

    cls = structure_class(kind)
    stat_het, by_rows = _split_variance(cls, het_var, variance)
    by_rows = by_rows or not cls.has_partition_statistics()
    levels, _, _, units = args
    time = positions.time
    times, integer = None, True
    if time is not None:
        times, integer = _tree_sum([dask.delayed(_partition_times)(p, time)
                                    for p in ddf.to_delayed()], _add_times)
    continuous = kind == "car1" or (kind == "ar1" and not integer) or \
        getattr(cls, "continuous", False) is True
    # kernels of a partition's rows need whole units unless R is diagonal
    whole = cls.dask_whole_units or (by_rows and not cls.diagonal) or time is not None \
        or positions.coords is not None
    frame = ddf.shuffle(on=residual[0], npartitions=ddf.npartitions) if whole else ddf
    het_col = het_var if by_rows else stat_het
    het = None if het_col is None else (het_col, _sorted_levels(ddf, het_col))
    spec = ResidualSpec(kind, None, len(res_labels), times=None if continuous else times,
                        time_name=time if positions.coords is None else
                        ", ".join(positions.coords),
                        het=None if het is None else (None, [str(v) for v in het[1]]),
                        het_name=het_col, nugget=positions.nugget)
    spec.continuous = continuous
    pos, c = _w_positions(sample, levels, z_info, x)
    if by_rows:
        factor_levels = {fac: _sorted_levels(ddf, fac)
                         for _, _, fac in parse_variance(variance or []) if fac is not None}
        parts = [dask.delayed(_partition_rows)(p, *args, kind, residual, res_labels,
                                               positions, het, variance, factor_levels)
                 for p in frame.to_delayed()]
        structure, stats, partition_spec = rows_structure(parts, cls, spec, c, _tree_sum)
        spec = replace(partition_spec, n_units=spec.n_units, times=spec.times,
                       constants={"continuous": continuous})
    else:
        parts = [dask.delayed(_partition_structure)(p, *args, cls, kind, residual,
                                                    res_labels, time, het, continuous)
                 for p in frame.to_delayed()]
        stats = _tree_sum(parts, partial(_add_structure, cls))
        structure = cls.from_statistics(stats["structure"], spec, z_columns(pos))
    if structure.c != c:
        raise RuntimeError("inconsistent random-effect columns across partitions")
    terms = _rowless_terms(levels, units, z_info, stats["counts"], options)
    cls.validate_terms(spec, terms)
    # each residual unit's unit in every level: its label's prefix
    res = pd.Series(res_labels)
    parents = [pd.Index(labels).get_indexer(
        res.str.split("/").str[:len(lev.factors)].str.join("/").to_numpy()).astype(np.int64)
        for lev, labels in zip(levels, units)]
    info.update(correlated=CorrelatedDeviance(terms, structure, parents, pos,
                                              x.shape[1], stats["n"], stats["counts"]),
                residual_spec=spec)
    return terms


def _partition_spec(part, kind, codes, n_units, positions, het) -> ResidualSpec:
    """A partition's residual specification: its rows' units ``codes`` (of ``n_units``),
    times or points (checked for repeats within a unit) and ``het`` levels (``(column,
    the whole data's levels)``)."""
    spec = ResidualSpec(kind, codes, n_units, nugget=positions.nugget)
    if positions.coords is not None:
        points = coords_points(part, positions.coords)
        check_duplicate_points(codes, points, positions.coords)
        spec.times, spec.time_name = points, ", ".join(positions.coords)
    if positions.time is not None:
        spec.times, spec.time_name = part[positions.time].to_numpy(dtype=float), positions.time
        check_distinct_times(codes, spec.times, positions.time, name_row=False)
    if het is not None:
        het_var, names = het
        lev = pd.Index(names).get_indexer(part[het_var].to_numpy())
        spec.het, spec.het_name = (lev.astype(np.int64), [str(v) for v in names]), het_var
    return spec


def _partition_rows(part, levels, categories, recipe, units, kind, residual, res_labels,
                    positions, het, variance, factor_levels):
    """One partition's :class:`~mixedext.models.dask_rows.PartitionRows` (None without
    rows): its design, and its residual specification checked as in memory, in its own
    unit indexing."""
    if len(part) == 0:
        return None
    x, y, terms = _partition_design(part, levels, categories, recipe, units)
    w, slices = w_columns(terms, x, y)
    codes = pd.Index(res_labels).get_indexer(join_labels([part[f] for f in residual]))
    present, local = np.unique(codes, return_inverse=True)
    spec = _partition_spec(part, kind, local.reshape(-1).astype(np.int64), len(present),
                           positions, het)
    if variance is not None:
        set_variance(spec, spec.structure, part, variance, levels=factor_levels)
    spec.structure.validate_rows(spec, terms)
    counts = [np.bincount(term.codes, minlength=term.n_units) for term in terms]
    return PartitionRows(spec, w, z_columns(slices), present, counts)


def _w_positions(sample, levels, z_info, x):
    """Each term's column indices in ``W`` (as ``structures.spec.w_columns`` on the
    sample), and the number of columns of ``W``."""
    rows = len(x)
    terms = []
    for lev, info in zip(levels, z_info):
        z, names = level_covariates(lev, sample, design_info=info)
        terms.append(RandomTerm(lev.name, np.zeros(rows, dtype=np.int64),
                                np.array(["0"], dtype=object), names=names, z=z))
    w, positions = w_columns(terms, np.asarray(x, float), np.zeros(rows))
    return positions, w.shape[1]
