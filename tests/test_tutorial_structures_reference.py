"""The main models of ``notebooks/11_residual_structures.ipynb`` against nlme
(tests/reference/tutorial_structures_reference.json, from
tutorial_structures_reference.R), all by REML.

BodyWeight ``(1 + Time | Rat)`` with independent, corExp, corCAR1 and corExp + nugget
residuals over ``Time``; the simulated assay with varPower, varExp, varConstPower,
varConstPower per analyzer and varIdent x varPower; the simulated field plots (gls) with
corExp, corGaus and corSpher over ``(x, y)`` with a nugget and corSpher without;
Orthodont (gls) with corCompSymm, corAR1, corARMA(1, 1) and Toeplitz (nlme's
corARMA(p = 3)) over visits 1..4.

Tolerances: log-likelihood 1e-4 absolute, AIC/BIC 1e-3 absolute; fixed effects and their
SEs, sigma, the random effects' SDs and correlation, the correlation and
variance-function parameters 1e-3 relative; normalized residuals 1e-3 absolute; interval
estimates 1e-3 relative and half-widths on nlme's unbounded scales within 5% (nlme's
finite-difference Hessian, as in test_structures2_reference).
"""

import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, load_reference
from scipy.stats import norm

import mixedext as mx

sys.path.insert(0, str(REFERENCE))
from make_tutorial_structures_data import OUTPUTS, notebook_data  # noqa: E402

NLME = load_reference("tutorial_structures_reference")["cases"]
BY_NAME = {c["case"]: c for c in NLME}


def _orthodont():
    data = mx.datasets.load("orthodont")
    return data.assign(visit=((data["age"] - 8) // 2 + 1).astype(int))


DATA = {
    "bodyweight": lambda: mx.datasets.load("bodyweight"),
    "assay": lambda: pd.read_csv(REFERENCE / "data" / OUTPUTS["assay"]),
    "plots": lambda: pd.read_csv(REFERENCE / "data" / OUTPUTS["plots"]),
    "orthodont": _orthodont,
}

_BW = "weight ~ Time * Diet + (1 + Time | Rat)"
_ASSAY = "signal ~ conc + (1 | run)"
_PLOTS = dict(groups="field", re_formula="0", coords=["x", "y"])
_ORTHO = dict(groups="Subject", re_formula="0", time="visit")
# case -> (formula, keyword arguments)
CALLS = {
    "bw_independent": (_BW, {}),
    "bw_exp": (_BW, dict(cov_struct="exp", time="Time")),
    "bw_car1": (_BW, dict(cov_struct="car1", time="Time")),
    "bw_exp_nugget": (_BW, dict(cov_struct="exp", time="Time", nugget=True)),
    "assay_none": (_ASSAY, {}),
    "assay_power": (_ASSAY, dict(variance="power(conc)")),
    "assay_exp": (_ASSAY, dict(variance="exp(conc)")),
    "assay_constpower": (_ASSAY, dict(variance="constpower(conc)")),
    "assay_constpower_by_analyzer": (_ASSAY, dict(variance="constpower(conc | analyzer)")),
    "assay_ident_power": (_ASSAY, dict(variance="ident(analyzer) * power(conc)")),
    "assay_ident_constpower": (_ASSAY, dict(variance="ident(analyzer) * constpower(conc)")),
    "plots_exp_nugget": ("grain ~ nitrogen", dict(_PLOTS, cov_struct="exp", nugget=True)),
    "plots_gaus_nugget": ("grain ~ nitrogen", dict(_PLOTS, cov_struct="gaus", nugget=True)),
    "plots_spher_nugget": ("grain ~ nitrogen", dict(_PLOTS, cov_struct="spher",
                                                    nugget=True)),
    "plots_spher": ("grain ~ nitrogen", dict(_PLOTS, cov_struct="spher")),
    "ortho_exchangeable": ("distance ~ age * Sex", dict(_ORTHO, cov_struct="exchangeable")),
    "ortho_ar1": ("distance ~ age * Sex", dict(_ORTHO, cov_struct="ar1")),
    "ortho_arma11": ("distance ~ age * Sex", dict(_ORTHO, cov_struct="arma(1,1)")),
    "ortho_toeplitz": ("distance ~ age * Sex", dict(_ORTHO, cov_struct="toeplitz")),
}
FACTORS = ("Diet", "Sex", "analyzer")
# the cases whose intervals the notebook shows
INTERVAL_CASES = ("bw_car1", "bw_exp_nugget", "assay_constpower", "plots_spher_nugget")


def _fit(case):
    formula, kw = CALLS[case["case"]]
    return mx.mixedlm(formula, DATA[case["data"]](), **kw).fit(reml=True)


def _patsy_name(r_name: str) -> str:
    """mixedext's (patsy's) name of an R coefficient: Diet2 -> Diet[T.2], a:b by part."""
    if r_name == "(Intercept)":
        return "Intercept"
    parts = []
    for part in r_name.split(":"):
        factor = next((f for f in FACTORS if part.startswith(f) and part != f), None)
        parts.append(f"{factor}[T.{part[len(factor):]}]" if factor else part)
    return ":".join(parts)


@pytest.fixture(scope="module", params=NLME, ids=lambda c: c["case"])
def fitted(request):
    return request.param, _fit(request.param)


def test_every_case_has_a_call():
    assert set(BY_NAME) == set(CALLS)


def test_reference_data_are_the_notebooks():
    """The CSVs nlme read are the frames the notebook's ``reference-data`` cells make."""
    for name, frame in notebook_data().items():
        stored = pd.read_csv(REFERENCE / "data" / OUTPUTS[name])
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), stored,
                                      check_dtype=False, rtol=1e-12)


def test_loglikelihood_and_information_criteria(fitted):
    case, res = fitted
    assert res.llf == pytest.approx(case["logLik"], abs=1e-4)
    assert res.aic == pytest.approx(case["AIC"], abs=1e-3)
    assert res.bic == pytest.approx(case["BIC"], abs=1e-3)


def test_fixed_effects_and_standard_errors(fitted):
    case, res = fitted
    names = [_patsy_name(n) for n in case["fixef_names"]]
    np.testing.assert_allclose(res.fe_params[names], case["fixef"], rtol=1e-3)
    np.testing.assert_allclose(res.bse_fe[names], case["fixef_se"], rtol=1e-3)


def test_scale_and_random_effects(fitted):
    case, res = fitted
    assert np.sqrt(res.scale) == pytest.approx(case["sigma"], rel=1e-3)
    if case["fun"] != "lme":
        return
    vc = res.variance_components()
    vc = vc[vc["level"] != "Residual"]
    sds = vc.loc[vc["term2"].isna(), "std"].to_numpy()
    np.testing.assert_allclose(sds, case["re_sd"], rtol=1e-3)
    if case["re_corr"] is not None:
        assert vc.loc[vc["term2"].notna(), "corr"].iloc[0] == pytest.approx(
            case["re_corr"], rel=1e-3)


def test_correlation_and_variance_parameters(fitted):
    case, res = fitted
    want = dict(case["cor_params"]) | dict(case["var_params"])
    params = res.cov_struct_params
    assert set(params.index) == set(want)
    np.testing.assert_allclose(params[list(want)], list(want.values()), rtol=1e-3)


def test_normalized_residuals(fitted):
    case, res = fitted
    np.testing.assert_allclose(res.resid_normalized, case["resid_normalized"], atol=1e-3)


@pytest.mark.parametrize("name", INTERVAL_CASES)
def test_structure_intervals(name):
    """nlme's ``intervals(which = "var-cov")`` of the structures the notebook shows."""
    case = BY_NAME[name]
    res = _fit(case)
    table = res.conf_int_cov_struct()
    link_of = res.fit_state.structure.link
    z = norm.ppf(0.975)
    rows = [r for r in case["intervals_95"] if r["param"] != "sigma"]
    assert rows
    for row in rows:
        param = "phi" if row["param"] == "Phi" else row["param"]
        got = table.loc[param]
        assert got["estimate"] == pytest.approx(row["est"], rel=1e-3), param
        link, _ = link_of(param)
        half_r = (link(row["upper"]) - link(row["lower"])) / (2 * z)
        half = (link(got["upper"]) - link(got["lower"])) / (2 * z)
        assert half == pytest.approx(half_r, rel=0.05), param

