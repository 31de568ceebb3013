"""Poisson, negative binomial and Gamma mixed models: construction, bad input,
statsmodels' Bayes fits, offsets in prediction, simulation and snapshots (the numbers
against R are in test_counts_reference.py)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import ROOT

import mixedext as mx


@pytest.fixture(scope="module")
def counts():
    return pd.read_csv(ROOT / "tests/reference/data/poisson_nested.csv")


@pytest.fixture(scope="module")
def poisson_fit(counts):
    return mx.poisson_mixedglm("y ~ x + trt + (1 | a)", counts, exposure="exposure").fit_ml()


@pytest.mark.parametrize("build, column, values, match", [
    (mx.poisson_mixedglm, "y", -1, r"outcome 'y' must hold counts.*-1"),
    (mx.negbin_mixedglm, "y", 0.5, r"outcome 'y' must hold counts.*0.5"),
    (mx.gamma_mixedglm, "y", 0.0, r"outcome 'y' must be positive"),
    (mx.poisson_mixedglm, "exposure", 0.0, "exposure must be positive"),
    (mx.poisson_mixedglm, "w", -2.0, "weights must be positive"),
])
def test_bad_outcomes_and_row_arguments(counts, build, column, values, match):
    data = counts.assign(y=counts.y + 1.0)
    data.loc[3, column] = values
    with pytest.raises(ValueError, match=match):
        build("y ~ x + (1 | a)", data, exposure="exposure", weights="w").fit_ml()


def test_row_arguments_are_named(counts):
    with pytest.raises(KeyError, match="exposure='time' is not a column"):
        mx.poisson_mixedglm("y ~ x + (1 | a)", counts, exposure="time")
    with pytest.raises(ValueError, match=r"offset must be a column name or one value per"):
        mx.poisson_mixedglm("y ~ x + (1 | a)", counts, offset=np.zeros(3))


def test_nothing_to_fit_is_refused(counts):
    with pytest.raises(ValueError, match="'y' is constant"):
        mx.poisson_mixedglm("y ~ x + (1 | a)", counts.assign(y=0)).fit_ml()


def test_exposure_equals_offset_of_its_log(counts):
    a = mx.poisson_mixedglm("y ~ x + (1 | a)", counts, exposure="exposure").fit_ml()
    b = mx.poisson_mixedglm("y ~ x + (1 | a)", counts,
                            offset=np.log(counts.exposure.to_numpy())).fit_ml()
    assert a.llf == pytest.approx(b.llf, abs=1e-8)
    np.testing.assert_allclose(a.fe_params, b.fe_params, rtol=1e-7)


def test_predictions_use_the_offset(poisson_fit, counts):
    res = poisson_fit
    new = counts.head(6)
    np.testing.assert_allclose(res.predict(new), res.fittedvalues[:6], rtol=1e-10)
    fixed = res.predict(new, which="marginal", linear=True)
    np.testing.assert_allclose(fixed, np.log(new.exposure) + res.predict(
        new, which="marginal", linear=True, exposure=np.ones(6)), rtol=1e-12)
    doubled = res.predict(new, exposure=2 * new.exposure)
    np.testing.assert_allclose(doubled, 2 * res.predict(new, exposure=new.exposure),
                               rtol=1e-12)
    with pytest.raises(KeyError, match="lacks the column 'exposure'"):
        res.predict(new.drop(columns="exposure"))
    arrays = mx.poisson_mixedglm("y ~ x + (1 | a)", counts,
                                 offset=np.log(counts.exposure.to_numpy())).fit_ml()
    with pytest.raises(ValueError, match="give predict\\(\\) the new rows' offset"):
        arrays.predict(new)


def test_simulated_counts_follow_the_fit(poisson_fit):
    draws = poisson_fit.simulate(400, seed=1)
    assert draws.shape == (poisson_fit.nobs, 400)
    assert np.all(draws == np.round(draws)) and draws.min() >= 0
    # the marginal mean of a row: exp(eta + sigma^2 / 2)
    s2 = poisson_fit.variance_components()["variance"].iloc[0]
    want = np.exp(poisson_fit.predict(which="marginal", linear=True) + s2 / 2)
    assert draws.mean() == pytest.approx(want.mean(), rel=0.05)


def test_negbin_and_gamma_report_their_dispersion(counts):
    nb = mx.negbin_mixedglm("y ~ x + trt + (1 | a)", counts, exposure="exposure").fit_ml()
    assert nb.alpha == pytest.approx(1 / nb.theta)
    assert isinstance(nb.theta_re, pd.Series) and len(nb.theta_re) == 1
    assert "Dispersion theta (size)" in nb.summary()
    assert nb.df_modelwc == 5  # intercept, x, trt, the SD, the size
    data = counts.assign(cost=np.exp(0.3 * counts.x) * (counts.y + 1.0))
    gam = mx.gamma_mixedglm("cost ~ x + (1 | a)", data).fit_ml()
    assert gam.dispersion == pytest.approx(1 / gam.shape)
    assert gam.sigma == pytest.approx(gam.shape ** -0.5)
    assert "Gamma mixed model" in gam.summary()


def test_statsmodels_bayes_fits_are_unchanged(counts):
    """PoissonMixedGLM is statsmodels' PoissonBayesMixedGLM: the same variational fit."""
    vc = {"a": "0 + C(a)"}
    ours = mx.PoissonMixedGLM.from_formula("y ~ x + trt", vc, counts)
    theirs = sm.PoissonBayesMixedGLM.from_formula("y ~ x + trt", vc, counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = ours.fit_vb(), theirs.fit_vb()
    # the same code on the same data; BFGS's path moves in the last digits with the BLAS
    # threads' summation order
    np.testing.assert_allclose(a.params, b.params, rtol=1e-4, atol=1e-6)
    ml = ours.fit_ml()
    same = mx.poisson_mixedglm("y ~ x + trt + (1 | a)", counts).fit_ml()
    assert ml.llf == pytest.approx(same.llf, abs=1e-8)
    with pytest.raises(NotImplementedError, match="take no offset"):
        mx.poisson_mixedglm("y ~ x + (1 | a)", counts, exposure="exposure").fit_vb()
    with pytest.raises(NotImplementedError, match="no Bayes fit for the negative"):
        mx.negbin_mixedglm("y ~ x + (1 | a)", counts).fit_map()


def test_results_are_a_snapshot(counts):
    model = mx.poisson_mixedglm("y ~ x + trt + (1 | a)", counts, exposure="exposure")
    res = model.fit_ml()
    before = (res.llf, res.fe_params.copy(), res.bse.copy(), res.fittedvalues.copy())
    res.icc()  # fits the null model
    model.fit_ml(nagq=9)
    assert res.llf == before[0]
    pd.testing.assert_series_equal(res.fe_params, before[1])
    pd.testing.assert_series_equal(res.bse, before[2])
    np.testing.assert_array_equal(res.fittedvalues, before[3])


def test_shrinkage_of_counts(poisson_fit, counts):
    table = poisson_fit.shrinkage()
    assert len(table) == counts.a.nunique()
    assert np.all(np.abs(table.blup) <= np.abs(table.raw) + 1e-9)
    assert {"mean_raw", "mean_shrunk", "factor"} <= set(table.columns)
