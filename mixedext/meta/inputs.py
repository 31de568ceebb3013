"""Checking the arguments of :func:`mixedext.meta_analysis` and building the design.

Every error is a ``ValueError`` that names the argument (and the column) at fault.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy

from mixedext.formula.data import MissingDataError, prepare_frame
from mixedext.formula.terms import formula_variables
from mixedext.meta.estimation import METHODS

__all__ = ["MetaInputs", "check_method", "check_test", "meta_inputs", "new_design",
           "TESTS", "INTERCEPT"]

TESTS = ("z", "knha")
INTERCEPT = "Intercept"


@dataclass(frozen=True)
class MetaInputs:
    """The checked study data: effects ``y``, sampling variances ``v``, the design ``X``
    with its column ``names``, the study labels, the names of the effect and variance
    (for printing), the moderator formula and patsy's design information (None without
    moderators)."""

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    names: tuple
    study: pd.Index
    effect_name: str
    variance_name: str
    mods: str | None
    design_info: object | None


def check_method(method) -> str:
    """``method``: one of REML, ML, DL, PM (any case)."""
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, "
                         f"got {method!r}")
    return method.upper()


def check_test(test) -> str:
    """``test``: ``"z"`` (normal) or ``"knha"`` (Knapp-Hartung)."""
    if not isinstance(test, str) or test.lower() not in TESTS:
        raise ValueError(f"test must be 'z' or 'knha', got {test!r}")
    return test.lower()


def _column(arg: str, value, data, k: int | None):
    """A column of ``data`` named by ``value``, or ``value`` itself as an array."""
    if isinstance(value, str):
        if data is None:
            raise ValueError(f"{arg}={value!r} names a column, but no data was given")
        if value not in data.columns:
            raise ValueError(f"{arg}: column {value!r} is not in data (columns: "
                             f"{', '.join(map(str, data.columns))})")
        return data[value], value
    values = value if isinstance(value, pd.Series) else np.asarray(value)
    if values.ndim != 1:
        raise ValueError(f"{arg} must be a column name or a 1-d array, got an array of "
                         f"shape {values.shape}")
    if k is not None and len(values) != k:
        raise ValueError(f"{arg} has {len(values)} values but data has {k} rows")
    return values, getattr(value, "name", None) or arg


def _numeric(arg: str, name: str, values, study) -> np.ndarray:
    """Float values of a column or array (nullable numbers: ``pd.NA`` as NaN)."""
    if isinstance(values, pd.Series) and pd.api.types.is_numeric_dtype(values):
        values = values.to_numpy(dtype=float, na_value=np.nan)
    try:
        out = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{arg} ({name!r}) must be numeric") from None
    bad = ~np.isfinite(out)
    if bad.any():
        raise ValueError(f"{arg}: missing or non-finite values (NaN/inf) in {name!r} for "
                         f"{_studies(study[bad])}")
    return out


def _list(labels, most: int = 5) -> str:
    labels = [str(s) for s in labels]
    return ", ".join(labels[:most]) + (", ..." if len(labels) > most else "")


def _studies(labels) -> str:
    """``"study 3"`` or ``"4 studies (1, 2, 5, 9)"``."""
    return f"study {labels[0]}" if len(labels) == 1 else \
        f"{len(labels)} studies ({_list(labels)})"


def _study_labels(study, data, k: int) -> pd.Index:
    if study is None:
        return pd.Index(data.index if data is not None else np.arange(1, k + 1),
                        name="study")
    values, name = _column("study", study, data, k)
    labels = pd.Index(values, name=name if isinstance(study, str) else "study")
    if labels.isna().any():
        raise ValueError("study: missing study labels")
    if labels.has_duplicates:
        raise ValueError(f"study: labels must be unique, duplicated: "
                         f"{_list(labels[labels.duplicated()].unique())}")
    return labels


def _moderators(mods, data, eval_env) -> tuple[np.ndarray, tuple, object]:
    """The design of the right-hand side ``mods`` (patsy) on ``data``."""
    if not isinstance(mods, str):
        raise ValueError(f"mods must be a formula right-hand side such as 'dose + year', "
                         f"got {type(mods).__name__}")
    if data is None:
        raise ValueError("mods names moderator columns, but no data was given")
    rhs = mods.split("~", 1)[1] if "~" in mods else mods
    try:
        frame, _ = prepare_frame(data, columns=formula_variables([rhs], list(data.columns)),
                                 missing="raise")
    except MissingDataError as err:
        raise ValueError(f"mods: {err}") from None
    try:
        mat = patsy.dmatrix(rhs, frame, eval_env=eval_env or 0, NA_action="raise",
                            return_type="dataframe")
    except patsy.PatsyError as err:
        raise ValueError(f"mods {mods!r}: {err}") from None
    if mat.shape[1] == 0:
        raise ValueError(f"mods {mods!r} gives no columns")
    return mat.to_numpy(dtype=float), tuple(mat.columns), mat.design_info


def meta_inputs(effect, variance, data=None, *, study=None, mods=None,
                eval_env=None) -> MetaInputs:
    """Check the study data and build the design (intercept only without ``mods``)."""
    if data is not None and not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)
    k = None if data is None else len(data)
    y_raw, y_name = _column("effect", effect, data, k)
    v_raw, v_name = _column("variance", variance, data, k)
    if len(y_raw) != len(v_raw):
        raise ValueError(f"effect has {len(y_raw)} values but variance has {len(v_raw)}")
    k = len(y_raw)
    labels = _study_labels(study, data, k)
    y = _numeric("effect", y_name, y_raw, labels)
    v = _numeric("variance", v_name, v_raw, labels)
    if (v <= 0).any():
        raise ValueError(f"variance: sampling variances must be positive; {v_name!r} is "
                         f"<= 0 for {_studies(labels[v <= 0])}")
    if k < 2:
        raise ValueError(f"a meta-analysis needs at least 2 studies, got {k}")
    if mods is None:
        X, names, info = np.ones((k, 1)), (INTERCEPT,), None
    else:
        X, names, info = _moderators(mods, data, eval_env)
        p = X.shape[1]
        if k < p + 1:
            raise ValueError(f"mods: a meta-regression with {p} coefficients needs at least "
                             f"{p + 1} studies, got {k}")
        rank = np.linalg.matrix_rank(X)
        if rank < p:
            raise ValueError(f"mods: the design of {mods!r} is not of full rank ({rank} of "
                             f"{p} columns: {', '.join(names)})")
    return MetaInputs(y=y, v=v, X=np.asarray(X, dtype=float), names=tuple(names),
                      study=labels, effect_name=str(y_name), variance_name=str(v_name),
                      mods=mods, design_info=info)


def new_design(newmods, names: tuple, design_info) -> np.ndarray:
    """The design rows of new moderator values: a DataFrame / dict (coded by patsy as
    the fitted data) or an array of the non-intercept columns (metafor's ``newmods``)."""
    if isinstance(newmods, (pd.DataFrame, dict, pd.Series)):
        if design_info is None:
            raise ValueError("newmods: moderator values by name need a model fitted with a "
                             "mods formula; give the design's columns as an array")
        frame = pd.DataFrame(newmods) if not isinstance(newmods, pd.Series) else \
            newmods.to_frame().T
        try:
            X = patsy.build_design_matrices([design_info], frame, NA_action="raise")[0]
        except patsy.PatsyError as err:
            raise ValueError(f"newmods: {err}") from None
        return np.asarray(X, dtype=float)
    X = np.asarray(newmods, dtype=float)
    cols = [n for n in names if n != INTERCEPT]
    X = X.reshape(-1, len(cols)) if X.ndim < 2 else X
    if X.shape[1] != len(cols):
        raise ValueError(f"newmods: {X.shape[1]} columns given for the {len(cols)} moderator "
                         f"columns {', '.join(cols)}")
    if not np.isfinite(X).all():
        raise ValueError("newmods: missing or non-finite values")
    if INTERCEPT in names:
        X = np.insert(X, names.index(INTERCEPT), 1.0, axis=1)
    return X
