"""The MovieLens-1M-shaped crossed model against lme4
(tests/reference/ratings_reference.json, from ratings_reference.R): ``rating ~ 1 +
(1 | user) + (1 | item)`` over ``mx.datasets.ratings()`` (1,000,209 ratings, 6,040 users x
3,706 items), REML, with the analytic gradient.

Tolerances: llf 1e-3 absolute and never below lme4's optimum by more than 1e-6; the
intercept 1e-6 relative, its SE and the SDs 1e-4 relative.
"""

import pytest
from conftest import load_reference

import mixedext as mx
from mixedext._engine.gradient import supports_gradient

CASE = load_reference("ratings_reference")["cases"][0]


@pytest.mark.slow
def test_ratings_against_lme4():
    data = mx.datasets.ratings()
    model = mx.mixedlm(CASE["formula"], data)
    assert model.nobs == CASE["nobs"]
    assert supports_gradient(model.deviance_function)
    res = model.fit(reml=CASE["reml"])
    assert res.llf == pytest.approx(CASE["logLik"], abs=1e-3)
    assert res.llf >= CASE["logLik"] - 1e-6
    assert res.fe_params["Intercept"] == pytest.approx(CASE["fixef"]["(Intercept)"], rel=1e-6)
    assert res.bse_fe["Intercept"] == pytest.approx(CASE["fixef_se"]["(Intercept)"], rel=1e-4)
    vc = res.variance_components().set_index("level")
    for row in CASE["varcorr"]:
        if row["grp"] != "Residual":
            assert vc.loc[row["grp"], "std"] == pytest.approx(row["sdcor"], rel=1e-4)
    assert res.scale ** 0.5 == pytest.approx(CASE["sigma"], rel=1e-4)
