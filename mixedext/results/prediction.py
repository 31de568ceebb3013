"""Predictions with and without the random effects, and simulation of new outcomes.

* ``which="marginal"``: ``X beta`` (lme4's ``re.form = NA``), the mean of a new, unseen
  unit — statsmodels' ``predict``.
* ``which="conditional"``: ``X beta + Z b`` with the conditional modes ``b`` of the units
  seen in the fit; a unit not seen in the fit gets ``b = 0`` (lme4's
  ``allow.new.levels = TRUE``). Nested units are matched by their full path
  (rep 3 of center 1 is ``"1/3"``), level by level: a seen center with an unseen rep
  gets the center's effect only.

Random-effect formulas of new data are evaluated with ``np`` (numpy) in scope. A row of
new data with a missing value in a variable the prediction needs gets NaN, in place (as
statsmodels).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import patsy
from scipy.stats import norm

from mixedext._compat import design_from_spec, get_formula_spec
from mixedext._engine.factor import lambda_blocks
from mixedext.formula.terms import formula_variables, join_labels, split_formula
from mixedext.results.residuals import residual_sd_ratios

__all__ = ["predict", "get_prediction", "simulate"]


def _fixed_design(res, exog):
    """``X`` for new data (a DataFrame goes through the model's formula)."""
    model = res.model
    if isinstance(exog, pd.DataFrame) and getattr(model, "formula", None) is not None:
        return design_from_spec(get_formula_spec(model.data), exog)
    exog = np.asarray(exog, dtype=float)
    return exog[:, None] if exog.ndim == 1 else exog


def _unit_labels(frame: pd.DataFrame, factors) -> np.ndarray:
    for col in factors:
        if col not in frame.columns:
            raise KeyError(f"new data lacks the grouping column {col!r} needed for "
                           "conditional predictions")
    return join_labels([frame[col] for col in factors])


def _random_part(res, frame: pd.DataFrame) -> tuple[np.ndarray, list]:
    """``Z b`` for new rows, and per term the rows' ``(z, unit index or -1)``."""
    state = res.fit_state
    return random_contribution(state.terms, state.solution.b, frame)


def random_contribution(terms, modes, frame: pd.DataFrame) -> tuple[np.ndarray, list]:
    """``Z b`` for the rows of ``frame`` from the conditional modes ``b`` of seen units
    (0 for unseen ones), and per term the rows' ``(term, z, unit index or -1)``."""
    env = patsy.EvalEnvironment([{"np": np}])
    total = np.zeros(len(frame))
    parts = []
    for t, b in zip(terms, modes):
        if t.factors is None or t.lhs is None:
            raise NotImplementedError(f"conditional prediction on new data needs the "
                                      f"grouping of level {t.level!r} as a column of data "
                                      "(give groups= a column name)")
        if t.lhs.strip() == "1":
            z = np.ones((len(frame), 1))
        else:
            z = np.asarray(patsy.dmatrix(t.lhs, frame, eval_env=env), dtype=float)
        labels = _unit_labels(frame, t.factors)
        index = pd.Index(t.unit_labels).get_indexer(labels)
        seen = index >= 0
        if len(frame) and not seen.any():
            _warn_no_unit_matched(t, labels)
        contrib = np.zeros(len(frame))
        contrib[seen] = np.einsum("nq,nq->n", z[seen], b[index[seen]])
        total += contrib
        parts.append((t, z, index))
    return total, parts


def _warn_no_unit_matched(term, labels) -> None:
    new = ", ".join(map(str, pd.unique(np.asarray(labels))[:3]))
    fitted = ", ".join(map(str, term.unit_labels[:3]))
    warnings.warn(f"no row of the new data matches a unit of level {term.level!r} seen in "
                  f"the fit (new: {new}, ...; fitted: {fitted}, ...): the level's random "
                  "effects are 0 in these predictions", UserWarning, stacklevel=5)


def needed_columns(model, frame: pd.DataFrame, which: str, terms=()) -> list[str]:
    """The columns of ``frame`` a prediction of ``which`` kind reads."""
    formula = getattr(model, "formula", None)
    if formula is None:
        return []
    fixed = split_formula(formula)[0]
    texts = [fixed.split("~", 1)[-1]]
    if which == "conditional":
        texts += [t.lhs for t in terms if t.lhs is not None]
        texts += [" ".join(t.factors) for t in terms if t.factors is not None]
    return formula_variables(texts, list(frame.columns))


def on_complete_rows(frame, columns, compute):
    """``compute(frame)`` on the rows of ``frame`` without a missing value in
    ``columns``, NaN in place for the others (an array, or a DataFrame row-aligned)."""
    if not isinstance(frame, pd.DataFrame) or not columns:
        return compute(frame)
    ok = frame[columns].notna().all(axis=1).to_numpy()
    if ok.all():
        return compute(frame)
    part = compute(frame.iloc[np.flatnonzero(ok)])
    if isinstance(part, pd.DataFrame):
        out = pd.DataFrame(np.nan, index=range(len(frame)), columns=part.columns)
        out.iloc[np.flatnonzero(ok)] = part.to_numpy()
        return out
    out = np.full(len(frame), np.nan)
    out[ok] = part
    return out


def predict(res, exog=None, which: str = "marginal", offset=None) -> np.ndarray:
    """Predictions; see the module docstring."""
    if which not in ("marginal", "conditional"):
        raise ValueError(f"which must be 'marginal' or 'conditional', not {which!r}")
    known = new_offset(res.model, exog, offset)
    if isinstance(exog, pd.DataFrame):
        terms = res.fit_state.terms if res.engine_fit else ()
        frame = exog.assign(__offset__=known)
        return on_complete_rows(frame, needed_columns(res.model, exog, which, terms),
                                lambda part: _predict(res, part, which))
    return _predict(res, exog, which, known)


def new_offset(model, exog, offset=None, exposure=None) -> np.ndarray | float:
    """The offset of the rows a prediction is for: the model's own for ``exog=None``;
    for new data ``offset`` plus ``log(exposure)`` (each a column of ``exog`` or one value
    per row), by default read from the columns the model's offset came from
    (``model.offset_source``, ``{column: None or "log"}``; 0 for a model without one)."""
    if exog is None:
        if offset is not None or exposure is not None:
            raise ValueError("offset= and exposure= are for new data; the fitted rows use "
                             "the model's own")
        return 0.0 if model.offset is None else model.offset
    n = len(exog)
    given = {k: v for k, v in (("offset", offset), ("exposure", exposure)) if v is not None}
    if not given:
        if model.offset is None:
            return np.zeros(n)
        if not model.offset_source:
            raise ValueError("the model was fitted with an offset given as an array: give "
                             "predict() the new rows' offset= (or exposure=)")
        given = {("offset" if how is None else "exposure"): col
                 for col, how in model.offset_source.items()}
    out = np.zeros(n)
    for arg, value in given.items():
        if isinstance(value, str):
            if not isinstance(exog, pd.DataFrame) or value not in exog.columns:
                what = "offset column" if arg == "offset" else "column"
                raise KeyError(f"new data lacks the {what} {value!r} the model's offset is "
                               "read from (or give offset= / exposure=)")
            values = exog[value].to_numpy(dtype=float)
        else:
            values = np.asarray(value, dtype=float)
            if values.shape != (n,):
                raise ValueError(f"{arg} must be a column name or one value per row of the "
                                 f"new data ({n}), got shape {values.shape}")
        if arg == "exposure":
            if np.any(values <= 0):
                raise ValueError("exposure must be positive (its log is the offset)")
            values = np.log(values)
        out += values
    return out


def _predict(res, exog, which, known=0.0):
    fe = np.asarray(res.fe_params)
    if exog is None:
        if which == "conditional":
            return np.asarray(res.fittedvalues)
        return np.asarray(res.model.exog) @ fe + known
    if isinstance(exog, pd.DataFrame) and "__offset__" in exog.columns:
        known = exog["__offset__"].to_numpy(dtype=float)
    mean = _fixed_design(res, exog) @ fe + known
    if which == "marginal":
        return mean
    if not isinstance(exog, pd.DataFrame):
        raise TypeError("conditional predictions need a DataFrame with the grouping columns")
    res._require_engine("conditional prediction")
    return mean + _random_part(res, exog)[0]


def get_prediction(res, exog=None, which: str = "marginal", alpha: float = 0.05):
    """Predictions with confidence intervals for the mean and prediction intervals.

    The mean's SE is ``sqrt(x' V_beta x)`` (plus ``z' Var(b | y) z`` for the conditional
    mean of a seen unit); the prediction interval adds the residual variance and, for a
    marginal prediction or an unseen unit, the random-effect variance ``z' Sigma z``.
    Every prediction needs the random-effect terms (marginal intervals include the
    random-effect variance), so rows missing any variable of them are NaN. With prior
    weights the residual variance of a fitted row is ``sigma^2 / w_i``, of a new row
    ``sigma^2``; with a residual structure each row's ``sigma^2 s_i^2`` (its SD ratio
    ``s_i`` from ``het_var``, the times of ``"unstructured"`` and ``variance=``; a new
    row's from its own columns); a model's offset is added to the mean.
    """
    if isinstance(exog, pd.DataFrame):
        columns = needed_columns(res.model, exog, "conditional", res.fit_state.terms)
        return on_complete_rows(exog, columns,
                                lambda part: _get_prediction(res, part, which, alpha))
    return _get_prediction(res, exog, which, alpha)


def _get_prediction(res, exog, which, alpha):
    frame = exog if isinstance(exog, pd.DataFrame) else None
    if exog is None:
        x = np.asarray(res.model.exog, dtype=float)
    else:
        x = _fixed_design(res, exog)
    fe = np.asarray(res.fe_params)
    k = len(fe)
    vbeta = np.asarray(res.cov_params())[:k, :k]
    mean = x @ fe + new_offset(res.model, exog, None)
    var_mean = np.einsum("na,ab,nb->n", x, vbeta, x)
    var_re = np.zeros(len(x))
    need_frame = which == "conditional" or exog is not None
    if need_frame and frame is None and exog is not None:
        raise TypeError("intervals for new data need a DataFrame")
    covs = res._term_covariances()
    if frame is not None or exog is None:
        state = res.fit_state
        if exog is None:
            parts = [(t, np.ones((len(x), 1)) if t.z is None else t.z, t.codes)
                     for t in state.terms]
            zb = np.asarray(res.fittedvalues) - mean
        else:
            zb, parts = _random_part(res, frame)
        condcov = state.conditional_covariances()
        for (_, z, index), cov, ccov in zip(parts, covs, condcov):
            full = np.einsum("na,ab,nb->n", z, cov, z)
            if which == "marginal":
                var_re += full
                continue
            seen = index >= 0
            cvar = np.zeros(len(x))
            cvar[seen] = np.einsum("na,nab,nb->n", z[seen], ccov[index[seen]], z[seen])
            var_mean += cvar
            var_re += np.where(seen, 0.0, full)
        if which == "conditional":
            mean = mean + zb
    q = norm.ppf(1 - alpha / 2)
    se = np.sqrt(var_mean)
    # the fitted rows' own residual variance (prior weights, residual structure); a new
    # row's from its columns (weight 1)
    resid_var = res.scale * residual_sd_ratios(res, frame if exog is not None else None) ** 2
    obs_sd = np.sqrt(var_mean + var_re + resid_var)
    return pd.DataFrame({"mean": mean, "mean_se": se, "mean_ci_lower": mean - q * se,
                         "mean_ci_upper": mean + q * se, "obs_ci_lower": mean - q * obs_sd,
                         "obs_ci_upper": mean + q * obs_sd})


def simulate(res, nsim: int = 1, seed=None) -> np.ndarray:
    """Draws of new outcomes with fresh random effects (lme4's ``simulate(re.form = NA)``).

    Returns an array (nobs, nsim). Residuals follow the fitted residual structure
    (independent, ``het_var``, or the correlation of ``cov_struct``, and the rows' SDs of
    ``variance=``).
    """
    rng = np.random.default_rng(seed)
    model = res.model
    n = model.nobs
    mean = np.asarray(model.exog) @ np.asarray(res.fe_params)
    if model.offset is not None:
        mean = mean + model.offset
    out = np.repeat(mean[:, None], nsim, axis=1)
    state = res.fit_state
    sigma = np.sqrt(state.sigma2)
    # b = sigma Lambda u with u ~ N(0, I): also for singular covariances (Lambda is the
    # Cholesky factor of Sigma / sigma^2 wherever that exists)
    for t, lam in zip(state.terms, lambda_blocks(state.theta, state.terms)):
        draws = rng.standard_normal((nsim, t.n_units, t.q)) @ (sigma * lam).T  # (nsim, m, q)
        z = np.ones((n, 1)) if t.z is None else t.z
        out += np.einsum("nq,snq->ns", z, draws[:, t.codes, :])
    resid = np.sqrt(res.scale) * _residual_draws(res, nsim, rng)
    if model.weights is not None:  # residual variance sigma^2 / w
        resid /= np.sqrt(model.weights)[:, None]
    return out + resid


def _residual_draws(res, nsim, rng) -> np.ndarray:
    """Standardised residual draws (``Var = R``) per the model's residual structure."""
    state = res.fit_state
    n = res.model.nobs
    spec = state.residual_spec
    if spec is None:
        return rng.standard_normal((n, nsim))
    params = res.cov_struct_params.to_dict()
    e = np.empty((n, nsim))
    codes = spec.codes
    times = spec.times if spec.times is not None else np.zeros(n)
    # units in turn (rows by time; points of coords= in data order)
    order = np.lexsort((times, codes)) if times.ndim == 1 else np.argsort(codes, kind="stable")
    struct = state.structure
    het = None if spec.het is None else np.asarray(spec.het[1], dtype=object)[spec.het[0]]
    for unit_rows in np.split(order, np.flatnonzero(np.diff(codes[order])) + 1):
        r = struct.within_unit_cov(times[unit_rows], params,
                                   None if het is None else het[unit_rows])
        e[unit_rows] = np.linalg.cholesky(r) @ rng.standard_normal((len(unit_rows), nsim))
    extra = spec.row_sd(params)
    return e if extra is None else e * extra[:, None]
