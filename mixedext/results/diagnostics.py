"""ICC, design effect and shrinkage: reporting on a fitted mixed model.

Definitions (``design.md``; Snijders & Bosker 2012, *Multilevel Analysis*, ch. 3–4;
Eldridge, Ashby & Kerry 2006, *Int J Epidemiol* 35:1292):

* With random-intercept variances ``sigma2_1`` (outermost) ... ``sigma2_k`` and residual
  ``sigma2_e``, ``T = sum sigma2_j + sigma2_e``. The **ICC of level j** is
  ``(sigma2_1 + ... + sigma2_j) / T``, the correlation of two observations that share
  the unit at level ``j`` (its ancestors' variances included); its **share** is
  ``sigma2_j / T`` (``performance::icc(by_group = TRUE)``). Crossed levels have no
  ancestors: their ICC is their share.
* **Design effect** of randomising (or sampling) whole units of level ``L``:
  ``DE = 1 + sum_{j at or inside L} (m_j - 1) sigma2_j / T`` with ``m_j`` the mean number of
  observations per unit of level ``j``; for one level ``1 + (m - 1) ICC``.
  ``method="unequal"`` uses ``(1 + CV_j^2) m_j`` for ``m_j`` (CV of the unit sizes).
  Effective sample size ``n / DE``; standard errors are ``sqrt(DE)`` times too small when
  the clustering is ignored.
* **Shrinkage**: ``factor = 1 - Var(b_i | y) / tau^2``, the reliability of a unit's
  estimate; ``tau^2 / (tau^2 + sigma2_e / n_i)`` for a random intercept.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm

__all__ = ["design_effect", "clusters_needed", "icc_table", "r2_table", "random_variance",
           "design_effect_table", "shrinkage_table"]


# -- planning functions (no data needed) -------------------------------------------------
def design_effect(icc: float, cluster_size: float, cv: float = 0.0) -> float:
    """Compute the design effect of a cluster-randomised design.

    Parameters
    ----------
    icc : float
        The intraclass correlation, in [0, 1].
    cluster_size : float
        The mean number of individuals per cluster, at least 1.
    cv : float, default 0.0
        The coefficient of variation of the cluster sizes (0: equal sizes).

    Returns
    -------
    float
        The factor by which the variance of an estimate grows when whole clusters are
        randomised instead of individuals.

    Raises
    ------
    ValueError
        For ``icc`` outside [0, 1] or ``cluster_size`` below 1.

    See Also
    --------
    clusters_needed : The clusters to randomise for a trial's power.

    Notes
    -----
    ``DE = 1 + ((1 + cv^2) m - 1) ICC`` with ``m`` the mean cluster size; for equal
    sizes ``1 + (m - 1) ICC``.

    References
    ----------
    .. [1] Eldridge, S. M., Ashby, D. and Kerry, S. (2006). Sample size for cluster
       randomized trials: effect of coefficient of variation of cluster size and
       analysis method. International Journal of Epidemiology 35, 1292-1300.

    Examples
    --------
    >>> import mixedext as mx
    >>> round(mx.design_effect(0.05, 20), 3)
    1.95
    >>> round(mx.design_effect(0.05, 20, cv=0.4), 3)
    2.11
    """
    if not 0 <= icc <= 1:
        raise ValueError(f"icc must lie in [0, 1], got {icc}")
    if cluster_size < 1:
        raise ValueError(f"cluster_size must be at least 1, got {cluster_size}")
    return 1.0 + ((1.0 + cv ** 2) * cluster_size - 1.0) * icc


def clusters_needed(n_individual: float, icc: float, cluster_size: float,
                    cv: float = 0.0) -> int:
    """Compute the clusters needed to match a trial that randomises individuals.

    Parameters
    ----------
    n_individual : float
        The sample size the trial would need if it randomised individuals.
    icc : float
        The intraclass correlation, in [0, 1].
    cluster_size : float
        The mean number of individuals per cluster, at least 1.
    cv : float, default 0.0
        The coefficient of variation of the cluster sizes (0: equal sizes).

    Returns
    -------
    int
        ``ceil(n_individual * DE / cluster_size)`` clusters, with ``DE`` the
        :func:`design_effect`.

    Raises
    ------
    ValueError
        For ``icc`` outside [0, 1] or ``cluster_size`` below 1.

    See Also
    --------
    design_effect : The variance inflation of randomising clusters.

    Notes
    -----
    The cluster-randomised trial needs ``n_individual * DE`` individuals for the
    power of the individually randomised one, in clusters of ``cluster_size``.

    References
    ----------
    .. [1] Donner, A. and Klar, N. (2000). Design and Analysis of Cluster Randomization
       Trials in Health Research. Arnold, London.

    Examples
    --------
    400 individuals would do; with an ICC of 0.05 and clusters of 20, the design
    effect is 1.95 and 780 individuals are needed:

    >>> import mixedext as mx
    >>> mx.clusters_needed(400, 0.05, 20)
    39
    """
    clusters = n_individual * design_effect(icc, cluster_size, cv) / cluster_size
    return math.ceil(round(clusters, 9))  # 39.00000000000001 (floating point) is 39


# -- tables from a fitted model ----------------------------------------------------------
def _is_ancestor(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith(outer + "/")


def _level_variances(res):
    """``(level, variance, unit sizes)`` per level, outermost first, and whether any level
    has random slopes.

    A GLMM's observation-level random effect (``res.observation_levels``) is left out: it
    is part of the residual variance. A level's variance is the random-effect variance of
    one observation averaged over the rows, ``mean_i z_i' Sigma z_i`` over the level's
    terms (Nakagawa et al. 2017, as ``insight::get_variance``); for a random intercept
    simply ``sigma2_j``.
    """
    out, sizes, slopes = {}, {}, False
    residual_levels = getattr(res, "observation_levels", ())
    for b in res._covariance_blocks():
        if b.level in residual_levels:  # overdispersion: part of the residual
            continue
        if b.intercept_only:
            var = float(b.cov[0, 0])
        elif b.term is not None and b.term.z is not None:
            z = b.term.z
            if b.term.cov == "scalar":
                var = float(b.cov[0, 0] * np.mean(np.sum(z ** 2, axis=1)))
            else:
                var = float(np.mean(np.einsum("na,ab,nb->n", z, b.cov, z)))
            slopes = True
        elif b.term is not None:
            raise NotImplementedError("the variance of a random slope averaged over the rows "
                                      "needs the rows (not kept for Dask data)")
        else:
            raise NotImplementedError("variance of a term without its design")
        prev = out.get(b.level, 0.0)
        out[b.level] = prev + var
        sizes.setdefault(b.level, b.unit_sizes)
    return [(lev, var, sizes[lev]) for lev, var in out.items()], slopes


def random_variance(res) -> float:
    """Total random-effect variance of one observation (``var.random`` of insight)."""
    return sum(v for _, v, _ in _level_variances(res)[0])


def icc_table(res) -> pd.DataFrame:
    """Per-level ICC (cumulative) and share, outermost level first."""
    levels, slopes = _level_variances(res)
    if slopes:
        warnings.warn("the model has random slopes: the ICC is performance's adjusted ICC, "
                      "with each level's variance averaged over the observed covariates "
                      "(Nakagawa et al. 2017); it depends on the covariates' values",
                      UserWarning, stacklevel=3)
    total = sum(v for _, v, _ in levels) + res.scale
    rows = []
    for level, var, _ in levels:
        cum = sum(v for lev, v, _ in levels if _is_ancestor(lev, level))
        rows.append((level, cum / total, var / total))
    return pd.DataFrame(rows, columns=["level", "icc", "share"]).set_index("level")


def r2_table(res) -> pd.Series:
    """Nakagawa's marginal and conditional R² (``performance::r2_nakagawa``).

    ``var_f = var(X beta)`` (``n - 1`` denominator, as performance), ``var_r`` the random
    variance of :func:`random_variance`, ``var_e = sigma^2``: marginal
    ``var_f / (var_f + var_r + var_e)``, conditional ``(var_f + var_r) / (...)``
    (Nakagawa, Johnson & Schielzeth 2017, *J R Soc Interface* 14:20170213).
    """
    var_f = float(np.var(res.model.exog @ np.asarray(res.fe_params), ddof=1))
    var_r = random_variance(res)
    total = var_f + var_r + res.scale
    return pd.Series({"marginal": var_f / total, "conditional": (var_f + var_r) / total},
                     name="R2")


def design_effect_table(res, cluster=None, method="mean") -> pd.DataFrame:
    """Design effect of randomising units of level ``cluster`` (default the outermost)."""
    if method not in ("mean", "unequal"):
        raise ValueError(f"method must be 'mean' or 'unequal', not {method!r}")
    levels, slopes = _level_variances(res)
    if slopes:
        raise NotImplementedError("design effects for models with random slopes are not "
                                  "available yet")
    names = [lev for lev, _, _ in levels]
    if cluster is None:
        cluster = names[0]
    if cluster not in names:
        raise KeyError(f"cluster {cluster!r} is not a level of the model (levels: "
                       f"{', '.join(names)})")
    total = sum(v for _, v, _ in levels) + res.scale
    n = res.nobs
    de, cl_sizes = 1.0, None
    for level, var, sizes in levels:
        if not _is_ancestor(cluster, level):
            continue
        mbar = sizes.mean()
        if method == "unequal":
            mbar *= 1.0 + (sizes.std() / sizes.mean()) ** 2
        de += (mbar - 1.0) * var / total
        if level == cluster:
            cl_sizes = sizes
    icc = icc_table(res).loc[cluster, "icc"]
    assert cl_sizes is not None  # the cluster is one of the levels looped over
    row = dict(mean_cluster_size=cl_sizes.mean(),
               cv_cluster_size=cl_sizes.std() / cl_sizes.mean(), icc=icc, design_effect=de,
               effective_n=n / de, se_inflation=np.sqrt(de))
    return pd.DataFrame([row], index=pd.Index([cluster], name="level"))


def shrinkage_table(res, level=None, alpha=0.05) -> pd.DataFrame:
    """Raw vs shrunk unit estimates with reliabilities and conditional intervals.

    ``raw`` is the unpooled estimate from the marginal residuals ``y - X beta``, less the
    conditional modes of the level's ancestors (``"center"`` for ``"center/rep"``): the
    unit's mean residual for a random intercept, least squares on the level's random-effect
    covariates per unit with slopes (NaN where a unit cannot identify them).
    """
    model = res.model
    state = res._require_engine("shrinkage")
    sol = state.solution
    res._require_rows("shrinkage (its raw unit estimates)")
    terms = state.terms
    levels = list(dict.fromkeys(b.level for b in res._covariance_blocks()))
    if level is None:
        level = levels[0]
    idx = [i for i, t in enumerate(terms) if t.level == level]
    if not idx:
        raise KeyError(f"level {level!r} is not a level of the model (levels: "
                       f"{', '.join(levels)})")
    condcov = state.conditional_covariances()
    covs = res._term_covariances()
    resid = model.engine_endog - model.exog @ sol.beta
    for t, b in zip(terms, sol.b):
        if t.level != level and _is_ancestor(t.level, level):
            resid = resid - _term_contribution(t, b)
    level_terms = [terms[i] for i in idx]
    raw = _unpooled(level_terms, resid, model.weights)
    n = np.bincount(level_terms[0].codes, minlength=level_terms[0].n_units)
    z = norm.ppf(1 - alpha / 2)
    frames, col = [], 0
    for i in idx:
        t = terms[i]
        for a, name in enumerate(t.names):
            tau2 = covs[i][a, a]
            cvar = condcov[i][:, a, a]
            blup = sol.b[i][:, a]
            se = np.sqrt(cvar)
            factor = 1.0 - cvar / tau2 if tau2 > 0 else np.zeros_like(cvar)
            frame = pd.DataFrame({
                "term": name, "n": n, "raw": raw[:, col], "blup": blup, "factor": factor,
                "cond_se": se, "lower": blup - z * se, "upper": blup + z * se},
                index=pd.Index(t.unit_labels, name=level))
            frame["flag"] = (frame["lower"] > 0) | (frame["upper"] < 0)
            frames.append(frame)
            col += 1
    out = pd.concat(frames)
    if len(frames) == 1:
        out = out.drop(columns="term")
    return out


def _term_contribution(t, b) -> np.ndarray:
    rb = b[t.codes]
    return rb[:, 0] if t.z is None else np.einsum("nq,nq->n", t.z, rb)


def _unpooled(level_terms, resid, weights=None) -> np.ndarray:
    """Per-unit (weighted) least squares of ``resid`` on the level's random-effect
    covariates.

    Returns (units, total q); NaN rows where a unit cannot identify its coefficients.
    """
    codes, m = level_terms[0].codes, level_terms[0].n_units
    zcols = [np.ones(len(codes)) if t.z is None else t.z[:, a]
             for t in level_terms for a in range(t.q)]
    if weights is not None:  # rows scaled by sqrt(w)
        resid = resid * np.sqrt(weights)
        zcols = [z * np.sqrt(weights) for z in zcols]
    q = len(zcols)
    ztz = np.empty((m, q, q))
    zty = np.empty((m, q))
    for a in range(q):
        zty[:, a] = np.bincount(codes, weights=zcols[a] * resid, minlength=m)
        for c in range(a + 1):
            ztz[:, a, c] = ztz[:, c, a] = np.bincount(codes, weights=zcols[a] * zcols[c],
                                                      minlength=m)
    out = np.full((m, q), np.nan)
    ok = np.linalg.matrix_rank(ztz) == q
    out[ok] = np.linalg.solve(ztz[ok], zty[ok][..., None])[..., 0]
    return out
