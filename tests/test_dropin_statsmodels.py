"""statsmodels' documented usage of MixedLM and BinomialBayesMixedGLM, run on mixedext.

Each constructor form and results method of statsmodels' documentation, with
statsmodels' own results as the reference. Tolerances: where both reach the optimum,
log-likelihoods 1e-4 absolute and never below statsmodels' by more than 1e-6, parameters
1e-3 relative (statsmodels' optimiser stops ~1e-5 short); quantities at *given*
parameters (``loglike``, ``score``, ``hessian``) 1e-8 relative; two spellings of one
model on mixedext's engine: log-likelihood 1e-8, parameters 1e-6.
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM as SMBinomial
from statsmodels.regression.mixed_linear_model import MixedLMParams, VCSpec
from statsmodels.tools.sm_exceptions import ConvergenceWarning

import mixedext as mx


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def schools():
    """Students in classrooms in schools (statsmodels' from_formula example)."""
    rng = np.random.default_rng(11)
    rows = []
    for s in range(12):
        u_s = rng.normal(scale=1.0)
        for c in range(rng.integers(2, 5)):
            u_c, b_c = rng.normal(scale=0.7), rng.normal(scale=0.3)
            for _ in range(rng.integers(6, 12)):
                age, pre = rng.normal(12, 1), rng.normal()
                y = 50 + 0.5 * age + (1 + b_c) * pre + u_s + u_c + rng.normal()
                rows.append((s, c, age, pre, y))
    return pd.DataFrame(rows, columns=["school", "classroom", "age", "pretest",
                                       "test_score"])


@pytest.fixture(scope="module")
def sleep():
    d = mx.datasets.load("sleepstudy")
    return d.Reaction.to_numpy(), np.column_stack([np.ones(len(d)), d.Days]), \
        d.Subject.astype(str).to_numpy(), d


def _as_statsmodels(ours, theirs, sm_model=None, **fit_kw):
    """mixedext at least as high as statsmodels, and at statsmodels' optimum: where
    statsmodels stops short, its own fit started from mixedext's estimates is the
    reference."""
    assert ours.llf >= theirs.llf - 1e-6
    if sm_model is not None and theirs.llf < ours.llf - 1e-4:
        theirs = sm_model.fit(start_params=np.asarray(ours.params_object.get_packed(
            use_sqrt=sm_model.use_sqrt, has_fe=True)), **fit_kw)
    assert ours.llf == pytest.approx(theirs.llf, abs=1e-4)
    np.testing.assert_allclose(ours.params, theirs.params, rtol=1e-3, atol=1e-3)


# -- constructors: statsmodels' MixedLM docstring ---------------------------------------
def test_array_forms_of_the_docstring(sleep):
    endog, exog, groups, _ = sleep
    exog_re = exog.copy()
    for kw in ({}, {"exog_re": exog_re}):
        ours = mx.MixedLM(endog, exog, groups, **kw).fit()
        theirs = sm.MixedLM(endog, exog, groups, **kw).fit()
        assert ours.engine_fit
        _as_statsmodels(ours, theirs)
    # use_sqrt is statsmodels' optimiser's parametrisation: the engine's optimum is the same
    plain = mx.MixedLM(endog, exog, groups, exog_re=exog_re, use_sqrt=False).fit()
    assert plain.llf == pytest.approx(ours.llf, abs=1e-10)
    free = MixedLMParams.from_components(fe_params=np.ones(exog.shape[1]),
                                         cov_re=np.eye(exog_re.shape[1]))
    ours = mx.MixedLM(endog, exog, groups, exog_re=exog_re).fit(free=free)
    theirs = sm.MixedLM(endog, exog, groups, exog_re=exog_re).fit(free=free)
    assert isinstance(ours._results, mx.MixedLMResults)
    assert ours.llf == pytest.approx(theirs.llf, abs=1e-6)  # statsmodels' optimiser runs


def test_deprecated_dict_variance_components(sleep):
    endog, exog, groups, _ = sleep
    g = pd.Series(groups).groupby(groups).groups
    vc = {"1": {k: exog[g[k], :1] for k in g}, "2": {k: exog[g[k], 1:] for k in g}}
    with warnings.catch_warnings(record=True) as said_ours:
        warnings.simplefilter("always")
        ours = mx.MixedLM(endog, exog, groups, exog_vc=vc).fit()
    with warnings.catch_warnings(record=True) as said_theirs:
        warnings.simplefilter("always")
        theirs = sm.MixedLM(endog, exog, groups, exog_vc=vc).fit()

    def format_warnings(said):
        return [w.category for w in said if "deprecated variance components" in str(w.message)]

    assert format_warnings(said_ours) == format_warnings(said_theirs) != []
    assert ours.engine_fit
    _as_statsmodels(ours, theirs)
    # the same model with lme4's independent intercept and slope
    lme4 = mx.mixedlm("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", sleep[3]).fit()
    assert ours.llf == pytest.approx(lme4.llf, abs=1e-8)


@pytest.mark.parametrize("vc, fixed", [
    ({"classroom": "0 + C(classroom)"}, "test_score ~ age"),
    ({"classroom": "0 + C(classroom)", "pretest": "0 + pretest"}, "test_score ~ age + pretest"),
])
def test_formula_forms_of_the_docstring(schools, vc, fixed):
    ours = mx.mixedlm(fixed, schools, vc_formula=vc, re_formula="1", groups="school").fit()
    model = sm.MixedLM.from_formula(fixed, vc_formula=vc, re_formula="1", groups="school",
                                    data=schools)
    theirs = model.fit()
    _as_statsmodels(ours, theirs, model)
    assert list(ours.random_effects[0].index) == list(theirs.random_effects[0].index)


# -- every spelling reaches the same optimum ----------------------------------------------
def _vcspec_of(data, groups, column):
    labels = sorted(set(data[groups]))
    mats, names = [], []
    for g in labels:
        sub = data.loc[data[groups] == g, column].astype(str).to_numpy()
        levels = sorted(set(sub))
        mats.append((sub[:, None] == np.array(levels)[None, :]).astype(float))
        names.append([f"C({column})[{lev}]" for lev in levels])
    return VCSpec([column], [names], [mats])


@pytest.mark.parametrize("reml", [True, False])
def test_array_and_formula_spellings_agree(schools, sleep, reml):
    endog, exog, groups, d = sleep
    arrays = mx.MixedLM(endog, exog, groups, exog_re=exog).fit(reml=reml)
    formula = mx.mixedlm("Reaction ~ Days", d, groups="Subject", re_formula="~Days").fit(
        reml=reml)
    assert arrays.llf == pytest.approx(formula.llf, abs=1e-8)
    np.testing.assert_allclose(arrays.params, formula.params, rtol=1e-6)

    x = np.column_stack([np.ones(len(schools)), schools.age])
    arrays = mx.MixedLM(schools.test_score.to_numpy(), x, schools.school.to_numpy(),
                        exog_re=np.ones((len(schools), 1)),
                        exog_vc=_vcspec_of(schools, "school", "classroom")).fit(reml=reml)
    formula = mx.mixedlm("test_score ~ age", schools, groups="school", re_formula="1",
                         vc_formula={"classroom": "0 + C(classroom)"}).fit(reml=reml)
    assert arrays.engine_fit and formula.engine_fit
    assert arrays.llf == pytest.approx(formula.llf, abs=1e-8)
    np.testing.assert_allclose(arrays.params, formula.params, rtol=1e-6)
    np.testing.assert_allclose(arrays.random_effects[0].to_numpy(),
                               formula.random_effects[0].to_numpy(), rtol=1e-5, atol=1e-8)
    assert list(arrays.random_effects[0].index)[1:] == list(formula.random_effects[0].index)[1:]


# -- results methods ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def slope_fits(sleep):
    d = sleep[3]
    kw = dict(groups="Subject", re_formula="~Days")
    return (mx.mixedlm("Reaction ~ Days", d, **kw).fit(),
            sm.MixedLM.from_formula("Reaction ~ Days", data=d, **kw).fit())


def test_likelihood_and_derivatives_at_given_parameters(slope_fits):
    ours, theirs = slope_fits
    p = theirs.params_object
    np.testing.assert_allclose(ours.model.loglike(p), theirs.model.loglike(p), rtol=1e-10)
    np.testing.assert_allclose(ours.model.score(p), theirs.model.score(p), rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(ours.model.hessian(p)[0], theirs.model.hessian(p)[0],
                               rtol=1e-8, atol=1e-10)  # (hessian, singular) as statsmodels
    np.testing.assert_allclose(
        ours.model.get_fe_params(theirs.cov_re_unscaled, theirs.vcomp)[0],
        theirs.model.get_fe_params(theirs.cov_re_unscaled, theirs.vcomp)[0], rtol=1e-10)
    packed = ours.params_object.get_packed(use_sqrt=True, has_fe=True)
    again = MixedLMParams.from_packed(packed, ours.k_fe, ours.k_re, True, has_fe=True)
    np.testing.assert_allclose(again.cov_re, ours.params_object.cov_re, rtol=1e-12)
    # at its own optimum the gradient is smaller than at statsmodels'
    assert np.abs(ours.model.score(ours.params_object)).max() < \
        np.abs(theirs.model.score(theirs.params_object)).max()


def test_tests_predictions_and_covariances(slope_fits, sleep):
    ours, theirs = slope_fits
    k, k_fe = len(ours.params), ours.k_fe
    for res in (ours, theirs):
        res.wald_test(np.eye(k)[:2], scalar=True)
    t_ours, t_theirs = ours.t_test(np.eye(k_fe)), theirs.t_test(np.eye(k_fe))
    np.testing.assert_allclose(t_ours.effect, t_theirs.effect, rtol=1e-3)
    d = sleep[3]
    np.testing.assert_allclose(ours.predict(d), sleep[1] @ ours.fe_params, rtol=1e-12)
    np.testing.assert_allclose(ours.predict(d), theirs.predict(d), rtol=1e-3)
    np.testing.assert_allclose(ours.predict(), theirs.predict(), rtol=1e-3)
    assert set(ours.random_effects_cov) == set(theirs.random_effects_cov)
    assert "Days" in str(ours.summary()) and "Days" in str(theirs.summary())


def test_predictions_have_statsmodels_types_and_labels(slope_fits, sleep):
    """A DataFrame or dict of new data gives a Series labelled by its rows (a missing
    value NaN in place); no new data, an array."""
    ours, theirs = slope_fits
    new = sleep[3].head(5).set_axis(list("abcde"))
    new.loc["b", "Days"] = np.nan
    for exog in (None, new, {"Days": [1.0, 2.0]}):
        got, want = ours.predict(exog), theirs.predict(exog)
        assert type(got) is type(want)
        if isinstance(want, pd.Series):
            pd.testing.assert_index_equal(got.index, want.index)
        np.testing.assert_allclose(got, want, rtol=1e-3)
    conditional = ours.predict(new, which="conditional")
    assert isinstance(conditional, pd.Series) and list(conditional.index) == list("abcde")
    assert np.isnan(conditional["b"]) and np.isfinite(conditional.drop("b")).all()


def test_profile_re_as_statsmodels(slope_fits, schools):
    ours, theirs = slope_fits
    kw = dict(num_low=2, num_high=2, dist_low=50, dist_high=50)
    a, b = ours.profile_re(0, "re", **kw), theirs.profile_re(0, "re", **kw)
    assert a.shape == b.shape == (5, 2)
    np.testing.assert_allclose(a[:, 1], b[:, 1], rtol=1e-6)  # llf along the profile
    vc = {"classroom": "0 + C(classroom)"}
    fit = mx.mixedlm("test_score ~ age", schools, vc_formula=vc, re_formula="1",
                     groups="school").fit()
    prof = fit.profile_re("classroom", "vc", num_low=1, num_high=1, dist_low=0.1,
                          dist_high=0.1)
    assert prof.shape == (3, 2) and prof[1, 1] == pytest.approx(fit.llf, abs=1e-4)


def test_save_and_load(slope_fits, tmp_path):
    ours, _ = slope_fits
    path = tmp_path / "fit.pickle"

    def roundtrip():  # statsmodels' unpickling needs a caller frame
        ours.save(path)
        return mx.MixedLMResults.load(path)

    again = roundtrip()
    assert again.llf == ours.llf
    np.testing.assert_allclose(again.fe_params, ours.fe_params)
    assert pickle.loads(pickle.dumps(ours.fit_state)).deviance == ours.fit_state.deviance


# -- fit() and constructor keywords, warnings ----------------------------------------------
def test_fit_keywords_as_statsmodels(sleep):
    endog, exog, groups, d = sleep
    model = mx.mixedlm("Reaction ~ Days", d, groups="Subject")
    with pytest.warns(Warning, match="cov_type.*not used by MixedLM.fit|Argument cov_type"):
        model.fit(cov_type="hc1", rmel=False)
    with pytest.warns(ConvergenceWarning):
        short = mx.mixedlm("Reaction ~ Days", d, groups="Subject",
                           re_formula="~Days").fit(maxiter=1)
    assert not short.converged  # maxiter honoured by the engine
    with pytest.warns(UserWarning, match="eps have no effect"):
        model.fit(eps=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(disp=False, gtol=1e-8, maxls=30)  # honoured, nothing to warn about


def test_unsupported_constructor_keywords_raise_as_statsmodels(sleep):
    d = sleep[3]
    for lib in (sm.MixedLM, mx.MixedLM):
        with pytest.raises(ValueError, match="argument frequency not permitted"):
            lib.from_formula("Reaction ~ Days", d, groups="Subject", frequency=np.ones(len(d)))
    # weights, which statsmodels refuses, are prior weights here (a stated difference)
    with pytest.raises(ValueError, match="weights not permitted"):
        sm.MixedLM.from_formula("Reaction ~ Days", d, groups="Subject", weights=np.ones(len(d)))
    ones = mx.MixedLM.from_formula("Reaction ~ Days", d, groups="Subject",
                                   weights=np.ones(len(d))).fit()
    plain = mx.MixedLM.from_formula("Reaction ~ Days", d, groups="Subject").fit()
    assert ones.llf == pytest.approx(plain.llf, abs=1e-9)


def test_singular_fit_warning_is_a_statsmodels_convergence_warning():
    assert issubclass(mx.SingularFitWarning, ConvergenceWarning)
    d = mx.datasets.load("dyestuff2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)  # a statsmodels user's filter
        res = mx.mixedlm("Yield ~ 1 + (1 | Batch)", d).fit()
    assert res.singular


# -- BinomialBayesMixedGLM: statsmodels' docstring example -----------------------------------
@pytest.fixture(scope="module")
def villages():
    rng = np.random.default_rng(0)
    village = np.repeat(np.arange(20), 30)
    year_cen = rng.normal(size=len(village))
    eta = (-0.5 + 0.3 * year_cen + rng.normal(size=20)[village]
           + 0.4 * rng.normal(size=20)[village] * year_cen)
    return pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))), "year_cen": year_cen,
                         "Village": village})


def test_binomial_docstring_example(villages):
    random = {"a": "0 + C(Village)", "b": "0 + C(Village)*year_cen"}
    ours = mx.BinomialMixedGLM.from_formula("y ~ year_cen", random, villages)
    theirs = SMBinomial.from_formula("y ~ year_cen", random, villages)
    # statsmodels' own optimisers on the same posterior (our columns in another order):
    # they agree to their convergence tolerance, ~1e-6
    vb_ours, vb_theirs = ours.fit_vb(), theirs.fit_vb()
    np.testing.assert_allclose(vb_ours.fe_mean, vb_theirs.fe_mean, rtol=1e-4)
    np.testing.assert_allclose(vb_ours.vcp_mean, vb_theirs.vcp_mean, rtol=1e-4)
    # the MAP problem of this example has several modes: statsmodels' own BFGS ends at
    # different ones from run to run (log posterior 460.7 or 601.9, by BLAS rounding of
    # the path), so its MAP is no reference here; it runs on both
    map_ours = ours.fit_map()
    assert np.all(np.isfinite(map_ours.params)) and len(map_ours.fe_mean) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mx.SingularFitWarning)
        ml = ours.fit_ml()
    assert np.isfinite(ml.llf) and len(ml.fe_params) == 2


def test_fit_regularized_and_missing_rows_as_statsmodels(sleep):
    endog, exog, groups, _ = sleep
    ours = mx.MixedLM(endog, exog, groups).fit_regularized(method="l1", alpha=1.0)
    theirs = sm.MixedLM(endog, exog, groups).fit_regularized(method="l1", alpha=1.0)
    np.testing.assert_allclose(ours.params, theirs.params, rtol=1e-4)
    y = endog.copy()
    y[3] = np.nan
    dropped = mx.MixedLM(y, exog, groups, missing="drop").fit()
    keep = np.arange(len(y)) != 3
    want = mx.MixedLM(endog[keep], exog[keep], groups[keep]).fit()
    assert dropped.nobs == keep.sum() and dropped.llf == pytest.approx(want.llf, abs=1e-10)


def test_start_params_start_the_engine(slope_fits, sleep):
    """statsmodels' estimates as start_params (object or packed): the engine's optimum."""
    ours, theirs = slope_fits
    model = mx.mixedlm("Reaction ~ Days", sleep[3], groups="Subject", re_formula="~Days")
    for start in (theirs.params_object, np.asarray(theirs.params)):
        again = model.fit(start_params=start)
        assert again.engine_fit
        assert again.llf == pytest.approx(ours.llf, abs=1e-8)
        np.testing.assert_allclose(again.params, ours.params, rtol=1e-5)
