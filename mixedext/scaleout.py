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
random slopes) with independent residuals. What needs the rows (fitted values,
residuals, ``shrinkage`` raw estimates) raises an error that says how to compute it
per partition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy

from ._engine.crossprod import CrossProducts, RandomTerm, cross_products
from .formula.terms import formula_variables, split_formula, unit_codes

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


def _labels(frame: pd.DataFrame, factors) -> np.ndarray:
    out = None
    for col in factors:
        values = np.asarray(pd.Series(frame[col].to_numpy()).astype(str), dtype=object)
        out = values if out is None else np.char.add(np.char.add(
            out.astype(str), "/"), values.astype(str)).astype(object)
    return out


def _partition_cross_products(part, fixed, levels, categories, design, units, z_info):
    """Cross-products of one partition with the global coding."""
    part = part.copy()
    for col, cats in categories.items():
        part[col] = pd.Categorical(part[col], categories=cats)
    y_info, x_info = design
    y, x = patsy.build_design_matrices([y_info, x_info], part, NA_action="raise")
    terms = []
    for lev, labels, info in zip(levels, units, z_info):
        codes = pd.Index(labels).get_indexer(_labels(part, lev.factors))
        if info is None:
            z, names = None, ("Intercept",)
        else:
            z = np.asarray(patsy.build_design_matrices([info], part)[0], dtype=float)
            names = tuple(info.column_names)
        terms.append(RandomTerm(lev.name, codes.astype(np.int64), labels, names=names, z=z))
    return cross_products(np.asarray(x, float), np.asarray(y, float)[:, 0], terms)


def dask_cross_products(ddf, formula: str, *, missing: str = "none"):
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
    used = list(dict.fromkeys(formula_variables([formula], list(ddf.columns)) + factors))
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
    parts = [dask.delayed(_partition_cross_products)(p, fixed, levels, categories, design,
                                                     units, z_info)
             for p in ddf.to_delayed()]
    while len(parts) > 1:  # tree reduction: the driver never holds all partitions
        parts = [dask.delayed(add_cross_products)(parts[i], parts[i + 1])
                 if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    cp = parts[0].compute()
    terms = []
    for lev, labels, info, cnt in zip(levels, units, z_info, cp.counts):
        names = ("Intercept",) if info is None else tuple(info.column_names)
        terms.append(RandomTerm(lev.name, None, labels, names=names, z=None,
                                lhs=lev.lhs, factors=lev.factors, sizes=cnt))
    info = {"exog_names": list(x.columns), "endog_name": y.columns[0],
            "design_info": x.design_info, "formula": formula, "fixed_formula": fixed,
            "frame": sample}
    return cp, terms, info
