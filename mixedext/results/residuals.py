"""Pearson and normalized residuals of a linear mixed model (nlme's ``resid(type =)``).

Model ``y = X beta + Z b + e``, ``Var(e) = sigma^2 R``, ``R`` block-diagonal over the
residual units ``u`` (``R_u = S_u C_u S_u``: SD ratios ``S_u`` from ``het_var`` or the
unstructured variances, correlation ``C_u`` from ``cov_struct``; ``R = I`` without a
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

__all__ = ["conditional_residuals", "pearson_residuals", "normalized_residuals", "row_index"]


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


def _sd_ratios(res, state) -> np.ndarray:
    """Each row's residual SD relative to sigma."""
    n = res.model.nobs
    if not state.has_structure:
        weights = res.model.weights
        return np.ones(n) if weights is None else 1.0 / np.sqrt(np.asarray(weights))
    spec, params = state.residual_spec, res.cov_struct_params.to_dict()
    times = spec.times if spec.times is not None else np.zeros(n)
    het = None if spec.het is None else np.asarray(spec.het[1], dtype=object)[spec.het[0]]
    return state.structure.sd_ratios(times, params, het)


def pearson_residuals(res) -> pd.Series:
    """Conditional residuals over ``sigma`` times each row's SD ratio."""
    state = res._require_engine("resid_pearson")
    r = conditional_residuals(res)
    return _labelled(res, r / (np.sqrt(state.sigma2) * _sd_ratios(res, state)),
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
