"""The printed summary of a mixed model: statsmodels' layout plus mixedext's blocks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as tdist
from statsmodels.iolib import summary2

from mixedext._compat import frame_map

__all__ = ["build_summary"]


def _units_per_level(res) -> dict:
    model = res.model
    if model.random_terms is None:
        return {"Group": model.n_groups}
    out: dict[str, int] = {}
    for t in model.random_terms:
        out.setdefault(t.level, t.n_units)
    return out


def build_summary(res, *, yname=None, xname_fe=None, xname_re=None, title=None, alpha=0.05,
                  ddf=None):
    """statsmodels-style summary with a variance-component block.

    The first table is statsmodels' (fixed effects with z-tests, then one line per
    variance parameter); a second table lists each variance component with its
    standard deviation, as lme4's ``VarCorr``.
    """
    model = res.model
    smry = summary2.Summary()
    reml = res.method == "REML"
    info = {
        "Model:": "MixedLM (mixedext)",
        "Dependent Variable:": yname or model.endog_names,
        "No. Observations:": str(model.nobs),
        "Method:": res.method,
    }
    for level, m in _units_per_level(res).items():
        info[f"No. units ({level}):"] = str(m)
    info["Scale:"] = f"{res.scale:.4f}"
    info["Log-Likelihood:" if not reml else "REML Log-Likelihood:"] = f"{res.llf:.4f}"
    info["REML AIC:" if reml else "AIC:"] = f"{res.aic:.4f}"
    info["REML BIC:" if reml else "BIC:"] = f"{res.bic:.4f}"
    info["Converged:"] = "Yes" if res.converged else "No"
    if res.engine_fit:
        info["Singular fit:"] = "Yes" if res.singular else "No"
    if ddf is not None:
        info["Denominator df:"] = {"satterthwaite": "Satterthwaite",
                                   "kenward-roger": "Kenward-Roger"}.get(ddf, "n - p")
    smry.add_dict(info)
    smry.add_title(title or "Mixed Linear Model Regression Results")

    names = list(model.data.param_names)
    k_fe = res.k_fe
    if xname_fe is not None:
        names[:k_fe] = xname_fe
    if xname_re is not None:
        names[k_fe:] = xname_re
    fe = np.asarray(res.fe_params)
    se = np.sqrt(np.diag(res.cov_params())[:k_fe])
    z = fe / se
    q = -norm.ppf(alpha / 2)
    table = np.full((len(names), 6), np.nan)
    table[:k_fe] = np.column_stack([fe, se, z, 2 * norm.cdf(-np.abs(z)), fe - q * se,
                                    fe + q * se])
    columns = ["Coef.", "Std.Err.", "z", "P>|z|", f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]"]
    if ddf is not None:
        tt = res._ddf_table(np.eye(k_fe), ddf)
        qt = tdist.ppf(1 - alpha / 2, tt["df"].to_numpy())
        se = tt["se"].to_numpy()  # Kenward-Roger's are adjusted
        table = np.column_stack([table[:, :2], np.full(len(names), np.nan), table[:, 2:]])
        table[:k_fe, 1:7] = np.column_stack([se, tt["df"], tt["t"], tt["pvalue"],
                                             fe - qt * se, fe + qt * se])
        columns = ["Coef.", "Std.Err.", "df", "t", "P>|t|", f"[{alpha / 2:g}",
                   f"{1 - alpha / 2:g}]"]

    psi = np.concatenate([np.asarray(res.cov_re)[np.tril_indices(res.k_re)],
                          np.asarray(res.vcomp)])
    table[k_fe:, 0] = psi
    table[k_fe:, 1] = np.sqrt(res.scale) * np.asarray(res.bse)[k_fe:]
    df = pd.DataFrame(table, index=names, columns=columns)
    smry.add_df(frame_map(df, lambda x: f"{x:.3f}" if np.isfinite(x) else ""), align="r")

    vc = res.variance_components()
    vc_table = pd.DataFrame({
        "Level": vc["level"],
        "Term": ["" if pd.isna(t) else t if pd.isna(t2) else f"{t} x {t2}"
                 for t, t2 in zip(vc["term"], vc["term2"])],
        "Variance": vc["variance"].map(lambda x: f"{x:.4f}"),
        "Std.Dev.": vc["std"].map(lambda x: f"{x:.4f}" if np.isfinite(x) else ""),
        "Corr.": vc["corr"].map(lambda x: f"{x:.3f}" if np.isfinite(x) else ""),
    })
    smry.add_df(vc_table.rename(columns={"Level": "Random effects: level"}), index=False,
                align="r")
    _add_icc_block(smry, res)
    spec = res.fit_state.residual_spec if res.engine_fit else None
    if spec is not None:
        params = res.cov_struct_params
        label = f"Residual structure: {spec.kind}"
        if spec.time_name:
            label += f" over {spec.time_name!r}"
        if spec.het_name:
            label += f", SD per level of {spec.het_name!r}"
        if spec.variance:
            label += f", variance {spec.variance_spelling}"
        ci = res.conf_int_cov_struct()

        def fmt(x):
            return "" if not np.isfinite(x) else f"{x:.4f}"

        table = pd.DataFrame({label: [""] * len(params), "Parameter": list(params.index),
                              "Estimate": [f"{x:.4f}" for x in params],
                              "Std.Err.": [fmt(x) for x in ci["std_err"]],
                              "[0.025": [fmt(x) for x in ci["lower"]],
                              "0.975]": [fmt(x) for x in ci["upper"]]})
        smry.add_df(table, index=False, align="r")
    if reml:
        smry.add_text("REML AIC/BIC (nlme's convention): compare only models with the same "
                      "fixed effects.")
    return smry


def _add_icc_block(smry, res) -> None:
    """ICC per level and the design effect of randomising each level's units."""

    if not res.engine_fit and res.model.random_terms is None:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            icc = res.icc()
        rows = []
        for level in icc.index:
            try:
                de = res.design_effect(level).iloc[0]
                de_text = (f"{de['design_effect']:.3f}", f"{de['se_inflation']:.3f}")
            except NotImplementedError:
                de_text = ("", "")
            rows.append((level, f"{icc.loc[level, 'icc']:.4f}",
                         f"{icc.loc[level, 'share']:.4f}", *de_text))
    except (NotImplementedError, KeyError, ValueError):
        return
    if not rows:  # no random effects (the gls-type model): no ICC
        return
    table = pd.DataFrame(rows, columns=["ICC: level", "ICC", "Share", "Design effect",
                                        "SE inflation"])
    smry.add_df(table, index=False, align="r")
