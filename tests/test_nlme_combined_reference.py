"""Correlation structures combined with variance functions against nlme
(tests/reference/nlme_combined_reference.json, from nlme_combined_reference.R).

corExp over time + varPower (lme, gls), corGaus over 2-D coordinates + varExp (gls, lme),
corExp with a nugget + varIdent (lme, gls), corARMA(1, 1) + varPower (lme, gls) and
Toeplitz (nlme's corARMA(p = 5)) + varIdent (gls), by REML and ML. Tolerances:
log-likelihood 1e-4 absolute, AIC/BIC 1e-3 absolute; fixed effects and their SEs, sigma,
the random-intercept SD, the correlation and variance-function parameters 1e-3 relative;
normalized residuals 1e-3 absolute; one unit's residual covariance ``sigma^2 S C S``
1e-3 relative (1e-4 absolute).
"""

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, load_reference

import mixedext as mx

NLME = load_reference("nlme_combined_reference")["cases"]

_G = dict(re_formula="0")
_EXP = dict(cov_struct="exp", time="time")
_GAUS = dict(cov_struct="gaus", coords=["cx", "cy"], variance="exp(z)")
_ARMA = dict(cov_struct="arma(1,1)", time="visit", variance="power(v)")
# case -> (formula, keyword arguments)
CALLS = {
    "exppow_ri": ("y_exppow ~ time + x + (1 | subject)", dict(_EXP, variance="power(v)")),
    "exppow_gls": ("y_exppow ~ time + x", dict(_G, groups="subject", **_EXP,
                                               variance="power(v)")),
    "gausexp_2d": ("y ~ x", dict(_G, groups="field", **_GAUS)),
    "gausexp_2d_ri": ("y_ri ~ x + (1 | field)", _GAUS),
    "expnugid_ri": ("y_nugid ~ time + x + (1 | subject)",
                    dict(_EXP, nugget=True, variance="ident(g)")),
    "expnugid_gls": ("y_nugid ~ time + x", dict(_G, groups="subject", **_EXP, nugget=True,
                                                variance="ident(g)")),
    "armapow_ri": ("y_armapow ~ visit + x + (1 | subject)", _ARMA),
    "armapow_gls": ("y_armapow ~ visit + x", dict(_G, groups="subject", **_ARMA)),
    "toepid": ("y_toepid ~ visit + x", dict(_G, groups="subject", cov_struct="toeplitz",
                                            time="visit", variance="ident(g)")),
}


def _fit(case):
    data = pd.read_csv(ROOT / case["data_file"])
    formula, kw = CALLS[case["case"]]
    return mx.mixedlm(formula, data, **kw).fit(reml=case["method"] == "REML")


@pytest.fixture(scope="module", params=NLME, ids=lambda c: f"{c['case']}-{c['method']}")
def fitted(request):
    return request.param, _fit(request.param)


def test_every_case_has_a_call():
    assert {c["case"] for c in NLME} == set(CALLS)


def test_loglikelihood_and_information_criteria(fitted):
    case, res = fitted
    assert res.llf == pytest.approx(case["logLik"], abs=1e-4)
    assert res.aic == pytest.approx(case["AIC"], abs=1e-3)
    assert res.bic == pytest.approx(case["BIC"], abs=1e-3)


def test_fixed_effects_and_standard_errors(fitted):
    case, res = fitted
    names = ["Intercept" if n == "(Intercept)" else n for n in case["fixef_names"]]
    np.testing.assert_allclose(res.fe_params[names], case["fixef"], rtol=1e-3)
    np.testing.assert_allclose(res.bse_fe[names], case["fixef_se"], rtol=1e-3)


def test_scale_and_random_intercept(fitted):
    case, res = fitted
    assert np.sqrt(res.scale) == pytest.approx(case["sigma"], rel=1e-3)
    if case["fun"] == "lme":
        sd = res.variance_components()["std"].iloc[0]
        assert sd == pytest.approx(case["re_sd"], rel=1e-3)


def test_correlation_and_variance_parameters(fitted):
    case, res = fitted
    params = res.cov_struct_params
    want = dict(case["cor_params"]) | dict(case["var_params"])
    assert set(params.index) == set(want)
    np.testing.assert_allclose(params[list(want)], list(want.values()), rtol=1e-3)


def test_normalized_residuals(fitted):
    case, res = fitted
    np.testing.assert_allclose(res.resid_normalized, case["resid_normalized"], atol=1e-3)


def test_residual_covariance_of_one_unit(fitted):
    """``sigma^2 S C S`` of the first unit's rows (nlme's getVarCov; lme: conditional)."""
    case, res = fitted
    want = case["residual_cov"]
    cov = res.residual_cov(unit=want["unit"])
    assert sorted(cov.index) == want["rows"]
    got = cov.loc[want["rows"], want["rows"]].to_numpy()  # nlme: the CSV's row order
    np.testing.assert_allclose(got, np.asarray(want["matrix"]), rtol=1e-3, atol=1e-4)


def test_nlme_found_its_optimum_from_its_default_start():
    """Every case's best fit is (to 1e-6) nlme's own from its default start: the
    references are not a restart artefact."""
    assert all(c["best_minus_default_start"] < 1e-6 for c in NLME)
