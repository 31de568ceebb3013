"""The drop-in contract: same call as statsmodels, same model, the optimum reached.

For each statsmodels-style call: llf equal or higher than statsmodels' (1e-6 absolute)
and every parameter within 1e-3 relative of statsmodels' (statsmodels itself often
stops short of the optimum: e.g. Pastes' batch variance is ~6.6e-4 off).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.regression import mixed_linear_model as sm_mlm

import mixedext as mx
import mixedext.formula.api as mxf

CALLS = {
    "random_intercept": ("sleepstudy", "Reaction ~ Days", dict(groups="Subject")),
    "random_slope": ("sleepstudy", "Reaction ~ Days", dict(groups="Subject",
                                                            re_formula="1 + Days")),
    "vc_nested": ("pastes", "strength ~ 1", dict(groups="batch", re_formula="1",
                                                 vc_formula={"cask": "0 + C(cask)"})),
    "vc_no_group_intercept": ("pastes", "strength ~ 1",
                              dict(groups="batch", vc_formula={"cask": "0 + C(cask)"})),
    "vc_slope": ("sleepstudy", "Reaction ~ Days", dict(groups="Subject", re_formula="1",
                                                       vc_formula={"Days": "0 + Days"})),
    "orthodont_slope": ("orthodont", "distance ~ age + Sex", dict(groups="Subject",
                                                                   re_formula="~age")),
}


def _fit_both(name, reml=True):
    dataset, formula, kw = CALLS[name]
    data = mx.datasets.load(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = smf.mixedlm(formula, data, **kw).fit(reml=reml)
    mx_res = mx.mixedlm(formula, data, **kw).fit(reml=reml)
    return mx_res, sm


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("name", list(CALLS))
def test_same_model_as_statsmodels(name, reml):
    res, sm = _fit_both(name, reml)
    assert res.llf >= sm.llf - 1e-6
    assert list(res.params.index) == list(sm.params.index)
    scale = np.maximum(np.abs(sm.params.to_numpy()), 1e-2)
    np.testing.assert_array_less(np.abs(res.params - sm.params) / scale, 1e-3)
    assert res.scale == pytest.approx(sm.scale, rel=1e-3)
    # (fixed-effect SEs follow lme4's vcov, checked in test_lme4_reference.py;
    # statsmodels' differ for random slopes, e.g. Orthodont by up to 9%)
    # statsmodels-style random effects keep statsmodels' layout
    g = next(iter(sm.random_effects))
    assert list(res.random_effects[g].index) == list(sm.random_effects[g].index)
    np.testing.assert_allclose(res.random_effects[g], sm.random_effects[g],
                               atol=2e-3 * np.sqrt(sm.scale))


def test_types_and_labels():
    data = mx.datasets.load("sleepstudy")
    model = mx.mixedlm("Reaction ~ Days", data, groups="Subject")
    assert isinstance(model, sm_mlm.MixedLM) and isinstance(model, mx.MixedLM)
    res = model.fit()
    assert isinstance(res, sm_mlm.MixedLMResultsWrapper)
    assert isinstance(res._results, sm_mlm.MixedLMResults)
    assert isinstance(res._results, mx.MixedLMResults)
    assert isinstance(res.params, pd.Series) and isinstance(res.fe_params, pd.Series)
    assert list(res.fe_params.index) == ["Intercept", "Days"]
    assert isinstance(res.cov_re, pd.DataFrame)
    assert "Subject Var" in res.summary().as_text()


def test_from_formula_and_formula_api():
    data = mx.datasets.load("sleepstudy")
    a = mx.MixedLM.from_formula("Reaction ~ Days", data, groups="Subject").fit()
    b = mxf.mixedlm("Reaction ~ Days", data, groups=data["Subject"]).fit()
    assert a.llf == pytest.approx(b.llf, abs=1e-9)
    assert mxf.ols is smf.ols and mxf.mixedlm is mx.mixedlm


def test_statsmodels_only_options_fall_back():
    data = mx.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mx.mixedlm("Reaction ~ Days", data, groups="Subject").fit(method="lbfgs")
    assert isinstance(res._results, mx.MixedLMResults)
    assert res._results._state is None
    assert res.llf == pytest.approx(-893.2325, abs=1e-3)
    assert res.variance_components().variance.iloc[0] == pytest.approx(1378.18, rel=1e-3)


def test_inherited_statsmodels_methods_work_lazily():
    data = mx.datasets.load("pastes")
    res = mx.mixedlm("strength ~ 1", data, groups="batch", re_formula="1",
                     vc_formula={"cask": "0 + C(cask)"}).fit()
    assert "endog_li" not in res.model.__dict__  # not built by the fit
    loglike = res.model.loglike(res.params_object, profile_fe=False)
    assert loglike == pytest.approx(res.llf, abs=1e-8)
    np.testing.assert_allclose(res.fittedvalues, sm_mlm.MixedLMResults.fittedvalues.fget(
        res._results), atol=1e-10)


def test_array_constructor():
    data = mx.datasets.load("sleepstudy")
    exog = np.column_stack([np.ones(len(data)), data["Days"]])
    res = mx.MixedLM(data["Reaction"], exog, data["Subject"]).fit()
    assert res.llf == pytest.approx(-893.232543, abs=1e-5)
