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


SMOOTH = {  # (function, start, step, minimiser)
    "quadratic": (lambda x: 3.0 * (x - 1.3) ** 2 + 5.0, 0.0, 0.5, 1.3),
    "quartic": (lambda x: (x - 2.0) ** 4 + (x - 2.0) ** 2, 0.0, 0.5, 2.0),
    "exp - linear": (lambda x: np.exp(x) - 2.0 * x, 3.0, 0.5, np.log(2.0)),
    "log cosh, far": (lambda x: 1e4 * np.log(np.cosh(x - 40.0)), 0.0, 0.5, 40.0),
    "even, minimum at 0": (lambda x: x ** 2 + x ** 4, 0.8, 0.04, 0.0),
}


@pytest.mark.parametrize("name", list(SMOOTH))
def test_parabolic_search_reaches_smooth_minima(name):
    """Converged, within ``tol`` of the minimum value; every evaluation counted."""
    f, x0, step, want = SMOOTH[name]
    calls = []
    x, fx, nfev, converged = optimize.minimize_parabolic(
        lambda v: calls.append(v) or f(v), x0, step, tol=1e-9)
    assert converged
    assert fx == f(x) and nfev == len(calls)
    assert fx - f(want) < 1e-8
    assert abs(x - want) < 1e-3


def test_parabolic_search_starts_from_known_points():
    """Points evaluated before are not evaluated again, and count as the start."""
    f = SMOOTH["quadratic"][0]
    known = [(0.0, f(0.0)), (0.5, f(0.5)), (3.0, f(3.0))]
    calls = []
    x, _, nfev, converged = optimize.minimize_parabolic(
        lambda v: calls.append(v) or f(v), 0.0, 0.5, tol=1e-9, known=known)
    assert converged and x == pytest.approx(1.3, abs=1e-6)
    assert nfev == len(calls) and not {0.0, 0.5, 3.0} & set(calls)
    assert calls[0] == pytest.approx(1.3)  # the parabola through the known points


def test_parabolic_search_outside_the_domain():
    """``inf`` marks the domain's edge: a minimum there is approached from inside; with
    no finite value at all the search gives up at once, not converged."""
    x, fx, _, converged = optimize.minimize_parabolic(
        lambda v: np.inf if v < 1.0 else (v - 0.5) ** 2, 3.0, 0.5, tol=1e-10)
    assert converged and x == pytest.approx(1.0, abs=1e-6) and fx >= 0.25
    x, fx, nfev, converged = optimize.minimize_parabolic(lambda v: np.inf, 0.0, 0.5,
                                                         tol=1e-8)
    assert not converged and fx == np.inf and nfev == 3


def test_parabolic_search_stops_at_max_eval():
    x, _, nfev, converged = optimize.minimize_parabolic(lambda v: -v, 0.0, 0.5, tol=1e-8,
                                                        max_eval=10)
    assert nfev == 10 and not converged and x > 0
