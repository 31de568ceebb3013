"""Fits from cross-products reduced over Dask partitions (mixedext.models.dask)."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

import mixedext as mx

dd = pytest.importorskip("dask.dataframe")


def _both(formula, data, npartitions, reml=True):
    mem = mx.mixedlm(formula, data).fit(reml=reml)
    dsk = mx.mixedlm(formula, dd.from_pandas(data, npartitions=npartitions)).fit(reml=reml)
    return mem, dsk


@pytest.mark.slow
def test_call_center_16_partitions_equals_in_memory():
    calls = mx.datasets.call_center()
    mem, dsk = _both("call_CSAT ~ reason + age + (1 | center_ID/rep_ID)", calls, 16)
    assert dsk.llf == pytest.approx(mem.llf, rel=1e-8)
    np.testing.assert_allclose(dsk.fe_params, mem.fe_params, rtol=1e-6)
    pd.testing.assert_frame_equal(dsk.variance_components(), mem.variance_components(),
                                  rtol=1e-4)
    assert dsk.nobs == len(calls)


def test_rows_are_not_held():
    data = mx.datasets.load("sleepstudy").astype({"Subject": str})
    res = mx.mixedlm("Reaction ~ Days + (1 | Subject)", dd.from_pandas(data, npartitions=3)).fit()
    assert res.model.exog is None and not res.model.has_rows
    with pytest.raises(NotImplementedError, match="map_partitions"):
        _ = res.fittedvalues
    new = data.head(5)
    mem = mx.mixedlm("Reaction ~ Days + (1 | Subject)", data).fit()
    np.testing.assert_allclose(res.predict(new, which="conditional"),
                               mem.predict(new, which="conditional"), rtol=1e-8)
    again = pickle.loads(pickle.dumps(res))
    assert again.llf == pytest.approx(res.llf)


def test_cross_products_reduce_and_pickle():
    from mixedext._engine.crossprod import cross_products
    from mixedext.formula.terms import build_term
    from mixedext.models.dask import add_cross_products

    rs = np.random.RandomState(0)
    g = rs.randint(0, 7, 100)
    x = np.column_stack([np.ones(100), rs.normal(size=100)])
    y = rs.normal(size=100)
    term = build_term("g", [g], None, ("Intercept",))
    whole = cross_products(x, y, [term])
    half = [cross_products(x[s], y[s], [type(term)("g", term.codes[s], term.unit_labels)])
            for s in (slice(0, 40), slice(40, 100))]
    assert isinstance(whole, mx.CrossProducts)
    total = pickle.loads(pickle.dumps(add_cross_products(*half)))
    np.testing.assert_allclose(total.xyxy, whole.xyxy)
    np.testing.assert_allclose(total.ztxy[0], whole.ztxy[0])
    assert total.n == 100


def test_missing_values_dropped_on_dask_as_in_memory():
    data = mx.datasets.load("sleepstudy").astype({"Subject": str})
    data.loc[[3, 50, 51], "Days"] = np.nan
    formula = "Reaction ~ Days + (Days | Subject)"
    mem = mx.mixedlm(formula, data, missing="drop").fit()
    dsk = mx.mixedlm(formula, dd.from_pandas(data, npartitions=3), missing="drop").fit()
    assert dsk.nobs == mem.nobs == len(data) - 3
    assert dsk.llf == pytest.approx(mem.llf, rel=1e-8)


def test_missing_values_named():
    data = mx.datasets.load("sleepstudy").astype({"Subject": str})
    data.loc[3, "Days"] = np.nan
    with pytest.raises(ValueError, match="'Days'"):
        mx.mixedlm("Reaction ~ Days + (1 | Subject)", dd.from_pandas(data, npartitions=2))


@pytest.mark.slow
def test_call_center_ar1_16_partitions_equals_in_memory():
    calls = mx.datasets.call_center()
    calls["t"] = calls.groupby("rep_ID").cumcount()  # call order within a rep
    formula = "call_CSAT ~ reason + age + (1 | center_ID/rep_ID)"
    mem = mx.mixedlm(formula, calls, cov_struct="ar1", time="t").fit()
    dsk = mx.mixedlm(formula, dd.from_pandas(calls, npartitions=16), cov_struct="ar1",
                     time="t").fit()
    assert dsk.llf == pytest.approx(mem.llf, rel=1e-8)


def test_statsmodels_arguments_dask_cannot_take_refused():
    data = mx.datasets.load("sleepstudy").astype({"Subject": str})
    ddf = dd.from_pandas(data, npartitions=2)
    with pytest.raises(TypeError, match="groups= on a Dask data frame must name"):
        mx.mixedlm("Reaction ~ Days", ddf, groups=data["Subject"].to_numpy())
    for arg, value in (("subset", data["Days"] > 2), ("cov_groups", "Subject"),
                       ("weights", "Days"), ("offset", "Days")):
        with pytest.raises(NotImplementedError, match=f"{arg}= on Dask"):
            mx.mixedlm("Reaction ~ Days", ddf, groups="Subject", **{arg: value})
    with pytest.raises(KeyError, match="'Person'"):
        mx.mixedlm("Reaction ~ Days", ddf, groups="Person")
    with pytest.raises(ValueError, match="not both"):
        mx.mixedlm("Reaction ~ Days + (1 | Subject)", ddf, groups="Subject")


def test_structure_without_dask_statistics_runs_by_rows(monkeypatch):
    """A registered structure without partition statistics runs on Dask by its rows (a
    kernel per partition, models.dask_rows), equal to the in-memory fit."""
    from mixedext.structures import STRUCTURES
    from mixedext.structures.toeplitz import Toeplitz

    class Lags(Toeplitz):
        kinds = ("lags",)

    monkeypatch.setitem(STRUCTURES, "lags", Lags)
    data = mx.datasets.load("sleepstudy").astype({"Subject": str})
    # gls: a random intercept on top of a correlation per lag is not identified
    kwargs = dict(groups="Subject", re_formula="0", cov_struct="lags", time="Days")
    mem = mx.mixedlm("Reaction ~ Days", data, **kwargs).fit()
    dsk = mx.mixedlm("Reaction ~ Days", dd.from_pandas(data, npartitions=3), **kwargs).fit()
    assert isinstance(dsk.fit_state.structure.template, Lags)
    assert dsk.llf == pytest.approx(mem.llf, rel=1e-8)
    pd.testing.assert_series_equal(dsk.cov_struct_params, mem.cov_struct_params, rtol=1e-5,
                                   atol=1e-6)


def test_crossed_levels_with_a_structure_refused():
    data = mx.datasets.load("penicillin").astype({"plate": str, "sample": str})
    data["t"] = data.groupby("plate").cumcount()
    with pytest.raises(NotImplementedError, match="nested levels"):
        mx.mixedlm("diameter ~ 1 + (1 | plate) + (1 | sample)",
                   dd.from_pandas(data, npartitions=2), cov_struct="ar1", time="t")


@pytest.mark.parametrize("kind", ["ar1", "car1", "exchangeable", "unstructured"])
def test_duplicate_times_named_on_dask(kind):
    data = pd.read_csv(ROOT / "tests/reference/data/panel_ar1.csv")
    first = data.index[data["subject"] == data["subject"].iloc[0]]
    data.loc[first[:2], "t"] = data.loc[first[0], "t"]
    with pytest.raises(ValueError, match="duplicate times within a unit in column 't'"):
        mx.mixedlm("y ~ x", dd.from_pandas(data, npartitions=3), groups="subject",
                   re_formula="0", cov_struct=kind, time="t")


def test_time_argument_checked_on_dask():
    data = pd.read_csv(ROOT / "tests/reference/data/panel_ar1.csv")
    ddf = dd.from_pandas(data, npartitions=2)
    with pytest.raises(ValueError, match="needs time="):
        mx.mixedlm("y ~ x + (1 | subject)", ddf, cov_struct="ar1")
    with pytest.raises(ValueError, match="would be ignored"):
        mx.mixedlm("y ~ x + (1 | subject)", ddf, time="t")
    with pytest.raises(ValueError, match="het_var with cov_struct='unstructured'"):
        mx.mixedlm("y ~ x + (1 | subject)", ddf, cov_struct="unstructured", time="t",
                   het_var="trt")
    data["when"] = data["t"].astype(str)
    with pytest.raises(TypeError, match="time column 'when' must be numeric"):
        mx.mixedlm("y ~ x + (1 | subject)", dd.from_pandas(data, npartitions=2),
                   cov_struct="ar1", time="when")


@pytest.mark.parametrize("on_dask", [False, True])
def test_exchangeable_within_random_intercept_units_warns(on_dask):
    data = pd.read_csv(ROOT / "tests/reference/data/panel_cs.csv")
    ddf = dd.from_pandas(data, npartitions=2) if on_dask else data
    with pytest.warns(UserWarning, match="not identified"):
        mx.mixedlm("y ~ t + (1 | subject)", ddf, cov_struct="exchangeable")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a random slope: identified
        mx.mixedlm("y ~ t + (0 + t | subject)", ddf, cov_struct="exchangeable")
