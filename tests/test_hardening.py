"""Invariances (hypothesis), persistence, and a fuzz test over random small designs.

Every call on a random design must end in a result with finite estimates or in one of
mixedext's documented errors (ValueError and its subclasses MissingDataError and
FormulaError, KeyError for missing columns, TypeError for non-numeric columns).
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsmodels.iolib.smpickle import load_pickle

import mixedext as mx

DOCUMENTED = (ValueError, KeyError, TypeError)


def _nested_data(seed, n_outer=6, n_inner=3, per=4):
    rs = np.random.RandomState(seed)
    rows = []
    for a in range(n_outer):
        ua = rs.normal()
        for b in range(n_inner):
            ub = rs.normal() * 0.7
            for _ in range(per + rs.randint(0, 3)):
                x = rs.normal()
                rows.append((f"A{a}", f"b{b}", x, 1 + 0.5 * x + ua + ub + rs.normal()))
    return pd.DataFrame(rows, columns=["a", "b", "x", "y"])


def _fit(data, reml=True, formula="y ~ x + (1 | a/b)"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mx.mixedlm(formula, data).fit(reml=reml)


SETTINGS = dict(max_examples=15, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), perm_seed=st.integers(0, 10_000))
def test_row_order_invariance(seed, perm_seed):
    data = _nested_data(seed)
    shuffled = data.sample(frac=1, random_state=perm_seed)
    a, b = _fit(data), _fit(shuffled)
    assert a.llf == pytest.approx(b.llf, abs=1e-7)
    np.testing.assert_allclose(a.fe_params, b.fe_params, rtol=1e-5, atol=1e-8)


def _panel_with_gaps(seed):
    """Subjects inside sites, 2-8 visits each with missed visits (gaps of 1-3), AR(1)."""
    rs = np.random.RandomState(seed)
    rows = []
    for s in range(rs.randint(8, 20)):
        u = rs.normal()
        times = np.flatnonzero(rs.rand(10) < 0.7)[:8]
        e = rs.normal()
        for k, t in enumerate(times):
            if k:  # AR(1) across the gap since the last visit
                e = 0.5 ** (t - times[k - 1]) * e + rs.normal()
            rows.append((f"s{s}", f"site{s % 3}", t, rs.normal(), rs.choice(["a", "b"]),
                         1 + 0.2 * t + u + e))
    return pd.DataFrame(rows, columns=["subject", "site", "t", "x", "lab", "y"])


@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), perm_seed=st.integers(0, 10_000),
       het=st.booleans())
def test_row_order_invariance_with_ar1(seed, perm_seed, het):
    """Residual AR(1) (gaps, nested terms, optionally a variance per lab): the rows' order
    changes nothing."""
    data = _panel_with_gaps(seed)
    shuffled = data.sample(frac=1, random_state=perm_seed)
    kw = dict(cov_struct="ar1", time="t", het_var="lab" if het else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            a = mx.mixedlm("y ~ t + x + (1 | site/subject)", data, **kw).fit()
        except DOCUMENTED:
            return
        b = mx.mixedlm("y ~ t + x + (1 | site/subject)", shuffled, **kw).fit()
    assert a.llf == pytest.approx(b.llf, abs=1e-6)
    np.testing.assert_allclose(a.fe_params, b.fe_params, rtol=1e-4, atol=1e-6)


@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000))
def test_relabelling_units(seed):
    data = _nested_data(seed)
    relabelled = data.assign(a=data.a.map(lambda s: "unit_" + s[::-1]),
                             b=data.b.str.upper())
    a, b = _fit(data), _fit(relabelled)
    assert a.llf == pytest.approx(b.llf, abs=1e-7)
    np.testing.assert_allclose(a.variance_components().variance,
                               b.variance_components().variance, rtol=1e-4, atol=1e-8)


@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), shift=st.floats(-50, 50),
       scale=st.floats(0.1, 20) | st.floats(-20, -0.1), reml=st.booleans())
def test_affine_outcome(seed, shift, scale, reml):
    data = _nested_data(seed)
    a = _fit(data, reml)
    b = _fit(data.assign(y=shift + scale * data.y), reml)
    np.testing.assert_allclose(b.fe_params["x"], scale * a.fe_params["x"], rtol=1e-4)
    assert b.fe_params["Intercept"] == pytest.approx(
        shift + scale * a.fe_params["Intercept"], rel=1e-4, abs=1e-4 * abs(scale))
    np.testing.assert_allclose(b.variance_components().variance,
                               scale ** 2 * a.variance_components().variance,
                               rtol=1e-3, atol=1e-6 * scale ** 2)
    dof = a.nobs - (a.k_fe if reml else 0)
    assert b.llf == pytest.approx(a.llf - dof * np.log(abs(scale)), abs=1e-5)


@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000))
def test_unused_categorical_level(seed):
    data = _nested_data(seed)
    extra = data.assign(a=pd.Categorical(data.a, categories=[*sorted(data.a.unique()),
                                                             "never_seen"]))
    a, b = _fit(data), _fit(extra)
    assert a.llf == pytest.approx(b.llf, abs=1e-8)
    assert list(b.random_effects["a"].index) == list(a.random_effects["a"].index)


def _roundtrip(res, tmp_path):
    again = pickle.loads(pickle.dumps(res))
    path = tmp_path / "fit.pickle"
    res.save(path)
    return again, load_pickle(path)


@pytest.mark.parametrize("formula, kwargs", [
    ("y ~ x + (1 | a/b)", {}),
    ("y ~ x", dict(groups="a", re_formula="1", vc_formula={"b": "0 + C(b)"})),
    ("y ~ x + (1 | a)", dict(cov_struct="exchangeable", cov_groups=["a", "b"])),
])
def test_pickle_and_save_load(formula, kwargs, tmp_path):
    data = _nested_data(1)
    res = mx.mixedlm(formula, data, **kwargs).fit()
    for loaded in _roundtrip(res, tmp_path):
        assert loaded.llf == pytest.approx(res.llf)
        np.testing.assert_allclose(loaded.fe_params, res.fe_params)
        assert "Mixed Linear Model" in loaded.summary().as_text()
        pd.testing.assert_frame_equal(loaded.variance_components(), res.variance_components())


def test_pickle_binomial(tmp_path):
    data = mx.datasets.load("cbpp")
    res = mx.binomial_mixedglm("incidence ~ period + (1 | herd)", data,
                               trials="size").fit_ml()
    loaded = pickle.loads(pickle.dumps(res))
    assert loaded.llf == pytest.approx(res.llf)
    assert "Binomial mixed model" in loaded.summary()


def _random_design(rs):
    depth = rs.randint(1, 6)
    n_units = rs.randint(1, 51)
    per = rs.randint(1, 31)
    sizes = rs.randint(1, per + 1, n_units)
    n = int(sizes.sum())
    data = pd.DataFrame({"x": rs.normal(size=n), "z": rs.choice(["p", "q", "r"], n)})
    cols = []
    for level in range(depth):
        col = f"g{level}"
        data[col] = np.repeat(np.arange(n_units), sizes) % max(1, rs.randint(1, 10)) \
            if level == 0 else rs.randint(0, rs.randint(1, 6), n)
        cols.append(col)
    data["y"] = rs.normal(size=n) + data["x"]
    if rs.rand() < 0.3:
        data.loc[rs.rand(n) < 0.1, rs.choice(["y", "x", cols[0]])] = np.nan
    structure = "/".join(cols)
    formula = rs.choice([f"y ~ x + (1 | {structure})", f"y ~ x + z + (1 + x | {cols[0]})",
                         "y ~ 1 + " + " + ".join(f"(1 | {c})" for c in cols)])
    return data, formula, rs.choice(["none", "drop"])


@pytest.mark.parametrize("seed", range(60))
def test_fuzz_random_designs(seed):
    rs = np.random.RandomState(seed)
    data, formula, missing = _random_design(rs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = mx.mixedlm(formula, data, missing=missing).fit()
    except DOCUMENTED as err:
        assert str(err)  # a message that says what is wrong
        return
    assert np.all(np.isfinite(res.fe_params))
    assert np.isfinite(res.llf)
    assert np.all(np.isfinite(res.variance_components()["variance"]))
    assert np.all(np.isfinite(res.bse_fe))
