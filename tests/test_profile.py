"""mixedext.profile: the kernels behind profile intervals, and their bad input."""

import numpy as np
import pytest

import mixedext as mx
from mixedext._engine.crossprod import cross_products
from mixedext.profile import _beta_held_at


def test_beta_held_at_equals_cross_products_of_the_offset_model():
    d = mx.datasets.load("sleepstudy")
    model = mx.mixedlm("Reaction ~ Days + (Days | Subject)", d)
    x, y = np.asarray(model.exog), np.asarray(model.endog)
    base = cross_products(x, y, model._terms)
    got = _beta_held_at(base, 1, 7.5)
    want = cross_products(x[:, [0]], y - 7.5 * x[:, 1], model._terms)
    assert got.p == 1
    np.testing.assert_allclose(got.xyxy, want.xyxy, rtol=1e-12)
    for a, b in zip(got.ztxy, want.ztxy):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9)


def test_fixed_effect_intervals_bad_input():
    d = mx.datasets.load("sleepstudy")
    res = mx.mixedlm("Reaction ~ Days + (1 | Subject)", d).fit()
    with pytest.raises(ValueError, match="method must be"):
        res.conf_int_fe("bootstrap")
    ar = mx.mixedlm("Reaction ~ Days + (1 | Subject)", d, cov_struct="ar1",
                    time="Days").fit()
    with pytest.raises(NotImplementedError, match="residual structure"):
        ar.conf_int_fe()
    wald = ar.conf_int_fe("wald")
    assert (wald["lower"] < wald["estimate"]).all() and (wald["estimate"] < wald["upper"]).all()
