"""fit_ml against lme4::glmer (tests/reference/glmer_reference.json; tolPwrss = 1e-12).

Tolerances (issue: within 1e-3): log-likelihood 1e-3 absolute; fixed effects, their
standard errors and the random-effect (co)variances 1e-3 relative; conditional modes 1e-3
absolute and their conditional SDs 1e-3 relative. For nAGQ > 1 with binomial counts, lme4's
logLik is relative to the saturated model (the binomial log-likelihood at ``mu = y / m``,
coefficients included, is subtracted); the test does the same to mixedext's. For 0/1
outcomes the two conventions coincide.
"""

import re

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, load_reference
from scipy.special import gammaln

import mixedext as mx

GLMER = load_reference("glmer_reference")["cases"]

CALLS = {
    "cbpp": ("incidence ~ C(period) + (1 | herd)", dict(trials="size")),
    "readmission": ("readmit ~ age + severity + teaching + (1 | unit)", {}),
    "nested": ("y ~ x + (1 | hospital/ward)", {}),
    "slope": ("y ~ t + (t | subject)", {}),
    "clearance": ("cleared ~ trt + visit + (1 | patient)", {}),
}


def _level(grp):
    return "/".join(reversed(re.sub(r"\.\d+$", "", grp).split(":")))


@pytest.fixture(scope="module", params=GLMER, ids=lambda c: c["case"])
def fitted(request):
    case = request.param
    data = pd.read_csv(ROOT / case["data_file"])
    formula, kw = CALLS[case["case"].rsplit("_", 1)[0]]
    return case, mx.binomial_mixedglm(formula, data, **kw).fit_ml(nagq=case["nAGQ"])


def _saturated_loglik(res):
    y, m = res.family.y, res.family.trials
    p = y / m
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.where(y > 0, y * np.log(p), 0) + np.where(m > y, (m - y) * np.log1p(-p), 0)
    return float((gammaln(m + 1) - gammaln(y + 1) - gammaln(m - y + 1) + ll).sum())


def test_loglikelihood(fitted):
    case, res = fitted
    llf = res.llf
    if case["nAGQ"] > 1:
        llf -= _saturated_loglik(res)
    assert llf == pytest.approx(case["logLik"], abs=1e-3)


def test_fixed_effects_and_se(fitted):
    case, res = fitted
    np.testing.assert_allclose(res.fe_params, list(case["fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(res.bse, list(case["fixef_se"].values()), rtol=1e-3)


def test_variance_components(fitted):
    case, res = fitted
    vc = res.variance_components()
    for row in case["varcorr"]:
        term = "Intercept" if row["var1"] == "(Intercept)" else row["var1"]
        sel = (vc.level == _level(row["grp"])) & (vc.term == term)
        if row["var2"] is None:
            sel &= vc.term2.isna()
        else:
            sel &= vc.term2 == row["var2"]
        assert vc.loc[sel, "variance"].item() == pytest.approx(row["vcov"], rel=1e-3,
                                                                abs=1e-6)


def test_conditional_modes_and_sds(fitted):
    case, res = fitted
    if case["nAGQ"] > 1:
        return  # lme4 reports the Laplace-style modes either way; checked for nAGQ = 1
    re_ = res.random_effects
    for grp, block in case["ranef"].items():
        frame = re_[_level(grp)]
        units = ["/".join(reversed(u.split(":"))) for u in block["levels"]]
        terms = ["Intercept" if t == "(Intercept)" else t for t in block["terms"]]
        np.testing.assert_allclose(frame.loc[units, terms], block["values"], atol=1e-3)
        if frame.shape[1] == 1:
            shr = res.shrinkage(_level(grp))
            np.testing.assert_allclose(shr.loc[units, "cond_se"],
                                       np.ravel(block["condsd"]), rtol=1e-3)


def test_latent_icc_and_r2_match_performance(fitted):
    """performance::icc / r2_nakagawa on the latent scale (residual pi^2/3), 1e-4."""
    case, res = fitted
    perf = case.get("performance") or {}
    if case["nAGQ"] > 1 or perf.get("icc_adjusted") is None:
        return
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        icc = res.icc()
    assert icc["share"].sum() == pytest.approx(perf["icc_adjusted"], rel=1e-4)
    r2 = res.r2()
    assert r2["marginal"] == pytest.approx(perf["r2_marginal"], rel=1e-4)
    assert r2["conditional"] == pytest.approx(perf["r2_conditional"], rel=1e-4)
