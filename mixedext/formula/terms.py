"""lme4-style random-effect terms: parsing ``(1 + x | a/b)`` and building unit codes.

A bar term ``(lhs | g)`` gives random effects for the columns of ``lhs`` (a patsy
formula, intercept included unless ``0 +``) in every unit of the grouping ``g``:

* ``(lhs | a)``       one level, ``"a"``;
* ``(lhs | a/b)``     nested: ``(lhs | a) + (lhs | a:b)``, levels ``"a"``, ``"a/b"``;
* ``(lhs | a:b)``     the units are the observed combinations of ``a`` and ``b``, level
  ``"a/b"`` (``(1 | a) + (1 | a:b)`` is lme4's spelling of ``(1 | a/b)``);
* ``(lhs | a) + (lhs | b)``  crossed levels ``"a"``, ``"b"``.

A *level* is named by its path from the outermost factor (``"center/rep"``) and a *unit*
by its labels joined with ``/`` (``"1/3"``: center 1, rep 3), so labels that repeat across
outer units stay distinct. lme4 spells the level ``rep:center`` and the unit ``3:1``.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy

from mixedext._engine.crossprod import RandomTerm

__all__ = ["LevelSpec", "split_formula", "unit_codes", "value_labels", "join_labels",
           "build_term", "formula_variables",
           "design", "level_covariates", "term_from_level"]

_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*"


class FormulaError(ValueError):
    """A random-effect term that cannot be parsed or is not supported."""


@dataclass(frozen=True)
class LevelSpec:
    """One random-effect term after expansion: ``lhs`` varying over the units of a level."""

    lhs: str
    factors: tuple[str, ...]
    name: str


def _top_level_split(rhs: str, sep: str = "+") -> list[str]:
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in rhs:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced parentheses in formula: {rhs!r}")
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise FormulaError(f"unbalanced parentheses in formula: {rhs!r}")
    parts.append("".join(cur))
    return parts


def _uncorrelated(lhs: str) -> list[str]:
    """lme4's ``(1 + x || g)``: one term per covariate, ``["1", "0 + x"]``."""
    intercept = not re.search(r"(^|[+\s])(0|-\s*1)(\s|$|\+)", lhs)
    lhs = re.sub(r"-\s*1\b", "", lhs)
    parts = [p.strip() for p in _top_level_split(lhs)]
    covariates = [p for p in parts if p and p not in ("0", "1")]
    return ["1"] * intercept + [f"0 + {p}" for p in covariates]


def _parse_bar(piece: str) -> list[LevelSpec]:
    inner = piece.strip()[1:-1]
    if "||" in inner:  # uncorrelated: one term per covariate
        lhs, _, grouping = inner.partition("||")
        return [spec for part in _uncorrelated(lhs)
                for spec in _parse_bar(f"({part} | {grouping})")]
    lhs, _, grouping = inner.partition("|")
    lhs, grouping = lhs.strip(), grouping.strip()
    if not lhs or not grouping:
        raise FormulaError(f"{piece.strip()!r}: a random-effect term needs the form "
                           "(terms | grouping), e.g. (1 | subject)")
    if "/" in grouping:
        factors = [f.strip() for f in grouping.split("/")]
        if not all(re.fullmatch(_NAME, f) for f in factors):
            raise FormulaError(f"{piece.strip()!r}: nested grouping must be column names "
                               "separated by '/', e.g. (1 | center/rep)")
        return [LevelSpec(lhs, tuple(factors[:j + 1]), "/".join(factors[:j + 1]))
                for j in range(len(factors))]
    factors = [f.strip() for f in grouping.split(":")]
    if not all(re.fullmatch(_NAME, f) for f in factors):
        raise FormulaError(f"{piece.strip()!r}: the grouping must be a column name, "
                           "a/b (nested) or a:b (interaction)")
    return [LevelSpec(lhs, tuple(factors), "/".join(factors))]


def _is_bar(piece: str) -> bool:
    s = piece.strip()
    return s.startswith("(") and s.endswith(")") and "|" in s and _balanced_outer(s)


def _balanced_outer(s: str) -> bool:
    depth = 0
    for i, ch in enumerate(s):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(s) - 1:
            return False
    return True


def split_formula(formula: str) -> tuple[str, list[LevelSpec]]:
    """Split ``"y ~ x + (1 | a/b)"`` into the fixed formula and the random-effect levels.

    Returns
    -------
    fixed : str
        The formula without bar terms (``"y ~ 1"`` when only bar terms were given).
    levels : list of LevelSpec
        One per expanded term, in formula order.
    """
    if "~" not in formula:
        raise FormulaError(f"formula {formula!r} has no '~'")
    lhs, _, rhs = formula.partition("~")
    fixed, levels = [], []
    for piece in _top_level_split(rhs):
        if "|" in piece:
            if not _is_bar(piece):
                raise FormulaError(f"cannot parse the random-effect term {piece.strip()!r}; "
                                   "write it as (terms | grouping)")
            levels.extend(_parse_bar(piece))
        elif piece.strip():
            fixed.append(piece.strip())
    return f"{lhs.strip()} ~ {' + '.join(fixed) if fixed else '1'}", levels


def formula_variables(formulas, columns) -> list[str]:
    """The data columns a set of formulas refers to (by token), in column order."""
    tokens = set()
    for f in formulas:
        if f is None:
            continue
        try:
            for tok in tokenize.generate_tokens(io.StringIO(f).readline):
                tokens.add(tok.string)
                if tok.type == tokenize.STRING:  # Q("x.val"): a column named in a string
                    tokens.add(tok.string[1:-1])
        except (tokenize.TokenError, IndentationError):
            tokens.update(re.findall(_NAME, f))
    return [c for c in columns if c in tokens]


_C_CALL = re.compile(r"\bC\(\s*(\w+)\s*[,)]")


def factor_only_columns(formula: str, columns) -> list[str]:
    """Columns the formula uses only as ``C(x)`` (the first argument of every mention):
    as pandas Categoricals patsy codes them from their integer codes, where a numeric
    column costs it a missing-value check per element. Levels and names are unchanged
    (both sort the distinct values)."""
    wrapped = set(_C_CALL.findall(formula))
    outside = set(formula_variables([_C_CALL.sub("C(", formula)], list(columns)))
    return [c for c in columns if c in wrapped and c not in outside]


def categorical_c(data, contrast=None, levels=None):
    """patsy's ``C()``, except that a pandas Categorical without other arguments is
    returned as it is: patsy codes a bare Categorical from its integer codes, but a
    ``C()``-wrapped one element by element (0.6 s for 500,000 rows). The factor keeps the
    name ``C(x)``, its levels (the categories, sorted as ``C`` would sort them) and the
    default treatment coding."""
    if contrast is None and levels is None and isinstance(
            getattr(data, "dtype", None), pd.CategoricalDtype):
        return data
    return patsy.builtins.C(data, contrast, levels)


def value_labels(values) -> np.ndarray:
    """The label of each value of a grouping column, the same at fit and at prediction:
    integral numbers as integers whatever their dtype (``3`` and ``3.0`` are one unit),
    other numbers by ``repr``, dates in ISO format, categoricals by their categories'
    labels; ``%`` and the level separator ``/`` are escaped (``%25``, ``%2F``) so that
    ``"x/y"`` in one column and ``"x"``, ``"y"`` in two stay different units."""
    s = pd.Series(values)
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = value_labels(s.cat.categories)
        codes = s.cat.codes.to_numpy()
        return np.where(codes >= 0, cats[np.maximum(codes, 0)], "nan").astype(object)
    codes, uniques = pd.factorize(s)
    if pd.api.types.is_datetime64_any_dtype(uniques):
        text = pd.Index(uniques).map(lambda v: v.isoformat()).to_numpy(dtype=object)
    elif pd.api.types.is_bool_dtype(uniques) or not pd.api.types.is_numeric_dtype(uniques):
        text = np.array([str(v) for v in uniques], dtype=object)
    else:
        v = np.asarray(uniques, dtype=float)
        whole = np.isfinite(v) & (v == np.round(v)) & (np.abs(v) < 2 ** 63)
        text = np.empty(len(v), dtype=object)
        text[whole] = v[whole].astype(np.int64).astype(str)
        text[~whole] = [repr(float(x)) for x in v[~whole]]
        return _spread(text, codes, len(s))  # numbers hold no separator to escape
    text = np.array([t.replace("%", "%25").replace("/", "%2F") for t in text], dtype=object)
    return _spread(text, codes, len(s))


def _spread(text, codes, n) -> np.ndarray:
    """Each row's label from the labels of the distinct values (``"nan"`` for missing)."""
    out = np.full(n, "nan", dtype=object)
    out[codes >= 0] = text[codes[codes >= 0]]
    return out


def join_labels(columns) -> np.ndarray:
    """Unit labels ``"a/b"`` of rows from their grouping columns (outermost first)."""
    labels = None
    for col in columns:
        values = value_labels(col)
        labels = values if labels is None else np.char.add(np.char.add(
            labels.astype(str), "/"), values.astype(str)).astype(object)
    if labels is None:
        raise ValueError("no grouping columns")
    return labels


def unit_codes(columns: list) -> tuple[np.ndarray, np.ndarray]:
    """Unit index of every row for the combination of grouping columns.

    Units are sorted by the values of the outer column first (numbers numerically,
    categoricals in category order) and labelled ``"a/b"`` (:func:`value_labels`).
    """
    codes: np.ndarray | None = None
    labels: np.ndarray | None = None
    for col in columns:
        c, lab = pd.factorize(col, sort=True)
        if (c < 0).any():
            raise ValueError("missing values in a grouping column")
        lab = value_labels(lab).astype(str)
        if codes is None:
            codes, labels = c.astype(np.int64), lab
            continue
        assert labels is not None  # set with codes
        combined = codes * len(lab) + c
        u, codes = np.unique(combined, return_inverse=True)
        labels = np.char.add(np.char.add(labels[u // len(lab)], "/"), lab[u % len(lab)])
    if codes is None or labels is None:
        raise ValueError("no grouping columns")
    return codes.astype(np.int64), labels.astype(object)


def build_term(level: str, group_cols: list, z: np.ndarray | None, names, *,
               cov: str = "full", component: str | None = None, lhs: str | None = None,
               factors=None) -> RandomTerm:
    """A :class:`RandomTerm` from grouping columns and random-effect covariates."""
    codes, labels = unit_codes(group_cols)
    return RandomTerm(level=level, codes=codes, unit_labels=labels, names=tuple(names), z=z,
                      cov=cov, component=component, lhs=lhs,
                      factors=None if factors is None else tuple(factors))


def design(formula: str, data: pd.DataFrame, eval_env) -> tuple[np.ndarray, list[str]]:
    """The design matrix of a right-hand-side ``formula`` (patsy) and its column names."""
    mat = patsy.dmatrix(formula, data, eval_env=eval_env, return_type="dataframe",
                        NA_action="raise")
    return np.asarray(mat, dtype=float), list(mat.columns)


def level_covariates(lev: LevelSpec, data: pd.DataFrame, eval_env=None, design_info=None):
    """``(z, names)`` of an lme4-style term's left-hand side: ``z`` None for a random
    intercept only. ``design_info`` (patsy's, from an earlier pass) codes new rows alike."""
    if lev.lhs.strip() == "1":
        return None, ("Intercept",)
    if design_info is not None:
        z = np.asarray(patsy.build_design_matrices([design_info], data)[0], dtype=float)
        names = list(design_info.column_names)
    else:
        z, names = design(lev.lhs, data, eval_env)
    if z.shape[1] == 0:
        raise ValueError(f"the random-effect term ({lev.lhs} | {lev.name}) has no columns")
    return (None, ("Intercept",)) if names == ["Intercept"] else (z, tuple(names))


def term_from_level(lev: LevelSpec, data: pd.DataFrame, eval_env) -> RandomTerm:
    """The random-effect term of an lme4-style ``(lhs | factors)`` on ``data``: the one
    formula-to-term step of the linear and the binomial models."""
    z, names = level_covariates(lev, data, eval_env)
    return build_term(lev.name, [np.asarray(data[f]) for f in lev.factors], z, names,
                      lhs=lev.lhs, factors=lev.factors)
