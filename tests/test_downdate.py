"""Downdated cross-products (mixedext._engine.downdate) equal those computed from the
remaining rows, for nested, crossed and random-slope terms, with and without weights;
emptied units are dropped and the refit's deviance matches a fit of the reduced data."""

import numpy as np
import pandas as pd
import pytest

import mixedext as mx
from mixedext._engine.crossprod import cross_products
from mixedext._engine.deviance import ProfiledDeviance
from mixedext._engine.downdate import UnitDeletion

# small random slopes on 6 units may sit on the boundary: the algebra is what is tested
pytestmark = pytest.mark.filterwarnings("ignore::mixedext.models.linear.SingularFitWarning")


def _data(seed=0):
    rs = np.random.RandomState(seed)
    n = 240
    a = rs.randint(0, 6, n)
    b = rs.randint(0, 3, n)            # nested in a: units a/b
    c = rs.randint(0, 5, n)            # crossed with a
    x = rs.normal(size=n)
    y = (1 + x + rs.normal(size=6)[a] + x * rs.normal(size=6)[a]
         + rs.normal(size=18)[a * 3 + b] + rs.normal(size=5)[c] + rs.normal(size=n))
    return pd.DataFrame({"a": a, "b": b, "c": c, "x": x, "y": y,
                         "w": rs.uniform(0.5, 2.0, n)})


MODELS = {
    "nested": ("y ~ x + (1 | a/b)", "a"),
    "nested_inner": ("y ~ x + (1 | a/b)", "a/b"),
    "crossed_slope": ("y ~ x + (1 + x | a) + (1 | c)", "c"),
    "crossed_outer": ("y ~ x + (1 + x | a) + (1 | c)", "a"),
}


def _compare(model, level, weights=None):
    res = model.fit()
    state = res.fit_state
    term = next(t for t in state.terms if t.level == level)
    w = None if weights is None else np.asarray(weights, dtype=float)
    deletion = UnitDeletion(state.terms, state.profiled.cp, model.exog, model.engine_endog,
                            term.codes, term.n_units, weights=w)
    for i in range(term.n_units):
        terms_i, cp_i = deletion.reduced(i)
        keep = term.codes != i
        # the same terms built directly on the remaining rows
        direct_terms = []
        for t, ti in zip(state.terms, terms_i):
            labels = pd.Index(ti.unit_labels)
            codes = labels.get_indexer(t.unit_labels[t.codes[keep]])
            assert np.all(codes >= 0)
            direct_terms.append(type(t)(level=t.level, codes=codes, unit_labels=ti.unit_labels,
                                        names=t.names, z=None if t.z is None else t.z[keep],
                                        cov=t.cov))
            assert set(ti.unit_labels) == set(t.unit_labels[t.codes[keep]])
            np.testing.assert_array_equal(ti.unit_sizes, np.bincount(codes,
                                                                    minlength=ti.n_units))
        direct = cross_products(model.exog[keep], model.engine_endog[keep], direct_terms,
                                None if w is None else w[keep])
        assert cp_i.n == keep.sum()
        np.testing.assert_allclose(cp_i.xyxy, direct.xyxy, rtol=1e-10, atol=1e-9)
        assert cp_i.log_weights == pytest.approx(direct.log_weights, abs=1e-9)
        for k in range(len(state.terms)):
            np.testing.assert_allclose(cp_i.ztz[k], direct.ztz[k], atol=1e-9)
            np.testing.assert_allclose(cp_i.ztxy[k], direct.ztxy[k], atol=1e-9)
        for key, block in direct.pairs.items():
            got = cp_i.pairs[key]
            np.testing.assert_allclose(got.toarray(), block.toarray(), atol=1e-9)
            # no entry left for a unit pair without rows
            assert got.nnz == (block.toarray() != 0).sum()
        theta = np.asarray(state.theta)
        d_down = ProfiledDeviance(None, None, terms_i, cp=cp_i)(theta, True)
        d_direct = ProfiledDeviance(None, None, direct_terms, cp=direct)(theta, True)
        assert d_down == pytest.approx(d_direct, rel=1e-11)


@pytest.mark.parametrize("name", list(MODELS))
def test_downdated_equals_direct(name):
    formula, level = MODELS[name]
    _compare(mx.mixedlm(formula, _data()), level)


def test_downdated_with_prior_weights():
    data = _data(1)
    _compare(mx.mixedlm("y ~ x + (1 | a/b)", data, weights="w"), "a", weights=data["w"])


def test_deleting_every_row_fails():
    res = mx.mixedlm("y ~ x + (1 | c)", _data(2)).fit()
    state = res.fit_state
    n = res.model.nobs
    deletion = UnitDeletion(state.terms, state.profiled.cp, res.model.exog,
                            res.model.engine_endog, np.zeros(n, dtype=int), 1)
    with pytest.raises(ValueError, match="without units"):
        deletion.reduced(0)


def test_full_cross_products_untouched():
    model = mx.mixedlm("y ~ x + (1 + x | a) + (1 | c)", _data(3))
    res = model.fit()
    cp = res.fit_state.profiled.cp
    before = (cp.xyxy.copy(), [z.copy() for z in cp.ztz],
              {k: v.toarray() for k, v in cp.pairs.items()})
    res.influence("c")
    np.testing.assert_array_equal(cp.xyxy, before[0])
    for z, z0 in zip(cp.ztz, before[1]):
        np.testing.assert_array_equal(z, z0)
    for k, v in cp.pairs.items():
        np.testing.assert_array_equal(v.toarray(), before[2][k])
