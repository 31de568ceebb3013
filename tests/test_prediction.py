"""Predictions (marginal/conditional, new data, intervals) and simulation.

Agreement with lme4's predict() and lmerTest's Satterthwaite df: test_inference_reference.py.
"""

import numpy as np
import pandas as pd
import pytest

import mixedext as mx


@pytest.fixture(scope="module")
def sleep():
    data = mx.datasets.load("sleepstudy")
    return data, mx.mixedlm("Reaction ~ Days + (Days | Subject)", data).fit()


def test_conditional_in_sample_is_fitted(sleep):
    data, res = sleep
    np.testing.assert_allclose(res.predict(which="conditional"), res.fittedvalues)
    np.testing.assert_allclose(res.predict(), np.asarray(res.model.exog) @ res.fe_params)


def test_new_data_seen_and_unseen_units(sleep):
    data, res = sleep
    new = pd.DataFrame({"Subject": ["308", "308", "999"], "Days": [0, 12, 5]})
    cond = res.predict(new, which="conditional")
    marg = res.predict(new)
    b = res.random_effects["Subject"].loc["308"]
    assert cond[0] == pytest.approx(marg[0] + b["Intercept"])
    assert cond[1] == pytest.approx(marg[1] + b["Intercept"] + 12 * b["Days"])
    assert cond[2] == pytest.approx(marg[2])  # unseen unit: random effect 0


def test_nested_units_matched_by_path():
    data = mx.datasets.load("pastes")
    res = mx.mixedlm("strength ~ 1 + (1 | batch/cask)", data).fit()
    new = pd.DataFrame({"batch": ["A", "A", "Z"], "cask": ["a", "z", "a"]})
    pred = res.predict(new, which="conditional")
    re_ = res.random_effects
    base = res.fe_params["Intercept"]
    assert pred[0] == pytest.approx(base + re_["batch"].loc["A"].item()
                                    + re_["batch/cask"].loc["A/a"].item())
    assert pred[1] == pytest.approx(base + re_["batch"].loc["A"].item())
    assert pred[2] == pytest.approx(base)


def test_get_prediction_intervals(sleep):
    data, res = sleep
    new = pd.DataFrame({"Subject": ["308", "999"], "Days": [3, 3]})
    marg = res.get_prediction(new)
    cond = res.get_prediction(new, which="conditional")
    assert marg["mean_se"].iloc[0] == pytest.approx(marg["mean_se"].iloc[1])
    # a new unit's prediction interval includes the random-effect variance
    assert cond["obs_ci_upper"].iloc[1] - cond["obs_ci_lower"].iloc[1] == pytest.approx(
        marg["obs_ci_upper"].iloc[1] - marg["obs_ci_lower"].iloc[1])
    assert (cond["obs_ci_upper"].iloc[0] - cond["obs_ci_lower"].iloc[0]
            < marg["obs_ci_upper"].iloc[0] - marg["obs_ci_lower"].iloc[0])
    assert np.all(cond["mean_ci_lower"] < cond["mean"])
    with pytest.raises(ValueError, match="which must be"):
        res.get_prediction(new, which="population")


def test_simulate_moments(sleep):
    data, res = sleep
    sims = res.simulate(4000, seed=3)
    assert sims.shape == (len(data), 4000)
    again = res.simulate(4000, seed=3)
    np.testing.assert_array_equal(sims, again)
    # marginal covariance of a subject's rows: Z Sigma Z' + sigma^2 I
    rows = np.flatnonzero(data["Subject"] == "308")
    z = np.column_stack([np.ones(len(rows)), data["Days"].to_numpy()[rows]])
    cov = res.variance_components()
    sigma = np.array([[cov.variance[0], cov.variance[2]], [cov.variance[2], cov.variance[1]]])
    want = z @ sigma @ z.T + res.scale * np.eye(len(rows))
    got = np.cov(sims[rows])
    np.testing.assert_allclose(np.diag(got), np.diag(want), rtol=0.1)


def test_simulate_ar1_residual_correlation():
    rng = np.random.RandomState(1)
    d = pd.DataFrame({"g": np.repeat(np.arange(100), 6), "t": np.tile(np.arange(6), 100)})
    d["y"] = rng.normal(size=len(d))
    res = mx.mixedlm("y ~ t", d, groups="g", re_formula="0", cov_struct="ar1",
                     time="t").fit()
    sims = res.simulate(3000, seed=2) - np.asarray(res.predict())[:, None]
    rho = res.cov_struct_params["rho"]
    lag1 = np.mean([np.corrcoef(sims[i], sims[i + 1])[0, 1] for i in range(0, 600, 6)])
    assert lag1 == pytest.approx(rho, abs=0.03)
