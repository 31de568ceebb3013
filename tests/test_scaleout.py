"""Fits from cross-products reduced over Dask partitions (mixedext.models.dask)."""

import pickle

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


@pytest.mark.parametrize("formula, dataset", [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin"),
    ("strength ~ 1 + (1 | batch/cask)", "pastes"),
])
@pytest.mark.parametrize("reml", [True, False])
def test_small_models_equal_in_memory(formula, dataset, reml):
    data = mx.datasets.load(dataset)
    for col in data.select_dtypes("category"):
        data[col] = data[col].astype(str)  # Dask partitions keep plain strings
    mem, dsk = _both(formula, data, 4, reml)
    assert dsk.llf == pytest.approx(mem.llf, rel=1e-8)
    np.testing.assert_allclose(dsk.bse_fe, mem.bse_fe, rtol=1e-6)


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


def test_statsmodels_style_arguments_refused():
    data = mx.datasets.load("sleepstudy").astype({"Subject": str})
    with pytest.raises(NotImplementedError, match=r"\(1 \| g\) terms"):
        mx.mixedlm("Reaction ~ Days", dd.from_pandas(data, npartitions=2), groups="Subject")


def test_missing_values_named():
    data = mx.datasets.load("sleepstudy").astype({"Subject": str})
    data.loc[3, "Days"] = np.nan
    with pytest.raises(ValueError, match="'Days'"):
        mx.mixedlm("Reaction ~ Days + (1 | Subject)", dd.from_pandas(data, npartitions=2))


def test_ar1_on_dask_equals_in_memory():
    from conftest import ROOT

    data = pd.read_csv(ROOT / "tests/reference/data/panel_ar1.csv")
    formula = "y ~ t + trt + x + (1 | subject)"
    mem = mx.mixedlm(formula, data, cov_struct="ar1", time="t").fit()
    dsk = mx.mixedlm(formula, dd.from_pandas(data, npartitions=5), cov_struct="ar1",
                     time="t").fit()
    assert dsk.llf == pytest.approx(mem.llf, rel=1e-8)
    assert dsk.cov_struct_params["rho"] == pytest.approx(mem.cov_struct_params["rho"],
                                                         rel=1e-5)
    pd.testing.assert_frame_equal(dsk.residual_cov(), mem.residual_cov(), rtol=1e-5)


@pytest.mark.slow
def test_call_center_ar1_16_partitions_equals_in_memory():
    calls = mx.datasets.call_center()
    calls["t"] = calls.groupby("rep_ID").cumcount()  # call order within a rep
    formula = "call_CSAT ~ reason + age + (1 | center_ID/rep_ID)"
    mem = mx.mixedlm(formula, calls, cov_struct="ar1", time="t").fit()
    dsk = mx.mixedlm(formula, dd.from_pandas(calls, npartitions=16), cov_struct="ar1",
                     time="t").fit()
    assert dsk.llf == pytest.approx(mem.llf, rel=1e-8)


def test_other_structures_refused_on_dask():
    data = mx.datasets.load("sleepstudy").astype({"Subject": str})
    with pytest.raises(NotImplementedError, match="ar1"):
        mx.mixedlm("Reaction ~ Days + (1 | Subject)", dd.from_pandas(data, npartitions=2),
                   cov_struct="exchangeable")


@pytest.mark.parametrize("formula, file, het", [
    ("y ~ x + (1 | cluster)", "hetvar.csv", "site"),
    ("y ~ x + (1 + x | cluster)", "hetvar.csv", "site"),
    ("y ~ x + (1 | a/b)", "nested3.csv", "sign"),
])
def test_het_var_on_dask_equals_in_memory(formula, file, het):
    """varIdent on Dask: per (unit, level) outer products summed over any partitions."""
    data = pd.read_csv(ROOT / "tests" / "reference" / "data" / file)
    data["sign"] = np.where(data["x"] > 0, "pos", "neg")
    mem = mx.mixedlm(formula, data, het_var=het).fit()
    dsk = mx.mixedlm(formula, dd.from_pandas(data, npartitions=4), het_var=het).fit()
    assert dsk.llf == pytest.approx(mem.llf, abs=1e-8)
    pd.testing.assert_series_equal(dsk.cov_struct_params, mem.cov_struct_params, rtol=1e-6)
    np.testing.assert_allclose(dsk.fe_params, mem.fe_params, rtol=1e-7)
    np.testing.assert_allclose(dsk.bse_fe, mem.bse_fe, rtol=1e-6)
