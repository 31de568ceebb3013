"""mixedext._engine.optimize: the optimum does not depend on where L-BFGS-B stops."""

import numpy as np
import pytest
from scipy import optimize as sp_optimize

import mixedext as mx
from mixedext._engine import fitting, optimize


def _early_stopping_lbfgsb(monkeypatch, first_maxiter=2):
    """L-BFGS-B whose first run stops after ``first_maxiter`` iterations, as older scipy
    releases stopped early on flat deviances (later runs are untouched)."""
    calls = []

    def stopping(fun, x0, **kw):
        if not calls:
            kw = dict(kw, options=dict(kw["options"], maxiter=first_maxiter))
        calls.append(1)
        return sp_optimize.minimize(fun, x0, **kw)

    monkeypatch.setattr(optimize, "minimize", stopping)
    return calls


@pytest.mark.parametrize("formula, dataset", [
    ("strength ~ 1 + (1 | batch/cask)", "pastes"),
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin"),
])
def test_early_stop_is_detected_and_resumed(monkeypatch, formula, dataset):
    """An L-BFGS-B run from a far start, cut at 2 iterations, still ends at the optimum:
    the Newton check (or, with the analytic gradient of crossed scalar terms, the
    gradient) does not settle there, so L-BFGS-B resumes (llf within 1e-7 of the normal
    fit)."""
    d = mx.datasets.load(dataset)
    want = mx.mixedlm(formula, d).fit()
    real_start = fitting.default_start
    monkeypatch.setattr(fitting, "default_start", lambda terms: 30.0 * real_start(terms))
    calls = _early_stopping_lbfgsb(monkeypatch)
    got = mx.mixedlm(formula, d).fit()
    assert len(calls) >= 2  # resumed
    assert got.llf == pytest.approx(want.llf, abs=1e-7)
    np.testing.assert_allclose(got.theta, want.theta, rtol=1e-4, atol=1e-6)


def test_newton_polish_reports_whether_it_settled():
    """Settled at the minimum of a convex quadratic; not settled at a saddle."""
    def bowl(x):
        return (x[0] - 1) ** 2 + 3 * (x[1] - 2) ** 2

    x, fx, settled = optimize.newton_polish(bowl, np.array([0.5, 1.0]), np.array([-np.inf] * 2))
    assert settled and fx == pytest.approx(0, abs=1e-10)
    np.testing.assert_allclose(x, [1, 2], atol=1e-6)

    def saddle(x):
        return x[0] ** 2 - x[1] ** 2

    _, _, settled = optimize.newton_polish(saddle, np.array([0.3, 0.2]), np.array([-np.inf] * 2))
    assert not settled


def test_a_small_interior_optimum_next_to_the_boundary_is_found():
    """Found by the rescaling property test: the slope's SD stopped at 0, where the
    deviance is flat, 1e-4 log-likelihood units below the interior optimum (SD 0.035);
    a probe at 0.01 now finds it, in every unit of the covariate."""
    from test_hardening import _fit, _nested_data

    data = _nested_data(680)
    fits = [_fit(data.assign(x=data.x * s), reml=False, formula="y ~ x + (1 + x | a)")
            for s in (0.1, 1.0, 10.0)]
    for res in fits:
        assert res.llf == pytest.approx(fits[1].llf, abs=1e-8)
        assert not res.singular  # the SD is not 0: before, 0.1 and 1.0 stopped there
