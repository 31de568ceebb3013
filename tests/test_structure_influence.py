"""Group-deletion influence with a residual structure (results.influence with cov_struct=,
mixedext.results.structure_influence) against nlme refits without each subject
(tests/reference/influence_structure_reference.json): lme with corAR1 (REML) and corCAR1
(ML) and a random intercept.

Tolerances: Cook's distance and DFBETAS 1e-3 relative (the brief's; DFBETAS also 1e-3 of
the largest, for values near 0), the refit's log-likelihood 1e-5 absolute and the changes
of the random-intercept variance, the residual variance and the correlation parameter 1e-3
of the full fit's value (nlme's tight controls stop ~1e-6 short on these flat
deviances). A refit equals a fit of the data without the unit, and the table is a
snapshot.
"""

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, load_reference

import mixedext as mx

CASES = load_reference("influence_structure_reference")["cases"]


def _fit(case, data=None):
    data = pd.read_csv(ROOT / case["data_file"]) if data is None else data
    return mx.mixedlm(f"{case['fixed']} + (1 | {case['group']})", data,
                      cov_struct=case["kind"], time=case["time"]).fit(
        reml=case["method"] == "REML")


def _fe(name):
    return "Intercept" if name == "(Intercept)" else name


@pytest.fixture(scope="module", params=CASES, ids=lambda c: c["case"])
def case_table(request):
    case = request.param
    res = _fit(case)
    table = res.influence(progress=False)
    return case, res, table


def test_full_fit_is_nlmes(case_table):
    case, res, _ = case_table
    assert res.llf == pytest.approx(case["llf"], abs=1e-5)


def test_cooks_distance_and_dfbetas(case_table):
    case, _, table = case_table
    rows = case["deletions"]
    units = [r["unit"] for r in rows]
    assert list(table.index) == units and table["converged"].all()
    np.testing.assert_array_equal(table["nobs"].to_numpy(dtype=int), [r["nobs"] for r in rows])
    np.testing.assert_allclose(table.loc[units, "cooks_distance"],
                               [r["cooks_distance"] for r in rows], rtol=1e-3)
    for name in case["fixef_names"]:
        ref = np.array([r["dfbetas"][name] for r in rows])
        np.testing.assert_allclose(table.loc[units, f"dfbetas_{_fe(name)}"], ref, rtol=1e-3,
                                   atol=1e-3 * np.abs(ref).max())


def test_refit_llf_and_parameter_changes(case_table):
    case, res, table = case_table
    rows = case["deletions"]
    np.testing.assert_allclose(table["llf"], [r["llf"] for r in rows], rtol=0, atol=1e-5)
    cor = "rho" if case["kind"] == "ar1" else "phi"
    for column, key, full in [
            (f"delta_var[{case['group']}:Intercept]", "re_var", case["re_var"]),
            ("delta_var[Residual]", "sigma", case["sigma"] ** 2),
            (f"delta_{cor}", "cor", case["cor"])]:
        ref = np.array([(r[key] ** 2 if key == "sigma" else r[key]) - full for r in rows])
        np.testing.assert_allclose(table[column] / full, ref / full, rtol=0, atol=1e-3)


def test_refit_is_the_fit_without_the_unit(case_table):
    case, res, table = case_table
    data = pd.read_csv(ROOT / case["data_file"])
    unit = table["cooks_distance"].idxmax()
    sub = _fit(case, data[data[case["group"]] != unit])
    row = table.loc[unit]
    assert row["llf"] == pytest.approx(sub.llf, abs=1e-8)
    np.testing.assert_allclose(
        row[[f"dfbetas_{n}" for n in res.fe_params.index]].to_numpy(dtype=float),
        ((sub.fe_params - res.fe_params) / sub.bse[res.fe_params.index]).to_numpy(),
        rtol=1e-6, atol=1e-9)
    cor = res.cov_struct_params.index[0]
    assert row[f"delta_{cor}"] == pytest.approx(
        sub.cov_struct_params[cor] - res.cov_struct_params[cor], abs=1e-6)


def test_snapshot(case_table):
    case, res, table = case_table
    assert res.fit_state.residual_spec.n_units == len(table)
    before = res.cov_struct_params.copy()
    res.influence(progress=False).pipe(len)  # a second run changes nothing
    pd.testing.assert_series_equal(res.cov_struct_params, before)


def test_het_var_level_present_only_in_one_unit():
    # the level "z" of het_var occurs only in unit 0: its refit has one SD ratio less
    rs = np.random.RandomState(3)
    g = np.repeat(np.arange(15), 6)
    t = np.tile(np.arange(6), 15)
    site = np.where(g == 0, "z", np.where(t % 2 == 0, "a", "b"))
    y = rs.normal(size=15)[g] + rs.normal(size=len(g)) * np.where(site == "b", 1.5, 1.0)
    data = pd.DataFrame({"g": g, "t": t, "site": site, "y": y})
    res = mx.mixedlm("y ~ t + (1 | g)", data, cov_struct="ar1", time="t",
                     het_var="site").fit()
    table = res.influence(progress=False)
    assert np.isnan(table["delta_sd_ratio[z]"].iloc[0])
    assert np.isfinite(table["delta_sd_ratio[z]"].iloc[1])
    sub = mx.mixedlm("y ~ t + (1 | g)", data[data["g"] != 0], cov_struct="ar1", time="t",
                     het_var="site").fit()
    assert table["llf"].iloc[0] == pytest.approx(sub.llf, abs=1e-8)


def test_refit_keeps_the_nugget():
    """A spatial correlation with nugget=True is refitted with its nugget (the deleted
    unit's refit equals the fit of the other rows)."""
    rs = np.random.RandomState(4)
    g = np.repeat(np.arange(15), 8)
    t = np.round(np.sort(rs.uniform(0, 8, (15, 8)), axis=1), 3)
    corr = np.exp(-np.abs(t[:, :, None] - t[:, None, :]) / 2.0)  # nugget 0.3
    e = np.einsum("uij,uj->ui", np.linalg.cholesky(corr), rs.normal(size=(15, 8)))
    t = t.ravel()
    y = rs.normal(size=15)[g] + np.sqrt(0.7) * e.ravel() + np.sqrt(0.3) * rs.normal(size=120)
    data = pd.DataFrame({"g": g, "t": t, "y": y})
    kw = dict(cov_struct="exp", time="t", nugget=True)
    res = mx.mixedlm("y ~ t + (1 | g)", data, **kw).fit()
    table = res.influence(progress=False)
    assert "delta_nugget" in table
    sub = mx.mixedlm("y ~ t + (1 | g)", data[data["g"] != 0], **kw).fit()
    assert table["llf"].iloc[0] == pytest.approx(sub.llf, abs=1e-6)
    assert table["delta_nugget"].iloc[0] == pytest.approx(
        sub.cov_struct_params["nugget"] - res.cov_struct_params["nugget"], abs=1e-4)
