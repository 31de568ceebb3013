"""Spatial, ARMA, Toeplitz and heterogeneous AR(1) residuals against nlme
(tests/reference/nlme_structures2_reference.json, from nlme_structures2_reference.R).

Each structure with a random intercept (nlme ``lme``) and without (``gls``; here
``groups=``, ``re_formula="0"``), by REML and ML. Tolerances: log-likelihood 1e-4
absolute; fixed effects, their SEs, sigma, the random-intercept SD and the structure's
parameters 1e-3 relative; AIC/BIC 1e-3 absolute; normalized residuals 1e-3 absolute;
nlme's ``corMatrix`` at nlme's estimates 1e-10.
"""

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, load_reference
from scipy.stats import norm

import mixedext as mx

NLME = load_reference("nlme_structures2_reference")["cases"]

_IRREGULAR = ("y ~ time + x", "subject", dict(time="time"))
_PLOTS = ("y ~ x", "field", dict(coords=["cx", "cy"]))
_VISITS = ("y ~ visit + x", "subject", dict(time="visit"))
# case (without _ri / _gls) -> (fixed formula, unit, keyword arguments)
CALLS = {
    "exp": (*_IRREGULAR[:2], dict(cov_struct="exp", **_IRREGULAR[2])),
    "gaus": (*_IRREGULAR[:2], dict(cov_struct="gaus", **_IRREGULAR[2])),
    "spher": (*_IRREGULAR[:2], dict(cov_struct="spher", **_IRREGULAR[2])),
    "lin": (*_IRREGULAR[:2], dict(cov_struct="lin", **_IRREGULAR[2])),
    "ratio": (*_IRREGULAR[:2], dict(cov_struct="ratio", **_IRREGULAR[2])),
    "exp_nugget": (*_IRREGULAR[:2], dict(cov_struct="exp", nugget=True, **_IRREGULAR[2])),
    "gaus_nugget": (*_IRREGULAR[:2], dict(cov_struct="gaus", nugget=True, **_IRREGULAR[2])),
    "exp_2d": (*_PLOTS[:2], dict(cov_struct="exp", **_PLOTS[2])),
    "gaus_2d": (*_PLOTS[:2], dict(cov_struct="gaus", **_PLOTS[2])),
    "ratio_2d": (*_PLOTS[:2], dict(cov_struct="ratio", **_PLOTS[2])),
    "spher_nugget_2d": (*_PLOTS[:2], dict(cov_struct="spher", nugget=True, **_PLOTS[2])),
    "arma11": (*_VISITS[:2], dict(cov_struct="arma(1,1)", **_VISITS[2])),
    "arma20": (*_VISITS[:2], dict(cov_struct="arma(2,0)", **_VISITS[2])),
    "toeplitz": (*_VISITS[:2], dict(cov_struct="toeplitz", **_VISITS[2])),
    "hetar1": ("y_het ~ visit + x", "subject", dict(cov_struct="ar1", het_var="visit",
                                                    **_VISITS[2])),
}
# a random intercept on top of a Toeplitz correlation adds a constant to every lag: the
# model is that of the gls, its parameters are not identified (only sigma^2 R + tau^2 J)
UNIDENTIFIED = {"toeplitz_ri"}


def _case_id(case):
    return f"{case['case']}-{case['method']}"


def _model(case):
    base, kind = case["case"].rsplit("_", 1)
    fixed, unit, kw = CALLS[base]
    data = pd.read_csv(ROOT / case["data_file"])
    if kind == "ri":
        return mx.mixedlm(f"{fixed} + (1 | {unit})", data, **kw)
    return mx.mixedlm(fixed, data, groups=unit, re_formula="0", **kw)


@pytest.fixture(scope="module", params=NLME, ids=_case_id)
def fitted(request):
    import warnings

    case = request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mx.SingularFitWarning)
        res = _model(case).fit(reml=case["method"] == "REML")
    return case, res


def _py_name(case, r_name):
    """mixedext's name of an nlme structure parameter."""
    if case["case"].startswith("hetar1"):
        return "rho" if r_name in ("Phi", "Phi1") else f"sd_ratio[{r_name}]"
    if r_name.startswith(("Phi", "Theta")):
        return r_name.lower()
    return r_name  # range, nugget


def test_loglikelihood(fitted):
    case, res = fitted
    assert res.llf == pytest.approx(case["logLik"], abs=1e-4)


def test_fixed_effects_and_standard_errors(fitted):
    case, res = fitted
    names = ["Intercept" if n == "(Intercept)" else n for n in case["fixef_names"]]
    np.testing.assert_allclose(res.fe_params[names], case["fixef"], rtol=1e-3)
    np.testing.assert_allclose(res.bse_fe[names], case["fixef_se"], rtol=1e-3)


def test_information_criteria(fitted):
    case, res = fitted
    assert res.aic == pytest.approx(case["AIC"], abs=1e-3)
    assert res.bic == pytest.approx(case["BIC"], abs=1e-3)


def test_structure_parameters_sigma_and_random_effect(fitted):
    case, res = fitted
    params = res.cov_struct_params
    if case["case"] in UNIDENTIFIED:
        # sigma^2 R + tau^2 at lags 0..5 equals the gls fit's (nlme's lag correlations)
        tau2 = res.variance_components()["variance"].iloc[0]
        acf = np.r_[1.0, [params[f"rho{k}"] for k in range(1, 6)]]
        want = case["sigma"] ** 2 * np.r_[1.0, case["lag_correlations"]] + case["re_sd"] ** 2
        np.testing.assert_allclose(res.scale * acf + tau2, want, rtol=1e-3)
        return
    assert np.sqrt(res.scale) == pytest.approx(case["sigma"], rel=1e-3)
    if case["re_sd"] is not None:
        sd = res.variance_components()["std"].iloc[0]
        assert sd == pytest.approx(case["re_sd"], rel=1e-3)
    if case["case"].startswith("toeplitz"):
        got = [params[f"rho{k}"] for k in range(1, 6)]
        np.testing.assert_allclose(got, case["lag_correlations"], rtol=1e-3)
    else:
        got = [params[_py_name(case, n)] for n in case["cor_param_names"]]
        np.testing.assert_allclose(got, case["cor_params"], rtol=1e-3)
    if case["varident_levels"] is not None:
        got = [params[f"sd_ratio[{lev}]"] for lev in case["varident_levels"]]
        np.testing.assert_allclose(got, case["varident_ratios"], rtol=1e-3)


def test_correlation_function_equals_nlme_cormatrix(fitted):
    """One unit's correlation at nlme's own estimates (the definitions, not the fit)."""
    case, res = fitted
    struct = res.fit_state.structure
    params = dict(res.cov_struct_params)
    if case["case"].startswith("toeplitz"):
        params.update({f"rho{k}": v for k, v in enumerate(case["lag_correlations"], 1)})
    else:
        params.update({_py_name(case, n): v for n, v in zip(case["cor_param_names"],
                                                           case["cor_params"])})
    pos = np.asarray(case["unit1_positions"], dtype=float)
    pos = pos[:, 0] if pos.shape[1] == 1 else pos
    np.testing.assert_allclose(struct.corr(pos, params), case["unit1_corr"], atol=1e-10)
    if case["min_dist"] is not None and case["case"].startswith(("lin", "spher")):
        assert struct.min_dist == pytest.approx(case["min_dist"], rel=1e-12)


def test_normalized_residuals(fitted):
    case, res = fitted
    if case["case"] in UNIDENTIFIED:
        return
    np.testing.assert_allclose(res.resid_normalized, case["resid_normalized"], atol=1e-3)


def _comparable_interval(case, name):
    """nlme forms intervals on its unconstrained scale; for a part of ARMA order > 1 that
    scale is joint (partial autocorrelations), not comparable per parameter. The corLin
    likelihood has a kink at every within-unit distance (its slope in the range jumps
    there) and its optimum sits on one: the curvature, hence either package's Wald
    interval, depends on the difference step, so those are not compared."""
    base = case["case"].rsplit("_", 1)[0]
    if base == "lin":
        return False
    return not (base in ("arma20", "toeplitz") and name.startswith("phi"))


def test_structure_intervals(fitted):
    """nlme's ``intervals(which = "var-cov")``: estimates 1e-3 relative; half-widths on
    the unbounded scale (log range, logit nugget, atanh of ARMA coefficients, log SD
    ratio) within 5% (nlme's finite-difference Hessian, as in test_nlme_reference)."""
    case, res = fitted
    if case["case"] in UNIDENTIFIED:
        return
    table = res.conf_int_cov_struct()
    struct = res.fit_state.structure
    z = norm.ppf(0.975)
    rows = [r for r in case["intervals_95"] if r["param"] != "sigma"]
    checked = 0
    for row in rows:
        name = _py_name(case, row["param"])
        if not _comparable_interval(case, name):
            continue
        got = table.loc[name]
        assert got["estimate"] == pytest.approx(row["est"], rel=1e-3), name
        link, _ = struct.link(name)
        half_r = (link(row["upper"]) - link(row["lower"])) / (2 * z)
        half = (link(got["upper"]) - link(got["lower"])) / (2 * z)
        assert half == pytest.approx(half_r, rel=0.05), name
        checked += 1
    assert checked > 0 or case["case"].startswith(("arma20", "toeplitz", "lin"))
