"""Every deletion's profiled deviance at once (mixedext._engine.nested_deletions) equals the
deviance of the model on the downdated cross-products (itself checked against the
remaining rows in test_downdate), away from the optimum, with and without prior weights,
REML and ML: deviance 1e-9 absolute, fixed effects, scale and (X'V^-1X)^-1 1e-10 relative."""

import numpy as np
import pandas as pd
import pytest

import mixedext as mx
from mixedext._engine.deviance import ProfiledDeviance
from mixedext._engine.downdate import UnitDeletion
from mixedext._engine.nested_deletions import NestedDeletions


def _data(seed=0, units=25):
    rs = np.random.RandomState(seed)
    a = np.repeat(np.arange(units), 12)
    b = a * 3 + rs.randint(0, 3, len(a))
    x = rs.normal(size=len(a))
    y = (1 + 0.5 * x + rs.normal(size=units)[a] + 0.5 * x * rs.normal(size=units)[a]
         + 0.6 * rs.normal(size=3 * units)[b] + rs.normal(size=len(a)))
    return pd.DataFrame({"a": a, "b": b % 3, "x": x, "y": y,
                         "w": rs.uniform(0.5, 2.0, len(a))})


@pytest.mark.parametrize("formula", ["y ~ x + (1 | a/b)", "y ~ x + (1 + x | a)"])
@pytest.mark.parametrize("weights", [None, "w"])
@pytest.mark.parametrize("reml", [True, False])
def test_every_deletion_equals_the_reduced_model(formula, weights, reml):
    res = mx.mixedlm(formula, _data(), weights=weights).fit(reml=reml)
    state, model = res.fit_state, res.model
    term = next(t for t in state.terms if t.level == "a")
    dev = state.profiled_deviance()
    assert NestedDeletions.applies(dev, term.codes, term.n_units)
    nd = NestedDeletions(dev, term.codes, term.n_units, model.exog, model.engine_endog,
                         weights=model.weights)
    theta = np.asarray(state.theta) * 1.2 + 0.05
    comp = nd.components(theta)
    deviance = comp.deviance(reml)
    beta, sigma2, cov = comp.fixed_effects(reml)
    np.testing.assert_allclose(nd.deviance(theta, reml), deviance)
    deletion = UnitDeletion(state.terms, state.profiled.cp, model.exog, model.engine_endog,
                            term.codes, term.n_units, weights=model.weights)
    for i in range(term.n_units):
        terms_i, cp_i = deletion.reduced(i)
        sol = ProfiledDeviance(None, None, terms_i, cp=cp_i).solution(theta, reml)
        assert deviance[i] == pytest.approx(sol.deviance, abs=1e-9)
        np.testing.assert_allclose(beta[i], sol.beta, rtol=1e-10)
        assert sigma2[i] == pytest.approx(sol.sigma2, rel=1e-10)
        np.testing.assert_allclose(cov[i], sol.xtvinvx_inv, rtol=1e-10)
        assert nd.nobs[i] == cp_i.n


def test_crossed_and_inner_levels_do_not_apply():
    data = _data(1)
    data["c"] = np.tile(np.arange(6), len(data) // 6)
    res = mx.mixedlm("y ~ x + (1 | a) + (1 | c)", data).fit()
    term = res.fit_state.terms[0]
    dev = res.fit_state.profiled_deviance()
    assert not NestedDeletions.applies(dev, term.codes, term.n_units)
    with pytest.raises(ValueError, match="nested"):
        NestedDeletions(dev, term.codes, term.n_units, res.model.exog, res.model.engine_endog)
    nested = mx.mixedlm("y ~ x + (1 | a/b)", data).fit()
    inner = next(t for t in nested.fit_state.terms if t.level == "a/b")
    assert not NestedDeletions.applies(nested.fit_state.profiled_deviance(), inner.codes,
                                       inner.n_units)
