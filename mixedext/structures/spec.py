"""Residual covariance structures: checking the user's arguments and building the kernel.

``mixedlm(..., cov_struct=, time=, coords=, nugget=, cov_groups=, het_var=)`` gives
``Var(e) = sigma^2 R`` with ``R`` block-diagonal over *residual units* (by default the
units of the innermost grouping level). The structures are registered classes
(:mod:`mixedext.structures`); this module validates the data (errors name the column),
builds the structure's kernel and the deviance over ``(theta, eta)``, and reports
(residual covariance, intervals).

==================  ==========================================  ==============================
``cov_struct``      correlation of rows ``i, j`` of a unit       nlme
==================  ==========================================  ==============================
``"ar1"``           ``rho^|t_i - t_j|``, integer times           ``corAR1(~ t | g)``
``"car1"``          ``phi^|t_i - t_j|``, real times (also ar1)   ``corCAR1(~ t | g)``
``"ar1"`` +         AR(1) with a residual SD per time            ``corAR1`` + ``varIdent(~1|t)``
``het_var=t``       (heterogeneous AR(1))
``"exchangeable"``  ``rho``                                      ``corCompSymm``
``"unstructured"``  free, with a variance per time               ``corSymm`` + ``varIdent(~1|t)``
``"arma(p,q)"``     ARMA(p, q) autocorrelation at lag            ``corARMA(~ t | g, p, q)``
                    ``|t_i - t_j|``, integer times
``"toeplitz"``      ``rho_k``, ``k = |t_i - t_j|``, integer      ``corARMA(p = K)`` (same model)
                    times (a correlation per lag)
``"exp"``           ``exp(-d / range)``                          ``corExp(~ t | g)``
``"gaus"``          ``exp(-(d / range)^2)``                      ``corGaus``
``"lin"``           ``1 - d / range`` (0 beyond ``range``)       ``corLin``
``"ratio"``         ``1 / (1 + (d / range)^2)``                  ``corRatio``
``"spher"``         ``1 - 1.5 x + 0.5 x^3``, ``x = d / range``   ``corSpher``
                    (0 beyond ``range``)
==================  ==========================================  ==============================

For the spatial kinds ``d`` is ``|t_i - t_j|`` over ``time=`` or the Euclidean distance
between points of ``coords=[x, y, ...]`` (nlme's ``form = ~ x + y | g``);
``nugget=True`` (nlme's ``nugget = TRUE``) makes it ``(1 - nugget) f(d / range)`` for
``d > 0``.

``variance=`` adds variance functions (:mod:`mixedext.structures.variance`): ``R_u =
S_u C_u S_u`` with the rows' SDs ``s_i`` from a covariate, whatever the structure. A
first ``ident(g)`` is the structure's ``het`` (as ``het_var="g"``) where it takes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.stats import norm

from mixedext._engine.deviance import CorrelatedDeviance
from mixedext._engine.differences import central_hessian, central_jacobian, central_slope, steps
from mixedext._engine.factor import theta_bounds
from mixedext.formula.terms import unit_codes
from mixedext.results.residuals import row_index
from mixedext.structures.base import structure_class, time_order
from mixedext.structures.variance import VarianceWeighted, variance_functions

__all__ = ["ResidualSpec", "residual_spec", "build_structure", "correlated_deviance",
           "residual_covariance", "cov_struct_intervals", "check_arguments",
           "check_time_dtype", "check_distinct_times", "check_duplicate_points",
           "set_variance", "coords_columns", "coords_points", "check_nugget"]


@dataclass
class ResidualSpec:
    """The residual structure of a model, validated against its data.

    ``codes``/``n_units``: residual unit of every row; ``times``: measurement times
    (None when not needed); ``het``: ``(level codes, level names)`` of ``het_var``;
    ``variance``: the variance functions (with the model's rows) besides ``het``;
    ``constants``: the whole data's constants of the structure when the rows are only some
    of its units (a Dask partition: ``data_constants`` added over partitions, and
    ``"continuous"``), None for all the rows.
    """

    kind: str
    codes: np.ndarray | None  # None: without rows (Dask)
    n_units: int
    times: np.ndarray | None = None
    time_name: str | None = None
    het: tuple | None = None
    het_name: str | None = None
    variance: tuple = ()
    labels: np.ndarray | None = None  # label of each residual unit
    nugget: bool = False  # a nugget in a spatial correlation (nugget=True)
    constants: dict | None = None  # the whole data's, for some of its units

    @property
    def structure(self):
        """The registered structure class of ``kind``."""
        return structure_class(self.kind)

    def row_sd(self, params: dict) -> np.ndarray | None:
        """The variance functions' SD factor ``s_i`` of each row (natural ``params``), or
        None without variance functions; ``het`` and a structure's own SDs are the
        structure's ``sd_ratios``."""
        if not self.variance:
            return None
        return np.exp(sum(f.log_sd(params) for f in self.variance))

    @property
    def variance_spelling(self) -> str | None:
        """The variance functions besides ``het``, as ``variance=`` spells them."""
        return " * ".join(f.spelling for f in self.variance) or None

    @cached_property
    def continuous(self) -> bool:
        """Real-valued times (or points): ``R`` is not tabulated over distinct times."""
        if self.constants is not None and "continuous" in self.constants:
            return bool(self.constants["continuous"])
        if getattr(self.structure, "continuous", False) is True:
            return True
        return self.kind == "car1" or (self.kind == "ar1" and self.times is not None and
                                       not np.array_equal(self.times, np.round(self.times)))


def _time_hint(col: pd.Series, time: str) -> str:
    """How to turn a non-numeric time column into numbers."""
    if pd.api.types.is_datetime64_any_dtype(col):
        return (f"convert it to numbers, e.g. (data[{time!r}] - data[{time!r}].min()) / "
                "pd.Timedelta(days=1)")
    if pd.api.types.is_bool_dtype(col):
        return f"use data[{time!r}].astype(int) if the two values are two times"
    parsed = pd.to_numeric(pd.Series(np.asarray(col, dtype=object)), errors="coerce")
    if parsed.notna().sum() == col.notna().sum():
        return f"its values are numbers: pd.to_numeric(data[{time!r}].astype(str))"
    return ("give each measurement the number of its time (visits 1, 2, 3, ...; gaps "
            "count for AR(1) and CAR(1))")


def _numeric_column(data, name: str, arg: str) -> np.ndarray:
    """A numeric column as floats; a TypeError names it and says how to convert it."""
    col = data[name]
    check_time_dtype(col, name, arg)
    return col.to_numpy(dtype=float)


def coords_columns(cls, kind: str, coords, time) -> list[str]:
    """The columns of ``coords=[...]``, after checking the structure takes them."""
    if not getattr(cls, "takes_coords", False):
        raise ValueError(f"coords={coords!r} is used by the spatial correlations "
                         "(cov_struct='exp', 'gaus', 'lin', 'ratio', 'spher'); "
                         f"cov_struct={kind!r} would ignore it")
    if time is not None:
        raise ValueError(f"give the positions either as time={time!r} or as coords="
                         f"{coords!r}, not both")
    cols = [coords] if isinstance(coords, str) else list(coords)
    if not cols:
        raise ValueError("coords= needs at least one column")
    return cols


def coords_points(data, cols) -> np.ndarray:
    """The rows' points in the ``coords=`` columns ``cols``, (n, d)."""
    return np.column_stack([_numeric_column(data, c, "coords") for c in cols])


def check_nugget(cls, kind: str, nugget) -> None:
    """``nugget=True`` only with a structure that has one."""
    if nugget and not getattr(cls, "takes_nugget", False):
        raise ValueError(f"nugget=True is used by the spatial correlations "
                         "(cov_struct='exp', 'gaus', 'lin', 'ratio', 'spher'); "
                         f"cov_struct={kind!r} has no nugget")


def check_duplicate_points(codes, points, names) -> None:
    """No two rows of a unit at the same point (their distance would be 0)."""
    keys = [points[:, j] for j in range(points.shape[1] - 1, -1, -1)]
    order = np.lexsort((*keys, codes))
    u, pts = codes[order], points[order]
    dup = np.flatnonzero((u[1:] == u[:-1]) & np.all(pts[1:] == pts[:-1], axis=1))
    if dup.size:
        i = int(order[dup[0] + 1])
        raise ValueError(f"duplicate points within a unit in columns {names!r}: point "
                         f"{tuple(float(v) for v in points[i])} appears twice in one unit "
                         f"(row {i}); the distance between two rows must be positive")


def residual_spec(data, terms, groups, kind, *, time=None, cov_groups=None,
                  het_var=None, coords=None, nugget=False, variance=None) -> ResidualSpec:
    """Validate ``cov_struct``/``time``/``coords``/``nugget``/``cov_groups``/``het_var``/
    ``variance`` and find the units."""
    cls = structure_class(kind)
    check_nugget(cls, kind, nugget)
    if cov_groups is not None:
        cols = [cov_groups] if isinstance(cov_groups, str) else list(cov_groups)
        codes, labels = unit_codes([np.asarray(data[c]) for c in cols])
        m = len(labels)
    elif terms:
        inner = max(terms, key=lambda t: t.n_units)
        codes, m, labels = inner.codes, inner.n_units, inner.unit_labels
    elif groups is not None:
        codes, labels = unit_codes([np.asarray(groups)])
        m = len(labels)
    else:
        raise ValueError("cov_struct needs units to correlate within: give groups=, "
                         "cov_groups= or a random-effect term such as (1 | subject)")
    for t in terms:
        parent = np.zeros(m, dtype=np.int64)
        parent[codes] = t.codes
        if not np.array_equal(parent[codes], t.codes):
            raise ValueError(f"the residual units must lie inside the units of every random-"
                             f"effect level, but they cut across level {t.level!r}; choose "
                             "cov_groups at or below the innermost level")
    spec = ResidualSpec(kind, codes, m, nugget=bool(nugget),
                        labels=np.asarray(labels))
    if coords is not None:
        names = coords_columns(cls, kind, coords, time)
        points = coords_points(data, names)
        check_duplicate_points(codes, points, names)
        spec.times, spec.time_name = points, ", ".join(names)
    check_arguments(kind, time, het_var, coords=coords)
    if time is not None:
        times = _numeric_column(data, time, "time")
        check_distinct_times(codes, times, time)
        spec.times, spec.time_name = times, time
    if het_var is not None:
        lev, names = pd.factorize(data[het_var], sort=True)
        spec.het, spec.het_name = (lev.astype(np.int64), [str(x) for x in names]), het_var
    if variance is not None:
        set_variance(spec, cls, data, variance)
    cls.validate(spec, terms)
    cls.validate_terms(spec, terms)
    return spec


def check_arguments(kind: str, time, het_var, *, coords=None) -> None:
    """``time=``, ``coords=`` and ``het_var=`` as ``cov_struct=kind`` takes them (errors
    name them)."""
    cls = structure_class(kind)
    if cls.needs_time and time is None and coords is None:
        also = " or coords= (columns of coordinates)" if getattr(cls, "takes_coords", False) \
            else ""
        raise ValueError(f"cov_struct={kind!r} needs time= (the column of measurement "
                         f"times){also}")
    if time is not None and kind == "independence":
        raise ValueError(f"time={time!r} is used by a residual correlation structure "
                         "(cov_struct='ar1', 'car1', 'exchangeable', 'unstructured', "
                         "'exp', 'arma(p,q)', 'toeplitz', ...); without one it would be "
                         "ignored")
    if het_var is not None and not cls.takes_het:
        raise ValueError(f"het_var with cov_struct={kind!r}: the structure already has "
                         "a variance per time")


def check_time_dtype(col, time: str, arg: str = "time") -> None:
    """The time (or coordinate) column must be numeric (the error says how to make it
    so)."""
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise TypeError(f"{arg} column {time!r} must be numeric (got {col.dtype}); "
                        + _time_hint(col, time))


def check_distinct_times(codes, times, time: str, *, name_row: bool = True) -> None:
    """No time may repeat within a residual unit (rows: their unit ``codes``, ``times``;
    ``name_row``: the error names the row's position)."""
    order = time_order(codes, times)
    if order is None:
        return
    u, t = codes[order], times[order]
    dup = np.flatnonzero((u[1:] == u[:-1]) & (t[1:] == t[:-1]))
    if dup.size:
        i = int(order[dup[0] + 1])
        where = f" (row {i})" if name_row else ""
        raise ValueError(f"duplicate times within a unit in column {time!r}: time "
                         f"{times[i]:g} appears twice in one unit{where}; each "
                         "unit may be measured once per time")


def set_variance(spec: ResidualSpec, cls, data, variance, levels=None) -> None:
    """The variance functions of ``variance=``; a first ``ident(g)`` becomes the
    structure's ``het`` where it takes one (its O(units) path, as ``het_var=``).
    ``levels``: each factor's levels in the whole data, when ``data`` is part of it."""
    functions = variance_functions(data, variance, levels=levels)
    idents = [f for f in functions if f.kind == "ident"]
    if spec.het_name is not None and any(f.strata_name == spec.het_name for f in idents):
        raise ValueError(f"het_var={spec.het_name!r} and variance={variance!r} both give "
                         f"an SD per level of {spec.het_name!r}; give one of them")
    if idents and spec.het is None and cls.takes_het:
        first = idents[0]
        spec.het, spec.het_name = first.strata, first.strata_name
        functions.remove(first)
    if spec.het is not None:
        taken = {f"sd_ratio[{lev}]" for lev in spec.het[1]}
        clash = sorted(taken & {n for f in functions for n in f.natural(f.start())})
        if clash:
            raise ValueError(f"variance={variance!r}: parameter name(s) "
                             f"{', '.join(map(repr, clash))} of two SD-per-level factors "
                             "clash; relabel the levels of one factor")
    spec.variance = tuple(functions)


def build_structure(spec: ResidualSpec, w, cols):
    """The kernel of ``spec`` for the columns ``w`` of ``W``: its structure's, scaled by
    the variance functions when there are any."""
    if spec.variance:
        return VarianceWeighted(spec, w, cols)
    return spec.structure.build(spec, w, cols)


def w_columns(terms, exog, endog):
    """``W = [z columns not already in X, X, y]`` and each term's column indices in ``W``.

    A random-effect covariate equal to a fixed-effect column (the intercept, a slope's
    covariate) is not repeated: the per-unit statistics cost ``O(c^2)`` in the columns.
    """
    exog = np.asarray(exog, dtype=float)
    n, p = exog.shape
    extra, index = [], []
    for t in terms:
        z = np.ones((n, 1)) if t.z is None else np.asarray(t.z, dtype=float)
        cols = []
        for a in range(z.shape[1]):
            same = [j for j in range(p) if np.array_equal(exog[:, j], z[:, a])]
            if same:
                cols.append(("x", same[0]))
            else:
                extra.append(z[:, a])
                cols.append(("z", len(extra) - 1))
        index.append(cols)
    nz = len(extra)
    w = np.empty((n, nz + p + 1))  # C order: the per-unit sums read rows
    for j, col in enumerate(extra):
        w[:, j] = col
    w[:, nz:nz + p] = exog
    w[:, -1] = endog
    positions = [np.array([j if kind == "z" else nz + j for kind, j in cols])
                 for cols in index]
    return w, positions


def z_columns(positions) -> np.ndarray:
    """The columns of ``W`` that carry a random-effect covariate of some term."""
    return np.unique(np.concatenate([np.asarray(p, dtype=np.int64) for p in positions]
                                    + [np.zeros(0, dtype=np.int64)]))


def parents_of(terms, codes, n_units):
    """For each term, the unit containing each residual unit."""
    out = []
    for t in terms:
        parent = np.zeros(n_units, dtype=np.int64)
        parent[codes] = t.codes
        out.append(parent)
    return out


def correlated_deviance(spec: ResidualSpec, terms, exog, endog) -> CorrelatedDeviance:
    """The deviance over ``(theta, eta)`` of a model with the residual structure ``spec``,
    random-effect ``terms``, fixed effects ``exog`` and response ``endog``."""
    exog = np.asarray(exog, dtype=float)
    w, slices = w_columns(terms, exog, endog)
    codes, m = spec.codes, spec.n_units
    struct = build_structure(spec, w, z_columns(slices))
    parents = parents_of(terms, codes, m)
    counts = [np.bincount(t.codes, minlength=t.n_units) for t in terms]
    return CorrelatedDeviance(terms, struct, parents, slices, exog.shape[1], len(w), counts)


def residual_covariance(res, times=None, unit=None) -> pd.DataFrame:
    """``sigma^2 R`` over ``times`` (reference level of ``het_var``, or each time's own
    SD ratio when ``het_var`` is the time column), or over the rows of the residual unit
    labelled ``unit`` (their het levels and variance functions)."""
    state = res.fit_state
    spec, struct = state.residual_spec, state.structure
    params = res.cov_struct_params.to_dict()
    if unit is not None:
        return _unit_covariance(res, spec, struct, params, unit)
    if spec.variance:
        raise ValueError(f"with variance={spec.variance_spelling!r} the covariance depends "
                         "on each row's covariate: pass unit= (the label of a residual unit, "
                         "e.g. a subject) for that unit's rows")
    if times is None:
        if spec.times is None:
            raise ValueError("this structure has no time column: pass times= (positions)")
        if spec.continuous:
            raise ValueError(f"cov_struct={spec.kind!r} over real-valued times or points: "
                             "pass the positions to evaluate, e.g. residual_cov(times=[0, "
                             "0.5, 2]) (coords: one row of coordinates per point)")
        times = np.unique(spec.times)
    times = np.asarray(times, dtype=float)
    het_levels = None
    if spec.het is not None and spec.het_name == spec.time_name and spec.codes is not None \
            and spec.times.ndim == 1:
        # het_var= the time column (e.g. heterogeneous AR(1)): each time's own SD
        level_of = dict(zip(spec.times, np.asarray(spec.het[1], dtype=object)[spec.het[0]]))
        if all(t in level_of for t in times):
            het_levels = [level_of[t] for t in times]
    cov = struct.within_unit_cov(times, params, het_levels)
    labels = [f"{t:g}" if np.ndim(t) == 0 else "(" + ", ".join(f"{v:g}" for v in t) + ")"
              for t in times]
    return pd.DataFrame(res.scale * cov, index=labels, columns=labels)


def _unit_covariance(res, spec, struct, params, unit) -> pd.DataFrame:
    """``sigma^2 S R S`` of one residual unit's rows, in time order (points: by their
    coordinates), labelled by row."""
    if spec.labels is None:
        raise ValueError("the residual units of this model have no labels")
    hit = np.flatnonzero(spec.labels.astype(str) == str(unit))
    if not hit.size:
        raise KeyError(f"unit={unit!r} is not a residual unit of the model (e.g. "
                       f"{', '.join(map(repr, spec.labels[:3].astype(str)))})")
    rows = np.flatnonzero(spec.codes == hit[0])
    times = spec.times[rows] if spec.times is not None else np.zeros(len(rows))
    # in time order; points of coords= by their first coordinate, then the next ...
    points = np.reshape(times, (len(rows), -1))
    rows = rows[np.lexsort(points[:, ::-1].T)]
    times = spec.times[rows] if spec.times is not None else np.zeros(len(rows))
    het = None if spec.het is None else np.asarray(spec.het[1], dtype=object)[spec.het[0]]
    cov = struct.within_unit_cov(times, params, None if het is None else het[rows])
    sd = spec.row_sd(params)
    if sd is not None:
        cov = cov * np.outer(sd[rows], sd[rows])
    labels = row_index(res.model, len(spec.codes))[rows]
    return pd.DataFrame(res.scale * cov, index=labels, columns=labels)


def cov_struct_intervals(res, alpha: float = 0.05) -> pd.DataFrame:
    """Wald intervals of the residual-structure parameters (see
    ``MixedLMResults.conf_int_cov_struct``)."""


    state = res.fit_state
    dev, struct = state.correlated_deviance(), state.structure
    theta, eta = np.asarray(state.theta), np.asarray(state.eta)
    x0 = np.concatenate([theta, eta])
    # variances on their boundary 0 are held there (their deviance is flat to first order)
    free = np.concatenate([~((theta_bounds(state.terms) == 0) & (theta < 1e-4)),
                           np.ones(len(eta), dtype=bool)])

    def deviance(x_free):
        x = x0.copy()
        x[free] = x_free
        return dev(x, state.reml)

    # the joint deviance over (theta, eta) is noisier than the profiled one: steps 1e-3
    cov = 2.0 * np.linalg.pinv(central_hessian(deviance, x0[free],
                                               steps(x0[free], 1e-3, floor=0.1)))
    cov_eta = cov[-len(eta):, -len(eta):]
    names = list(struct.natural(eta))
    links = [struct.link(name) for name in names]

    def linked(e):
        nat = struct.natural(e)
        return np.array([f(nat[name]) for name, (f, _) in zip(names, links)])

    jac = np.column_stack(central_jacobian(linked, eta, steps(eta, 1e-6, floor=1.0)))
    se_link = np.sqrt(np.maximum(np.diag(jac @ cov_eta @ jac.T), 0.0))
    centre = linked(eta)
    z = norm.ppf(1 - alpha / 2)
    est = np.array([struct.natural(eta)[name] for name in names])
    lower = np.array([inv(c - z * s) for (_, inv), c, s in zip(links, centre, se_link)])
    upper = np.array([inv(c + z * s) for (_, inv), c, s in zip(links, centre, se_link)])
    # delta method back to the natural scale: d(natural)/d(link) = 1 / link'(estimate)
    slope = np.array([central_slope(inv, c) for (_, inv), c in zip(links, centre)])
    out = pd.DataFrame({"estimate": est, "std_err": se_link * slope, "lower": lower,
                        "upper": upper}, index=pd.Index(names, name="parameter"))
    # a parameter on its boundary (rho = +/-1, phi = 0, ...) has no Wald interval
    boundary = ~np.isfinite(centre) | ((np.abs(centre) > 20)
                                       & ~np.array([struct.unbounded(n) for n in names]))
    out.loc[boundary, ["std_err", "lower", "upper"]] = np.nan
    return out
