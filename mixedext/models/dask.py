"""Fits beyond memory: per-unit cross-products reduced over Dask partitions.

Once the cross-products of ``[Z X y]`` per unit are known (:class:`CrossProducts`), the fit
never touches the rows again. For a ``dask.dataframe.DataFrame``:

1. a first pass collects the levels of the string columns and the units of every
   grouping level (so all partitions code levels and units alike);
2. each partition builds its design with patsy's design info from that pass and its
   cross-products with the global unit indexing;
3. the partition results are summed in a tree of ``dask.delayed`` additions (any
   scheduler: threads, processes, a ``distributed`` cluster) and the optimisation runs
   locally on the reduced statistics. The driver holds ``O(units q^2)`` numbers, never
   the rows.

Supported on Dask: lme4-style random-effect terms (random intercepts, nested, crossed,
random slopes) with independent residuals, and nested terms with AR(1) residuals at
integer times (``cov_struct="ar1", time=``): the data are shuffled by the outermost
grouping column so that each partition holds whole units, and the per-gap lag
statistics of :func:`mixedext.structures.ar1.ar1_gap_statistics` are reduced instead;
and nested terms with a residual variance per level of a column (``het_var=``, nlme's
``varIdent``): outer products of ``W`` per (unit, level), summed over any partitions.
What needs the rows (fitted values, residuals, ``shrinkage`` raw estimates) raises an
error that says how to compute it per partition.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import patsy

from mixedext._engine.crossprod import CrossProducts, RandomTerm, cross_products
from mixedext._engine.deviance import CorrelatedDeviance
from mixedext.formula.terms import (
    formula_variables,
    join_labels,
    level_covariates,
    split_formula,
    unit_codes,
)
from mixedext.structures import structure_class
from mixedext.structures.spec import w_columns, z_columns

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


def _partition_cross_products(part, fixed, levels, categories, design, units, z_info):
    """Cross-products of one partition with the global coding."""
    x, y, terms = _partition_design(part, levels, categories, design, units, z_info)
    return cross_products(x, y, terms)


def _partition_design(part, levels, categories, design, units, z_info):
    """``X``, ``y`` and the random-effect terms of one partition, globally coded."""
    part = part.copy()
    for col, cats in categories.items():
        part[col] = pd.Categorical(part[col], categories=cats)
    y_info, x_info = design
    y, x = patsy.build_design_matrices([y_info, x_info], part, NA_action="raise")
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
                        time=None, het_var=None):
    """Cross-products of a model with lme4-style terms over a Dask DataFrame.

    Returns
    -------
    cp : CrossProducts
    terms : list of RandomTerm
        Without row codes (``codes=None``) and with the rows per unit in ``sizes``.
    info : dict
        ``exog_names``, ``endog_name`` and patsy's design info of the fixed effects.
    """
    import dask

    fixed, levels = split_formula(formula)
    if not levels:
        raise ValueError("Dask data frames need the random effects as (1 | g) terms in "
                         "the formula")
    factors = sorted({f for lev in levels for f in lev.factors})
    extra = [c for c in (time, het_var) if c is not None]
    used = list(dict.fromkeys(formula_variables([formula], list(ddf.columns)) + factors
                              + extra))
    if time is not None and time not in ddf.columns:
        raise KeyError(f"time column {time!r} is not in data")
    if het_var is not None and het_var not in ddf.columns:
        raise KeyError(f"het_var column {het_var!r} is not in data")
    for col in factors:
        if col not in ddf.columns:
            raise KeyError(f"grouping column {col!r} is not in data")
    ddf = ddf[used]
    nan = ddf.isna().sum().compute()
    if nan.any():
        if missing != "drop":
            bad = ", ".join(f"{c!r} ({int(k)} rows)" for c, k in nan.items() if k)
            raise ValueError(f"missing values (NaN) in column {bad}; pass missing='drop'")
        ddf = ddf.dropna()
    text = [c for c in used if not pd.api.types.is_numeric_dtype(ddf[c].dtype)]
    uniques = dask.compute(*[ddf[c].drop_duplicates() for c in text],
                           *[ddf[list(lev.factors)].drop_duplicates() for lev in levels])
    categories = {c: sorted(u.tolist()) for c, u in zip(text, uniques[:len(text)])}
    units = []
    for lev, frame in zip(levels, uniques[len(text):]):
        _, labels = unit_codes([frame[f].to_numpy() for f in lev.factors])
        units.append(np.asarray(labels, dtype=object))
    sample = ddf.head(1000, npartitions=-1).copy()
    for col, cats in categories.items():
        sample[col] = pd.Categorical(sample[col], categories=cats)
    y, x = patsy.dmatrices(fixed, sample, return_type="dataframe", NA_action="raise")
    design = (y.design_info, x.design_info)
    z_info = []
    for lev in levels:
        if lev.lhs.strip() == "1":
            z_info.append(None)
        else:
            z_info.append(patsy.dmatrix(lev.lhs, sample).design_info)
    args = (levels, categories, design, units, z_info)
    if cov_struct not in (None, "independence") or het_var is not None:
        return _dask_structure(ddf, args, cov_struct or "independence", time, het_var, x, y,
                               sample, fixed, formula)
    parts = [dask.delayed(_partition_cross_products)(p, fixed, *args) for p in ddf.to_delayed()]
    cp = _tree_sum(parts, add_cross_products)
    terms = _rowless_terms(levels, units, z_info, cp.counts)
    info = {"exog_names": list(x.columns), "endog_name": y.columns[0],
            "design_info": x.design_info, "formula": formula, "fixed_formula": fixed,
            "frame": sample}
    return cp, terms, info


def _rowless_terms(levels, units, z_info, counts):
    terms = []
    for lev, labels, info, cnt in zip(levels, units, z_info, counts):
        names = ("Intercept",) if info is None else tuple(info.column_names)
        terms.append(RandomTerm(lev.name, None, labels, names=names, z=None,
                                lhs=lev.lhs, factors=lev.factors, sizes=cnt))
    return terms


def _nested_inner(levels, units, what: str) -> int:
    """The innermost level (the residual units); every level must contain it."""
    inner = int(np.argmax([len(u) for u in units]))
    if any(lev.factors != levels[inner].factors[:len(lev.factors)] for lev in levels):
        raise NotImplementedError(f"{what} on Dask needs nested levels (the residual units "
                                  "inside every random-effect unit)")
    return inner


def _correlated_info(structure, stats, args, inner, x, y, sample, fixed, formula, slices,
                     **extra):
    """The correlated deviance of reduced structure statistics, and the model's info."""

    levels, _, _, units, z_info = args
    terms = _rowless_terms(levels, units, z_info, stats["counts"])
    # each residual (innermost) unit's unit in every level: its label's prefix
    inner_labels = pd.Series(units[inner])
    parents = []
    for lev, labels in zip(levels, units):
        prefix = inner_labels.str.split("/").str[:len(lev.factors)].str.join("/")
        parents.append(pd.Index(labels).get_indexer(prefix.to_numpy()).astype(np.int64))
    p = x.shape[1]
    dev = CorrelatedDeviance(terms, structure, parents, slices, p, stats["n"],
                             stats["counts"])
    info = {"exog_names": list(x.columns), "endog_name": y.columns[0],
            "design_info": x.design_info, "formula": formula, "fixed_formula": fixed,
            "frame": sample, "correlated": dev, **extra}
    return terms, info


def _partition_structure(part, levels, categories, design, units, z_info, cls, time,
                         het_var, het_levels, inner):
    """A residual structure's statistics of one partition, and its unit counts."""
    x, y, terms = _partition_design(part, levels, categories, design, units, z_info)
    w, positions = w_columns(terms, x, y)
    t = terms[inner]
    het = None
    if het_var is not None:
        lev = pd.Index(het_levels).get_indexer(part[het_var].to_numpy())
        het = (lev.astype(np.int64), [str(v) for v in het_levels])
    times = None if time is None else part[time].to_numpy(dtype=float)
    return {"structure": cls.partition_statistics(t.codes, t.n_units, w, times=times, het=het,
                                                  cols=z_columns(positions)),
            "counts": [np.bincount(term.codes, minlength=term.n_units) for term in terms],
            "n": len(y)}


def _add_structure(cls, a, b):
    return {"structure": cls.add_statistics(a["structure"], b["structure"]),
            "counts": [x + y for x, y in zip(a["counts"], b["counts"])], "n": a["n"] + b["n"]}


def _dask_structure(ddf, args, kind, time, het_var, x, y, sample, fixed, formula):
    """Random effects + a residual structure within the innermost units, from the
    structure's statistics summed over partitions (shuffled by the outermost grouping
    column first when the structure needs whole units in a partition)."""
    import dask

    cls = structure_class(kind)
    cls.check_dask(kind, het_var)
    levels, _, _, units, z_info = args
    inner = _nested_inner(levels, units, f"cov_struct={kind!r}" if het_var is None
                          else "het_var")
    time = time if cls.needs_time else None
    frame = ddf.shuffle(on=levels[inner].factors[0], npartitions=ddf.npartitions) \
        if cls.dask_whole_units else ddf
    het_levels = None if het_var is None else \
        np.sort(ddf[het_var].drop_duplicates().compute().to_numpy())
    parts = [dask.delayed(_partition_structure)(p, *args, cls, time, het_var, het_levels,
                                                inner) for p in frame.to_delayed()]
    stats = _tree_sum(parts, partial(_add_structure, cls))
    positions, c = _w_positions(sample, levels, z_info, x)
    structure = cls.from_statistics(stats["structure"], len(units[inner]),
                                    het_names=None if het_var is None else
                                    [str(v) for v in het_levels], cols=z_columns(positions))
    if structure.c != c:
        raise RuntimeError("inconsistent random-effect columns across partitions")
    extra = {"het_var": het_var}
    if time is not None:
        extra.update(time=time, times=np.sort(ddf[time].drop_duplicates().compute()
                                              .to_numpy(dtype=float)))
    terms, info = _correlated_info(structure, stats, args, inner, x, y, sample, fixed,
                                   formula, positions, **extra)
    return None, terms, info


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
