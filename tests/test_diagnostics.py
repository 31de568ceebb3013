"""ICC, design effect and shrinkage (mixedext.results.diagnostics).

Against lme4 (tests/reference/lmer_reference.json): BLUPs 1e-4 absolute, conditional SEs
1e-4 relative.
"""

import re

import numpy as np
import pandas as pd
import pytest
from conftest import load_reference, reference_data

import mixedext as mx

LMER = {(c["case"], c["reml"]): c for c in load_reference("lmer_reference")["cases"]}


def _fit(case_name, reml=True):
    case = LMER[(case_name, reml)]
    return case, mx.mixedlm(case["formula"], reference_data(case)).fit(reml=reml)


def _py_level(grp):
    grp = re.sub(r"\.\d+$", "", grp)
    return "/".join(reversed(grp.replace("(", "").replace(")", "").split(":")))


@pytest.mark.parametrize("case_name", ["ri_unequal", "pastes_nested", "nested3",
                                       "sleepstudy_slope", "penicillin_crossed"])
def test_shrinkage_matches_lme4_condvar(case_name):
    case, res = _fit(case_name)
    for grp, block in case["ranef"].items():
        table = res.shrinkage(_py_level(grp))
        units = ["/".join(reversed(u.split(":"))) for u in block["levels"]]
        for j, term in enumerate(block["terms"]):
            term = "Intercept" if term == "(Intercept)" else term
            sub = table if "term" not in table else table[table["term"] == term]
            got = sub.loc[units]
            np.testing.assert_allclose(got["blup"], np.array(block["values"])[:, j],
                                       atol=1e-4)
            np.testing.assert_allclose(got["cond_se"], np.array(block["condsd"])[:, j],
                                       rtol=1e-4)


def test_factor_is_reliability_and_small_units_shrink_more():
    _, res = _fit("ri_unequal")
    table = res.shrinkage()
    tau2 = res.variance_components().variance.iloc[0]
    np.testing.assert_allclose(table["factor"], tau2 / (tau2 + res.scale / table["n"]),
                               rtol=1e-10)
    by_n = table.sort_values("n")
    assert np.all(np.diff(by_n["factor"].to_numpy()) >= -1e-12)
    assert by_n["factor"].iloc[0] < 0.5 < by_n["factor"].iloc[-1]
    shrunk = np.abs(table["blup"]) <= np.abs(table["raw"]) + 1e-12
    assert shrunk.all()
    # one unit's raw estimate is its mean marginal residual
    data = reference_data(LMER[("ri_unequal", True)])
    u = table.index[0]
    rows = data["unit"] == u
    resid = data.loc[rows, "y"] - res.fe_params["Intercept"] - res.fe_params["x"] * data.loc[
        rows, "x"]
    assert table.loc[u, "raw"] == pytest.approx(resid.mean(), rel=1e-10)


def test_shrinkage_flags_and_intervals():
    _, res = _fit("sleepstudy_slope")
    table = res.shrinkage()
    assert set(table["term"]) == {"Intercept", "Days"}
    z = 1.959963984540054
    np.testing.assert_allclose(table["upper"] - table["blup"], z * table["cond_se"])
    assert (table["flag"] == ((table["lower"] > 0) | (table["upper"] < 0))).all()
    with pytest.raises(KeyError, match="'Patient'"):
        res.shrinkage("Patient")


def test_design_effect_worked_example():
    assert mx.design_effect(0.057, 30) == pytest.approx(2.653, abs=5e-4)
    assert np.sqrt(mx.design_effect(0.057, 30)) == pytest.approx(1.629, abs=5e-4)
    assert mx.design_effect(0.057, 30, cv=0.5) == pytest.approx(1 + (1.25 * 30 - 1) * 0.057)
    assert mx.clusters_needed(300, 0.057, 30) == int(np.ceil(300 * 2.653 / 30))
    # 400 * 1.95 / 20 is 39 exactly; in floating point 39.00000000000001
    assert mx.clusters_needed(400, 0.05, 20) == 39
    assert mx.clusters_needed(401, 0.05, 20) == 40
    with pytest.raises(ValueError, match="icc"):
        mx.design_effect(1.5, 30)


def test_icc_and_design_effect_nested():
    _, res = _fit("pastes_nested")
    vc = res.variance_components().set_index("level")["variance"]
    total = vc.sum()
    icc = res.icc()
    assert list(icc.index) == ["batch", "batch/cask"]
    assert icc.loc["batch", "share"] == pytest.approx(vc["batch"] / total)
    assert icc.loc["batch/cask", "icc"] == pytest.approx((vc["batch"] + vc["batch/cask"]) / total)
    de = res.design_effect()  # randomising batches: casks inside count too
    want = 1 + (6 - 1) * vc["batch"] / total + (2 - 1) * vc["batch/cask"] / total
    assert de.loc["batch", "design_effect"] == pytest.approx(want)
    assert de.loc["batch", "effective_n"] == pytest.approx(60 / want)
    assert de.loc["batch", "se_inflation"] == pytest.approx(np.sqrt(want))
    inner = res.design_effect("batch/cask")
    assert inner.loc["batch/cask", "design_effect"] == pytest.approx(
        1 + vc["batch/cask"] / total)


def test_design_effect_unequal_sizes():
    _, res = _fit("ri_unequal")
    tab = res.design_effect(method="unequal")
    sizes = res.shrinkage()["n"].to_numpy()
    icc = res.icc()["icc"].iloc[0]
    cv = sizes.std() / sizes.mean()
    assert tab["cv_cluster_size"].iloc[0] == pytest.approx(cv)
    assert tab["design_effect"].iloc[0] == pytest.approx(mx.design_effect(icc, sizes.mean(), cv))


def test_pitfall_model_has_no_center_level():
    data = mx.datasets.load("pastes")
    res = mx.mixedlm("strength ~ 1", data, groups="batch",
                     vc_formula={"cask": "0 + C(cask)"}).fit()
    assert list(res.icc().index) == ["batch/cask"]
    assert isinstance(res.icc(), pd.DataFrame)


def test_random_effects_se_is_lme4_condsd():
    case, res = _fit("pastes_nested")
    se = res.random_effects_se
    for grp, block in case["ranef"].items():
        units = ["/".join(reversed(u.split(":"))) for u in block["levels"]]
        np.testing.assert_allclose(se[_py_level(grp)].loc[units, "Intercept"],
                                   np.ravel(block["condsd"]), rtol=1e-4)
