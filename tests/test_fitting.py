"""mixedext._engine.fitting: the boundary screen's early stop."""

import numpy as np
import pytest

from mixedext._engine import fitting

CONVEX = {
    "quadratic": lambda x: 3.0 * (x - 0.4) ** 2 + 10.0,
    "exp + linear": lambda x: np.exp(2.0 * x) - 5.0 * x,
    "|x|^1.5": lambda x: np.abs(x - 1.0) ** 1.5,
    "log cosh": lambda x: np.log(np.cosh(4.0 * (x + 0.7))),
}


@pytest.mark.parametrize("name", list(CONVEX))
def test_convex_lower_bound_is_below_the_minimum(name):
    """For convex functions and random points, the bound never exceeds the minimum of
    the function between the best point's neighbours (on a fine grid), and approaches
    it as the points close in."""
    f = CONVEX[name]
    rs = np.random.RandomState(0)
    bounded = 0
    for _ in range(300):
        x = rs.uniform(-3, 3, rs.randint(3, 9))
        history = [(v, float(f(v))) for v in x]
        bound = fitting.convex_lower_bound(history)
        xs = np.sort(x)
        b = int(np.argmin(f(xs)))
        if b in (0, len(xs) - 1):
            assert bound == -np.inf
            continue
        grid = np.linspace(xs[b - 1], xs[b + 1], 20001)
        assert bound <= f(grid).min() + 1e-12
        bounded += 1
    assert bounded > 50
    close = [(v, float(f(v))) for v in np.linspace(-3, 3, 601)]
    exact = min(row[1] for row in close)
    assert fitting.convex_lower_bound(close) == pytest.approx(exact, abs=1e-3)


def test_convex_lower_bound_needs_a_bracket_of_finite_values():
    assert fitting.convex_lower_bound([(0.0, 1.0), (1.0, 0.0)]) == -np.inf
    assert fitting.convex_lower_bound([(0.0, 2.0), (1.0, 1.0), (2.0, 0.5)]) == -np.inf
    assert fitting.convex_lower_bound([(0.0, 2.0), (1.0, 1.0), (2.0, np.inf)]) == -np.inf
    # three points: each interval has one chord extended into it, from 1 down to 0
    assert fitting.convex_lower_bound([(0.0, 2.0), (1.0, 1.0), (2.0, 2.0)]) == 0.0
    # four: on [1, 2] the chord of (0, 1) (2 - x) and that of (2, 3) (2 x - 2) cross at
    # 4/3, at 2/3; on [0, 1] only the chord of (1, 2) extended left, down to 0
    assert fitting.convex_lower_bound(
        [(0.0, 2.0), (1.0, 1.0), (2.0, 2.0), (3.0, 4.0)]) == 0.0
    # five: on [0, 1] the chords of (-1, 0) and (1, 2) cross at 2/3, also at 2/3
    assert fitting.convex_lower_bound(
        [(-1.0, 4.0), (0.0, 2.0), (1.0, 1.0), (2.0, 2.0), (3.0, 4.0)]) == pytest.approx(2 / 3)


def test_screen_stops_early_far_above_its_target():
    """A screen whose minimum (10) is far above the target (0) stops once the bound
    shows it, at its best point so far; one near or below the target runs to the end
    and gives the full search's result."""
    f = CONVEX["quadratic"]
    full = fitting._screen_one(lambda x: f(x[0]), np.array([-2.0]))
    stopped = fitting._screen_one(lambda x: f(x[0]), np.array([-2.0]), target=0.0)
    assert stopped.nfev < full.nfev
    assert stopped.deviance == min(row[-1] for row in stopped.history)
    assert stopped.deviance > 0.0
    near = fitting._screen_one(lambda x: f(x[0]), np.array([-2.0]), target=10.0 + 1e-6)
    assert near.nfev == full.nfev
    assert near.theta[0] == full.theta[0] and near.deviance == full.deviance


def _data(name):
    import pandas as pd
    from conftest import ROOT

    return pd.read_csv(ROOT / "tests" / "reference" / "data" / name)


PROFILED = {  # one residual parameter and at most one relative SD
    "exp, random intercept": ("panel_irregular.csv", "y ~ time + x + (1 | subject)",
                              dict(cov_struct="exp", time="time")),
    "car1, random intercept": ("panel_irregular.csv", "y ~ time + x + (1 | subject)",
                               dict(cov_struct="car1", time="time")),
    "gaus, gls": ("panel_irregular.csv", "y ~ time + x",
                  dict(groups="subject", re_formula="0", cov_struct="gaus", time="time")),
    "ar1, random intercept": ("panel_ar1.csv", "y ~ t + x + (1 | subject)",
                              dict(cov_struct="ar1", time="t")),
    "power, random intercept": ("varfunc_panel.csv", "y_pow ~ t + x + (1 | subject)",
                                dict(variance="power(v)")),
    "power, gls": ("varfunc_panel.csv", "y_pow ~ t + x",
                   dict(groups="subject", re_formula="0", variance="power(v)")),
}


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("name", list(PROFILED))
def test_profile_search_reaches_the_joint_optimum(monkeypatch, name, reml):
    """The default search over eta of the profile over theta, and the joint L-BFGS-B
    with a Newton polish (which L-BFGS-B's options select), end at the same optimum:
    llf within 1e-7, the structure's parameters and the SDs within 1e-4 relative."""
    import mixedext as mx

    file, formula, kw = PROFILED[name]
    data = _data(file)
    calls = []
    real = fitting._minimize_profile
    monkeypatch.setattr(fitting, "_minimize_profile",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    profiled = mx.mixedlm(formula, data, **kw).fit(reml=reml)
    assert calls  # the default
    del calls[:]
    joint = mx.mixedlm(formula, data, **kw).fit(reml=reml, maxiter=5000)
    assert not calls  # L-BFGS-B's options: the joint minimisation they configure
    assert profiled.llf == pytest.approx(joint.llf, abs=1e-7)
    assert profiled.llf >= joint.llf - 1e-9
    np.testing.assert_allclose(profiled.cov_struct_params, joint.cov_struct_params,
                               rtol=1e-4)
    np.testing.assert_allclose(np.sqrt(profiled.scale), np.sqrt(joint.scale), rtol=1e-4)
    if "intercept" in name:
        np.testing.assert_allclose(np.sqrt(profiled.cov_re.to_numpy()),
                                   np.sqrt(joint.cov_re.to_numpy()), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", [n for n in PROFILED if "intercept" in n])
def test_profile_search_screens_the_boundary_from_its_values(name):
    """The deviance at theta = 0 is evaluated at every eta the search visits, once, and
    the boundary screen starts from those values instead of evaluating them again."""
    import mixedext as mx

    file, formula, kw = PROFILED[name]
    res = mx.mixedlm(formula, _data(file), **kw).fit()
    hist = res.optim_history
    on_boundary = hist.iloc[:, 1][hist.iloc[:, 0] == 0.0]
    visited = set(hist.iloc[:, 1][hist.iloc[:, 0] > 0.0])
    assert visited <= set(on_boundary)
    assert on_boundary.is_unique


def test_profile_search_on_a_correlated_quadratic():
    """The minimum of a quadratic in ``(phi, eta)`` with a strong ridge, from a start
    where the objective is undefined (``eta < 0.2``); and from the other side with the
    minimum at ``phi = 0``, which the search reports as exactly 0."""
    def bowl(x, phi_min=0.7):
        phi, eta = x
        if eta < 0.2:
            return np.inf
        return 1e3 + 50 * (eta - 1) ** 2 + 30 * (phi - phi_min) ** 2 \
            + 70 * (phi - phi_min) * (eta - 1)

    opt = fitting._minimize_profile(bowl, np.array([0.5, 0.0]), tol=1e-8)
    assert opt.converged
    np.testing.assert_allclose(opt.theta, [0.7, 1.0], atol=1e-5)
    assert opt.deviance == pytest.approx(1e3, abs=1e-8)
    assert len(opt.history) == opt.nfev

    def even(x):  # even in phi, minimum over phi >= 0 at 0 for every eta
        phi, eta = x
        return 1e3 + 50 * (eta - 1) ** 2 + 30 * phi ** 2 * (1 + eta ** 2)

    opt = fitting._minimize_profile(even, np.array([0.4, 3.0]), tol=1e-8)
    assert opt.converged and opt.theta[0] == 0.0
    assert opt.theta[1] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("factor", [1e-6, 1e6, 1e30])
def test_profile_search_does_not_depend_on_the_units_of_y(factor):
    """Its tolerance is per row, not relative to the deviance (which the units of y
    shift by ``n log(factor^2)``): the same range, SDs relative to sigma and fixed
    effects relative to their scale, to 1e-6."""
    import mixedext as mx

    file, formula, kw = PROFILED["exp, random intercept"]
    data = _data(file)
    base = mx.mixedlm(formula, data, **kw).fit()
    res = mx.mixedlm(formula, data.assign(y=data.y * factor), **kw).fit()
    assert res.cov_struct_params["range"] == pytest.approx(base.cov_struct_params["range"],
                                                           rel=1e-6)
    np.testing.assert_allclose(res.fe_params / factor, base.fe_params, rtol=1e-6)
    assert res.theta.iloc[0] == pytest.approx(base.theta.iloc[0], rel=1e-6)
