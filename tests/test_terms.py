"""Parsing lme4-style terms and building unit codes (mixedext.formula.terms)."""

import numpy as np
import pandas as pd
import pytest

import mixedext as mx
from mixedext.formula.terms import LevelSpec, split_formula, unit_codes


@pytest.mark.parametrize("formula, fixed, levels", [
    ("y ~ x + (1 | a)", "y ~ x", [LevelSpec("1", ("a",), "a")]),
    ("y ~ (1 | a/b)", "y ~ 1", [LevelSpec("1", ("a",), "a"), LevelSpec("1", ("a", "b"), "a/b")]),
    ("y ~ x + (1 | a/b/c)", "y ~ x", [LevelSpec("1", ("a",), "a"),
                                      LevelSpec("1", ("a", "b"), "a/b"),
                                      LevelSpec("1", ("a", "b", "c"), "a/b/c")]),
    ("y ~ t + (1 + t | s)", "y ~ t", [LevelSpec("1 + t", ("s",), "s")]),
    ("y ~ t + (0 + t | s) + (1|s)", "y ~ t", [LevelSpec("0 + t", ("s",), "s"),
                                             LevelSpec("1", ("s",), "s")]),
    ("y ~ 1 + (1 | item) + (1 | subj)", "y ~ 1", [LevelSpec("1", ("item",), "item"),
                                                  LevelSpec("1", ("subj",), "subj")]),
    ("y ~ x + (1 | a:b)", "y ~ x", [LevelSpec("1", ("a", "b"), "a/b")]),
    ("y ~ x*z + C(k) + (1|g)", "y ~ x*z + C(k)", [LevelSpec("1", ("g",), "g")]),
])
def test_split_formula(formula, fixed, levels):
    got_fixed, got_levels = split_formula(formula)
    assert got_fixed == fixed
    assert got_levels == levels


def test_unit_codes_keep_repeated_labels_distinct():
    a = np.array([1, 1, 2, 2, 2, 10])
    b = np.array([1, 2, 1, 1, 2, 1])
    codes, labels = unit_codes([a, b])
    assert list(labels) == ["1/1", "1/2", "2/1", "2/2", "10/1"]  # numeric order of a
    assert list(codes) == [0, 1, 2, 2, 3, 4]


def test_nested_labels_vs_combined_column_same_fit():
    data = mx.datasets.load("pastes")
    a = mx.mixedlm("strength ~ 1 + (1 | batch/cask)", data).fit()
    data["bc"] = data["batch"].astype(str) + "-" + data["cask"].astype(str)
    b = mx.mixedlm("strength ~ 1 + (1 | batch) + (1 | bc)", data).fit()
    c = mx.mixedlm("strength ~ 1 + (1 | batch) + (1 | batch:cask)", data).fit()
    assert a.llf == pytest.approx(b.llf, abs=1e-8) == pytest.approx(c.llf, abs=1e-8)
    pd.testing.assert_frame_equal(a.variance_components(), c.variance_components())


def test_string_columns_become_categorical():
    data = pd.DataFrame({"g": list("aabbccdd") * 5, "y": np.arange(40.0) % 7,
                         "x": np.tile(["u", "v"], 20)})
    model = mx.mixedlm("y ~ x + (1 | g)", data)
    assert model.exog_names == ["Intercept", "x[T.v]"]
    assert model._terms[0].n_units == 4


@pytest.mark.parametrize("double, single", [
    ("y ~ x + (1 + x || g)", "y ~ x + (1 | g) + (0 + x | g)"),
    ("y ~ x + (x || g)", "y ~ x + (1 | g) + (0 + x | g)"),
    ("y ~ (0 + x + log(z) || g)", "y ~ (0 + x | g) + (0 + log(z) | g)"),
    ("y ~ (x - 1 || a/b)", "y ~ (0 + x | a/b)"),
])
def test_double_bar_is_one_term_per_covariate(double, single):
    assert split_formula(double) == split_formula(single)


def test_columns_used_only_as_factors():
    from mixedext.formula.terms import factor_only_columns
    cols = ["y", "x1", "x2", "b", "g"]
    assert factor_only_columns("y ~ x1 + C(x2) + C(b, Sum)", cols) == ["x2", "b"]
    assert factor_only_columns("y ~ x2 + C(x2)", cols) == []  # also used as a number
    assert factor_only_columns("y ~ np.log(x1) + C(x2):x1", cols) == ["x2"]


def test_int_factor_columns_fit_as_before():
    """C(int column) is coded from a Categorical: same names, same fit."""
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"g": np.repeat(np.arange(30), 6), "x2": rng.integers(0, 4, 180),
                      "flag": rng.random(180) > 0.5})
    d["y"] = d.x2 * 0.3 + rng.normal(size=30)[d.g] + rng.normal(size=180)
    res = mx.mixedlm("y ~ C(x2) + C(flag) + (1 | g)", d).fit()
    assert list(res.fe_params.index) == ["Intercept", "C(x2)[T.1]", "C(x2)[T.2]",
                                         "C(x2)[T.3]", "C(flag)[T.True]"]
    same = mx.mixedlm("y ~ C(x2) + C(flag) + (1 | g)",
                      d.assign(x2=d.x2.astype(str), flag=d.flag.astype(str))).fit()
    assert res.llf == pytest.approx(same.llf, abs=1e-9)
    np.testing.assert_allclose(res.predict(d.head(5)), same.predict(
        d.head(5).assign(x2=d.x2.head(5).astype(str), flag=d.flag.head(5).astype(str))),
        rtol=1e-10)
