"""``variance=``: its spelling, checked, and the variance functions of a data frame.

``variance="power(x)"``, ``"exp(x)"``, ``"constpower(x)"``, ``"ident(g)"``; a factor after
``|`` gives a parameter set per level (``"power(x | g)"``, nlme's ``form = ~ x | g``);
several functions multiply the SD (nlme's ``varComb``): ``"ident(g) * power(x)"`` or a
list of spellings. nlme's default covariate, the fitted values (``varPower()``, ``form =
~ fitted(.)``), is refused: nlme updates it between optimisation steps (a fixed point of
the weights, not a maximum of one likelihood), which a fit here does not reproduce.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from mixedext.structures.variance.base import VARIANCE_FUNCTIONS, spelling_of

__all__ = ["parse_variance", "variance_columns", "variance_functions"]

_TERM = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$")
_FITTED = ("", "fitted", "fitted()", "fitted(.)", ".")


def parse_variance(variance) -> list[tuple[str, str | None, str | None]]:
    """``(kind, covariate column or None, factor column or None)`` per function."""
    if isinstance(variance, str):
        parts = variance.split("*")
    elif isinstance(variance, (list, tuple)) and all(isinstance(v, str) for v in variance):
        parts = [p for v in variance for p in v.split("*")]
    else:
        raise TypeError(f"variance must be a string such as 'power(x)' or a list of them, "
                        f"not {type(variance).__name__}")
    out = []
    for part in parts:
        match = _TERM.match(part)
        if not match:
            raise ValueError(f"variance={variance!r}: cannot read {part.strip()!r}; write "
                             "name(column) or name(column | factor), name one of "
                             f"{', '.join(map(repr, VARIANCE_FUNCTIONS))}")
        kind, inside = match.group(1), match.group(2)
        if kind not in VARIANCE_FUNCTIONS:
            raise ValueError(f"variance={variance!r}: unknown variance function {kind!r}; "
                             f"known: {', '.join(map(repr, VARIANCE_FUNCTIONS))}")
        pieces = [p.strip() for p in inside.split("|")]
        if len(pieces) > 2 or any(p == "" for p in pieces[1:]):
            raise ValueError(f"variance={variance!r}: {part.strip()!r} has more than one "
                             "'|' or nothing after it; write name(column | factor)")
        covariate, factor = pieces[0], (pieces[1] if len(pieces) == 2 else None)
        if kind == "ident":
            if factor is None:
                covariate, factor = None, covariate
            elif covariate != "1":
                raise ValueError(f"variance={variance!r}: ident takes a factor, "
                                 "'ident(g)' (or nlme's 'ident(1 | g)')")
            else:
                covariate = None
            if not factor:
                raise ValueError(f"variance={variance!r}: ident needs a factor, e.g. "
                                 "'ident(site)'")
        elif covariate in _FITTED:
            raise NotImplementedError(
                f"variance={variance!r}: a variance depending on the fitted values (nlme's "
                f"default {VARIANCE_FUNCTIONS[kind].nlme}(form = ~ fitted(.))) is not "
                "available: nlme updates that covariate between optimisation steps, a fixed "
                "point of the weights rather than the maximum of one likelihood; give a "
                f"covariate column, e.g. variance='{kind}(x)'")
        out.append((kind, covariate, factor))
    return out


def variance_columns(variance) -> list[str]:
    """The data columns ``variance=`` reads (covariates and factors)."""
    if variance is None:
        return []
    return [c for _, cov, fac in parse_variance(variance) for c in (cov, fac) if c is not None]


def variance_functions(data: pd.DataFrame, variance, parsed=None, levels=None) -> list:
    """The variance functions of ``variance=`` with the rows of ``data`` (errors name the
    column); ``levels``: the sorted levels of each factor column in the whole data, when
    ``data`` is part of it (a Dask partition)."""
    parsed = parse_variance(variance) if parsed is None else parsed
    out = []
    for kind, covariate, factor in parsed:
        cls = VARIANCE_FUNCTIONS[kind]
        spelling = spelling_of(kind, covariate, factor)
        values = None
        if covariate is not None:
            values = _covariate(data, covariate, spelling)
            cls.check_values(values, spelling, covariate)
        strata = None
        if factor is not None:
            if factor not in data.columns:
                raise KeyError(f"variance={spelling!r}: factor column {factor!r} is not in "
                               "data")
            if levels is None:
                codes, names = pd.factorize(data[factor], sort=True)
            else:
                names = levels[factor]
                codes = pd.Index(names).get_indexer(data[factor])
            strata = (codes.astype(np.int64), [str(x) for x in names])
            if kind == "ident" and len(names) < 2:
                raise ValueError(f"variance={spelling!r}: column {factor!r} has a single "
                                 "level, so there is no SD ratio to estimate")
        out.append(cls(values, covariate, strata, factor))
    names = [n for f in out for n in f.natural(f.start())]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"variance={variance!r}: two variance functions share parameter "
                         f"name(s) {', '.join(map(repr, dup))}; combine different functions "
                         "or factors with different levels")
    return out


def _covariate(data, column, spelling) -> np.ndarray:
    if column not in data.columns:
        raise KeyError(f"variance={spelling!r}: covariate column {column!r} is not in data")
    col = data[column]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise TypeError(f"variance={spelling!r}: covariate column {column!r} must be "
                        f"numeric (got {col.dtype})")
    values = col.to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        i = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"variance={spelling!r}: column {column!r} is not finite in row "
                         f"{i} ({values[i]})")
    return values
