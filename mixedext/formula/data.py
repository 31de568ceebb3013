"""Checking and preparing the user's DataFrame before any design matrix is built.

Errors name the column at fault. String columns become pandas Categoricals before patsy
sees them (patsy codes strings about 30 times slower than categoricals).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MissingDataError", "prepare_frame"]


class MissingDataError(ValueError):
    """Missing or non-finite values where the model needs data."""


def _missing_message(counts: dict, missing: str) -> str:
    where = ", ".join(f"{c!r} ({n} rows)" for c, n in counts.items())
    hint = ("" if missing == "raise"
            else "; pass missing='drop' to drop those rows, or fill them first")
    return f"missing values (NaN) in column {where}{hint}"


def prepare_frame(data, *, columns, group_columns=(), subset=None, missing="none",
                  arrays=None, raw_columns=(), factor_columns=()) -> tuple[pd.DataFrame,
                                                                       dict]:
    """Select, check and clean the columns a model uses.

    Parameters
    ----------
    data : DataFrame
    columns : list of str
        Columns referenced by the formulas.
    group_columns : list of str
        Grouping columns; each must exist.
    subset : array_like, optional
        Rows to keep (boolean mask, or index labels), as statsmodels' ``subset``.
    missing : {"none", "drop", "raise"}
        ``"drop"`` drops rows with a missing value in any used column; otherwise a
        missing value raises :class:`MissingDataError` naming the column.
    arrays : dict of array_like, optional
        Extra row-aligned arrays (e.g. ``groups`` given as an array), subset and
        cleaned alike; ``None`` entries are passed through.
    factor_columns : list of str
        Numeric or boolean columns used only as factors (``C(x)``): made Categorical.
    raw_columns : list of str
        Columns kept in their dtype (checked by their user, e.g. ``time``).

    Returns
    -------
    frame : DataFrame
        The used columns of the kept rows, strings as Categoricals.
    arrays : dict
    """
    if not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)
    if missing not in ("none", "drop", "raise"):
        raise ValueError(f"missing must be 'none', 'drop' or 'raise', not {missing!r}")
    for col in group_columns:
        if col not in data.columns:
            raise KeyError(f"grouping column {col!r} is not in data (columns: "
                           f"{', '.join(map(str, data.columns))})")
    arrays = {k: (None if v is None else pd.Series(np.asarray(v), index=data.index))
              for k, v in (arrays or {}).items()}
    for k, v in arrays.items():
        if v is not None and len(v) != len(data):
            raise ValueError(f"{k} has {len(v)} values but data has {len(data)} rows")
    if subset is not None:
        data = data.loc[subset]
        arrays = {k: (None if v is None else v.loc[data.index]) for k, v in arrays.items()}
    used = list(dict.fromkeys([*columns, *group_columns]))
    frame = data[used].copy()
    isna = frame.isna()
    for k, v in arrays.items():
        if v is not None:
            isna[f"<{k}>"] = v.isna().to_numpy()
    bad = isna.any(axis=1).to_numpy()
    if bad.any():
        if missing == "drop":
            keep = ~bad
            frame = frame.loc[keep]
            arrays = {k: (None if v is None else v.loc[keep]) for k, v in arrays.items()}
        else:
            counts = {c.strip("<>"): int(n) for c, n in isna.sum().items() if n}
            raise MissingDataError(_missing_message(counts, missing))
    for col in frame.columns:
        s = frame[col]
        if col in raw_columns:
            continue
        if col in factor_columns and not isinstance(s.dtype, pd.CategoricalDtype):
            values = s.to_numpy(dtype=bool) if pd.api.types.is_bool_dtype(s) else s
            frame[col] = pd.Categorical(values)
            continue
        extension = isinstance(s.dtype, pd.api.extensions.ExtensionDtype) and not \
            isinstance(s.dtype, pd.CategoricalDtype)
        if extension and pd.api.types.is_bool_dtype(s):  # nullable boolean, NA handled
            frame[col] = s.to_numpy(dtype=bool)
            continue
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            if extension:  # nullable Int64 / Float64 and the like
                frame[col] = s = pd.Series(s.to_numpy(dtype=float), index=s.index)
            if not np.isfinite(s.to_numpy(dtype=float)).all():
                raise MissingDataError(f"column {col!r} has infinite values")
        elif not isinstance(s.dtype, pd.CategoricalDtype) and not pd.api.types.is_bool_dtype(s):
            frame[col] = pd.Categorical(s)
    if len(frame) == 0:
        raise ValueError("no rows left to fit (after subset/missing handling)")
    return frame, {k: (None if v is None else v.to_numpy()) for k, v in arrays.items()}


def row_array(values, name: str, n: int, positive: bool = False):
    """A per-row array argument (``weights``, ``offset``) as floats, checked: one finite
    value per row (positive with ``positive``); None stays None."""
    if values is None:
        return None
    values = np.asarray(values, dtype=float)
    if values.shape != (n,):
        raise ValueError(f"{name} must have one value per row ({n}), got shape "
                         f"{values.shape}")
    if not np.all(np.isfinite(values)) or (positive and np.any(values <= 0)):
        raise ValueError(f"{name} must be {'positive and ' if positive else ''}finite")
    return values
