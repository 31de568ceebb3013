"""Residual covariance structures: checking the user's arguments and building the kernel.

``mixedlm(..., cov_struct=, time=, cov_groups=, het_var=)`` gives ``Var(e) = sigma^2 R``
with ``R`` block-diagonal over *residual units* (by default the units of the innermost
grouping level). The structures are registered classes (:mod:`mixedext.structures`);
this module validates the data (errors name the column), builds the structure's kernel
and the deviance over ``(theta, eta)``, and reports (residual covariance, intervals).

=================  ==========================================  =====================
``cov_struct``     correlation of rows ``i, j`` of a unit       nlme
=================  ==========================================  =====================
``"ar1"``          ``rho^|t_i - t_j|``, integer times           ``corAR1(~ t | g)``
``"car1"``         ``phi^|t_i - t_j|``, real times (also ar1)   ``corCAR1(~ t | g)``
``"exchangeable"`` ``rho``                                      ``corCompSymm``
``"unstructured"`` free, with a variance per time               ``corSymm`` + ``varIdent(~1|t)``
=================  ==========================================  =====================
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
from mixedext.structures.base import structure_class, time_order

__all__ = ["ResidualSpec", "residual_spec", "correlated_deviance", "residual_covariance",
           "cov_struct_intervals", "check_arguments", "check_time_dtype",
           "check_distinct_times"]


@dataclass
class ResidualSpec:
    """The residual structure of a model, validated against its data.

    ``codes``/``n_units``: residual unit of every row; ``times``: measurement times
    (None when not needed); ``het``: ``(level codes, level names)`` of ``het_var``.
    """

    kind: str
    codes: np.ndarray
    n_units: int
    times: np.ndarray | None = None
    time_name: str | None = None
    het: tuple | None = None
    het_name: str | None = None

    @property
    def structure(self):
        """The registered structure class of ``kind``."""
        return structure_class(self.kind)

    @cached_property
    def continuous(self) -> bool:
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


def residual_spec(data, terms, groups, kind, *, time=None, cov_groups=None,
                  het_var=None) -> ResidualSpec:
    """Validate ``cov_struct``/``time``/``cov_groups``/``het_var`` and find the units."""
    cls = structure_class(kind)
    if cov_groups is not None:
        cols = [cov_groups] if isinstance(cov_groups, str) else list(cov_groups)
        codes, labels = unit_codes([np.asarray(data[c]) for c in cols])
        m = len(labels)
    elif terms:
        inner = max(terms, key=lambda t: t.n_units)
        codes, m = inner.codes, inner.n_units
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
    spec = ResidualSpec(kind, codes, m)
    check_arguments(kind, time, het_var)
    if time is not None:
        col = data[time]
        check_time_dtype(col, time)
        times = col.to_numpy(dtype=float)
        check_distinct_times(codes, times, time)
        spec.times, spec.time_name = times, time
    if het_var is not None:
        lev, names = pd.factorize(data[het_var], sort=True)
        spec.het, spec.het_name = (lev.astype(np.int64), [str(x) for x in names]), het_var
    cls.validate(spec, terms)
    cls.validate_terms(spec, terms)
    return spec


def check_arguments(kind: str, time, het_var) -> None:
    """``time=`` and ``het_var=`` as ``cov_struct=kind`` takes them (errors name them)."""
    cls = structure_class(kind)
    if cls.needs_time and time is None:
        raise ValueError(f"cov_struct={kind!r} needs time= (the column of measurement times)")
    if time is not None and kind == "independence":
        raise ValueError(f"time={time!r} is used by a residual correlation structure "
                         "(cov_struct='ar1', 'car1', 'exchangeable', 'unstructured'); "
                         "without one it would be ignored")
    if het_var is not None and not cls.takes_het:
        raise ValueError(f"het_var with cov_struct={kind!r}: the structure already has "
                         "a variance per time")


def check_time_dtype(col, time: str) -> None:
    """The time column must be numeric (the error says how to make it so)."""
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise TypeError(f"time column {time!r} must be numeric (got {col.dtype}); "
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
    struct = spec.structure.build(spec, w, z_columns(slices))
    parents = parents_of(terms, codes, m)
    counts = [np.bincount(t.codes, minlength=t.n_units) for t in terms]
    return CorrelatedDeviance(terms, struct, parents, slices, exog.shape[1], len(w), counts)


def residual_covariance(res, times=None) -> pd.DataFrame:
    """``sigma^2 R`` over ``times`` (reference level of ``het_var``)."""
    state = res.fit_state
    spec, struct = state.residual_spec, state.structure
    if times is None:
        if spec.times is None:
            raise ValueError("this structure has no time column: pass times= (positions)")
        if spec.continuous:
            raise ValueError("continuous-time AR(1): pass the times to evaluate, e.g. "
                             "residual_cov(times=[0, 0.5, 2])")
        times = np.unique(spec.times)
    times = np.asarray(times, dtype=float)
    cov = struct.within_unit_cov(times, res.cov_struct_params.to_dict())
    labels = [f"{t:g}" for t in times]
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
    boundary = ~np.isfinite(centre) | (np.abs(centre) > 20)
    out.loc[boundary, ["std_err", "lower", "upper"]] = np.nan
    return out
