"""Prior weights (``weights=``, residual variance sigma^2 / w_i) and offsets in the linear
mixed model: against ``lmer(weights =)`` / ``offset()`` from
tests/reference/count_reference.json, and what they change elsewhere.

Tolerances: llf 1e-6 absolute; fixed effects 1e-6 relative; SEs, sigma^2 and the
variance components 1e-4 relative; conditional modes 1e-5 absolute; conditional SDs
1e-4 relative; fitted values 1e-6 relative (1e-7 absolute).
"""

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, load_reference

import mixedext as mx

CASES = [c for c in load_reference("count_reference")["cases"] if c["engine"] == "lme4::lmer"]


def _fit(case):
    data = mx.datasets.load(case["data"]) if not case["data"].endswith(".csv") else \
        pd.read_csv(case["data_file"])
    kw = {"weights": case["weights"]} if case.get("weights") else {}
    formula = case["formula"]
    if "offset(o)" in formula:
        formula, kw["offset"] = formula.replace(" + offset(o)", ""), "o"
    return mx.mixedlm(formula, data, **kw).fit(reml=case["reml"])


def _r_name(py):
    py = py.replace("[T.", "").replace("]", "")
    return "(Intercept)" if py == "Intercept" else py


@pytest.fixture(scope="module", params=CASES,
                ids=lambda c: f"{c['case']}-{'REML' if c['reml'] else 'ML'}")
def fitted(request):
    return request.param, _fit(request.param)


def test_against_lmer(fitted):
    case, res = fitted
    assert res.llf == pytest.approx(case["logLik"], abs=1e-6)
    names = [_r_name(n) for n in res.fe_params.index]
    np.testing.assert_allclose(res.fe_params, [case["fixef"][n] for n in names], rtol=1e-6)
    np.testing.assert_allclose(res.bse_fe, [case["fixef_se"][n] for n in names], rtol=1e-4)
    assert res.scale == pytest.approx(case["sigma"] ** 2, rel=1e-4)
    vc = res.variance_components()
    for row in case["varcorr"]:
        if row["grp"] == "Residual":
            continue
        term = "Intercept" if row["var1"] == "(Intercept)" else row["var1"]
        if row["var2"] is None:
            got = vc[(vc.term == term) & vc.term2.isna()]["std"]
        else:
            got = vc[(vc.term == term) & (vc.term2 == row["var2"])]["corr"]
        assert float(got.iloc[0]) == pytest.approx(row["sdcor"], rel=1e-4)


def test_modes_and_fitted_values(fitted):
    case, res = fitted
    level, block = next(iter(case["ranef"].items()))
    modes = res.random_effects[level]
    modes.columns = ["(Intercept)" if c == "Intercept" else c for c in modes.columns]
    labels = [str(u) for u in block["levels"]]
    modes.index = modes.index.astype(str)
    np.testing.assert_allclose(modes.loc[labels, block["terms"]],
                               np.asarray(block["values"]).reshape(len(labels), -1), atol=1e-5)
    sds = res.random_effects_se[level]
    sds.index = sds.index.astype(str)
    np.testing.assert_allclose(sds.loc[labels].to_numpy(),
                               np.asarray(block["condsd"]).reshape(len(labels), -1), rtol=1e-4)
    np.testing.assert_allclose(res.fittedvalues[:10], case["fitted_conditional_first10"],
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(res.predict()[:10], case["fitted_population_first10"],
                               rtol=1e-6, atol=1e-7)


@pytest.fixture(scope="module")
def weighted():
    data = pd.read_csv(ROOT / "tests/reference/data/lmm_weighted.csv")
    return data, mx.mixedlm("y ~ x + (1 + x | g)", data, weights="w", offset="o").fit()


def test_predictions_read_the_offset(weighted):
    data, res = weighted
    new = data.head(5)
    np.testing.assert_allclose(res.predict(new, which="conditional"), res.fittedvalues[:5],
                               rtol=1e-12)
    shifted = res.predict(new, offset=new.o + 1.0)
    np.testing.assert_allclose(shifted, res.predict(new) + 1.0, rtol=1e-12)
    with pytest.raises(KeyError, match="lacks the offset column 'o'"):
        res.predict(new.drop(columns="o"))
    table = res.get_prediction(new)
    np.testing.assert_allclose(table["mean"], res.predict(new), rtol=1e-12)


def test_weights_scale_the_residual_variance(weighted):
    data, res = weighted
    sims = res.simulate(3000, seed=2)
    resid_sd = (sims - sims.mean(axis=1, keepdims=True)).std(axis=1)
    heavy, light = data.w > 3, data.w < 0.3
    assert resid_sd[light].mean() > 1.5 * resid_sd[heavy].mean()
    doubled = mx.mixedlm("y ~ x + (1 + x | g)", data, weights=2 * data.w.to_numpy(),
                         offset="o").fit()
    assert doubled.scale == pytest.approx(2 * res.scale, rel=1e-6)  # sigma^2 / w unchanged
    np.testing.assert_allclose(doubled.fe_params, res.fe_params, rtol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda d: mx.mixedlm("y ~ x + (1 | g)", d, weights="nope"), "weights='nope' is not a"),
    (lambda d: mx.mixedlm("y ~ x + (1 | g)", d, weights=-d.w), "weights must be positive"),
    (lambda d: mx.mixedlm("y ~ x + (1 | g)", d, offset=np.zeros(3)), "offset must have one"),
    (lambda d: mx.mixedlm("y ~ x + (1 | g)", d, weights="w", cov_struct="exchangeable"),
     "with a residual covariance structure"),
    (lambda d: mx.mixedlm("y ~ x", d, groups="g", weights="w").score(
        np.zeros(4)), "per-group methods know no weights"),
    (lambda d: mx.mixedlm("y ~ x + (1 | g)", d, weights="w").fit().anova(
        ddf="kenward-roger"), "Kenward-Roger is not available"),
])
def test_refusals_name_the_argument(weighted, call, match):
    data, _ = weighted
    with pytest.raises((ValueError, KeyError, NotImplementedError), match=match):
        call(data)
