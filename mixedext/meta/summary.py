"""The printed summary of a meta-analysis: model information, heterogeneity, the
coefficient table and the moderator test, in statsmodels' ``Summary`` layout."""

from __future__ import annotations

import pandas as pd
from statsmodels.iolib import summary2

__all__ = ["build_summary"]

_METHODS = {"REML": "REML", "ML": "ML", "DL": "DerSimonian-Laird", "PM": "Paule-Mandel"}


def _p(value: float) -> str:
    return f"{value:.4g}" if value >= 1e-4 else f"{value:.2e}"


def build_summary(res, alpha: float) -> summary2.Summary:
    """statsmodels ``Summary`` of a :class:`~mixedext.meta.results.MetaAnalysisResults`."""
    smry = summary2.Summary()
    kind = "Random-effects meta-analysis" if res.intercept_only else \
        "Mixed-effects meta-regression"
    ci = res.conf_int_tau2(alpha)
    lo, up = ci.loc["tau2", "lower"], ci.loc["tau2", "upper"]
    reml = res.method == "REML"
    info = {
        "Model:": kind,
        "Estimator of tau^2:": _METHODS[res.method],
        "Studies (k):": str(res.k),
        "Test:": f"Knapp-Hartung t({res.df_resid})" if res.use_t else "z",
        "tau^2 (SE):": f"{res.tau2:.4f} ({res.se_tau2:.4f})",
        f"tau^2 {1 - alpha:.0%} CI (Q-profile):": f"[{lo:.4f}, {up:.4f}]",
        "tau:": f"{res.tau:.4f}",
        "I^2 (%):": f"{res.I2:.2f}",
        "H^2:": f"{res.H2:.4f}",
        ("Q" if res.intercept_only else "QE") + f" (df = {res.Q_df}):":
            f"{res.Q:.4f}, p = {_p(res.Q_pvalue)}",
        ("REML " if reml else "") + "Log-Likelihood:": f"{res.llf:.4f}",
        ("REML " if reml else "") + "AIC:": f"{res.aic:.4f}",
        ("REML " if reml else "") + "BIC:": f"{res.bic:.4f}",
    }
    if not res.intercept_only:
        m, df2 = res.QM_df
        stat = f"F({m}, {df2})" if res.use_t else f"chi2({m})"
        info[f"QM, moderators ({stat}):"] = f"{res.QM:.4f}, p = {_p(res.QM_pvalue)}"
    smry.add_dict(info)
    smry.add_title(f"{kind} ({res.method})")
    ci_b = res.conf_int(alpha)
    stat = "t" if res.use_t else "z"
    table = pd.DataFrame({"Coef.": res.params, "Std.Err.": res.bse, stat: res.tvalues,
                          f"P>|{stat}|": res.pvalues,
                          f"[{alpha / 2:g}": ci_b["lower"], f"{1 - alpha / 2:g}]": ci_b["upper"]})
    smry.add_df(table, float_format="%.4f")
    if res.intercept_only:
        pi = res.prediction_interval(alpha=alpha).iloc[0]
        smry.add_text(f"Prediction interval ({1 - alpha:.0%}) of the true effect of a new "
                      f"study: [{pi['pi_lower']:.4f}, {pi['pi_upper']:.4f}]")
    return smry
