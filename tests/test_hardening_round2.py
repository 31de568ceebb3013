"""Hardening, round 2: predictions aligned with their rows, degenerate data refused,
ignored arguments and invalid options refused with the argument named."""

import warnings

import numpy as np
import pandas as pd
import pytest
from test_profile import _slope_data

import mixedext as mx


@pytest.fixture(scope="module")
def sleep_fit():
    d = mx.datasets.load("sleepstudy")
    return d, mx.mixedlm("Reaction ~ Days + (Days | Subject)", d).fit()


@pytest.mark.parametrize("column", ["Days", "Subject"])
def test_prediction_rows_with_nan_are_nan_in_place(sleep_fit, column):
    d, res = sleep_fit
    new = d.head(6).copy()
    new.loc[new.index[2], column] = np.nan
    full = d.head(6)
    for which in ("marginal", "conditional"):
        got = res.predict(new, which=which)
        want = res.predict(full, which=which)
        assert len(got) == 6
        if column == "Subject" and which == "marginal":
            np.testing.assert_allclose(got, want)  # the marginal mean needs no unit
            continue
        assert np.isnan(got[2])
        np.testing.assert_allclose(np.delete(got, 2), np.delete(want, 2), rtol=1e-12)
    table = res.get_prediction(new, which="conditional")
    assert len(table) == 6 and table.iloc[2].isna().all()
    np.testing.assert_allclose(table.drop(index=2).to_numpy(),
                               res.get_prediction(full, which="conditional").drop(
                                   index=2).to_numpy(), rtol=1e-12)


def test_binomial_prediction_rows_with_nan_are_nan_in_place():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"g": np.repeat(np.arange(20), 10), "x": rng.normal(size=200)})
    d["y"] = rng.binomial(1, 1 / (1 + np.exp(-d.x - rng.normal(size=20)[d.g])))
    res = mx.binomial_mixedglm("y ~ x + (1 | g)", d).fit_ml()
    new = d.head(4).copy()
    new.loc[1, "x"] = np.nan
    got = res.predict(new, which="conditional")
    assert np.isnan(got[1]) and np.isfinite(np.delete(got, 1)).all()
    np.testing.assert_allclose(np.delete(got, 1), np.delete(res.predict(d.head(4)), 1))


@pytest.mark.parametrize("formula, kw, fit, match", [
    ("Reaction ~ Days + (1 | Subject)", dict(groups="Subject"), False,
     "groups= would be ignored"),
    ("Reaction ~ Days + (1 | Subject)", dict(time="Days"), False,
     "time='Days'.*would be ignored"),
    ("y ~ Days + (1 | Subject)", {}, True, "'y' is constant"),
    ("Reaction ~ Days + (1 | row)", {}, True, "as many units as rows"),
], ids=["groups-with-terms", "time-without-structure", "constant-outcome", "unit-per-row"])
def test_ignored_arguments_and_degenerate_data_are_refused(formula, kw, fit, match):
    d = mx.datasets.load("sleepstudy")
    d = d.assign(y=3.0, row=np.arange(len(d)))
    with pytest.raises(ValueError, match=match):
        model = mx.mixedlm(formula, d, **kw)
        if fit:
            model.fit()


def test_binomial_without_successes_is_refused():
    d = pd.DataFrame({"g": np.repeat(np.arange(10), 5), "x": np.linspace(-1, 1, 50),
                      "n": 4, "k": 0})
    with pytest.raises(ValueError, match="no successes"):
        mx.binomial_mixedglm("k ~ x + (1 | g)", d, trials="n").fit_ml()
    with pytest.raises(ValueError, match="no failures"):
        mx.binomial_mixedglm("k ~ x + (1 | g)", d.assign(k=4), trials="n").fit_ml()
    with pytest.raises(ValueError, match="not all identical"):  # statsmodels' 0/1 check
        mx.binomial_mixedglm("k ~ x + (1 | g)", d).fit_ml()


def test_lrt_of_different_outcomes_is_refused():
    d = mx.datasets.load("sleepstudy")
    a = mx.mixedlm("Reaction ~ Days + (1 | Subject)", d).fit(reml=False)
    b = mx.mixedlm("y ~ Days + (Days | Subject)", d.assign(y=2 * d.Reaction)).fit(reml=False)
    with pytest.raises(ValueError, match="different outcomes"):
        a.lrt(b)


def test_simulation_and_bootstrap_of_a_singular_slope_fit():
    """Correlation -1: draws through Lambda(theta), no Cholesky of a singular matrix; the
    draws at t = 5 have the fitted marginal variance (200 draws x 60 units: 10%)."""
    d = _slope_data(0, -0.995)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mx.SingularFitWarning)
        res = mx.mixedlm("y ~ t + (1 + t | g)", d).fit()
        sims = res.simulate(200, seed=1)
        table = res.conf_int_vc("bootstrap", n_boot=10, seed=1)
    assert res.singular and np.isfinite(sims).all() and np.isfinite(table.lower).all()
    vc = res.variance_components()
    rows = vc[vc.level == "g"]
    var = rows[rows.term2.isna()].variance.to_numpy()
    cov = rows[rows.term2.notna()].variance.iloc[0]
    want = var[0] + 25 * var[1] + 10 * cov + res.scale
    assert sims[np.asarray(d.t == 5)].var() == pytest.approx(want, rel=0.1)


@pytest.mark.parametrize("call, match", [
    (lambda r: r.conf_int_fe("wald", alpha=0), "alpha"),
    (lambda r: r.conf_int_vc("wald", alpha=1.5), "alpha"),
    (lambda r: r.icc(ci=True, alpha=-0.1), "alpha"),
    (lambda r: r.get_prediction(alpha=2), "alpha"),
    (lambda r: r.simulate(-1), "nsim"),
    (lambda r: r.conf_int_vc("bootstrap", n_boot=0), "n_boot"),
])
def test_invalid_options_name_the_argument(sleep_fit, call, match):
    _, res = sleep_fit
    with pytest.raises(ValueError, match=match):
        call(res)


def test_nagq_must_be_a_whole_number():
    d = mx.datasets.load("cbpp")
    model = mx.binomial_mixedglm("incidence ~ period + (1 | herd)", d, trials="size")
    with pytest.raises(ValueError, match="nagq must be a positive integer, got 2.7"):
        model.fit_ml(nagq=2.7)


@pytest.mark.parametrize("relabel", ["int", "float32", "float", "string", "datetime",
                                     "categorical"])
def test_conditional_predictions_match_units_on_values(relabel):
    """The grouping column in any dtype: conditional predictions on the training rows are
    the fitted values; ids fitted as ints and given back as floats match."""
    d = mx.datasets.load("sleepstudy")
    ids = d.Subject.astype(int).to_numpy()
    column = {"int": ids, "float32": ids.astype(np.float32), "float": ids + 0.5,
              "string": ids.astype(str), "categorical": pd.Categorical(ids),
              "datetime": pd.to_datetime("2020-01-01") + pd.to_timedelta(ids, "D")}[relabel]
    data = d.assign(g=column)
    res = mx.mixedlm("Reaction ~ Days + (1 | g)", data).fit()
    np.testing.assert_allclose(res.predict(data, which="conditional"), res.fittedvalues,
                               rtol=1e-10)
    if relabel == "int":
        again = res.predict(data.assign(g=ids.astype(float)), which="conditional")
        np.testing.assert_allclose(again, res.fittedvalues, rtol=1e-10)


def test_labels_with_the_separator_stay_distinct_units():
    rng = np.random.default_rng(5)
    rows = [("x/y", "z"), ("x", "y/z"), ("a", "b"), ("a", "c")] * 15
    d = pd.DataFrame(rows, columns=["a", "b"])
    d["y"] = rng.normal(size=len(d)) + np.repeat(rng.normal(size=4), 1)[
        np.tile(np.arange(4), 15)]
    res = mx.mixedlm("y ~ 1 + (1 | a/b)", d).fit()
    inner = res.random_effects["a/b"]
    assert len(inner) == 4 and inner.index.is_unique
    np.testing.assert_allclose(res.predict(d, which="conditional"), res.fittedvalues,
                               rtol=1e-10)


def test_q_quoted_columns_nullable_dtypes_and_dict_data():
    d = mx.datasets.load("sleepstudy")
    want = mx.mixedlm("Reaction ~ Days + (Days | Subject)", d).fit()
    quoted = mx.mixedlm('Reaction ~ Q("x.val") + (Q("x.val") | Subject)',
                        d.assign(**{"x.val": d.Days})).fit()
    assert quoted.llf == pytest.approx(want.llf, abs=1e-8)
    nullable = mx.mixedlm("Reaction ~ Days + (Days | Subject)",
                          d.assign(Days=pd.array(d.Days, dtype="Int64"))).fit()
    assert nullable.llf == pytest.approx(want.llf, abs=1e-8)
    flag = mx.mixedlm("Reaction ~ b + (1 | Subject)",
                      d.assign(b=pd.array(d.Days > 4, dtype="boolean"))).fit()
    plain = mx.mixedlm("Reaction ~ b + (1 | Subject)", d.assign(b=d.Days > 4)).fit()
    assert flag.llf == pytest.approx(plain.llf, abs=1e-8)
    as_dict = mx.mixedlm("Reaction ~ Days + (Days | Subject)",
                         {k: d[k].to_numpy() for k in d}).fit()
    assert as_dict.llf == pytest.approx(want.llf, abs=1e-8)


@pytest.mark.parametrize("kind, hint", [
    ("datetime", r"\(got datetime.*pd.Timedelta\(days=1\)"),
    ("digits", r"\(got (str|object)\); its values are numbers: pd.to_numeric"),
    ("category", r"\(got category\); its values are numbers: pd.to_numeric"),
    ("labels", r"\(got (str|object)\); give each measurement the number of its time"),
    ("bool", r"\(got bool\); use data\['t'\].astype\(int\)"),
])
def test_a_non_numeric_time_column_is_named_with_a_hint(kind, hint):
    d = mx.datasets.load("sleepstudy")
    t = {"datetime": pd.to_datetime("2020-01-01") + pd.to_timedelta(d.Days, "D"),
         "digits": d.Days.astype(str), "category": pd.Categorical(d.Days),
         "labels": "visit " + d.Days.astype(str), "bool": d.Days > 4}[kind]
    with pytest.raises(TypeError, match=r"time column 't' must be numeric " + hint):
        mx.mixedlm("Reaction ~ Days + (1 | Subject)", d.assign(t=t), cov_struct="ar1",
                   time="t")


def test_new_data_matching_no_unit_warns(sleep_fit):
    d, res = sleep_fit
    new = d.head(4).assign(Subject=999)
    with pytest.warns(UserWarning, match="no row of the new data matches a unit of level "
                                         "'Subject'.*new: 999"):
        got = res.predict(new, which="conditional")
    np.testing.assert_allclose(got, res.predict(new))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res.predict(pd.concat([new, d.head(1)]), which="conditional")  # one row matches


def test_a_group_column_of_tuples():
    d = mx.datasets.load("sleepstudy")
    want = mx.mixedlm("Reaction ~ Days + (1 | Subject)", d).fit()
    data = d.assign(g=[(s, "x") for s in d.Subject])
    res = mx.mixedlm("Reaction ~ Days + (1 | g)", data).fit()
    assert res.llf == pytest.approx(want.llf, abs=1e-8)
    np.testing.assert_allclose(res.predict(data, which="conditional"), res.fittedvalues,
                               rtol=1e-10)


def _ar1_near_one(seed, n=100, visits=20, rho=0.999):
    """AR(1) residuals with rho near 1 and no random intercept: the intercept and the
    correlation explain the same covariance."""
    rs = np.random.RandomState(seed)
    rows = []
    for g in range(n):
        e = rs.normal() / np.sqrt(1 - rho ** 2) * 0.3
        for t in range(visits):
            if t:
                e = rho * e + rs.normal() * 0.3
            rows.append((f"g{g}", t, 5e4 + 100 * t + 1000 * e))
    return pd.DataFrame(rows, columns=["g", "t", "y"])


@pytest.mark.parametrize("seed", [2, 3])
def test_ar1_near_one_reaches_the_boundary_fit(seed):
    """Before, the joint optimiser stopped on the ridge with the intercept's SD at about
    0.5 sigma, 0.0106 (seed 2) and 0.0069 (seed 3) log-likelihood units below the fit
    without the intercept."""
    d = _ar1_near_one(seed)
    with pytest.warns(mx.SingularFitWarning):
        res = mx.mixedlm("y ~ t + (1 | g)", d, cov_struct="ar1", time="t").fit()
    boundary = mx.mixedlm("y ~ t", d, groups="g", re_formula="0", cov_struct="ar1",
                          time="t").fit()
    assert res.llf >= boundary.llf - 1e-7
    assert res.theta.iloc[0] == 0.0 and res.singular
    assert res.cov_struct_params["rho"] == pytest.approx(
        boundary.cov_struct_params["rho"], abs=1e-6)


@pytest.mark.parametrize("scale", [1e-8, 1e-4, 1e4, 1e8])
def test_structure_fit_does_not_depend_on_the_units_of_a_random_slope_covariate(scale):
    d = mx.datasets.load("sleepstudy")
    kw = dict(cov_struct="ar1", time="Days")
    base = mx.mixedlm("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", d,
                      **kw).fit(reml=False)
    res = mx.mixedlm("Reaction ~ x + (1 | Subject) + (0 + x | Subject)",
                     d.assign(x=d.Days * scale), **kw).fit(reml=False)
    assert res.llf == pytest.approx(base.llf, abs=1e-7)
    assert res.fe_params.iloc[1] * scale == pytest.approx(base.fe_params.iloc[1], rel=1e-6)
    assert res.cov_struct_params["rho"] == pytest.approx(base.cov_struct_params["rho"],
                                                         abs=1e-5)


@pytest.mark.parametrize("call", ["simulate", "bootstrap", "get_prediction", "r2",
                                  "compare_gee"])
def test_rowless_dask_results_refuse_cleanly(call):
    dd = pytest.importorskip("dask.dataframe")
    d = mx.datasets.load("sleepstudy").astype({"Subject": str})
    res = mx.mixedlm("Reaction ~ Days + (1 | Subject)", dd.from_pandas(d, npartitions=2)).fit()
    run = {"simulate": lambda: res.simulate(2),
           "bootstrap": lambda: res.conf_int_vc("bootstrap", n_boot=2),
           "get_prediction": lambda: res.get_prediction(), "r2": lambda: res.r2(),
           "compare_gee": lambda: res.compare_gee()}[call]
    with pytest.raises(NotImplementedError, match="needs the rows"):
        run()


@pytest.mark.parametrize("scale", [1e-8, 1e-6, 1e-3, 1e3, 1e6, 1e8])
def test_fit_does_not_depend_on_the_units_of_a_random_slope_covariate(scale):
    """Days in other units: the same ML optimum (llf 1e-8) and the same slope in the
    new units (1e-6); before, 1e6 stopped 17 log-likelihood units short and 1e8 raised."""
    d = mx.datasets.load("sleepstudy")
    base = mx.mixedlm("Reaction ~ Days + (Days | Subject)", d).fit(reml=False)
    res = mx.mixedlm("Reaction ~ x + (x | Subject)", d.assign(x=d.Days * scale)).fit(
        reml=False)
    assert res.llf == pytest.approx(base.llf, abs=1e-8)
    assert res.fe_params.iloc[1] * scale == pytest.approx(base.fe_params.iloc[1], rel=1e-6)
    assert res.theta.iloc[2] * scale == pytest.approx(base.theta.iloc[2], rel=1e-4)
