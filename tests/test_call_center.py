"""The nested call-center model (695,205 rows) against lme4, from lmer_callcenter.json.

The reference comes from ``tests/reference/lmer_callcenter.R`` (lme4 with tight
tolerances, REML and ML) run on ``mixedext.datasets.call_center()`` written to CSV by
``tests/reference/write_callcenter_csv.py`` (the CSV is not committed). Instead of
hashing a regenerated CSV, the data are checked against the fingerprint R computed from
the CSV it read (row count, column sums, counts).

Tolerances: log-likelihood 1e-3 absolute and never below lme4's by more than 1e-3 (at
n = 695,205 the deviance itself is only reproducible to ~1e-7 between implementations);
fixed effects 1e-4 relative; standard errors and variances 1e-3 relative.
"""

import numpy as np
import pytest
from conftest import load_reference

import mixedext as mx

pytestmark = pytest.mark.slow

REF = load_reference("lmer_callcenter")
CASES = {case["reml"]: case for case in REF["cases"]}
FORMULA = "call_CSAT ~ reason + age + (1 | center_ID/rep_ID)"

PY_NAME = {"(Intercept)": "Intercept", "reasonproperty": "reason[T.property]", "age": "age"}
PY_LEVEL = {"center_ID": "center_ID", "rep_ID:center_ID": "center_ID/rep_ID",
            "Residual": "Residual"}


def _id(reml):
    return "REML" if reml else "ML"


@pytest.fixture(scope="module")
def calls():
    return mx.datasets.call_center()


@pytest.fixture(scope="module", params=[True, False], ids=_id)
def fitted(request, calls):
    reml = request.param
    return CASES[reml], mx.mixedlm(FORMULA, calls).fit(reml=reml)


def test_reference_is_sound():
    assert REF["meta"]["data"]["nrow"] == 695205
    for case in REF["cases"]:
        assert case["converged"], case["converged_messages"]
        assert case["formula"] == FORMULA
        assert case["check_deviance_diff"] < 1e-6
        assert case["nobs"] == 695205


def test_data_matches_the_reference_csv(calls):
    info = REF["meta"]["data"]
    assert len(calls) == info["nrow"]
    assert list(calls.columns) == ["center_ID", "rep_ID", "age", "reason", "month",
                                   "call_CSAT", "M6Spend"]
    assert int(calls["age"].sum()) == info["sum_age"]
    assert int((calls["reason"] == "property").sum()) == info["n_property"]
    assert calls["rep_ID"].nunique() == info["n_reps"]
    assert calls["center_ID"].nunique() == info["n_centers"]
    # R sums in long double, and jsonlite keeps 15 significant digits
    assert float(calls["call_CSAT"].sum()) == pytest.approx(info["sum_call_CSAT"], rel=1e-12)
    assert float(calls["M6Spend"].sum()) == pytest.approx(info["sum_M6Spend"], rel=1e-12)


def test_loglikelihood(fitted):
    case, res = fitted
    assert res.llf >= case["llf"] - 1e-3  # never short of lme4's optimum
    assert res.llf == pytest.approx(case["llf"], abs=1e-3)
    assert res.nobs == case["nobs"]
    assert res.converged


def test_fixed_effects(fitted):
    case, res = fitted
    assert len(res.fe_params) == len(case["fixef"])
    for r_name, value in case["fixef"].items():
        name = PY_NAME[r_name]
        assert res.fe_params[name] == pytest.approx(value, rel=1e-4)
        assert res.bse[name] == pytest.approx(case["fixef_se"][r_name], rel=1e-3)


def test_variance_components(fitted):
    case, res = fitted
    vc = res.variance_components()
    assert list(vc.level) == ["center_ID", "center_ID/rep_ID", "Residual"]
    for row in case["varcorr"]:
        got = vc.loc[vc.level == PY_LEVEL[row["grp"]], "variance"].item()
        assert got == pytest.approx(row["vcov"], rel=1e-3), row["grp"]
    assert res.scale == pytest.approx(case["sigma"] ** 2, rel=1e-3)
    assert not res.singular


@pytest.mark.parametrize("reml", [True, False], ids=_id)
def test_statsmodels_style_call_is_the_same_model(calls, reml):
    """statsmodels' spelling (groups + re_formula="1" + vc_formula) of the nested model."""
    lme4_style = mx.mixedlm(FORMULA, calls).fit(reml=reml)
    sm_style = mx.mixedlm("call_CSAT ~ reason + age", calls, groups="center_ID",
                          re_formula="1", vc_formula={"rep_ID": "0 + C(rep_ID)"}
                          ).fit(reml=reml)
    assert sm_style.llf == pytest.approx(lme4_style.llf, abs=1e-6)
    np.testing.assert_allclose(np.asarray(sm_style.fe_params),
                               np.asarray(lme4_style.fe_params), rtol=1e-6)
    np.testing.assert_allclose(sm_style.variance_components()["variance"].to_numpy(),
                               lme4_style.variance_components()["variance"].to_numpy(),
                               rtol=1e-4)
    assert sm_style.llf == pytest.approx(CASES[reml]["llf"], abs=1e-3)
