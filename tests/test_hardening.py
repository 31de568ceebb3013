"""Invariances (hypothesis), persistence, and a fuzz test over random small designs.

Every call on a random design must end in a result with finite estimates or in one of
mixedext's documented errors (ValueError and its subclasses MissingDataError and
FormulaError, KeyError for missing columns, TypeError for non-numeric columns).
"""

import pickle
import re
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


RELABEL = {
    "int": lambda codes: codes,
    "float": lambda codes: codes.astype(np.float32) + 0.5,
    "string": lambda codes: np.char.add("u", codes.astype(str)),
    "datetime": lambda codes: pd.to_datetime("2021-03-01") + pd.to_timedelta(codes, "h"),
    "categorical": lambda codes: pd.Categorical(codes, categories=np.unique(codes)[::-1]),
    "separator": lambda codes: np.char.add("x/", codes.astype(str)),
}


@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), outer=st.sampled_from(sorted(RELABEL)),
       inner=st.sampled_from(sorted(RELABEL)))
def test_relabelling_units_in_any_dtype(seed, outer, inner):
    """Units named in another dtype (or with the separator '/' inside their names): the
    same fit, and conditional predictions on the training rows are the fitted values."""
    data = _nested_data(seed)
    codes = {c: pd.factorize(data[c])[0] for c in ("a", "b")}
    relabelled = data.assign(a=RELABEL[outer](codes["a"]), b=RELABEL[inner](codes["b"]))
    a, b = _fit(data), _fit(relabelled)
    assert a.llf == pytest.approx(b.llf, abs=1e-7)
    np.testing.assert_allclose(a.variance_components().variance,
                               b.variance_components().variance, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(b.predict(relabelled, which="conditional"), b.fittedvalues,
                               rtol=1e-9)


@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), power=st.floats(-8, 8))
def test_rescaled_random_slope_covariate(seed, power):
    """A random-slope covariate in units 10**power larger: the same ML optimum, and the
    slope and its SD in the new units."""
    data = _nested_data(seed)
    scale = 10.0 ** power
    formula = "y ~ x + (1 + x | a)"
    a = _fit(data, reml=False, formula=formula)
    b = _fit(data.assign(x=data.x * scale), reml=False, formula=formula)
    assert b.llf == pytest.approx(a.llf, abs=1e-6)
    assert b.fe_params["x"] * scale == pytest.approx(a.fe_params["x"], rel=1e-5)
    sd = [r.variance_components().query("term == 'x' and term2.isna()")["std"].iloc[0]
          for r in (a, b)]
    assert sd[1] * scale == pytest.approx(sd[0], rel=1e-3, abs=1e-6 * abs(a.fe_params["x"]))


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
    _check_predictions_with_missing_values(res, data, formula, rs)


def _check_predictions_with_missing_values(res, data, formula, rs):
    """New rows with NaN in a covariate or grouping column: NaN in place, finite
    elsewhere, labelled by the new rows."""
    new = data.sample(min(len(data), 12), random_state=rs).reset_index(drop=True)
    new.index = new.index * 10  # labels that are not positions
    column = rs.choice([c for c in new.columns if c not in ("y", "z")])
    new.loc[new.index[rs.rand(len(new)) < 0.3], column] = np.nan
    for which in ("marginal", "conditional"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = res.predict(new, which=which)
        assert isinstance(pred, pd.Series) and pred.index.equals(new.index)
        text = formula.split("~")[1] if which == "conditional" else \
            formula.split("~")[1].split("(")[0]
        used = [c for c in new.columns if re.search(rf"\b{c}\b", text)]
        missing = new[used].isna().any(axis=1)
        assert pred[missing].isna().all() and np.isfinite(pred[~missing]).all()
