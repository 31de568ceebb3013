"""Group-deletion influence (results.influence) against lme4 refits without each unit
(tests/reference/influence_reference.json).

Tolerances: Cook's distance and DFBETAS 1e-3 relative (the brief's; agreement is ~1e-6
for lmer, limited by the optimisers' stopping on flat deviances); the refit's
log-likelihood 1e-6 absolute; the change of each variance component 1e-4 of the
component's size. The GLMM case (cbpp, glmer Laplace): fixed effects and their SEs agree
with glmer to ~1e-4 (test_glmer_reference), so Cook's distance and DFBETAS 1e-3 relative
(DFBETAS 1e-3 of the largest), llf 1e-4 absolute, variance changes 1e-3 of the variance.
"""

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from conftest import ROOT, load_reference  # noqa: E402

import mixedext as mx  # noqa: E402
from mixedext.results.influence import component_names  # noqa: E402

CASES = load_reference("influence_reference")["cases"]


def _fe_name(name):
    if name.startswith("period"):  # cbpp: factor(period) in R, C(period) here
        return f"C(period)[T.{name[6:]}]"
    return "Intercept" if name == "(Intercept)" else name


def _fit(case):
    data = pd.read_csv(ROOT / case["data_file"])
    if case.get("family") == "binomial":
        return mx.binomial_mixedglm("incidence ~ C(period) + (1 | herd)", data,
                                    trials="size").fit_ml()
    return mx.mixedlm(case["formula"], data).fit(reml=case["reml"])


def _terms(res):
    return res.fit_state.terms if hasattr(res, "fit_state") else res._terms


@pytest.fixture(scope="module", params=CASES, ids=lambda c: c["case"])
def case_table(request):
    case = request.param
    res = _fit(case)
    table = res.influence(case["group"])
    table.index = table.index.astype(str)
    return case, res, table


def test_one_row_per_unit_in_reference_order(case_table):
    case, _, table = case_table
    units = [str(r["unit"]) for r in case["deletions"]]
    assert sorted(table.index) == sorted(units)
    assert table["converged"].all()
    np.testing.assert_array_equal(table.loc[units, "nobs"].to_numpy(dtype=int),
                                  [r["nobs"] for r in case["deletions"]])


def _glmm(case):
    return case.get("family") is not None


def test_cooks_distance(case_table):
    case, _, table = case_table
    units = [str(r["unit"]) for r in case["deletions"]]
    ref = np.array([r["cooks_distance"] for r in case["deletions"]])
    np.testing.assert_allclose(table.loc[units, "cooks_distance"], ref, rtol=1e-3)
    if _glmm(case):  # lme4's own influence() stops ~1e-3 short for glmer: checked above
        return
    # lme4's cooks.distance(influence(m)) is the same times (K - p) / K
    k, p = len(units), len(case["fixef_names"])
    lme4 = dict(zip(map(str, case["lme4_influence"]["units"]),
                    case["lme4_influence"]["cooks_distance"]))
    np.testing.assert_allclose(table.loc[units, "cooks_distance"] * (k - p) / k,
                               [lme4[u] for u in units], rtol=1e-3)


def test_dfbetas(case_table):
    case, _, table = case_table
    units = [str(r["unit"]) for r in case["deletions"]]
    for name in case["fixef_names"]:
        ref = np.array([r["dfbetas"][name] for r in case["deletions"]])
        got = table.loc[units, f"dfbetas_{_fe_name(name)}"].to_numpy()
        scale = 1.0 if _glmm(case) else 1e-3
        np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max() * scale)


def test_refit_loglikelihood(case_table):
    case, _, table = case_table
    units = [str(r["unit"]) for r in case["deletions"]]
    np.testing.assert_allclose(table.loc[units, "llf"], [r["llf"] for r in case["deletions"]],
                               rtol=0, atol=1e-4 if _glmm(case) else 1e-6)


def _r_components(case, varcorr, terms):
    """lme4's VarCorr rows in the order of component_names."""
    by_key = {}
    for row in varcorr:
        grp = row["grp"].replace(":", "/")
        if "/" in grp:  # lme4's cask:batch is mixedext's batch/cask
            grp = "/".join(reversed(grp.split("/")))
        var1 = _fe_name(row["var1"]) if row["var1"] else None
        var2 = _fe_name(row["var2"]) if row["var2"] else None
        by_key[(grp, var1, var2)] = row["vcov"]
    out = []
    for t in terms:
        for a in range(t.q):
            out.append(by_key[(t.level, t.names[a], None)])
        for a in range(t.q):
            for b in range(a + 1, t.q):
                out.append(by_key[(t.level, t.names[a], t.names[b])])
    if ("Residual", None, None) in by_key:
        out.append(by_key[("Residual", None, None)])
    return np.array(out)


def test_variance_component_changes(case_table):
    case, res, table = case_table
    terms = _terms(res)
    names = component_names(terms)[:-1 if _glmm(case) else None]
    full = _r_components(case, case["varcorr"], terms)
    scale = np.maximum(np.abs(full), 1e-8)
    for r in case["deletions"]:
        ref = _r_components(case, r["varcorr"], terms) - full
        got = table.loc[str(r["unit"]), [f"delta_{n}" for n in names]].to_numpy(dtype=float)
        np.testing.assert_allclose(got / scale, ref / scale, rtol=0,
                                   atol=1e-3 if _glmm(case) else 1e-4)


def test_column_layout(case_table):
    case, res, table = case_table
    fe = [f"dfbetas_{_fe_name(n)}" for n in case["fixef_names"]]
    vc = [f"delta_{n}" for n in component_names(_terms(res))[:-1 if _glmm(case) else None]]
    assert list(table.columns) == ["cooks_distance", *fe, *vc, "llf", "nobs", "converged"]
    assert table.index.name == case["group"]


def test_default_level_is_the_outermost():
    res = mx.mixedlm("strength ~ 1 + (1 | batch/cask)", mx.datasets.load("pastes")).fit()
    assert res.influence().index.name == "batch"
    inner = res.influence("batch/cask")
    assert inner.index.name == "batch/cask" and len(inner) == 30


def test_unknown_level_refused():
    res = mx.mixedlm("strength ~ 1 + (1 | batch/cask)", mx.datasets.load("pastes")).fit()
    with pytest.raises(KeyError, match="not a level"):
        res.influence("cask")


def test_glmm_dispersion_change_and_snapshot():
    rs = np.random.RandomState(2)
    g = np.repeat(np.arange(8), 25)
    x = rs.normal(size=200)
    mu = np.exp(0.5 + 0.3 * x + 0.5 * rs.normal(size=8)[g])
    data = pd.DataFrame({"g": g, "x": x, "y": rs.negative_binomial(3.0, 3.0 / (3.0 + mu))})
    res = mx.negbin_mixedglm("y ~ x + (1 | g)", data).fit_ml()
    before = (res.theta, res.llf, res.fe_params.copy())
    table = res.influence()
    assert (res.theta, res.llf) == before[:2]
    pd.testing.assert_series_equal(res.fe_params, before[2])
    assert "delta_theta" in table.columns and table["converged"].all()
    # deleting unit 0 by hand: the same refit
    sub = mx.negbin_mixedglm("y ~ x + (1 | g)", data[data["g"] != 0]).fit_ml()
    row = table.iloc[0]
    assert row["delta_theta"] == pytest.approx(sub.theta - res.theta, rel=1e-3, abs=1e-3)
    assert row["llf"] == pytest.approx(sub.llf, abs=1e-4)
    diff = sub.fe_params - res.fe_params
    np.testing.assert_allclose(row[["dfbetas_Intercept", "dfbetas_x"]].to_numpy(dtype=float),
                               (diff / sub.bse).to_numpy(), rtol=2e-3)


def test_snapshot_and_progress_off():
    sleep = mx.datasets.load("sleepstudy")
    res = mx.mixedlm("Reaction ~ Days + (Days | Subject)", sleep).fit()
    theta = res.theta.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = res.influence(progress=False)
    pd.testing.assert_series_equal(res.theta, theta)
    assert len(table) == 18


def test_plot_influence(tmp_path):
    res = mx.mixedlm("Reaction ~ Days + (Days | Subject)", mx.datasets.load("sleepstudy")).fit()
    ax = res.plot_influence()
    cook = res.influence()["cooks_distance"]
    ref = [line for line in ax.lines if np.allclose(line.get_ydata(), 4 / 18)]
    assert ref, "no 4 / K reference line"
    assert len(ax.texts) == int((cook > 4 / 18).sum())
    path = tmp_path / "influence.png"
    ax.figure.savefig(path, dpi=60)
    assert path.stat().st_size > 3000
    plt.close(ax.figure)
