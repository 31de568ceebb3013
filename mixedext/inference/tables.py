"""t tables of fixed-effect contrasts: estimate, SE, df, t and p per contrast row."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import t as tdist

__all__ = ["contrast_t_table", "unwrap"]


def unwrap(res):
    """The results object behind statsmodels' results wrapper (or ``res`` itself)."""
    return getattr(res, "_results", res)


def contrast_t_table(beta, vcov, L, df) -> pd.DataFrame:
    """Estimate, SE (from ``vcov``), df (``df(row)``), t and p for each row of ``L``."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    est = L @ beta
    se = np.sqrt(np.einsum("ra,ab,rb->r", L, vcov, L))
    dfs = np.array([df(row) for row in L])
    tval = est / se
    return pd.DataFrame({"estimate": est, "se": se, "df": dfs, "t": tval,
                         "pvalue": 2 * tdist.sf(np.abs(tval), dfs)})
