"""Variance functions against nlme (tests/reference/nlme_varfunc_reference.json).

Tolerances: log-likelihood 1e-4 absolute, AIC/BIC 1e-3 absolute; fixed effects and their
SEs, sigma, the random-intercept SD, correlation and variance-function parameters 1e-3
relative; residuals (normalized, Pearson), fitted values and the residual covariance of
one subject 1e-4 absolute (the fits agree to ~1e-6); the likelihood-ratio statistic 2e-4
absolute (two log-likelihoods); interval half-widths on nlme's scale 4% (nlme's
finite-difference Hessian, as test_nlme_reference.py).
"""

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, load_reference
from scipy.stats import norm

import mixedext as mx

NLME = load_reference("nlme_varfunc_reference")["cases"]

_RI = "{y} ~ t + trt + x + (1 | subject)"
_GLS = "{y} ~ t + trt + x"
_G = dict(groups="subject", re_formula="0")
_AR1 = dict(cov_struct="ar1", time="t")
# case -> (formula, keyword arguments of the variance function and structure)
CALLS = {
    "power_ri": (_RI, dict(variance="power(v)")),
    "power_gls": (_GLS, dict(_G, variance="power(v)")),
    "exp_ri": (_RI, dict(variance="exp(z)")),
    "exp_gls": (_GLS, dict(_G, variance="exp(z)")),
    "constpower_ri": (_RI, dict(variance="constpower(v)")),
    "constpower_gls": (_GLS, dict(_G, variance="constpower(v)")),
    "powby_ri": (_RI, dict(variance="power(v | g)")),
    "powby_gls": (_GLS, dict(_G, variance="power(v | g)")),
    "ar1pow_ri": (_RI, dict(_AR1, variance="power(v)")),
    "ar1pow_gls": (_GLS, dict(_G, **_AR1, variance="power(v)")),
    "csexp_gls": (_GLS, dict(_G, cov_struct="exchangeable", variance="exp(z)")),
    "identpow_ri": (_RI, dict(variance="ident(g) * power(v)")),
    "identpow_gls": (_GLS, dict(_G, variance=["ident(g)", "power(v)"])),
    "unpow_gls": (_GLS, dict(_G, cov_struct="unstructured", time="t", variance="power(v)")),
}


def _fit(case, without_variance=False):
    data = pd.read_csv(ROOT / case["data_file"])
    formula, kw = CALLS[case["case"]]
    if without_variance:
        kw = {k: v for k, v in kw.items() if k != "variance"}
    return mx.mixedlm(formula.format(y=case["y"]), data, **kw).fit(
        reml=case["method"] == "REML")


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


def test_fixed_effects(fitted):
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


def test_structure_and_variance_parameters(fitted):
    case, res = fitted
    params = res.cov_struct_params
    want = dict(case["var_params"])
    if case["cor_params"] is not None:
        want.update(case["cor_params"])
    assert set(params.index) == set(want)
    np.testing.assert_allclose(params[list(want)], list(want.values()), rtol=1e-3)


# nlme's finite-difference Hessian (fdHess) is inaccurate for these fits, whose
# parameters are nearly confounded (const and power of constpower; six SD ratios and
# fifteen correlations of unstructured + power): its half-widths differ from the
# profile curvature by up to 59% (constpower_ri ML), 7.5% (constpower_gls), 5.1%
# (unpow_gls SD ratios), while mixedext's agree with it to 1e-3
# (test_intervals_equal_profile_curvature); they are checked against nlme's
# estimates only.
_NLME_HESSIAN_INACCURATE = {"constpower_ri", "constpower_gls", "unpow_gls"}


def test_intervals_on_nlmes_scale(fitted):
    """nlme's ``intervals(which = "var-cov")``: estimates 1e-3 relative; half-widths on
    nlme's unconstrained scale (identity for power / expon, log for const and SD ratios)
    4%, symmetric there around the estimate."""
    case, res = fitted
    if case["intervals_95"] is None:
        pytest.skip("nlme could not compute intervals for this fit")
    table = res.conf_int_cov_struct()
    struct = res.fit_state.structure
    z = norm.ppf(0.975)
    rows = [r for r in case["intervals_95"] if r["param"] != "sigma"]
    assert rows
    for row in rows:
        name = row["param"]
        got = table.loc[name]
        assert got["estimate"] == pytest.approx(row["est"], rel=1e-3), name
        if name.startswith("corr[") or case["case"] in _NLME_HESSIAN_INACCURATE:
            continue  # corSymm: nlme's intervals are on its spherical parametrisation
        link, _ = struct.link(name)
        half_r = (link(row["upper"]) - link(row["lower"])) / (2 * z)
        half = (link(got["upper"]) - link(got["lower"])) / (2 * z)
        assert half == pytest.approx(half_r, rel=0.04), name
        assert link(got["upper"]) - link(got["estimate"]) == pytest.approx(z * half, rel=1e-6)


def test_intervals_equal_profile_curvature(fitted):
    """The half-widths on the link scale equal ``z sqrt(J 2 P^-1 J')``, ``P`` the Hessian
    in ``eta`` of the deviance profiled over ``theta`` (a scalar minimisation per point;
    mixedext's own intervals use the joint Hessian in ``(theta, eta)``), ``J`` the
    Jacobian of the link-scale parameters in ``eta``; 1e-3 relative."""
    from scipy.optimize import minimize_scalar

    from mixedext._engine.differences import central_hessian, central_jacobian

    case, res = fitted
    state = res.fit_state
    dev, struct, reml = state.correlated_deviance(), state.structure, state.reml
    eta0 = np.array(state.eta)
    theta0 = float(state.theta[0]) if case["fun"] == "lme" else None

    def profile(eta):
        if theta0 is None:
            return dev(eta, reml)
        return minimize_scalar(lambda th: dev(np.r_[abs(th), eta], reml),
                               bracket=(0.5 * theta0, theta0), tol=1e-12).fun

    cov = 2 * np.linalg.inv(central_hessian(profile, eta0, np.full(len(eta0), 1e-3)))
    table = res.conf_int_cov_struct()
    names = [n for n in table.index if np.isfinite(table.loc[n, "std_err"])
             and table.loc[n, "std_err"] > 0]

    def linked(eta):
        nat = struct.natural(eta)
        return np.array([struct.link(n)[0](nat[n]) for n in names])

    jac = np.column_stack(central_jacobian(linked, eta0, np.full(len(eta0), 1e-6)))
    want = norm.ppf(0.975) * np.sqrt(np.diag(jac @ cov @ jac.T))
    got = [(struct.link(n)[0](table.loc[n, "upper"]) - struct.link(n)[0](
        table.loc[n, "lower"])) / 2 for n in names]
    np.testing.assert_allclose(got, want, rtol=1e-3)


def test_residuals_and_fitted_values(fitted):
    case, res = fitted
    np.testing.assert_allclose(res.resid_normalized, case["normalized"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(res.resid_pearson, case["pearson"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(np.asarray(res.fittedvalues), case["fitted"], rtol=0,
                               atol=1e-4)


def test_residual_covariance_of_one_subject(fitted):
    case, res = fitted
    want = case["residual_cov"]
    cov = res.residual_cov(unit=want["unit"])
    assert list(cov.index) == want["rows"]  # rows in time order (the CSV's order)
    np.testing.assert_allclose(cov.to_numpy(), np.asarray(want["matrix"]), rtol=0,
                               atol=1e-4)


def test_lrt_against_the_model_without_the_variance_function(fitted):
    case, res = fitted
    null = _fit(case, without_variance=True)
    assert null.llf == pytest.approx(case["lrt_null_logLik"], abs=1e-4)
    out = res.lrt(null)
    assert out["statistic"] == pytest.approx(case["lrt_statistic"], abs=2e-4)
    assert out["df_diff"] == case["lrt_df"]


@pytest.mark.parametrize("case", [c for c in load_reference("nlme_reference")["cases"]
                                  if c["case"] in ("varident_ri", "varident_gls")],
                         ids=lambda c: f"{c['case']}-{c['method']}")
def test_ident_spelling_against_nlme_varident(case):
    """variance="ident(site)" against nlme's varIdent(form = ~ 1 | site) fits of
    nlme_reference.json (lme and gls): llf 1e-4, SD ratios and fixed effects 1e-3."""
    data = pd.read_csv(ROOT / case["data_file"])
    kw = dict(groups="cluster", re_formula="0") if case["case"] == "varident_gls" else {}
    formula = "y ~ x" if kw else "y ~ x + (1 | cluster)"
    res = mx.mixedlm(formula, data, variance="ident(site)", **kw).fit(
        reml=case["method"] == "REML")
    assert res.llf == pytest.approx(case["logLik"], abs=1e-4)
    got = [res.cov_struct_params[f"sd_ratio[{lev}]"] for lev in case["varident_levels"]]
    np.testing.assert_allclose(got, case["varident_ratios"], rtol=1e-3)
    np.testing.assert_allclose(res.fe_params[["Intercept", "x"]],
                               [case["fixef"]["(Intercept)"], case["fixef"]["x"]], rtol=1e-3)
