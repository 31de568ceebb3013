"""Pearson and normalized residuals of a linear mixed model (nlme's ``resid(type =)``).

Model ``y = X beta + Z b + e``, ``Var(e) = sigma^2 R``, ``R`` block-diagonal over the
residual units ``u`` (``R_u = S_u C_u S_u``: SD ratios ``S_u`` from ``het_var``, the
unstructured variances and the variance functions of ``variance=``, correlation ``C_u``
from ``cov_struct``; ``R = I`` without a
residual structure, ``R = diag(1 / w)`` with prior weights). The conditional (level-1)
residuals are ``r = y - X beta_hat - Z b_hat`` (minus the offset), and

* Pearson: ``r_i / (sigma s_i)``, ``s_i`` row ``i``'s SD ratio (``1 / sqrt(w_i)`` with
  prior weights);
* normalized: ``T_u S_u^{-1} r_u / sigma`` per residual unit, ``T_u' T_u = C_u^{-1}``,
  the unit's rows in the data's row order (nlme's ``resid(fit, type = "normalized")``,
  the innermost level for ``lme``): uncorrelated with unit variance under the model, so
  they show what the residual structure leaves. ``T_u`` is nlme's: the inverse of the
  lower Cholesky factor of ``C_u`` (AR(1), continuous-time AR(1), unstructured), and for
  exchangeable correlation ``rho`` nlme's Helmert-type factor (``corCompSymm``): first
  row ``1 / sqrt(n (1 + (n - 1) rho))``, row ``k = 1 .. n - 1`` (0-based)
  ``-1 / sqrt((1 - rho) k (k + 1))`` before the diagonal and ``k`` times its negative
  on it, zeros after.

Without a correlation structure both are the same. Both are Series labelled like the
data's rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg as sla

__all__ = ["conditional_residuals", "pearson_residuals", "normalized_residuals", "row_index",
           "residual_sd_ratios"]


def row_index(model, n: int) -> pd.Index:
    """The labels of the model's data rows (0 .. n - 1 when it has none)."""
    labels = getattr(getattr(model, "data", None), "row_labels", None)
    return pd.RangeIndex(n) if labels is None or len(labels) != n else pd.Index(labels)


def _labelled(res, values, name) -> pd.Series:
    return pd.Series(values, index=row_index(res.model, len(values)), name=name)


def conditional_residuals(res) -> np.ndarray:
    """``y - X beta_hat - Z b_hat`` (minus the offset)."""
    res._require_rows("residuals")
    return np.asarray(res.model.endog, dtype=float) - np.asarray(res.fittedvalues)


def residual_sd_ratios(res, frame: pd.DataFrame | None = None) -> np.ndarray:
    """Each row's residual SD relative to sigma: the fitted rows', or those of new rows
    ``frame`` (their time, ``het_var`` and variance-function columns)."""
    state = res.fit_state
    if not state.has_structure:
        weights = res.model.weights
        if frame is not None or weights is None:
            return np.ones(res.model.nobs if frame is None else len(frame))
        return 1.0 / np.sqrt(np.asarray(weights))
    spec, params = state.residual_spec, res.cov_struct_params.to_dict()
    if frame is None:
        n = res.model.nobs
        times = spec.times if spec.times is not None else np.zeros(n)
        het = None if spec.het is None else np.asarray(spec.het[1], dtype=object)[spec.het[0]]
        sd = state.structure.sd_ratios(times, params, het)
        extra = spec.row_sd(params)
        return sd if extra is None else sd * extra
    n = len(frame)
    times = np.zeros(n)
    if not state.structure.takes_het:  # a variance per time ("unstructured")
        times = _column(frame, spec.time_name, "time").to_numpy(dtype=float)
    het = None
    if spec.het is not None:
        het = _levels(frame, spec.het_name, spec.het[1]).astype(str)
    log_sd = np.zeros(n)
    for f in spec.variance:
        values = None if f.column is None else \
            _column(frame, f.column, "variance").to_numpy(dtype=float)
        codes = None if f.strata is None else \
            pd.Index(f.levels).get_indexer(_levels(frame, f.strata_name, f.levels))
        log_sd += f.log_sd(params, np.zeros(n) if values is None else values, codes)
    return state.structure.sd_ratios(times, params, het) * np.exp(log_sd)


def _column(frame, name, what) -> pd.Series:
    if name not in frame.columns:
        raise KeyError(f"new data lack the {what} column {name!r} of the residual structure")
    return frame[name]


def _levels(frame, name, levels) -> np.ndarray:
    """The column's values as the fit's level names; an unseen level is an error."""
    values = _column(frame, name, "SD-per-level").astype(str).to_numpy()
    unseen = sorted(set(values) - set(levels))
    if unseen:
        raise ValueError(f"column {name!r} of the new data has level(s) "
                         f"{', '.join(map(repr, unseen[:5]))} not in the fit (whose residual "
                         f"SD ratios are for {', '.join(map(repr, levels))})")
    return values


def pearson_residuals(res) -> pd.Series:
    """Conditional residuals over ``sigma`` times each row's SD ratio."""
    state = res._require_engine("resid_pearson")
    r = conditional_residuals(res)
    return _labelled(res, r / (np.sqrt(state.sigma2) * residual_sd_ratios(res)),
                     "resid_pearson")


def normalized_residuals(res) -> pd.Series:
    """Conditional residuals whitened within each residual unit (see the module
    docstring); the Pearson residuals for a model without residual correlation."""
    state = res._require_engine("resid_normalized")
    if not state.has_structure:
        return pearson_residuals(res).rename("resid_normalized")
    r = conditional_residuals(res) / np.sqrt(state.sigma2)
    spec, struct = state.residual_spec, state.structure
    params = res.cov_struct_params.to_dict()
    extra = spec.row_sd(params)  # variance functions: S = S_structure diag(extra)
    if extra is not None:
        r = r / extra
    n = len(r)
    times = spec.times if spec.times is not None else np.zeros(n)
    het = None if spec.het is None else np.asarray(spec.het[1], dtype=object)[spec.het[0]]
    order = np.argsort(spec.codes, kind="stable")  # units in turn, rows in data order
    starts = np.flatnonzero(np.r_[True, np.diff(spec.codes[order]) != 0])
    out = np.empty(n)
    factors = {}  # one Cholesky factor per pattern of times and het levels
    for rows in np.split(order, starts[1:]):
        t = times[rows]
        lev = None if het is None else het[rows]
        key = (t.tobytes(), None if lev is None else tuple(lev))
        if key not in factors:
            factors[key] = _whitening(struct, t, params, lev)
        out[rows] = factors[key] @ r[rows]
    return _labelled(res, out, "resid_normalized")


def _whitening(struct, times, params, het_levels) -> np.ndarray:
    """nlme's ``T S^{-1}`` for one unit (see the module docstring)."""
    sd = struct.sd_ratios(times, params, het_levels)
    n = len(times)
    if struct.name == "exchangeable":
        rho = params["rho"]
        out = np.zeros((n, n))
        out[0] = 1.0 / np.sqrt(n * (1.0 + (n - 1) * rho))
        for k in range(1, n):
            a = -1.0 / np.sqrt((1.0 - rho) * k * (k + 1))
            out[k, :k] = a
            out[k, k] = -k * a
        return out / sd[None, :]
    chol = np.linalg.cholesky(struct.corr(times, params))
    return sla.solve_triangular(chol, np.diag(1.0 / sd), lower=True)
