"""Denominator degrees of freedom by name, and the F tests of ``anova``.

``DDF_METHODS`` maps ``ddf=`` names to the classes computing them (each with
``t_table(L)`` and ``f_test(L)``); ``"residual"`` uses ``n - p``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixedext._compat import get_formula_spec
from mixedext.inference.kenward_roger import KenwardRoger
from mixedext.inference.satterthwaite import Satterthwaite
from mixedext.inference.tables import contrast_t_table, unwrap

__all__ = ["DDF_METHODS", "ddf_table", "anova_table"]

DDF_METHODS = {"satterthwaite": Satterthwaite, "kenward-roger": KenwardRoger}


def ddf_table(res, L, ddf: str) -> pd.DataFrame:
    """Estimate, SE, df, t and p of each row of ``L`` with the ``ddf`` method."""
    res = unwrap(res)
    if ddf in DDF_METHODS:
        return DDF_METHODS[ddf](res).t_table(L)
    if ddf == "residual":
        k = res.k_fe
        vbeta = np.asarray(res.cov_params())[:k, :k]
        df = float(res.nobs - k)
        return contrast_t_table(np.asarray(res.fe_params), vbeta, L, lambda row: df)
    raise ValueError("ddf must be 'satterthwaite', 'kenward-roger' or 'residual', not "
                     f"{ddf!r}")


def anova_table(res, ddf: str = "satterthwaite") -> pd.DataFrame:
    """F tests of each fixed-effect model term (all its coefficients 0), as lmerTest's
    ``anova(type = 3)`` for models without interactions between the tested terms."""
    res = unwrap(res)
    if ddf not in DDF_METHODS:
        raise ValueError(f"ddf must be 'satterthwaite' or 'kenward-roger', not {ddf!r}")
    tests = DDF_METHODS[ddf](res)
    info = get_formula_spec(res.model.data)
    if not hasattr(info, "term_name_slices"):
        raise NotImplementedError("anova needs a model built from a formula")
    rows = {}
    names = list(res.model.exog_names)
    for term, sl in info.term_name_slices.items():
        if term == "Intercept":
            continue
        L = np.zeros((sl.stop - sl.start, len(names)))
        L[np.arange(sl.stop - sl.start), np.arange(sl.start, sl.stop)] = 1.0
        out = tests.f_test(L)
        rows[term] = out
    columns = ["F", "num_df", "den_df", "pvalue"]
    if not rows:  # an intercept-only model: nothing to test
        return pd.DataFrame(columns=columns, dtype=float)
    frame = pd.DataFrame(rows).T[columns].astype(float)
    frame["num_df"] = frame["num_df"].astype(int)
    return frame
