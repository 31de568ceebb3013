"""The binomial mixed model: statsmodels compatibility, input checks, internal consistency.

Agreement with glmer lives in test_glmer_reference.py.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

import mixedext as mx
from mixedext._engine.pirls import LaplaceDeviance


@pytest.fixture(scope="module")
def binary():
    rs = np.random.RandomState(0)
    n = 600
    g = rs.randint(0, 30, n)
    x = rs.normal(size=n)
    eta = -0.5 + 0.8 * x + rs.normal(size=30)[g]
    y = (rs.rand(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "x": x, "g": g})


def test_is_a_statsmodels_binomial_bayes_model_and_vb_unchanged(binary):
    model = mx.binomial_mixedglm("y ~ x + (1 | g)", binary)
    assert isinstance(model, BinomialBayesMixedGLM)
    ours = model.fit_vb()
    theirs = BinomialBayesMixedGLM.from_formula("y ~ x", {"g": "0 + C(g)"}, binary).fit_vb()
    # the same model: VB's optimiser lands within ~1e-5 (it stops on gradient tolerance)
    np.testing.assert_allclose(ours.fe_mean, theirs.fe_mean, rtol=1e-4)
    np.testing.assert_allclose(ours.vcp_mean, theirs.vcp_mean, rtol=1e-4)


def test_three_spellings_same_ml_fit(binary):
    a = mx.binomial_mixedglm("y ~ x + (1 | g)", binary).fit_ml()
    b = mx.binomial_mixedglm("y ~ x", binary, groups="g").fit_ml()
    c = mx.BinomialMixedGLM.from_formula("y ~ x", {"g": "0 + C(g)"}, binary).fit_ml()
    assert a.llf == pytest.approx(b.llf, abs=1e-8) == pytest.approx(c.llf, abs=1e-8)


def test_agq_one_node_is_laplace_and_more_nodes_move_little(binary):
    model = mx.binomial_mixedglm("y ~ x + (1 | g)", binary)
    lap = model.fit_ml()
    dev = LaplaceDeviance(model.exog, model.ml_family(), model.random_terms)
    x = lap._opt.theta
    assert dev.deviance(x[:1], x[1:], 1) == pytest.approx(-2 * lap.llf, abs=1e-8)
    agq = model.fit_ml(nagq=15)
    assert abs(agq.llf - lap.llf) < 1.0
    np.testing.assert_allclose(agq.fe_params, lap.fe_params, rtol=0.05)


def test_results_are_labelled(binary):
    res = mx.binomial_mixedglm("y ~ x + (1 | g)", binary).fit_ml()
    assert list(res.fe_params.index) == ["Intercept", "x"]
    assert list(res.bse.index) == ["Intercept", "x"]
    assert res.random_effects["g"].shape == (30, 1)
    vc = res.variance_components()
    assert list(vc.level) == ["g"]  # no residual row on the latent scale
    icc = res.icc()
    tau2 = vc.variance.iloc[0]
    assert icc.loc["g", "icc"] == pytest.approx(tau2 / (tau2 + np.pi ** 2 / 3))
    shr = res.shrinkage()
    assert {"rate_raw", "rate_shrunk", "raw", "blup", "factor", "cond_se"} <= set(shr)
    assert np.all(np.isfinite(shr["raw"]))
    assert "Binomial mixed model" in res.summary()
    p = res.predict()
    assert p.shape == (len(binary),) and np.all((p > 0) & (p < 1))


def test_all_equal_unit_is_fine(binary):
    data = binary.copy()
    data.loc[data.g == 3, "y"] = 1  # a unit with every outcome 1 shrinks, finite raw
    res = mx.binomial_mixedglm("y ~ x + (1 | g)", data).fit_ml()
    shr = res.shrinkage()
    assert np.isfinite(shr.loc["3", "raw"]) and shr.loc["3", "rate_raw"] == 1.0
    assert abs(shr.loc["3", "blup"]) < abs(shr.loc["3", "raw"])


def test_non_binary_outcome_named(binary):
    data = binary.assign(y=binary.y * 2)
    with pytest.raises(ValueError, match="'y' must be binary"):
        mx.binomial_mixedglm("y ~ x + (1 | g)", data)


def test_successes_above_trials(binary):
    data = binary.assign(n=1, y=binary.y + 1)
    with pytest.raises(ValueError, match="successes"):
        mx.binomial_mixedglm("y ~ x + (1 | g)", data, trials="n")


def test_counts_refuse_bayes_fits():
    data = mx.datasets.load("cbpp")
    model = mx.binomial_mixedglm("incidence ~ period + (1 | herd)", data, trials="size")
    with pytest.raises(NotImplementedError, match="fit_ml"):
        model.fit_vb()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = model.fit_ml()
    assert res.converged


def test_missing_value_named(binary):
    data = binary.astype({"x": float})
    data.loc[4, "x"] = np.nan
    with pytest.raises(mx.MissingDataError, match="'x'"):
        mx.binomial_mixedglm("y ~ x + (1 | g)", data, missing="raise")


def test_complete_separation_warns(binary):
    data = binary.assign(sep=(binary.y == 1).astype(float))
    with pytest.warns(RuntimeWarning, match="separation.*'sep'"):
        mx.binomial_mixedglm("y ~ x + sep + (1 | g)", data).fit_ml()


def test_missing_rows_dropped_as_statsmodels(binary):
    data = binary.astype({"x": float})
    data.loc[[1, 2], "x"] = np.nan
    model = mx.binomial_mixedglm("y ~ x + (1 | g)", data)
    assert len(model.endog) == len(data) - 2


def test_conditional_sds_and_summary_blocks(binary):
    res = mx.binomial_mixedglm("y ~ x + (1 | g)", binary).fit_ml()
    se = res.random_effects_se["g"]
    np.testing.assert_allclose(se["Intercept"], res.shrinkage()["cond_se"])
    assert "design effect" in res.summary()


def test_raw_offset_solves_the_unit_score(binary):
    res = mx.binomial_mixedglm("y ~ x + (1 | g)", binary).fit_ml()
    shr = res.shrinkage()
    fixed = np.asarray(res.model.exog) @ res.fe_params.to_numpy()
    unit = shr.index[4]
    rows = (binary["g"].astype(str) == unit).to_numpy()
    a = shr.loc[unit, "raw"]
    p = 1 / (1 + np.exp(-(fixed[rows] + a)))
    p0 = 1 / (1 + np.exp(-(fixed[rows].mean() + a)))
    score = binary["y"].to_numpy()[rows].sum() - p.sum() + 0.5 - p0
    assert abs(score) < 1e-8


def test_predictions_on_new_data(binary):
    res = mx.binomial_mixedglm("y ~ x + (1 | g)", binary).fit_ml()
    new = binary.head(5).copy()
    np.testing.assert_allclose(res.predict(new, which="conditional"), res.predict()[:5],
                               rtol=1e-10)
    unseen = new.assign(g=999)
    beta = res.fe_params.to_numpy()
    want = 1 / (1 + np.exp(-(beta[0] + beta[1] * new["x"].to_numpy())))
    np.testing.assert_allclose(res.predict(unseen, which="conditional"), want)
    np.testing.assert_allclose(res.predict(new, which="marginal"), want)


def test_nested_binomial_predictions_by_path():
    from conftest import ROOT

    data = pd.read_csv(ROOT / "tests/reference/data/nested_binary.csv")
    res = mx.binomial_mixedglm("y ~ x + (1 | hospital/ward)", data).fit_ml()
    new = pd.DataFrame({"hospital": ["H1", "H1"], "ward": [1, 99], "x": [0.0, 0.0]})
    re_ = res.random_effects
    b0 = res.fe_params["Intercept"]
    eta = np.log(res.predict(new, which="conditional") / (1 - res.predict(
        new, which="conditional")))
    assert eta[0] == pytest.approx(b0 + re_["hospital"].loc["H1"].item()
                                   + re_["hospital/ward"].loc["H1/1"].item())
    assert eta[1] == pytest.approx(b0 + re_["hospital"].loc["H1"].item())
