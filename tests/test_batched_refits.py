"""All deletions of a level refitted together (mixedext._engine.batched_refits, through
results.influence) equal the optimiser's refits from downdated cross-products, deletion by
deletion: nested and single-level designs, a random slope (three variance parameters),
two terms on one level, prior weights, REML and ML. A deletion that puts a variance on the
boundary is left to the optimiser; crossed designs and inner levels are not refitted
together at all.

Tolerances: ``theta`` 1e-6 (the optimiser's own accuracy; the two agree to ~1e-8), the
refit's log-likelihood 1e-8 absolute, Cook's distance 1e-6 relative (1e-6 of the largest
for the smallest: the deviance is flat to ~1e-11 over ~1e-7 in ``theta``, where both stop),
DFBETAS 1e-6 absolute, variance changes 1e-6 of the largest component.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedext as mx
from mixedext._engine.downdate import UnitDeletion
from mixedext.models.linear import SingularFitWarning
from mixedext.results import influence


def _data(seed, units=60, inner=4, rows=5, slope=0.0, outlier=0.0, sd_outer=1.0):
    rs = np.random.RandomState(seed)
    a = np.repeat(np.arange(units), inner * rows)
    b = a * inner + np.tile(np.repeat(np.arange(inner), rows), units)
    x = rs.normal(size=len(a))
    u = sd_outer * rs.normal(size=units)
    u[0] += outlier
    y = (1 + 0.5 * x + u[a] + slope * rs.normal(size=units)[a] * x
         + 0.6 * rs.normal(size=units * inner)[b] + rs.normal(size=len(a)))
    return pd.DataFrame({"a": a, "b": b % inner, "x": x, "y": y,
                         "w": rs.uniform(0.5, 2.0, len(a))})


DESIGNS = {
    "nested_reml": ("y ~ x + (1 | a/b)", dict(), True, dict(seed=1)),
    "nested_ml": ("y ~ x + (1 | a/b)", dict(), False, dict(seed=1)),
    "slope_ml": ("y ~ x + (1 + x | a)", dict(), False, dict(seed=2, slope=0.7)),
    "slope_reml": ("y ~ x + (1 + x | a)", dict(), True, dict(seed=2, slope=0.7)),
    "intercept_weights": ("y ~ x + (1 | a)", dict(weights="w"), True, dict(seed=3)),
    "two_terms_one_level": ("y ~ x + (1 | a) + (0 + x | a)", dict(), True,
                            dict(seed=4, slope=0.7)),
}


def _fit(formula, kwargs, reml, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        return mx.mixedlm(formula, data, **kwargs).fit(reml=reml)


def _optimiser_table(res, level, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(influence, "refits_together", lambda *args: None)
        return res.influence(level, progress=False)


def _compare_tables(fast, slow, res):
    np.testing.assert_allclose(fast["cooks_distance"], slow["cooks_distance"], rtol=1e-6,
                               atol=1e-6 * slow["cooks_distance"].max())
    dfb = [c for c in fast.columns if c.startswith("dfbetas_")]
    np.testing.assert_allclose(fast[dfb], slow[dfb], rtol=0, atol=1e-6)
    np.testing.assert_allclose(fast["llf"], slow["llf"], rtol=0, atol=1e-8)
    deltas = [c for c in fast.columns if c.startswith("delta_")]
    state = res.fit_state
    full = influence.component_values(state.theta, state.sigma2, state.terms)
    np.testing.assert_allclose(fast[deltas] / np.abs(full).max(),
                               slow[deltas] / np.abs(full).max(), rtol=0, atol=1e-6)
    pd.testing.assert_series_equal(fast["nobs"], slow["nobs"])
    assert fast["converged"].all() and slow["converged"].all()


def _batch(res, level="a"):
    state = res.fit_state
    return influence.refits_together(state, res.model, influence.deleted_level(state.terms,
                                                                               level))


@pytest.mark.parametrize("name", list(DESIGNS))
def test_refits_together_equal_the_optimiser(name, monkeypatch):
    formula, kwargs, reml, spec = DESIGNS[name]
    res = _fit(formula, kwargs, reml, _data(**spec))
    batch = _batch(res)
    assert batch is not None and batch.accepted.mean() > 0.9  # the batched path is used
    assert batch.max_error <= 1e-8
    fast = res.influence("a", progress=False)
    slow = _optimiser_table(res, "a", monkeypatch)
    _compare_tables(fast, slow, res)
    # theta of a few deletions, against the optimiser's directly
    state, model = res.fit_state, res.model
    term = influence.deleted_level(state.terms, "a")
    deletion = UnitDeletion(state.terms, state.profiled.cp, model.exog, model.engine_endog,
                            term.codes, term.n_units, weights=model.weights)
    for i in np.flatnonzero(batch.accepted)[::12]:
        _, sol, _ = influence.optimiser_refit(deletion, i, state)
        np.testing.assert_allclose(batch.theta[i], sol.theta, rtol=0, atol=1e-6)
        assert batch.deviance[i] == pytest.approx(sol.deviance, abs=2e-8)


def test_boundary_deletion_left_to_the_optimiser(monkeypatch):
    # no variance between the a-units but unit 0's: without it the a variance is 0
    res = _fit("y ~ x + (1 | a/b)", {}, True, _data(9, units=40, outlier=3.0,
                                                       sd_outer=0.0))
    batch = _batch(res)
    assert not batch.accepted[0] and batch.accepted.sum() >= 30
    fast = res.influence("a", progress=False)
    slow = _optimiser_table(res, "a", monkeypatch)
    _compare_tables(fast, slow, res)
    state = res.fit_state
    names = influence.component_names(state.terms)
    var_a = influence.component_values(state.theta, state.sigma2, state.terms)[
        names.index("var[a:Intercept]")]
    # the refit's variance is 0
    assert fast["delta_var[a:Intercept]"].iloc[0] == pytest.approx(-var_a, rel=1e-12)


def test_not_refitted_together_without_nesting():
    crossed = pd.DataFrame({"a": np.repeat(np.arange(12), 10),
                            "c": np.tile(np.arange(10), 12)})
    rs = np.random.RandomState(6)
    crossed["y"] = rs.normal(size=12)[crossed["a"]] + rs.normal(size=10)[crossed["c"]] \
        + rs.normal(size=120)
    res = _fit("y ~ 1 + (1 | a) + (1 | c)", {}, True, crossed)
    assert _batch(res, "a") is None and _batch(res, "c") is None
    nested = _fit("y ~ x + (1 | a/b)", {}, True, _data(1, units=20))
    assert _batch(nested, "a/b") is None  # an inner level: the outer term is not nested
    assert _batch(nested, "a") is not None



@pytest.mark.parametrize("name", ["nested_units", "nested_units_slope_ml"])
def test_lme4_reference_cases_are_refitted_together(name):
    # test_influence compares these tables with lmer refits: every deletion comes from here
    from conftest import ROOT, load_reference

    case = next(c for c in load_reference("influence_reference")["cases"] if c["case"] == name)
    res = _fit(case["formula"], {}, case["reml"], pd.read_csv(ROOT / case["data_file"]))
    assert _batch(res).accepted.all()
