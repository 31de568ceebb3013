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
    wald = ar.conf_int_fe("wald")
    assert (wald["lower"] < wald["estimate"]).all() and (wald["estimate"] < wald["upper"]).all()


def test_fixed_effect_profile_with_ar1_equals_offset_refits():
    """At each endpoint b of the Days interval, the ML fit of the model with the offset
    b * Days (a fresh model without Days, AR(1) and all) is chi2_1(0.95) / 2 below the
    full ML fit in log-likelihood."""
    from scipy.stats import chi2

    d = mx.datasets.load("sleepstudy")
    kw = dict(cov_struct="ar1", time="Days")
    res = mx.mixedlm("Reaction ~ Days + (1 | Subject)", d, **kw).fit()
    table = res.conf_int_fe("profile")
    assert res.model.reml and res.model._correlated._eta == pytest.approx(
        res._engine[0].eta)  # left at the REML fit
    full = mx.mixedlm("Reaction ~ Days + (1 | Subject)", d, **kw).fit(reml=False)
    for side in ("lower", "upper"):
        b = table.loc["Days", side]
        offset = mx.mixedlm("y ~ 1 + (1 | Subject)", d.assign(y=d.Reaction - b * d.Days),
                            **kw).fit(reml=False)
        assert 2 * (full.llf - offset.llf) == pytest.approx(chi2.ppf(0.95, 1), abs=1e-4)
        b = table.loc["Intercept", side]  # the random intercept's column stays in Z
        offset = mx.mixedlm("y ~ 0 + Days + (1 | Subject)", d.assign(y=d.Reaction - b),
                            **kw).fit(reml=False)
        assert 2 * (full.llf - offset.llf) == pytest.approx(chi2.ppf(0.95, 1), abs=1e-4)
