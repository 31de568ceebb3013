"""Heterogeneity: Cochran's Q (residual QE with moderators), I^2, H^2 and the Q-profile
interval of tau^2, as metafor's ``rma.uni`` and ``confint.rma.uni``.

With fixed-effect weights ``w_i = 1 / v_i`` and ``P`` as in
:mod:`mixedext.meta.estimation`:

* ``Q = y'P y = sum w_i (y_i - x_i' beta_FE)^2`` ~ chi^2(k - p) under tau^2 = 0;
* the "typical" sampling variance ``s^2 = (k - p) / tr(P)`` (Higgins & Thompson 2002,
  generalised to meta-regression);
* ``I^2 = 100 tau^2 / (tau^2 + s^2)`` percent and ``H^2 = (tau^2 + s^2) / s^2``, both at
  the estimated tau^2 (for DL without moderators ``I^2 = 100 (Q - (k-1)) / Q``);
* the Q-profile interval (Viechtbauer 2007): the tau^2 where the generalised
  ``Q(tau^2)`` equals the ``1 - alpha/2`` and ``alpha/2`` quantiles of chi^2(k - p)
  (lower and upper end); an end is 0 when ``Q(0)`` is already below its quantile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from mixedext.meta.estimation import gls, solve_q

__all__ = ["Heterogeneity", "heterogeneity", "interval_rows", "q_profile"]


@dataclass(frozen=True)
class Heterogeneity:
    """``Q`` with its degrees of freedom and p-value, and the typical variance ``s2``."""

    Q: float
    df: int
    pvalue: float
    s2: float

    def I2(self, tau2: float) -> float:
        return 100.0 * tau2 / (self.s2 + tau2)

    def H2(self, tau2: float) -> float:
        return tau2 / self.s2 + 1.0


def heterogeneity(y, v, X) -> Heterogeneity:
    """Cochran's (residual) Q test and the typical sampling variance."""
    g = gls(y, v, X, 0.0)
    k, p = X.shape
    q = max(0.0, g.rss)
    return Heterogeneity(Q=q, df=k - p, pvalue=float(stats.chi2.sf(q, k - p)),
                         s2=(k - p) / g.trace_p)


def q_profile(y, v, X, alpha: float) -> tuple[float, float]:
    """The Q-profile ``1 - alpha`` interval ``(lower, upper)`` of tau^2.

    Both ends are 0 when ``Q(0)`` is below the ``alpha/2`` quantile (the interval is
    empty in metafor's words, ``ci.null``). metafor searches ``[0, max(100, 10 tau^2)]``
    and reports that bound when a root lies beyond; here the bracket grows until the
    root is found.
    """
    k, p = X.shape
    upper = solve_q(y, v, X, float(stats.chi2.ppf(alpha / 2, k - p)))
    lower = solve_q(y, v, X, float(stats.chi2.isf(alpha / 2, k - p)))
    return lower, upper


def interval_rows(het: Heterogeneity, tau2: float, bounds) -> dict:
    """Estimate and interval of tau^2, tau, I^2 and H^2 from an interval of tau^2."""
    values = [tau2, *bounds]
    return {"tau2": values, "tau": list(np.sqrt(values)),
            "I2": [het.I2(t) for t in values], "H2": [het.H2(t) for t in values]}
