"""Estimated marginal means (emmeans' ``emmeans``) of fitted mixed models.

The *reference grid* (emmeans' ``ref_grid``) has one row per combination of

* every factor of the fixed-effect formula at each of its levels: the levels the formula's
  design information recorded at fit time, so the model's own coding (treatment,
  ``C(x, Sum)``, ``C(x, Treatment(reference="b"))``, a custom contrast) is used as it is;
* every numeric covariate at its mean over the fitted rows, or at the values of ``at``.

``at={"x": 3}`` fixes a covariate (``at={"x": [1, 3]}`` gives it two grid values, so it
may be named in ``specs``), ``at={"f": ["a", "b"]}`` keeps those levels of a factor. Each
grid row ``g`` goes through the model's design information (patsy or formulaic) to its
fixed-effect design row ``x_g``.

The marginal mean of a combination ``c`` of the levels of ``specs`` and ``by`` averages
the predictions of the grid rows ``G_c`` that carry it::

    m_c = l_c' beta,    l_c = sum_{g in G_c} w_g x_g / sum_{g in G_c} w_g,

with ``w_g = 1`` (``weights="equal"``, emmeans' default) or, for
``weights="proportional"``, ``w_g`` the number of fitted rows with the levels of the
averaged-over factors of ``g`` (within the grid's levels; emmeans' ``"proportional"``).
``SE(m_c) = sqrt(l_c' V l_c)`` and its df are those of the contrast ``l_c' beta`` by the
``ddf`` method (:func:`mixedext.inference.ddf.ddf_table`: Satterthwaite, Kenward-Roger with
its adjusted ``V``, or ``n - p``), each mean its own; ``"asymptotic"``, and every binomial
GLMM, use ``df = inf`` (emmeans for glmer). The interval is ``m_c -/+ t_{df, 1 - alpha/2}
SE``.

On the response scale (``type="response"``) of a GLMM with inverse link ``h``, the mean
is ``h(m_c)``, its SE ``h'(m_c) SE(m_c)`` (delta method) and the interval ``h`` of the
link-scale interval: emmeans' ``summary(..., type = "response")``, not ``regrid`` (whose
interval is symmetric on the response scale). A linear model's response scale is its link
scale.

Names: ``specs`` the variables whose levels index the means, ``by`` those the means are
grouped by, the *averaged-over* variables the others; ``L`` the matrix of the rows
``l_c``; a *variable* is a data column of the fixed-effect formula.
"""

from __future__ import annotations

import ast
import itertools
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as tdist

from mixedext._checks import check_alpha
from mixedext._compat import design_from_spec, get_formula_spec
from mixedext.inference.ddf import DDF_METHODS, ddf_table
from mixedext.inference.tables import contrast_t_table, unwrap

__all__ = ["GridVariable", "ReferenceGrid", "MeanRows", "reference_grid", "mean_rows",
           "estimate_rows", "marginal_means", "model_link", "resolve_ddf", "check_choice"]

DDF_CHOICES = (*DDF_METHODS, "residual", "asymptotic")
TYPES = ("link", "response")
WEIGHTS = ("equal", "proportional")


@dataclass(frozen=True)
class GridVariable:
    """A variable of the reference grid: a factor with its levels, or a numeric covariate
    with its grid values (its mean, or the values of ``at``)."""

    name: str
    levels: tuple
    categorical: bool


@dataclass(frozen=True)
class ReferenceGrid:
    """The reference grid of a fit.

    ``frame`` has one row per combination of the variables' levels (the first variable
    varying fastest, as emmeans), ``codes`` the level index of each variable per row,
    ``design`` the rows' fixed-effect design, ``counts`` the fitted rows with each grid
    row's factor levels (None when the fit's rows are not at hand), ``terms`` the
    variables of each fixed-effect term.
    """

    variables: dict
    frame: pd.DataFrame
    codes: np.ndarray
    design: np.ndarray
    counts: np.ndarray | None
    terms: tuple


@dataclass(frozen=True)
class MeanRows:
    """The rows ``l_c`` of the means of ``specs`` (within ``by``): ``levels`` the values of
    ``specs + by`` per mean (emmeans' order: the first varies fastest), ``groups`` the
    indices of the means in each ``by`` group, ``averaged`` the averaged-over variables,
    ``notes`` emmeans' notes on the averaging."""

    specs: tuple
    by: tuple
    levels: list
    L: np.ndarray
    groups: list
    averaged: tuple
    notes: tuple


def check_choice(name: str, value, choices) -> str:
    """``value`` if it is one of ``choices``; otherwise an error naming the argument."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, not {value!r}")
    return value


def model_link(res):
    """The statsmodels link of a GLMM fit, None for a linear mixed model (identity)."""
    family = getattr(unwrap(res), "family", None)
    return None if family is None else family.link


def resolve_ddf(res, ddf: str | None) -> str:
    """The df method: ``"satterthwaite"`` for a linear model and ``"asymptotic"`` for a
    GLMM unless given; a GLMM's tests are asymptotic (z) only."""
    glmm = model_link(res) is not None
    if ddf is None:
        return "asymptotic" if glmm else "satterthwaite"
    check_choice("ddf", ddf, DDF_CHOICES)
    if glmm and ddf != "asymptotic":
        raise ValueError(f"ddf={ddf!r} is for linear mixed models; a GLMM's means and "
                         "contrasts are asymptotic (z tests, df = inf), as emmeans for "
                         "glmer: leave ddf out or give 'asymptotic'")
    return ddf


# -- the formula's variables -------------------------------------------------------------
def _spec_factors(spec) -> list:
    """``(code, categorical, categories)`` per factor of the fixed-effect design, in term
    order; patsy's ``DesignInfo`` or formulaic's ``ModelSpec``."""
    out, seen = [], set()
    if hasattr(spec, "factor_infos"):  # patsy
        for term in spec.terms:
            for f in term.factors:
                if f.code not in seen:
                    seen.add(f.code)
                    info = spec.factor_infos[f]
                    out.append((f.code, info.type == "categorical", info.categories))
        return out
    state = getattr(spec, "encoder_state", None)
    if state is None:
        raise NotImplementedError(f"marginal means cannot read this design information "
                                  f"({type(spec).__name__})")
    for term in spec.terms:  # formulaic
        for f in term.factors:
            code = str(f.expr)
            if code in state and code not in seen:
                seen.add(code)
                kind, values = state[code]
                categorical = getattr(kind, "value", kind) == "categorical"
                out.append((code, categorical, values.get("categories")))
    return out


def _spec_terms(spec) -> list:
    """The factor codes of each fixed-effect term."""
    if hasattr(spec, "factor_infos"):
        return [tuple(f.code for f in term.factors) for term in spec.terms]
    return [tuple(str(f.expr) for f in term.factors) for term in spec.terms]


def _quoted(node) -> str | None:
    """The column of ``Q("name")``, else None."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Q"
            and node.args and isinstance(node.args[0], ast.Constant)):
        return str(node.args[0].value)
    return None


def _factor_column(code: str) -> str:
    """The data column of a categorical factor ``x``, ``Q("x")`` or ``C(x, ...)``."""
    node = ast.parse(code, mode="eval").body
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id == "C" and node.args:
        node = node.args[0]
    if isinstance(node, ast.Name):
        return node.id
    quoted = _quoted(node)
    if quoted is not None:
        return quoted
    raise NotImplementedError(f"marginal means need the formula's factors to be data "
                              f"columns (x, Q('x'), C(x, ...)); {code!r} is not")


def _free_names(code: str) -> list:
    """Names a numeric factor reads: not called, not an attribute's base (``np``)."""
    tree = ast.parse(code, mode="eval")
    skip = set()
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            skip.add(id(node.func))
            if _quoted(node) is not None:
                names.append(_quoted(node))
                skip.update(id(a) for a in node.args)
        elif isinstance(node, ast.Attribute):
            skip.add(id(node.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in skip:
            names.append(node.id)
    return list(dict.fromkeys(names))


def _formula_variables(spec, columns) -> tuple[dict, list, dict]:
    """``{variable: levels or None}`` (None for a covariate), in formula order; the
    variables of each term; ``{factor code: [variables]}``."""
    variables: dict[str, tuple | None] = {}
    by_code: dict[str, list[str]] = {}
    for code, categorical, categories in _spec_factors(spec):
        if categorical:
            names = [_factor_column(code)]
            levels = tuple(categories)
        else:
            names = [n for n in _free_names(code) if columns is None or n in columns]
            levels = None
        by_code[code] = names
        for name in names:
            if name in variables and (variables[name] is None) != (levels is None):
                raise NotImplementedError(f"{name!r} enters the formula both as a factor and "
                                          "as a numeric covariate; marginal means need one")
            if name in variables and levels is not None and variables[name] != levels:
                raise NotImplementedError(f"{name!r} enters the formula as factors with "
                                          "different levels")
            variables[name] = levels
    terms = [tuple(dict.fromkeys(v for c in codes for v in by_code.get(c, [])))
             for codes in _spec_terms(spec)]
    return variables, terms, by_code


# -- the fitted rows ---------------------------------------------------------------------
def _fitted_rows(res, names, spec, by_code) -> pd.DataFrame:
    """The fitted rows' values of ``names`` that can be had: a formula model's data frame,
    else (a binomial GLMM) read back from its fixed-effect design."""
    model = res.model
    frame = getattr(getattr(model, "data", None), "frame", None)
    nobs = int(res.nobs)
    if isinstance(frame, pd.DataFrame):
        cols = [n for n in names if n in frame.columns]
        part = frame[cols]
        if len(part) != nobs:
            part = part.dropna()
        if len(part) == nobs:
            return part.reset_index(drop=True)
    exog = getattr(model, "exog", None)
    if exog is None or len(exog) != nobs or not hasattr(spec, "term_codings"):
        return pd.DataFrame(index=range(nobs))
    return _rows_from_design(spec, np.asarray(exog, float), by_code)


def _rows_from_design(spec, exog, by_code) -> pd.DataFrame:
    """Factor levels and covariates per row from a patsy design: each factor with a main
    effect from its columns (the nearest row of its contrast matrix), each covariate that
    is a term by itself from its column."""
    out = {}
    for term in spec.terms:
        if len(term.factors) != 1:
            continue
        factor = term.factors[0]
        names = by_code.get(factor.code, [])
        cols = exog[:, spec.term_slices[term]]
        info = spec.factor_infos[factor]
        if info.type == "categorical" and len(names) == 1:
            matrix = spec.term_codings[term][0].contrast_matrices[factor].matrix
            dist = ((cols[:, None, :] - matrix[None, :, :]) ** 2).sum(axis=2)
            levels = np.empty(len(info.categories), dtype=object)
            levels[:] = list(info.categories)
            out[names[0]] = levels[dist.argmin(axis=1)]
        elif names == [factor.code] and cols.shape[1] == 1:
            out[names[0]] = cols[:, 0]
    return pd.DataFrame(out, index=range(len(exog)))


# -- the grid ----------------------------------------------------------------------------
def _listing(categorical: dict) -> str:
    """``"a, b (numeric covariates: x)"`` from ``{variable: is a factor}``."""
    factors = [n for n, c in categorical.items() if c]
    covariates = [n for n, c in categorical.items() if not c]
    text = ", ".join(factors) if factors else "none"
    return text + (f" (numeric covariates: {', '.join(covariates)})" if covariates else "")


def _values(value) -> list:
    if isinstance(value, (str, bytes)) or not np.iterable(value):
        return [value]
    return list(value)


def _at_levels(name, levels, value) -> tuple:
    """The levels of factor ``name`` that ``at`` keeps, in the order given."""
    wanted = _values(value)
    if not wanted:
        raise ValueError(f"at: give factor {name!r} at least one level")
    keep = []
    for v in wanted:
        hit = [lev for lev in levels if lev == v or str(lev) == str(v)]
        if not hit:
            raise ValueError(f"at: factor {name!r} has no level {v!r}; its levels are "
                             f"{', '.join(map(str, levels))}")
        keep.append(hit[0])
    return tuple(dict.fromkeys(keep))


def _at_values(name, value) -> tuple:
    values = _values(value)
    if not values or not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                             and np.isfinite(float(v)) for v in values):
        raise ValueError(f"at: numeric covariate {name!r} takes finite numbers, got "
                         f"{value!r}")
    return tuple(float(v) for v in values)


def reference_grid(res, at: dict | None = None) -> ReferenceGrid:
    """The reference grid of a fit (see the module docstring).

    Parameters
    ----------
    res : MixedLMResults or BinomialMixedResults
        A fit of a model built from a formula.
    at : dict, optional
        ``{covariate: value or values}``, ``{factor: level or levels}``.

    Returns
    -------
    ReferenceGrid
    """
    res = unwrap(res)
    model = res.model
    spec = getattr(model, "design_info", None) if model_link(res) is not None else \
        get_formula_spec(getattr(model, "data", None))
    if spec is None or getattr(model, "formula", None) is None:
        raise NotImplementedError("marginal means need a model built from a formula (its "
                                  "design information gives the factors and their coding); "
                                  "this model has none (built from arrays, or a binomial "
                                  "model unpickled: rebuild it with binomial_mixedglm)")
    frame = getattr(getattr(model, "data", None), "frame", None)
    columns = set(frame.columns) if isinstance(frame, pd.DataFrame) else None
    declared, terms, by_code = _formula_variables(spec, columns)
    at = {} if at is None else at
    if not isinstance(at, dict):
        raise TypeError(f"at must be a dict {{variable: value(s)}}, got {type(at).__name__}")
    unknown = [k for k in at if k not in declared]
    if unknown:
        raise ValueError(f"at: {', '.join(map(repr, unknown))} not in the fixed-effect "
                         f"formula; its variables are "
                         f"{_listing({n: v is not None for n, v in declared.items()})}")
    rows = _fitted_rows(res, list(declared), spec, by_code)
    variables = {}
    for name, levels in declared.items():
        if levels is not None:
            kept = _at_levels(name, levels, at[name]) if name in at else levels
            variables[name] = GridVariable(name, kept, True)
        elif name in at:
            variables[name] = GridVariable(name, _at_values(name, at[name]), False)
        elif name in rows.columns:
            variables[name] = GridVariable(name, (float(np.mean(rows[name])),), False)
        else:
            raise ValueError(f"the mean of covariate {name!r} over the fitted rows is not "
                             f"at hand for this model; give its value with "
                             f"at={{{name!r}: value}}")
    grid_vars = list(variables.values())
    sizes = [len(v.levels) for v in grid_vars]
    codes = np.array([c[::-1] for c in itertools.product(*[range(s) for s in sizes[::-1]])],
                     dtype=int).reshape(-1, len(grid_vars))
    grid = pd.DataFrame({v.name: _column(v, codes[:, j]) for j, v in enumerate(grid_vars)})
    design = design_from_spec(spec, grid)
    return ReferenceGrid(variables=variables, frame=grid, codes=codes, design=design,
                         counts=_grid_counts(variables, codes, rows),
                         terms=tuple(terms))


def _column(var: GridVariable, codes) -> pd.Series:
    values = np.empty(len(codes), dtype=object if var.categorical else float)
    values[:] = [var.levels[c] for c in codes]
    return pd.Series(values)


def _grid_counts(variables, codes, rows) -> np.ndarray | None:
    """Fitted rows per grid row's combination of factor levels (emmeans' ``.wgt.``)."""
    factors = [(j, v) for j, v in enumerate(variables.values()) if v.categorical]
    if any(v.name not in rows.columns for _, v in factors):
        return None
    if not factors:
        return np.full(len(codes), float(len(rows)))
    sizes = [len(v.levels) for _, v in factors]
    row_codes = np.array([pd.Index(list(v.levels)).get_indexer(list(rows[v.name]))
                          for _, v in factors])
    row_codes = row_codes[:, (row_codes >= 0).all(axis=0)]  # rows within the grid's levels
    cells = np.bincount(np.ravel_multi_index(row_codes, sizes), minlength=int(np.prod(sizes)))
    grid_cells = np.ravel_multi_index(codes[:, [j for j, _ in factors]].T, sizes)
    return cells[grid_cells].astype(float)


# -- the means ---------------------------------------------------------------------------
def _names(arg, what) -> tuple:
    if arg is None:
        return ()
    names = (arg,) if isinstance(arg, str) else tuple(arg) if np.iterable(arg) else (arg,)
    if not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{what} must be a variable name or a list of names, got {arg!r}")
    if len(set(names)) < len(names):
        raise ValueError(f"{what} names a variable twice: {arg!r}")
    return names


def _check_names(grid, names, what, at):
    for name in names:
        if name not in grid.variables:
            kinds = {n: v.categorical for n, v in grid.variables.items()}
            raise ValueError(f"{what}: {name!r} is not a variable of the fixed-effect "
                             f"formula; its factors are {_listing(kinds)}")
        var = grid.variables[name]
        if not var.categorical and name not in (at or {}):
            raise ValueError(f"{what}: {name!r} is a numeric covariate; give the values to "
                             f"compare with at={{{name!r}: [v1, v2, ...]}}")


def mean_rows(grid: ReferenceGrid, specs, by=None, weights: str = "equal",
              at: dict | None = None) -> MeanRows:
    """The rows ``l_c`` of the marginal means of ``specs`` within ``by``.

    Parameters
    ----------
    grid : ReferenceGrid
    specs, by : str or list of str
    weights : {"equal", "proportional"}
    at : dict, optional
        The ``at`` the grid was built with (a covariate in ``specs`` needs values there).

    Returns
    -------
    MeanRows
    """
    specs, by = _names(specs, "specs"), _names(by, "by")
    if not specs:
        raise ValueError("specs: name at least one factor")
    _check_names(grid, specs, "specs", at)
    _check_names(grid, by, "by", at)
    both = [n for n in by if n in specs]
    if both:
        raise ValueError(f"by: {', '.join(map(repr, both))} also in specs")
    check_choice("weights", weights, WEIGHTS)
    order = list(grid.variables)
    named = [*specs, *by]
    idx = [order.index(n) for n in named]
    averaged = tuple(n for n in order if n not in named)
    w: np.ndarray = np.ones(len(grid.codes))
    if weights == "proportional":
        if grid.counts is None:
            raise ValueError("weights='proportional' needs the fitted rows' factor levels, "
                             "which this model does not hold")
        avg = [order.index(n) for n in averaged if grid.variables[n].categorical]
        w = np.full(len(grid.codes), float(grid.counts.sum()))
        if avg:
            _, inv = np.unique(grid.codes[:, avg], axis=0, return_inverse=True)
            inv = np.asarray(inv, dtype=np.intp).reshape(-1)
            w = np.bincount(inv, weights=grid.counts)[inv]
    sizes = [len(grid.variables[n].levels) for n in named]
    combos = [c[::-1] for c in itertools.product(*[range(s) for s in sizes[::-1]])]
    L = np.empty((len(combos), grid.design.shape[1]))
    for r, combo in enumerate(combos):
        sel = np.all(grid.codes[:, idx] == np.array(combo), axis=1)
        total = w[sel].sum()
        L[r] = w[sel] @ grid.design[sel] / total if total > 0 else np.nan
    levels = [tuple(grid.variables[n].levels[c] for n, c in zip(named, combo))
              for combo in combos]
    n_group = int(np.prod(sizes[:len(specs)]))
    groups = [np.arange(s, s + n_group) for s in range(0, len(combos), n_group)]
    return MeanRows(specs=specs, by=by, levels=levels, L=L, groups=groups,
                    averaged=averaged, notes=_notes(grid, named, averaged))


def _notes(grid, named, averaged) -> tuple:
    """emmeans' notes: what was averaged over, and (its rule) a model term holding every
    named variable and more."""
    shown = [n for n in averaged if len(grid.variables[n].levels) > 1]
    notes = []
    if shown:
        notes.append(f"Results are averaged over the levels of: {', '.join(shown)}")
    if any(set(named) < set(t) for t in grid.terms):
        notes.append("Results may be misleading due to involvement in interactions")
    return tuple(notes)


def estimate_rows(res, L, ddf: str) -> pd.DataFrame:
    """Estimate, SE, df, t and p of each row of ``L`` (``ddf`` a :data:`DDF_CHOICES`)."""
    res = unwrap(res)
    if ddf != "asymptotic":
        return ddf_table(res, L, ddf)
    beta = np.asarray(res.fe_params, dtype=float)
    k = len(beta)
    vcov = np.asarray(res.cov_params(), dtype=float)[:k, :k]
    return contrast_t_table(beta, vcov, L, lambda row: np.inf)


def level_index(levels, names) -> pd.Index:
    """The index of a table with one row per tuple of ``levels`` named ``names``."""
    if len(names) == 1:
        return pd.Index([lev[0] for lev in levels], name=names[0])
    return pd.MultiIndex.from_tuples(levels, names=list(names))


def marginal_means(res, specs, by=None, at: dict | None = None, ddf: str | None = None,
                   type: str = "link", weights: str = "equal",
                   alpha: float = 0.05) -> pd.DataFrame:
    """Estimated marginal means of ``specs`` (within ``by``), as emmeans.

    Parameters
    ----------
    res : MixedLMResults or BinomialMixedResults
    specs : str or list of str
        Factors (or covariates with ``at`` values) whose levels index the means.
    by : str or list of str, optional
        Factors the means are grouped by.
    at : dict, optional
        ``{covariate: value(s)}`` or ``{factor: level(s)}`` for the reference grid.
    ddf : {"satterthwaite", "kenward-roger", "residual", "asymptotic"}, optional
        Degrees of freedom; default Satterthwaite for a linear model, asymptotic (the only
        choice) for a GLMM.
    type : {"link", "response"}
        The scale of the means (the same for a linear model).
    weights : {"equal", "proportional"}
        Weights of the averaged-over grid rows.
    alpha : float
        ``1 - alpha`` intervals.

    Returns
    -------
    DataFrame
        Indexed by the levels of ``specs`` then ``by`` (a MultiIndex for several), rows in
        emmeans' order (first variable fastest, ``by`` groups in turn); columns ``mean``,
        ``se``, ``df``, ``lower``, ``upper``. ``attrs`` holds ``ddf``, ``type``,
        ``weights``, ``covariates`` (the grid's values) and emmeans' ``notes``.

    Notes
    -----
    See the module docstring: ``m_c = l_c' beta``, ``SE = sqrt(l_c' V l_c)``, df by
    ``ddf``; on the response scale ``h(m_c)``, ``h'(m_c) SE`` and ``h`` of the link-scale
    interval.
    """
    alpha = check_alpha(alpha)
    check_choice("type", type, TYPES)
    ddf = resolve_ddf(res, ddf)
    grid = reference_grid(res, at)
    rows = mean_rows(grid, specs, by, weights, at)
    table = estimate_rows(res, rows.L, ddf)
    est, se, df = (table[c].to_numpy(dtype=float) for c in ("estimate", "se", "df"))
    q = tdist.ppf(1 - alpha / 2, df)
    lower, upper = est - q * se, est + q * se
    link = model_link(res)
    if type == "response" and link is not None:
        se = np.abs(link.inverse_deriv(est)) * se
        est, lower, upper = link.inverse(est), link.inverse(lower), link.inverse(upper)
        lower, upper = np.minimum(lower, upper), np.maximum(lower, upper)
    out = pd.DataFrame({"mean": est, "se": se, "df": df, "lower": lower, "upper": upper},
                       index=level_index(rows.levels, rows.specs + rows.by))
    out.attrs.update(ddf=ddf, type=type, weights=weights, notes=list(rows.notes),
                     covariates={n: v.levels for n, v in grid.variables.items()
                                 if not v.categorical})
    return out
