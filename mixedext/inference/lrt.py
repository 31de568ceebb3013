"""Likelihood-ratio tests between nested mixed models.

When the restriction puts a variance on the boundary of its parameter space (a variance
of 0), the LR statistic is not chi-square with ``k`` degrees of freedom: dropping one
variance component gives a 50:50 mixture of chi-square(0) and chi-square(1); dropping a
random slope together with its ``k - 1`` covariances a 50:50 mixture of chi-square(k-1) and
chi-square(k) (Self & Liang 1987, *JASA* 82:605; Stram & Lee 1994, *Biometrics* 50:1171).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2

from mixedext.inference.tables import unwrap

__all__ = ["lrt"]


def _random_structure(res) -> dict:
    """``{(level, covariate): number of variance parameters}`` of a fit."""
    out = {}
    for b in unwrap(res)._covariance_blocks():
        q = len(b.names)
        out[(b.level, tuple(b.names))] = q * (q + 1) // 2
    return out


def lrt(m0, m1) -> pd.Series:
    """Test two nested fits against each other (a likelihood-ratio test; either order).

    Parameters
    ----------
    m0 : MixedLMResults or MixedGLMResults
        A fit of one of the two nested models.
    m1 : MixedLMResults or MixedGLMResults
        A fit of the other, to the same data and outcome, by the same criterion (both
        REML or both ML). REML fits must have the same fixed effects (their REML
        likelihoods are not comparable otherwise).

    Returns
    -------
    pandas.Series
        ``llf_restricted``, ``llf_full``, ``df_diff``, ``statistic``
        (``2 (llf_full - llf_restricted)``, at least 0), ``pvalue`` and
        ``distribution`` (``"chi2(k)"`` or ``"0.5 chi2(k-1) + 0.5 chi2(k)"``).

    Raises
    ------
    ValueError
        For fits by different criteria, of different numbers of rows or outcomes,
        REML fits with different fixed effects, or models with the same number of
        parameters.

    Notes
    -----
    The fit with fewer parameters is the restricted one; ``k`` is the difference in
    the number of parameters. When the restriction sets a variance to its boundary 0
    the statistic is not ``chi2(k)``: dropping one random-effect term gives a 50:50
    mixture of ``chi2(k - 1)`` and ``chi2(k)`` (``chi2(0)`` a point mass at 0), as does
    dropping one covariate from a term with its ``k - 1`` covariances; other
    comparisons use ``chi2(k)``. The models are assumed nested; that is not checked.

    References
    ----------
    .. [1] Self, S. G. and Liang, K.-Y. (1987). Asymptotic properties of maximum
       likelihood estimators and likelihood ratio tests under nonstandard conditions.
       Journal of the American Statistical Association 82, 605-610.
    .. [2] Stram, D. O. and Lee, J. W. (1994). Variance components testing in the
       longitudinal mixed effects model. Biometrics 50, 1171-1177.

    Examples
    --------
    A random slope of ``Days`` (its variance and its covariance with the intercept):

    >>> import mixedext as mx
    >>> sleep = mx.datasets.load("sleepstudy")
    >>> m0 = mx.mixedlm("Reaction ~ Days + (1 | Subject)", sleep).fit()
    >>> m1 = mx.mixedlm("Reaction ~ Days + (1 + Days | Subject)", sleep).fit()
    >>> test = mx.lrt(m0, m1)
    >>> print(f"{test['statistic']:.2f}", test["df_diff"], test["distribution"])
    42.84 2 0.5 chi2(1) + 0.5 chi2(2)
    >>> bool(test["pvalue"] < 1e-9)
    True
    """
    a, b = unwrap(m0), unwrap(m1)
    if a.method != b.method:
        raise ValueError(f"cannot compare a {a.method} fit with a {b.method} fit; refit both "
                         "by ML (reml=False) or both by REML")
    if a.model.nobs != b.model.nobs:
        raise ValueError(f"the fits use different numbers of rows ({a.model.nobs} vs "
                         f"{b.model.nobs}); likelihoods are comparable only on the same data")
    ya, yb = getattr(a.model, "endog", None), getattr(b.model, "endog", None)
    if ya is not None and yb is not None and not np.array_equal(np.asarray(ya),
                                                                np.asarray(yb)):
        raise ValueError("the fits are of different outcomes; likelihoods are comparable "
                         "only for the same response")
    if a.df_modelwc > b.df_modelwc:
        a, b = b, a
    same_fixed = list(a.model.exog_names) == list(b.model.exog_names)
    if a.method == "REML" and not same_fixed:
        raise ValueError("REML likelihoods of models with different fixed effects are not "
                         "comparable; refit both with reml=False for this test")
    k = int(b.df_modelwc - a.df_modelwc)
    if k <= 0:
        raise ValueError("the models have the same number of parameters: not nested")
    stat = max(0.0, 2.0 * (b.llf - a.llf))
    ra, rb = _random_structure(a), _random_structure(b)
    extra = {key: n for key, n in rb.items() if key not in ra}
    dropped_one_term = same_fixed and len(extra) == 1 and set(ra) <= set(rb)
    slope_dropped = False
    if same_fixed and not dropped_one_term:
        # a covariate removed from a term with several: its variance and covariances go
        shared = {lev for lev, _ in ra} & {lev for lev, _ in rb}
        for lev in shared:
            na = [names for (la, names) in ra if la == lev]
            nb = [names for (lb, names) in rb if lb == lev]
            if len(na) == len(nb) == 1 and set(na[0]) < set(nb[0]) \
                    and len(nb[0]) == len(na[0]) + 1:
                slope_dropped = True
    if dropped_one_term or slope_dropped:
        pvalue = 0.5 * chi2.sf(stat, k) + (0.5 * chi2.sf(stat, k - 1) if k > 1 else
                                           0.5 * float(stat <= 0))
        dist = f"0.5 chi2({k - 1}) + 0.5 chi2({k})"
    else:
        pvalue = chi2.sf(stat, k)
        dist = f"chi2({k})"
    return pd.Series({"llf_restricted": a.llf, "llf_full": b.llf, "df_diff": k,
                      "statistic": stat, "pvalue": float(np.clip(pvalue, 0, 1)),
                      "distribution": dist}, name="LRT")
