"""mixedext.meta_analysis against metafor (tests/reference/metafor_reference.json).

Every expected number comes from the JSON written by tests/reference/metafor_reference.R
(metafor's rma, confint, predict, blup, fitstats, regtest, leave1out) or from statsmodels'
combine_effects run here. Cases: metafor's dat.bcg (log risk ratios; no moderators,
``~ ablat``, ``~ ablat + year``) and the simulated tests/reference/data/meta_sim.csv
(heterogeneous without moderators; ``~ dose`` and ``~ dose + C(design)`` with tau^2 = 0;
homogeneous studies with tau^2 = 0), each for REML, ML, DL and PM and the z and
Knapp-Hartung tests.

Tolerances (relative unless stated):

==========================================  ==========================================
pooled effect mu                            1e-5
SE of mu, Knapp-Hartung SE and interval     1e-4
meta-regression coefficients, SEs, vcov     1e-4
tau^2 (and tau^2 of the leave-one-out)      1e-3; 1e-6 absolute near 0, exactly 0 on
                                            the boundary
I^2, H^2, Q (QE) and its p-value            1e-6
QM and its p-value                          1e-4
prediction interval                         1e-4
Q-profile interval of tau^2, tau, I^2, H^2  1e-3 (1e-6 absolute at 0)
BLUPs and their SEs and intervals           1e-5 of the scale of the values
llf, deviance, AIC, BIC, AICc (ML, REML)    1e-6 absolute
Egger's test (statistic, p, limit estimate)  1e-4
leave-one-out estimates, SEs, intervals     1e-4 (Q, I^2, H^2 1e-6)
==========================================  ==========================================
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.meta_analysis import combine_effects

import mixedext as mx
from mixedext.meta import estimation

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "metafor_reference.json").read_text())
CASES = REF["cases"]
IDS = [f"{c['case']}-{c['method']}-{c['test']}" for c in CASES]


def _bcg() -> pd.DataFrame:
    d = mx.datasets.load("bcg")
    t, c = d["tpos"] / (d["tpos"] + d["tneg"]), d["cpos"] / (d["cpos"] + d["cneg"])
    d["yi"] = np.log(t / c)
    d["vi"] = 1 / d["tpos"] - 1 / (d["tpos"] + d["tneg"]) + 1 / d["cpos"] - \
        1 / (d["cpos"] + d["cneg"])
    return d


FRAMES = {"bcg": _bcg(), "sim": pd.read_csv(ROOT / REF["data"]["sim"]["file"])}
FRAMES["sim_homog"] = FRAMES["sim"]


def _frame(case):
    return FRAMES[case["data"]]


@cache
def _fit(i: int):
    c = CASES[i]
    spec = REF["data"][c["data"]]
    return mx.meta_analysis(spec["effect"], spec["variance"], _frame(c), study=spec["study"],
                            mods=c["mods_py"], method=c["method"], test=c["test"])


def close(actual, expected, rtol, atol=0.0, what=""):
    np.testing.assert_allclose(np.asarray(actual, dtype=float),
                               np.asarray(expected, dtype=float), rtol=rtol, atol=atol,
                               err_msg=what)


def scale_close(actual, expected, tol, what=""):
    """``tol`` relative to the scale of the values (single values can be near 0)."""
    expected = np.asarray(expected, dtype=float)
    close(actual, expected, 0.0, tol * np.max(np.abs(expected)), what)


cases = pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)


# -- the data ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(REF["data"]))
def test_study_data_are_metafor_s(name):
    spec = REF["data"][name]
    frame = FRAMES[name]
    close(frame[spec["effect"]], spec["yi"], 1e-12, 1e-14, "escalc yi")
    close(frame[spec["variance"]], spec["vi"], 1e-12, 0, "escalc vi")
    assert [str(s) for s in frame[spec["study"]]] == spec["labels"]


# -- coefficients --------------------------------------------------------------------------
@cases
def test_coefficients(i):
    c, res = CASES[i], _fit(i)
    names = c["names_py"]
    assert list(res.params.index) == sorted(names, key=list(res.params.index).index)
    assert set(res.params.index) == set(names)
    if res.intercept_only:
        close(res.mu, c["beta"][0], 1e-5, what="mu")
        close(res.se, c["se"][0], 1e-4, what="se")
    ci = res.conf_int().loc[names]
    close(res.params[names], c["beta"], 1e-4, what="params")
    close(res.bse[names], c["se"], 1e-4, what="bse")
    close(ci["lower"], c["ci_lb"], 1e-4, what="ci lower")
    close(ci["upper"], c["ci_ub"], 1e-4, what="ci upper")
    close(res.tvalues[names], c["zval"], 1e-4, what="z / t")
    close(res.pvalues[names], c["pval"], 1e-4, what="p")
    close(res.cov_params().loc[names, names], c["vb"], 1e-4, what="vcov")
    assert res.use_t == (c["test"] == "knha")
    assert res.df_resid == c["k"] - c["p"] and res.k == c["k"] and res.p == c["p"]


@cases
def test_tau2(i):
    c, res = CASES[i], _fit(i)
    if c["tau2"] == 0:
        assert res.tau2 == 0.0
    close(res.tau2, c["tau2"], 1e-3, 1e-6, "tau2")
    close(res.se_tau2, c["se_tau2"], 1e-3, what="se(tau2)")
    assert res.converged


@cases
def test_heterogeneity(i):
    c, res = CASES[i], _fit(i)
    close(res.I2, c["I2"], 1e-6, 1e-6, "I2")
    close(res.H2, c["H2"], 1e-6, what="H2")
    close(res.typical_variance, c["vt"], 1e-6, what="typical variance")
    close(res.Q, c["QE"], 1e-6, what="Q")
    close(res.Q_pvalue, c["QEp"], 1e-6, what="Q p-value")
    assert res.Q_df == c["k"] - c["p"]
    close(res.QM, c["QM"], 1e-4, what="QM")
    close(res.QM_pvalue, c["QMp"], 1e-4, what="QM p-value")
    m, df2 = c["QMdf"]
    assert res.QM_df == (m, df2)


@cases
def test_fit_stats(i):
    c, res = CASES[i], _fit(i)
    table = res.fit_stats()
    for col in ("ML", "REML"):
        ref = c["fitstats"][col]
        close(table[col], [ref[k] for k in ("ll", "dev", "AIC", "BIC", "AICc")], 0, 1e-6,
              f"fit stats {col}")
    close([res.llf, res.aic, res.bic], [c["logLik"], c["AIC"], c["BIC"]], 0, 1e-6,
          "llf / AIC / BIC")


LIKELIHOOD_CASES = [i for i, c in enumerate(CASES) if c["method"] in ("REML", "ML")]


@pytest.mark.parametrize("i", LIKELIHOOD_CASES, ids=[IDS[i] for i in LIKELIHOOD_CASES])
def test_likelihood_optimum_not_below_an_independent_search(i):
    """R's optimize() of metafor's logLik over tau^2 finds nothing higher."""
    c, res = CASES[i], _fit(i)
    assert res.llf >= c["check_optimum"]["logLik"] - 1e-10


@cases
def test_q_profile_interval(i):
    c, res = CASES[i], _fit(i)
    ci = res.conf_int_tau2()
    ref = c["confint"]
    assert ref["rows"] == ["tau^2", "tau", "I^2(%)", "H^2"]
    assert list(ci.index) == ["tau2", "tau", "I2", "H2"]
    close(ci["estimate"], ref["estimate"], 1e-3, 1e-6, "estimate")
    close(ci["lower"], ref["ci_lb"], 1e-3, 1e-6, "lower")
    close(ci["upper"], ref["ci_ub"], 1e-3, 1e-6, "upper")


@cases
def test_prediction_interval(i):
    c, res = CASES[i], _fit(i)
    ref = c["predict"]
    if res.intercept_only:
        pred = res.prediction_interval()
    else:
        pred = res.prediction_interval(pd.DataFrame(ref["newdata"]))
        # metafor's newmods: the non-intercept columns in metafor's order -> patsy's
        newmods = pd.DataFrame(np.asarray(ref["newmods"]).reshape(len(pred), -1),
                               columns=c["names_py"][1:])
        by_array = res.prediction_interval(newmods[list(res.params.index[1:])].to_numpy())
        close(by_array, pred, 1e-12, 1e-14, "newmods as an array")
    for col, key in [("pred", "pred"), ("se", "se"), ("ci_lower", "ci_lb"),
                     ("ci_upper", "ci_ub"), ("pi_lower", "pi_lb"), ("pi_upper", "pi_ub")]:
        close(pred[col], ref[key], 1e-4, what=col)


@cases
def test_blup(i):
    c, res = CASES[i], _fit(i)
    b, ref = res.blup(), c["blup"]
    assert [str(s) for s in b.index] == ref["study"]
    for col, key in [("blup", "pred"), ("se", "se"), ("lower", "pi_lb"), ("upper", "pi_ub")]:
        scale_close(b[col], ref[key], 1e-5, col)
    close(b["raw"], REF["data"][c["data"]]["yi"], 1e-12, 1e-14, "raw")


@cases
def test_egger(i):
    c, res = CASES[i], _fit(i)
    e, ref = res.egger_test(), c["regtest"]
    assert (ref["model"], ref["predictor"]) == ("rma", "sei")
    close(e.statistic, ref["zval"], 1e-4, what="statistic")
    close(e.pvalue, ref["pval"], 1e-4, what="p")
    assert e.df == ref["ddf"]
    close(e.fit.tau2, ref["fit_tau2"], 1e-3, 1e-6, "tau2 of the Egger model")
    if res.intercept_only:
        close([e.limit_estimate, e.ci_lower, e.ci_upper],
              [ref["est"], ref["ci_lb"], ref["ci_ub"]], 1e-4, what="limit estimate")
    else:
        assert ref["est"] is None and e.limit_estimate is None


@cases
def test_leave_one_out(i):
    c, res = CASES[i], _fit(i)
    ref = c["leave1out"]
    if ref is None:
        with pytest.raises(ValueError, match="without moderators"):
            res.leave_one_out()
        return
    table = res.leave_one_out()
    assert [str(s) for s in table.index] == ref["study"]
    for col, key, rtol in [("estimate", "estimate", 1e-4), ("se", "se", 1e-4),
                           ("statistic", "zval", 1e-4), ("pvalue", "pval", 1e-4),
                           ("ci_lower", "ci_lb", 1e-4), ("ci_upper", "ci_ub", 1e-4),
                           ("Q", "Q", 1e-6), ("Q_pvalue", "Qp", 1e-6), ("H2", "H2", 1e-6)]:
        close(table[col], ref[key], rtol, what=col)
    close(table["tau2"], ref["tau2"], 1e-3, 1e-6, "tau2")
    close(table["I2"], ref["I2"], 1e-6, 1e-6, "I2")


# -- statsmodels ---------------------------------------------------------------------------
SM_CASES = [i for i, c in enumerate(CASES)
            if c["p"] == 1 and c["test"] == "z" and c["method"] in ("DL", "PM")]


@pytest.mark.parametrize("i", SM_CASES, ids=[IDS[i] for i in SM_CASES])
def test_statsmodels_combine_effects(i):
    """statsmodels' DL ("chi2") and PM ("iterated") pooling agree with metafor and
    mixedext, except that its DL tau^2 is not truncated at 0."""
    c, res = CASES[i], _fit(i)
    spec = REF["data"][c["data"]]
    y, v = np.asarray(spec["yi"]), np.asarray(spec["vi"])
    if c["method"] == "DL":
        sm = combine_effects(y, v, method_re="chi2")
    else:
        sm = combine_effects(y, v, method_re="iterated", atol=1e-12, maxiter=500)
    close(sm.q, c["QE"], 1e-10, what="Q")
    if c["method"] == "DL" and c["tau2"] == 0:
        assert sm.tau2 < 0 and res.tau2 == 0.0  # statsmodels: (Q - (k - 1)) / c as it is
        return
    close(sm.tau2, c["tau2"], 1e-6, 1e-10, "tau2")
    close(sm.mean_effect_re, c["beta"][0], 1e-6, what="mean")
    close(sm.sd_eff_w_re, c["se"][0], 1e-6, what="se")
    close(sm.tau2, res.tau2, 1e-6, 1e-10, "tau2, mixedext")


# -- properties not in the JSON ------------------------------------------------------------
def _bcg_fit(**kw):
    return mx.meta_analysis("yi", "vi", FRAMES["bcg"], study="trial", **kw)


def test_reml_is_invariant_to_rescaling_a_moderator():
    """metafor's REML log-likelihood has + 1/2 log|X'X|: it does not change when a
    moderator is rescaled, nor do tau^2 and the fit."""
    d = FRAMES["bcg"].assign(century=FRAMES["bcg"]["year"] / 100)
    a = _bcg_fit(mods="ablat + year")
    b = mx.meta_analysis("yi", "vi", d, study="trial", mods="ablat + century")
    close(b.tau2, a.tau2, 1e-9)
    close(b.llf, a.llf, 0, 1e-9)
    close(b.params["century"], 100 * a.params["year"], 1e-7)


def test_fallback_maximiser_finds_the_same_optimum(monkeypatch):
    reference = _bcg_fit(mods="ablat")
    monkeypatch.setattr(estimation, "_MAXITER", 1)
    for method in ("REML", "ML"):
        fit = _bcg_fit(mods="ablat", method=method)
        assert fit.iterations == 1
        expected = reference.tau2 if method == "REML" else \
            CASES[IDS.index("bcg_ablat-ML-z")]["tau2"]
        close(fit.tau2, expected, 1e-8)


def test_arrays_without_data_and_default_labels():
    spec = REF["data"]["bcg"]
    res = mx.meta_analysis(np.asarray(spec["yi"]), list(spec["vi"]))
    ref = CASES[IDS.index("bcg-REML-z")]
    close(res.mu, ref["beta"][0], 1e-5)
    assert list(res.study) == list(range(1, 14))
    by_index = mx.meta_analysis("yi", "vi", FRAMES["bcg"].set_index("author", drop=False)
                                .reset_index(drop=True).set_index("trial"))
    assert list(by_index.study) == list(FRAMES["bcg"]["trial"])


def test_results_are_a_read_only_snapshot():
    d = FRAMES["bcg"].copy()
    res = mx.meta_analysis("yi", "vi", d, study="trial", mods="ablat")
    before = res.params.copy()
    d.loc[:, "yi"] = 0.0
    d.loc[:, "ablat"] = 1.0
    for returned in (res.effect, res.variance, res.design, res.params, res.bse):
        returned.iloc[0] = 5.0
    with pytest.raises(ValueError):
        res._inputs.y[0] = 1.0
    pd.testing.assert_series_equal(res.params, before)
    assert (res.effect.iloc[0], res.variance.iloc[0], res.design.iloc[0, 0]) == \
        (FRAMES["bcg"]["yi"].iloc[0], FRAMES["bcg"]["vi"].iloc[0], 1.0)
    with pytest.raises(AttributeError, match="read-only"):
        res.tau2 = 1.0
    with pytest.raises(AttributeError, match="read-only"):
        res.I2 = 1.0


def test_mu_needs_a_model_without_moderators():
    res = _bcg_fit(mods="ablat")
    with pytest.raises(AttributeError, match="params"):
        _ = res.mu
    with pytest.raises(AttributeError, match="params"):
        _ = res.se
    assert not hasattr(res, "mu")


def test_method_and_test_names_are_case_insensitive():
    a, b = _bcg_fit(method="reml", test="KNHA"), _bcg_fit(method="REML", test="knha")
    assert (a.method, a.test) == ("REML", "knha")
    close(a.bse, b.bse, 0, 0)


def test_formula_spellings_and_nullable_columns():
    base = _bcg_fit(mods="ablat")
    tilde = _bcg_fit(mods="~ ablat")
    pd.testing.assert_series_equal(tilde.params, base.params)
    d = FRAMES["bcg"].astype({"yi": "Float64", "ablat": "Int64"})
    nullable = mx.meta_analysis("yi", "vi", d, study="trial", mods="ablat")
    close(nullable.params, base.params, 1e-12)
    d.loc[2, "yi"] = pd.NA
    with pytest.raises(ValueError, match="effect: .*'yi' for study 3"):
        mx.meta_analysis("yi", "vi", d, study="trial")
    no_intercept = _bcg_fit(mods="0 + C(alloc)")
    assert list(no_intercept.params.index) == [f"C(alloc)[{a}]" for a in
                                               ("alternate", "random", "systematic")]
    assert no_intercept.QM_df == (3, None) and not no_intercept.intercept_only


def test_fitted_values_without_newmods():
    res = _bcg_fit(mods="ablat")
    pred = res.prediction_interval()
    close(pred["pred"], res.design.to_numpy() @ res.params.to_numpy(), 1e-12)
    assert list(pred.index) == list(res.study)


def test_alpha_changes_every_interval():
    res = _bcg_fit()
    wide, narrow = res.conf_int(alpha=0.01), res.conf_int(alpha=0.2)
    assert (wide["upper"] - wide["lower"]).iloc[0] > (narrow["upper"] - narrow["lower"]).iloc[0]
    t99 = res.conf_int_tau2(alpha=0.01)
    t95 = res.conf_int_tau2()
    assert t99.loc["tau2", "lower"] < t95.loc["tau2", "lower"]
    assert t99.loc["tau2", "upper"] > t95.loc["tau2", "upper"]


def test_summary_reports_the_fit():
    res = _bcg_fit(mods="ablat", test="knha")
    text = str(res.summary())
    assert "Mixed-effects meta-regression" in text and "Knapp-Hartung t(11)" in text
    assert f"{res.tau2:.4f}" in text and f"{res.params['ablat']:.4f}" in text
    assert f"{res.QM:.4f}" in text
    pooled = str(_bcg_fit().summary())
    pi = _bcg_fit().prediction_interval().iloc[0]
    assert f"[{pi['pi_lower']:.4f}, {pi['pi_upper']:.4f}]" in pooled


# -- bad input -----------------------------------------------------------------------------
def _bad(**changes):
    d = FRAMES["bcg"][["trial", "yi", "vi", "ablat", "year", "alloc"]].copy()
    for col, (row, value) in changes.items():
        d[col] = d[col].astype(float) if not isinstance(value, str) else d[col]
        d.loc[row, col] = value
    return d


BAD = [
    ("zero variance", dict(data=_bad(vi=(2, 0.0))), "variance: .*positive"),
    ("negative variance", dict(data=_bad(vi=(0, -0.1))), "variance: .*positive"),
    ("NaN effect", dict(data=_bad(yi=(3, np.nan))), "effect: .*NaN.*'yi'"),
    ("inf effect", dict(data=_bad(yi=(3, np.inf))), "effect: .*non-finite"),
    ("NaN variance", dict(data=_bad(vi=(1, np.nan))), "variance: .*NaN.*'vi'"),
    ("NaN moderator", dict(data=_bad(ablat=(4, np.nan)), mods="ablat"), "mods: .*'ablat'"),
    ("one study", dict(data=_bad().iloc[:1]), "at least 2 studies"),
    ("k < p + 1", dict(data=_bad().iloc[:3], mods="ablat + year"), "at least 4 studies"),
    ("unknown method", dict(method="HE"), "method must be one of"),
    ("unknown test", dict(test="t"), "test must be"),
    ("alpha 0", dict(alpha=0), "alpha"),
    ("alpha 1", dict(alpha=1.0), "alpha"),
    ("alpha string", dict(alpha="0.05"), "alpha"),
    ("unknown column", dict(effect="logrr"), "effect: column 'logrr'"),
    ("unknown study column", dict(study="id"), "study: column 'id'"),
    ("duplicate labels", dict(study="alloc"), "study: labels must be unique"),
    ("unknown moderator", dict(mods="latitude"), "mods 'latitude'"),
    ("mods not a formula", dict(mods=["ablat"]), "mods must be a formula"),
    ("rank-deficient mods", dict(data=_bad().assign(a2=lambda d: 2 * d["ablat"]),
                                 mods="ablat + a2"), "mods: .*not of full rank"),
    ("non-numeric effect", dict(effect="alloc"), "effect .*numeric"),
]


@pytest.mark.parametrize("changes, match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(changes, match):
    kw = dict(effect="yi", variance="vi", data=_bad(), study="trial")
    kw.update(changes)
    effect, variance, data = kw.pop("effect"), kw.pop("variance"), kw.pop("data")
    with pytest.raises(ValueError, match=match):
        mx.meta_analysis(effect, variance, data, **kw)


def test_bad_arrays():
    with pytest.raises(ValueError, match="effect has 3 values but variance has 2"):
        mx.meta_analysis([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError, match="variance has 12 values but data has 13 rows"):
        mx.meta_analysis("yi", np.ones(12), FRAMES["bcg"])
    with pytest.raises(ValueError, match="no data was given"):
        mx.meta_analysis("yi", "vi")
    with pytest.raises(ValueError, match="mods names moderator columns, but no data"):
        mx.meta_analysis([0.1, 0.2, 0.3], [0.1, 0.2, 0.1], mods="x")
    with pytest.raises(ValueError, match="effect must be a column name or a 1-d array"):
        mx.meta_analysis(np.ones((3, 2)), np.ones(3))


def test_bad_method_arguments():
    res, reg = _bcg_fit(), _bcg_fit(mods="ablat")
    with pytest.raises(ValueError, match="alpha"):
        res.conf_int(alpha=2)
    with pytest.raises(ValueError, match="alpha"):
        res.blup(alpha=-0.1)
    with pytest.raises(ValueError, match="newmods: the model has no moderators"):
        res.prediction_interval(newmods={"ablat": [10]})
    with pytest.raises(ValueError, match="newmods: 2 columns given for the 1 moderator"):
        reg.prediction_interval(np.ones((3, 2)))
    two = mx.meta_analysis([0.1, 0.5], [0.1, 0.2])
    with pytest.raises(ValueError, match="leave_one_out needs at least 3 studies"):
        two.leave_one_out()
    with pytest.raises(ValueError, match="egger_test needs at least p \\+ 2 = 3 studies"):
        two.egger_test()
    same = mx.meta_analysis([0.1, 0.5, 0.2, 0.9], [0.1] * 4)
    with pytest.raises(ValueError, match="collinear"):
        same.egger_test()


# -- plots ---------------------------------------------------------------------------------
def test_plots(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = _bcg_fit()
    ax = res.forest_plot()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [str(s) for s in res.study] + ["RE model"]
    diamond = ax.patches[-1].get_xy()[:, 0]
    ci = res.conf_int().iloc[0]
    close([diamond.min(), diamond.max()], [ci["lower"], ci["upper"]], 1e-12)
    offsets = ax.collections[1].get_offsets()  # the study squares
    close(offsets[:, 0], res.effect, 1e-12)
    ax.figure.savefig(tmp_path / "forest.png")
    reg_ax = _bcg_fit(mods="ablat").forest_plot()
    assert "RE model" not in [t.get_text() for t in reg_ax.get_yticklabels()]
    funnel = res.funnel_plot()
    pts = funnel.collections[-1].get_offsets()
    close(pts[:, 1], np.sqrt(res.variance), 1e-12)
    assert funnel.get_ylim()[0] > funnel.get_ylim()[1]  # SE axis reversed
    reg_funnel = _bcg_fit(mods="ablat").funnel_plot()
    close(reg_funnel.collections[-1].get_offsets()[:, 0].mean(),
          (res.effect - _bcg_fit(mods="ablat").prediction_interval()["pred"]).mean(), 1e-9)
    plt.close("all")
