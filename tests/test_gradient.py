"""mixedext._engine.gradient: the analytic gradient of the profiled deviance against
central differences of the deviance itself (relative 1e-5)."""

import numpy as np
import pandas as pd
import pytest

import mixedext as mx
from mixedext._engine.gradient import deviance_and_gradient, supports_gradient


def _crossed(seed=3, weights=False):
    rs = np.random.RandomState(seed)
    item, subj = np.nonzero(rs.rand(40, 25) < 0.4)
    n = len(item)
    d = pd.DataFrame({"item": item, "subj": subj, "site": subj % 4, "x": rs.normal(size=n)})
    d["y"] = (0.3 * d.x + 0.8 * rs.normal(size=40)[item] + 0.5 * rs.normal(size=25)[subj]
              + 0.4 * rs.normal(size=4)[d.site] + rs.normal(size=n))
    d["w"] = rs.uniform(0.3, 3.0, n) if weights else 1.0
    return d


@pytest.mark.parametrize("formula, weights", [
    ("y ~ x + (1 | item) + (1 | subj)", False),
    ("y ~ x + (1 | item) + (1 | subj) + (1 | site)", False),
    ("y ~ x + (1 | item) + (1 | subj)", True),
])
@pytest.mark.parametrize("reml", [True, False])
def test_gradient_equals_central_differences(formula, weights, reml):
    d = _crossed(weights=weights)
    dev = mx.mixedlm(formula, d, weights="w" if weights else None).deviance_function
    assert supports_gradient(dev)
    k = dev.n_theta
    for theta in (np.linspace(0.4, 1.3, k), np.linspace(2.0, 0.1, k)):
        value, grad = deviance_and_gradient(dev, theta, reml)
        assert value == pytest.approx(dev(theta, reml), rel=1e-12)
        h = 1e-5
        num = [(dev(theta + h * e, reml) - dev(theta - h * e, reml)) / (2 * h)
               for e in np.eye(k)]
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-6)


def test_gradient_is_zero_at_a_zero_variance():
    dev = mx.mixedlm("y ~ x + (1 | item) + (1 | subj)", _crossed()).deviance_function
    _, grad = deviance_and_gradient(dev, np.array([0.0, 0.7]), True)
    assert grad[0] == 0.0 and grad[1] != 0.0


@pytest.mark.parametrize("formula, dataset", [
    ("strength ~ 1 + (1 | batch/cask)", "pastes"),          # two block-diagonal terms
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),   # a vector term
    ("Yield ~ 1 + (1 | Batch)", "dyestuff"),                # one term: Brent's method
])
def test_other_structures_use_differences(formula, dataset):
    dev = mx.mixedlm(formula, mx.datasets.load(dataset)).deviance_function
    assert not supports_gradient(dev)
