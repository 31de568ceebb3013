"""mixedext._engine.scalar_term: the closed-form deviance of one scalar term equals the
blocked factorisation's and the dense marginal likelihood's (1e-10 relative)."""

import numpy as np
import pytest

from mixedext._engine.crossprod import RandomTerm
from mixedext._engine.deviance import ProfiledDeviance
from mixedext._engine.scalar_term import ScalarTermDeviance


def _data(seed=0, m=12, slope=False, weights=False):
    rs = np.random.RandomState(seed)
    sizes = rs.randint(1, 7, m)
    codes = np.repeat(np.arange(m), sizes)
    n = len(codes)
    x = np.column_stack([np.ones(n), rs.normal(size=n), rs.uniform(0, 3, n)])
    z = x[:, [2]] if slope else None
    b = rs.normal(size=m)[codes] * (1.0 if z is None else z[:, 0])
    y = x @ [1.0, 0.5, -0.2] + b + rs.normal(size=n)
    w = rs.uniform(0.5, 2.0, n) if weights else None
    term = RandomTerm("g", codes, np.arange(m), names=("z",) if slope else ("Intercept",),
                      z=z)
    return x, y, [term], w


def _dense_deviance(x, y, term, theta, reml, w=None):
    """-2 log-likelihood profiled over beta and sigma^2, from ``V = W^-1 + theta^2 Z Z'``."""
    n, p = x.shape
    z = np.zeros((n, len(term.unit_labels)))
    z[np.arange(n), term.codes] = 1.0 if term.z is None else term.z[:, 0]
    v = np.diag(1.0 / (np.ones(n) if w is None else w)) + theta ** 2 * z @ z.T
    vinv = np.linalg.inv(v)
    beta = np.linalg.solve(x.T @ vinv @ x, x.T @ vinv @ y)
    r = y - x @ beta
    dof = n - p if reml else n
    s2 = r @ vinv @ r / dof
    dev = np.linalg.slogdet(v)[1] + dof * (np.log(2 * np.pi * s2) + 1.0)
    if reml:
        dev += np.linalg.slogdet(x.T @ vinv @ x)[1]
    return dev


@pytest.mark.parametrize("slope", [False, True], ids=["intercept", "slope"])
@pytest.mark.parametrize("weights", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_closed_form_equals_factorisation_and_dense(slope, weights, reml):
    x, y, terms, w = _data(slope=slope, weights=weights)
    dev = ProfiledDeviance(x, y, terms, weights=w)
    closed = ScalarTermDeviance(dev.cp)
    for theta in (0.0, 0.01, 0.3, 1.0, 2.7, 40.0):
        got = closed(np.array([theta]), reml)
        factored = dev._read(dev.chol.factorize(np.array([theta]), dev.terms), reml)[0]
        assert got == pytest.approx(factored, rel=1e-10)
        assert got == pytest.approx(_dense_deviance(x, y, terms[0], theta, reml, w),
                                    rel=1e-10)
        assert got == dev(np.array([theta]), reml)  # the deviance's own path


def test_applies_to_one_scalar_term_only():
    x, y, terms, _ = _data()
    assert ScalarTermDeviance.applies(terms)
    assert not ScalarTermDeviance.applies(terms + terms)
    rs = np.random.RandomState(1)
    n = len(y)
    vector = RandomTerm("g", terms[0].codes, terms[0].unit_labels,
                        names=("Intercept", "x"), z=np.column_stack([np.ones(n),
                                                                    rs.normal(size=n)]))
    assert not ScalarTermDeviance.applies([vector])

