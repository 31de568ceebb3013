"""Inference against R (tests/reference/inference_reference.json).

Satterthwaite df, t, p and anova F/df against lmerTest (1e-3 relative); profile
intervals of the variance components against lme4's confint(method = "profile")
(1e-3 relative); conditional and population predictions against lme4's predict()
(1e-4 absolute); the profile interval of the ICC against a brute-force R profile (1e-4).
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, load_reference
from scipy.stats import chi2

import mixedext as mx

REF = load_reference("inference_reference")


def _fit(case, reml=True):
    data = pd.read_csv(ROOT / case["data_file"])
    formula = case["formula"].replace("method +", "C(method) +")
    return mx.mixedlm(formula, data).fit(reml=reml)


@pytest.fixture(scope="module", params=REF["satterthwaite"], ids=lambda c: c["case"])
def satt(request):
    case = request.param
    return case, _fit(case)


def _py_name(r_name):
    if r_name == "(Intercept)":
        return "Intercept"
    m = re.fullmatch(r"method(m\d)", r_name)
    return f"C(method)[T.{m[1]}]" if m else r_name


def _r_order(res, r_names):
    """Matrix taking mixedext's fixed effects to R's order."""
    ours = list(res.model.exog_names)
    perm = np.zeros((len(r_names), len(ours)))
    for i, name in enumerate(r_names):
        perm[i, ours.index(_py_name(name))] = 1.0
    return perm


def _assert_pvalues(got, want):
    """p-values to 1e-3 relative; below 1e-8 as log10 p within 1e-3 relative."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    small = want < 1e-8
    np.testing.assert_allclose(got[~small], want[~small], rtol=1e-3)
    np.testing.assert_allclose(np.log10(got[small]), np.log10(want[small]), rtol=1e-3)


DDF_KEYS = {"satterthwaite": "satterthwaite", "kenward-roger": "kenward_roger"}


@pytest.mark.parametrize("ddf", DDF_KEYS)
def test_coefficients(satt, ddf):
    """lmerTest's summary(ddf = ...) (Kenward-Roger via pbkrtest 0.5.2): df 1e-3, t 1e-4,
    Kenward-Roger's adjusted SE 1e-5 relative."""
    case, res = satt
    table = res._ddf_table(_r_order(res, case["fixef_names"]), ddf)
    ref = pd.DataFrame(case[DDF_KEYS[ddf]]["coefficients"])
    np.testing.assert_allclose(table["se"], ref["std_error"], rtol=1e-5)
    np.testing.assert_allclose(table["df"], ref["df"], rtol=1e-3)
    np.testing.assert_allclose(table["t"], ref["t_value"], rtol=1e-4)
    _assert_pvalues(table["pvalue"], ref["p_value"])


@pytest.mark.parametrize("ddf", DDF_KEYS)
def test_anova(satt, ddf):
    case, res = satt
    ref = case[DDF_KEYS[ddf]]["anova_type3"]
    if not ref:
        return
    table = res.anova(ddf=ddf)
    for row in ref:
        name = "C(method)" if row["term"] == "method" else row["term"]
        assert table.loc[name, "num_df"] == row["num_df"]
        assert table.loc[name, "F"] == pytest.approx(row["f_value"], rel=1e-4)
        assert table.loc[name, "den_df"] == pytest.approx(row["den_df"], rel=1e-3)
        _assert_pvalues([table.loc[name, "pvalue"]], [row["p_value"]])


def test_contests_students():
    case = next(c for c in REF["satterthwaite"] if c["case"] == "students_small")
    res = _fit(case)
    from mixedext.inference.kenward_roger import KenwardRoger
    from mixedext.inference.satterthwaite import Satterthwaite

    sat, kr = Satterthwaite(res), KenwardRoger(res)
    perm = _r_order(res, case["fixef_names"])
    for contrast in case["contests"]:
        L = np.array(contrast["L"], dtype=float) @ perm
        ref = contrast["satterthwaite"]["joint_F"][0]
        out = sat.f_test(L)
        assert out["F"] == pytest.approx(ref["f_value"], rel=1e-4)
        assert out["den_df"] == pytest.approx(ref["den_df"], rel=1e-3)
        assert out["pvalue"] == pytest.approx(ref["p_value"], rel=1e-3)
        ref = contrast["kenward_roger"]["joint_F"][0]
        out = kr.f_test(L)
        assert out["F"] == pytest.approx(ref["f_value"], rel=1e-4)
        assert out["den_df"] == pytest.approx(ref["den_df"], rel=1e-3)
        rows = pd.DataFrame(contrast["kenward_roger"]["by_row_t"])
        table = kr.t_table(L)
        np.testing.assert_allclose(table["se"], rows["std_error"], rtol=1e-5)
        np.testing.assert_allclose(table["df"], rows["df"], rtol=1e-3)


def _row_key(parm):
    """lme4 profile row name -> (level, term, term2, parameter) in mixedext's naming."""
    if parm == "sigma":
        return ("Residual", None, None, "sigma")
    m = re.fullmatch(r"(sd|cor)_(.+)\|(.+)", parm)
    if not m:
        return None
    kind, terms, grp = m.groups()
    level = "/".join(reversed(grp.split(":")))
    names = ["Intercept" if t == "(Intercept)" else t for t in terms.split(".(")]
    names = [n.rstrip(")") if n.startswith("Intercept") else n for n in names]
    if kind == "sd":
        return (level, names[0], None, "sd")
    first, second = terms.split(".", 1)
    fix = {"(Intercept)": "Intercept"}
    return (level, fix.get(second, second), fix.get(first, first), "corr")


@pytest.mark.parametrize("case", REF["profile_ci"],
                         ids=lambda c: f"{c['case']}-{'REML' if c['reml'] else 'ML'}")
def test_profile_intervals(case):
    res = _fit(case, reml=case["reml"])
    table = res.conf_int_vc("profile")
    for row in case["rows"]:
        key = _row_key(row["parm"])
        if key is None:
            continue  # fixed effects
        level, term, term2, kind = key
        sel = (table.level == level) & (table.parameter == kind)
        if kind != "sigma":
            sel &= table.term == term
        got = table.loc[sel]
        assert len(got) == 1, key
        assert got["lower"].item() == pytest.approx(row["lower"], rel=1e-3, abs=1e-6)
        assert got["upper"].item() == pytest.approx(row["upper"], rel=1e-3)


@pytest.mark.parametrize("case", REF["predictions"], ids=lambda c: c["case"])
def test_predictions(case):
    res = _fit(case)
    new = pd.DataFrame(case["newdata"]).drop(columns="seen", errors="ignore")
    np.testing.assert_allclose(res.predict(new, which="conditional"), case["conditional"],
                               atol=1e-4)
    np.testing.assert_allclose(res.predict(new), case["population"], atol=1e-4)


@pytest.mark.parametrize("case", REF["icc_profile"], ids=lambda c: c["criterion"])
def test_icc_profile_interval(case):
    res = _fit(case, reml=case["criterion"] == "REML")
    table = res.icc(ci=True)
    assert table["icc"].iloc[0] == pytest.approx(case["icc_hat"], rel=1e-4)
    assert table["lower"].iloc[0] == pytest.approx(case["lower"], rel=1e-4)
    assert table["upper"].iloc[0] == pytest.approx(case["upper"], rel=1e-4)


def test_icc_profile_endpoints_drop_by_chi2():
    """At each endpoint the criterion, ICC held fixed and the rest re-optimised, is
    chi2_1(0.95) / 2 below its maximum."""
    case = next(c for c in REF["icc_profile"] if c["criterion"] == "ML")
    res = _fit(case, reml=False)
    table = res.icc(ci=True)
    dev = res.fit_state.profiled_deviance()
    for c in (table["lower"].iloc[0], table["upper"].iloc[0]):
        theta = np.sqrt(c / (1 - c))  # one level: the ICC fixes theta
        drop = dev(np.array([theta]), False) - dev(res.fit_state.theta, False)
        assert drop == pytest.approx(chi2.ppf(0.95, 1), abs=1e-3)


@pytest.mark.parametrize("case", REF["profile_ci"],
                         ids=lambda c: f"{c['case']}-{'REML' if c['reml'] else 'ML'}")
def test_fixed_effect_profile_intervals(case):
    """Against R's exact root finding of the ML profile (1e-7 relative) and lme4's
    ``confint(method = "profile")`` (spline-interpolated, 1e-6 relative)."""
    res = _fit(case, reml=case["reml"])
    table = res.conf_int_fe("profile")
    exact = {r["parm"]: r for r in case["check_exact_root_finding"]["rows"]}
    fixed = [r for r in case["rows"] if _row_key(r["parm"]) is None]
    assert fixed
    for row in fixed:
        name = "Intercept" if row["parm"] == "(Intercept)" else row["parm"]
        got = table.loc[name]
        for side in ("lower", "upper"):
            assert got[side] == pytest.approx(exact[row["parm"]][side], rel=1e-7)
            assert got[side] == pytest.approx(row[side], rel=1e-6)
        assert got["estimate"] == pytest.approx(res.fe_params[name], rel=1e-12)


KR = load_reference("kenward_roger_reference")["cases"]


def _kr_data(case):
    if case["data"] == "sleepstudy":
        d = mx.datasets.load("sleepstudy")
        first5 = sorted(d["Subject"].unique())[:5]
        keep = (np.arange(len(d)) % 7 != 0) & ~(d["Subject"].isin(first5) & (d["Days"] >= 7))
        return d[keep].reset_index(drop=True)
    if case["data"] == "dyestuff2":
        return mx.datasets.load("dyestuff2")
    d = mx.datasets.load("penicillin")
    d["x"] = ((np.arange(1, len(d) + 1) * 37) % 11) / 10
    return d


@pytest.mark.parametrize("case", KR, ids=lambda c: c["case"])
def test_kenward_roger_unbalanced_and_crossed(case):
    """Cases where Kenward-Roger and Satterthwaite differ (df by up to 15%; 5 against 29
    for the singular Dyestuff2): pbkrtest's vcovAdj 1e-4, lmerTest's KR SE 1e-5, df 1e-3,
    t 1e-4 relative; llf 1e-5."""
    data = _kr_data(case)
    assert len(data) == case["nobs"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mx.SingularFitWarning)
        res = mx.mixedlm(case["formula"], data).fit()
    assert res.llf == pytest.approx(case["llf"], abs=1e-5)
    perm = _r_order(res, list(np.atleast_1d(case["fixef_names"])))  # R unboxes one name
    from mixedext.inference.kenward_roger import KenwardRoger

    kr = KenwardRoger(res)
    np.testing.assert_allclose(perm @ kr.vcov_adjusted @ perm.T,
                               np.atleast_2d(case["vcov_adjusted"]), rtol=1e-4)
    ref = pd.DataFrame(case["kenward_roger"]["coefficients"])
    table = res._ddf_table(perm, "kenward-roger")
    np.testing.assert_allclose(table["se"], ref["std_error"], rtol=1e-5)
    np.testing.assert_allclose(table["df"], ref["df"], rtol=1e-3)
    np.testing.assert_allclose(table["t"], ref["t_value"], rtol=1e-4)
    anova = res.anova(ddf="kenward-roger")
    for row in case["kenward_roger"]["anova_type3"]:
        assert anova.loc[row["term"], "F"] == pytest.approx(row["f_value"], rel=1e-4)
        assert anova.loc[row["term"], "den_df"] == pytest.approx(row["den_df"], rel=1e-3)


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_t_test_takes_statsmodels_hypothesis_forms_with_ddf(ddf):
    """``t_test(..., ddf=)`` takes strings and ``(matrix, q)`` as statsmodels' t_test does:
    the same standard errors and df as the matrix (checked against lmerTest and pbkrtest
    above), ``t = (L b - q) / se``."""
    res = mx.mixedlm("Reaction ~ Days + (Days | Subject)",
                     mx.datasets.load("sleepstudy")).fit()
    by_matrix = res.t_test(np.eye(2), ddf=ddf)
    by_string = res.t_test("Intercept = 250, Days = 10", ddf=ddf)
    by_tuple = res.t_test((np.eye(2), [250.0, 10.0]), ddf=ddf)
    for out in (by_string, by_tuple):
        np.testing.assert_allclose(out.sd, by_matrix.sd, rtol=1e-12)
        np.testing.assert_allclose(out.df_denom, by_matrix.df_denom, rtol=1e-12)
        np.testing.assert_allclose(np.ravel(out.tvalue),
                                   (res.fe_params.to_numpy() - [250.0, 10.0]) /
                                   np.ravel(by_matrix.sd), rtol=1e-12)
    one = res.t_test("Days = 10", ddf=ddf)
    assert float(np.ravel(one.df_denom)[0]) == pytest.approx(by_matrix.df_denom[1], rel=1e-12)
