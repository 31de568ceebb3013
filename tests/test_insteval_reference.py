"""InstEval's crossed models against lme4 (tests/reference/insteval_reference.json):
two and three crossed random intercepts over 73,421 ratings, fitted with the analytic
gradient of the profiled deviance from single-term starts.

Tolerances: llf 1e-4 absolute (and never below lme4's optimum by more than 1e-6); fixed
effects, their SEs and the random-effect SDs 1e-4 relative.
"""

import numpy as np
import pytest
from conftest import load_reference

import mixedext as mx
from mixedext._engine.gradient import supports_gradient

CASES = load_reference("insteval_reference")["cases"]


@pytest.fixture(scope="module")
def insteval():
    return mx.datasets.load("insteval")


@pytest.mark.parametrize("case", CASES,
                         ids=lambda c: f"{c['case']}-{'REML' if c['reml'] else 'ML'}")
def test_insteval_against_lme4(insteval, case):
    model = mx.mixedlm(case["formula"], insteval)
    assert supports_gradient(model.deviance_function)
    res = model.fit(reml=case["reml"])
    assert res.llf == pytest.approx(case["logLik"], abs=1e-4)
    assert res.llf >= case["logLik"] - 1e-6
    names = {"Intercept": "(Intercept)", "service[T.1]": "service1"}
    np.testing.assert_allclose(res.fe_params, [case["fixef"][names[n]]
                                               for n in res.fe_params.index], rtol=1e-4)
    np.testing.assert_allclose(res.bse_fe, [case["fixef_se"][names[n]]
                                            for n in res.fe_params.index], rtol=1e-4)
    vc = res.variance_components().set_index("level")
    for row in case["varcorr"]:
        if row["grp"] != "Residual":
            assert vc.loc[row["grp"], "std"] == pytest.approx(row["sdcor"], rel=1e-4)
    assert len(res.optim_history) < 25  # the analytic gradient: 9-11 evaluations
