"""Poisson, negative binomial (NB2) and Gamma GLMMs against lme4 and glmmTMB, from
tests/reference/count_reference.json (count_reference.R).

Which R fit each family is checked against: the Poisson log link is canonical, so lme4's
Laplace approximation and glmmTMB's coincide (``glmer`` cases; their SEs against
glmmTMB's, which use TMB's exact gradient: lme4's finite differences of its PIRLS-noisy
deviance stray by up to 2.6e-3 for a single intercept). For NB2 and the Gamma mixedext
uses the exact (observed-information) Laplace approximation, as glmmTMB; lme4's
``glmer.nb`` maximises the expected-information one, a different objective (log
likelihoods 3e-3 to 5e-2 apart), and lme4's Gamma ``glmer`` is not maximum likelihood, so
those cases are not compared.

Tolerances: llf 1e-4 absolute; fixed effects 1e-4 relative (1e-6 absolute); SEs 1e-3
relative; random-effect SDs, the NB size and the Gamma shape 1e-3 relative; conditional
modes 1e-3 absolute; conditional SDs 1e-3 relative; fitted values 1e-4 relative; Pearson
residuals 1e-4 absolute.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import load_reference

import mixedext as mx

REFERENCE = load_reference("count_reference")
ML_CASES = [c for c in REFERENCE["cases"] if c["engine"] in ("lme4::glmer", "glmmTMB::glmmTMB")
            and "Gamma" not in c["family"] or c["engine"] == "glmmTMB::glmmTMB"]
ML_CASES = [c for c in ML_CASES if not c.get("dispformula")]  # shape per row: not offered
BUILDERS = {"poisson": mx.poisson_mixedglm, "negative": mx.negbin_mixedglm,
            "Gamma": mx.gamma_mixedglm}


def _data(case) -> pd.DataFrame:
    name = case["data"]
    if not name.endswith(".csv"):  # a bundled data set, with R's factor levels
        data = mx.datasets.load(name)
        if name == "grouseticks":
            data["HEIGHT_s"] = (data.HEIGHT - data.HEIGHT.mean()) / data.HEIGHT.std()
        return data
    return pd.read_csv(case["data_file"])


def _model(case):
    formula = case["formula"]
    kw = {}
    offset = re.search(r"\s*\+\s*offset\(log\((\w+)\)\)", formula)
    if offset:
        kw["exposure"] = offset.group(1)
        formula = formula.replace(offset.group(0), "")
    if case.get("weights"):
        kw["weights"] = case["weights"]
    formula = formula.replace("log(", "np.log(")
    build = next(b for key, b in BUILDERS.items() if case["family"].startswith(key))
    return build(formula, _data(case), **kw)


def _r_name(py: str) -> str:
    """patsy's coefficient name in R's spelling (``trt[T.trt]`` -> ``trttrt``)."""
    py = py.replace("np.", "").replace("[T.", "").replace("]", "")
    return "(Intercept)" if py == "Intercept" else py


def _r_unit(label: str) -> str:
    return ":".join(reversed(label.split("/")))


@pytest.fixture(scope="module", params=ML_CASES, ids=lambda c: c["case"])
def fitted(request):
    case = request.param
    return case, _model(case).fit_ml(nagq=case.get("nAGQ") or 1)


def test_loglikelihood(fitted):
    case, res = fitted
    want = case.get("logLik_absolute", case["logLik"])
    assert res.llf == pytest.approx(want, abs=1e-4)
    assert res.aic - res.llf * -2 == pytest.approx(2 * case["df"])


def test_fixed_effects_and_se(fitted):
    case, res = fitted
    names = [_r_name(n) for n in res.fe_params.index]
    assert sorted(names) == sorted(case["fixef_names"])  # patsy puts factors first
    np.testing.assert_allclose(res.fe_params, [case["fixef"][n] for n in names], rtol=1e-4,
                               atol=1e-6)
    se = case.get("check_glmmTMB", {}).get("fixef_se") or case["fixef_se"]
    np.testing.assert_allclose(res.bse, [se[n] for n in names], rtol=1e-3)


def test_variance_components_and_dispersion(fitted):
    case, res = fitted
    vc = res.variance_components()
    for row in case["varcorr"]:
        level = "/".join(reversed(row["grp"].split(":")))
        got = vc[(vc.level == level) & (vc.term == "Intercept")]["std"]
        assert float(got.iloc[0]) == pytest.approx(row["sdcor"], rel=1e-3)
    if "nb_size" in case and case["nb_size"] is not None:
        assert res.theta == pytest.approx(case["nb_size"], rel=1e-3)
        assert res.alpha == pytest.approx(1 / case["nb_size"], rel=1e-3)
    if case.get("gamma_shape") is not None:
        assert res.shape == pytest.approx(case["gamma_shape"], rel=1e-3)
        assert res.sigma == pytest.approx(case["sigma"], rel=1e-3)


def test_conditional_modes_and_sds(fitted):
    case, res = fitted
    sds = res.random_effects_se
    for grp, block in case["ranef"].items():
        level = "/".join(reversed(grp.split(":")))
        modes = res.random_effects[level]["Intercept"]
        modes.index = [_r_unit(str(u)) for u in modes.index]
        np.testing.assert_allclose(modes.loc[block["levels"]], np.ravel(block["values"]),
                                   atol=1e-3)
        cond = block.get("condsd_conditional", block["condsd"])
        got = sds[level]["Intercept"]
        got.index = modes.index
        np.testing.assert_allclose(got.loc[block["levels"]], np.ravel(cond), rtol=1e-3)


def test_fitted_values_and_residuals(fitted):
    case, res = fitted
    np.testing.assert_allclose(res.fittedvalues[:10], case["fitted_conditional_first10"],
                               rtol=1e-4)
    np.testing.assert_allclose(res.predict(which="marginal")[:10],
                               case["fitted_population_first10"], rtol=1e-4)
    if case.get("pearson_first10"):
        np.testing.assert_allclose(res.resid_pearson[:10], case["pearson_first10"],
                                   atol=1e-4)


PERFORMANCE_CASES = [c for c in ML_CASES if c.get("performance") and "Gamma" not in c["family"]]


@pytest.mark.parametrize("case", PERFORMANCE_CASES, ids=lambda c: c["case"])
def test_icc_and_r2_as_performance(case):
    """``performance::icc`` (adjusted: all random variance over random plus residual) and
    ``r2_nakagawa`` with insight's lognormal distribution variance from the null model's
    intercept; an observation-level effect (grouseticks' INDEX) is residual, as insight's
    ``var.dispersion``. The Gamma's distribution variance differs on purpose (insight:
    ``1 / shape``; mixedext: ``log(1 + 1 / shape)``, the lognormal approximation)."""
    res = _model(case).fit_ml()
    perf = case["performance"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        icc, r2 = res.icc(), res.r2()
    assert res._null_intercept() == pytest.approx(perf["null_model_intercept"], abs=1e-5)
    assert icc["share"].sum() == pytest.approx(perf["icc_adjusted"], rel=1e-4)
    assert r2["marginal"] == pytest.approx(perf["r2_marginal"], rel=1e-4)
    assert r2["conditional"] == pytest.approx(perf["r2_conditional"], rel=1e-4)
