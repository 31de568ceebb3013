"""mixedext against lme4 (tight tolerances), from tests/reference/lmer_reference.json.

Tolerances: log-likelihood 1e-4 absolute; fixed effects, their standard errors and the
variance components 1e-4 relative (variances of 0: 1e-6 absolute); BLUPs 1e-4 absolute
(scaled by the residual SD).
"""

import re

import numpy as np
import pytest
from conftest import load_reference, reference_data

import mixedext as mx

CASES = load_reference("lmer_reference")["cases"]


def _py_name(r_name: str) -> str:
    """lme4 coefficient name -> patsy's (``(Intercept)`` -> ``Intercept``, ``SexMale`` ->
    ``Sex[T.Male]``)."""
    if r_name == "(Intercept)":
        return "Intercept"
    m = re.fullmatch(r"(Sex)(\w+)", r_name)
    return f"{m[1]}[T.{m[2]}]" if m else r_name


def _py_level(grp: str) -> str:
    """lme4 group -> mixedext level: ``c:(b:a)`` -> ``a/b/c``, ``Subject.1`` -> ``Subject``."""
    grp = re.sub(r"\.\d+$", "", grp)
    return "/".join(reversed(grp.replace("(", "").replace(")", "").split(":")))


def _py_unit(label: str) -> str:
    return "/".join(reversed(label.split(":")))


def _case_id(case):
    return f"{case['case']}-{'REML' if case['reml'] else 'ML'}"


@pytest.fixture(scope="module", params=CASES, ids=_case_id)
def fitted(request):
    case = request.param
    data = reference_data(case)
    res = mx.mixedlm(case["formula"], data).fit(reml=case["reml"])
    return case, res


def test_loglikelihood(fitted):
    case, res = fitted
    assert res.llf == pytest.approx(case["llf"], abs=1e-4)
    assert res.llf >= case["llf"] - 1e-6  # never short of lme4's optimum


def test_fixed_effects_and_se(fitted):
    case, res = fitted
    for r_name, value in case["fixef"].items():
        name = _py_name(r_name)
        assert res.fe_params[name] == pytest.approx(value, rel=1e-4, abs=1e-8)
        assert res.bse[name] == pytest.approx(case["fixef_se"][r_name], rel=1e-4)


def test_variance_components(fitted):
    case, res = fitted
    vc = res.variance_components()
    for row in case["varcorr"]:
        if row["grp"] == "Residual":
            got = vc.loc[vc.level == "Residual", "variance"].item()
        else:
            sel = (vc.level == _py_level(row["grp"])) & (vc.term == _py_name(row["var1"]))
            sel &= vc.term2.isna() if row["var2"] is None else (vc.term2 == _py_name(row["var2"]))
            got = vc.loc[sel, "variance"].item()
        assert got == pytest.approx(row["vcov"], rel=1e-4, abs=1e-6 * case["sigma"] ** 2)
    assert res.singular == case["singular"]
    assert len(vc) == len(case["varcorr"])


def test_conditional_modes(fitted):
    case, res = fitted
    re_ = res.random_effects
    for grp, block in case["ranef"].items():
        frame = re_[_py_level(grp)]
        for label, values in zip(block["levels"], block["values"]):
            got = frame.loc[_py_unit(label), [_py_name(t) for t in block["terms"]]]
            np.testing.assert_allclose(got, values, atol=1e-4 * case["sigma"])


def test_information_criteria(fitted):
    case, res = fitted
    assert res.aic == pytest.approx(case["aic"], abs=1e-3)
    if not case["reml"]:  # lme4's REML BIC uses log(n); mixedext follows nlme, log(n - p)
        assert res.bic == pytest.approx(case["bic"], abs=1e-3)


@pytest.mark.parametrize("reml", [True, False])
def test_double_bar_spelling_of_uncorrelated_effects(reml):
    """lme4's ``(Days || Subject)`` is ``(1 | Subject) + (0 + Days | Subject)``."""
    case = next(c for c in CASES if c["case"] == "sleepstudy_uncorr" and c["reml"] == reml)
    res = mx.mixedlm("Reaction ~ Days + (Days || Subject)", reference_data(case)).fit(
        reml=reml)
    assert res.llf == pytest.approx(case["llf"], abs=1e-4)
    assert len(res.model.random_terms) == 2
