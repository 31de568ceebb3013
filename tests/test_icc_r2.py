"""ICC and Nakagawa R² against performance::icc / r2_nakagawa (1e-4 relative), and LRTs.

tests/reference/performance_reference.json; linear cases (the logistic case arrives with
the binomial GLMM).
"""

import warnings

import numpy as np
import pytest
from conftest import load_reference, reference_data
from scipy.stats import chi2

import mixedext as mx

PERF = {c["case"]: c for c in load_reference("performance_reference")["cases"]
        if c["family"] == "gaussian" or c.get("fit_function") == "lmer"}


@pytest.fixture(scope="module", params=sorted(PERF), ids=str)
def fitted(request):
    case = PERF[request.param]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return case, mx.mixedlm(case["formula"], reference_data(case)).fit()


def test_r2_nakagawa(fitted):
    case, res = fitted
    r2 = res.r2()
    ref = case["r2_nakagawa"]
    assert r2["marginal"] == pytest.approx(ref["R2_marginal"], rel=1e-4, abs=1e-10)
    assert r2["conditional"] == pytest.approx(ref["R2_conditional"], rel=1e-4)


def test_icc_per_level(fitted):
    case, res = fitted
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        icc = res.icc()
    slopes = case["case"] == "sleepstudy_slope"
    assert any("random slopes" in str(w.message) for w in caught) == slopes
    derived = case.get("derived_from_varcorr", {})
    for level, share in derived.get("share_by_level", {}).items():
        assert icc.loc[level, "share"] == pytest.approx(share, rel=1e-4)
    for level, cum in derived.get("icc_cumulative", {}).items():
        assert icc.loc[level, "icc"] == pytest.approx(cum, rel=1e-4)
    # the innermost (or, crossed, summed) ICC is performance's adjusted ICC
    total_share = icc["share"].sum()
    assert total_share == pytest.approx(case["icc"]["ICC_adjusted"], rel=1e-4)


def test_pastes_shares_match_the_issue():
    case = PERF["pastes_nested"]
    icc = mx.mixedlm(case["formula"], reference_data(case)).fit().icc()
    assert icc.loc["batch/cask", "share"] == pytest.approx(0.783, abs=5e-4)
    assert icc.loc["batch", "share"] == pytest.approx(0.154, abs=5e-4)


def _sleep(formula, reml=True):
    return mx.mixedlm(formula, mx.datasets.load("sleepstudy")).fit(reml=reml)


def test_lrt_boundary_mixture_for_one_variance():
    pastes = mx.datasets.load("pastes")
    a = mx.mixedlm("strength ~ 1 + (1 | batch/cask)", pastes).fit()
    b = mx.mixedlm("strength ~ 1 + (1 | batch:cask)", pastes).fit()
    out = mx.lrt(a, b)
    assert out["df_diff"] == 1 and out["distribution"] == "0.5 chi2(0) + 0.5 chi2(1)"
    stat = 2 * (a.llf - b.llf)
    assert out["statistic"] == pytest.approx(stat)
    assert out["pvalue"] == pytest.approx(0.5 * chi2.sf(stat, 1))
    with pytest.raises(ValueError, match="not nested"):
        mx.lrt(a, a)


def test_lrt_slope_with_covariance():
    r1 = _sleep("Reaction ~ Days + (Days | Subject)")
    r0 = _sleep("Reaction ~ Days + (1 | Subject)")
    out = r1.lrt(r0)  # either order
    stat = 2 * (r1.llf - r0.llf)
    assert out["distribution"] == "0.5 chi2(1) + 0.5 chi2(2)"
    assert out["pvalue"] == pytest.approx(0.5 * chi2.sf(stat, 1) + 0.5 * chi2.sf(stat, 2))


def test_lrt_fixed_effects_needs_ml():
    a = _sleep("Reaction ~ Days + (1 | Subject)")
    b = _sleep("Reaction ~ 1 + (1 | Subject)")
    with pytest.raises(ValueError, match="reml=False"):
        mx.lrt(a, b)
    a, b = (_sleep("Reaction ~ Days + (1 | Subject)", reml=False),
            _sleep("Reaction ~ 1 + (1 | Subject)", reml=False))
    out = mx.lrt(b, a)
    assert out["distribution"] == "chi2(1)"
    assert out["pvalue"] == pytest.approx(chi2.sf(2 * (a.llf - b.llf), 1))
    assert np.isfinite(out["statistic"])
