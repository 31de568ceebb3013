"""The optimiser strategies, once each: from a deviance to its optimum (and a FitState).

Without a residual structure the profiled deviance is minimised over ``theta``
(:func:`~mixedext._engine.optimize.minimize_theta`, Newton-polished). With one, each new
``eta`` costs a pass over the rows (whitening them) and each ``theta`` at a known ``eta``
none. One residual parameter with at most one ``theta``: the profile over ``theta`` is
minimised over ``eta`` (:func:`_minimize_profile`). Otherwise the deviance over ``(theta,
eta)`` is minimised jointly: L-BFGS-B with forward differences to the neighbourhood, then
Newton steps (``theta`` and ``eta`` are strongly correlated, and L-BFGS-B alone crawls
along the ridge), or for many parameters L-BFGS-B again with central differences.

Fits, ML refits for profiles and bootstrap refits all run here, and so does a GLMM's joint
minimisation over ``(theta, beta)`` (:func:`fit_laplace`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from scipy.optimize import minimize_scalar

from mixedext._engine.deviance import CorrelatedDeviance, ProfiledDeviance
from mixedext._engine.factor import theta_bounds
from mixedext._engine.gradient import deviance_and_gradient, supports_gradient
from mixedext._engine.optimize import (
    GRADIENT_RTOL,
    OptimResult,
    minimize_parabolic,
    minimize_theta,
    newton_polish,
)
from mixedext._engine.state import FitState
from mixedext._engine.threads import blas_threads_for

# With the analytic gradient, L-BFGS-B works on theta x scale x GRADIENT_STRETCH: its first
# step has unit length, so about a tenth of theta, and the single-term starts are
# typically within 10-20% of the optimum (evaluations: InstEval 8 instead of 9, with three
# factors 10 as before, the 2,000 x 300 crossed case 8 instead of 9, 200 x 50 6 instead
# of 8). Its gradient tolerance shrinks by the same factor.
GRADIENT_STRETCH = 10.0

# With a residual structure the Newton polish settles after a kept step predicted to gain
# less than this (instead of 1e-6): each of its steps evaluates two new residual
# parameter values (a pass over the rows each) and after a Newton step predicted to gain
# 1e-5 the next gains ~1e-10 (quadratic convergence). Over the correlated fits of the
# tests it changed 3 deviances, by at most 6e-7; the 20,000 x 8 corExp benchmark needs a
# second step at 1e-6 (its first gains 4e-6), three passes over 160,000 rows.
CORRELATED_POLISH_TOL = 1e-5

# With one residual parameter and at most one relative SD the deviance is minimised over
# eta of its profile over theta (:func:`_minimize_profile`): the first step in eta; the
# tolerance of that minimisation per row (a last step changing the deviance by less; the
# curvature of the deviance grows with the rows, so this fixes the precision of eta
# whatever the units of y: at 1e-8 per row the variance power of a gls stopped 2e-5
# short of nlme's; at 1e-10 a deletion refit from the full fit's estimates and a fresh
# fit still differed by 6e-6 in a fixed effect's change, at 1.5e-11 by < 1e-6, and the
# corExp benchmark takes the same 10 whitenings); the tolerance of the inner
# minimisations over theta relative to it (above the deviance's rounding)
PROFILE_STEP = 0.5
PROFILE_TOL_PER_ROW = 1.5e-11
INNER_TOL = 1e-2

__all__ = ["default_start", "fit_profiled", "fit_correlated", "fit_state", "refit",
           "fit_laplace"]


def default_start(terms) -> np.ndarray:
    """lme4's start: 1 on the diagonals of each Lambda, 0 elsewhere."""
    return np.where(theta_bounds(terms) == 0.0, 1.0, 0.0)


def theta_scales(dev: ProfiledDeviance) -> np.ndarray:
    """Per component of ``theta``, the root-mean-square of its random-effect covariate
    (row ``i`` of a Lambda block scales with covariate ``i``; a term with one variance for
    several covariates with their pooled RMS). The optimiser works in ``theta * scale``,
    so the fit does not depend on the units of the covariates."""
    out = []
    for t, ztz in zip(dev.terms, dev.cp.ztz):
        rms = np.sqrt(np.maximum(np.einsum("maa->a", ztz) / max(dev.n, 1), 1e-300))
        if t.cov == "scalar":
            out.append(np.sqrt(np.mean(rms ** 2)))
            continue
        rows, cols = np.tril_indices(t.q)
        order = np.lexsort((rows, cols))
        out.extend(rms[rows[order]])
    return np.asarray(out, dtype=float)


def single_term_start(dev: ProfiledDeviance, reml: bool) -> np.ndarray:
    """``theta`` of each scalar term fitted alone (no dense block, so each costs a few
    milliseconds): a start for crossed terms that halves the evaluations from lme4's
    (InstEval: 9 instead of 21). A term whose own fit fails starts at 1."""
    out = []
    for t in dev.terms:
        single = ProfiledDeviance(None, None, [t], cp=_single_term_products(dev.cp, dev.terms, t))
        try:
            opt = minimize_theta(lambda th, d=single: d(th, reml), np.ones(1), np.zeros(1))
            out.append(float(opt.theta[0]) if np.isfinite(opt.deviance) else 1.0)
        except np.linalg.LinAlgError:
            out.append(1.0)
    return np.asarray(out)


def _single_term_products(cp, terms, term):
    """The cross-products of the model with only ``term`` (no pairs with other terms)."""
    i = next(j for j, t in enumerate(terms) if t is term)
    return replace(cp, ztz=[cp.ztz[i]], ztxy=[cp.ztxy[i]], pairs={}, counts=[cp.counts[i]])


def fit_profiled(dev: ProfiledDeviance, reml: bool, theta0=None, options=None):
    """Minimise the profiled deviance over ``theta``: ``(OptimResult, Solution)``
    (``options``: L-BFGS-B's, see :func:`minimize_theta`). The optimiser's coordinates
    are ``theta * theta_scales(dev)``; its start, lme4's in those coordinates. Crossed
    scalar terms use the analytic gradient (:mod:`mixedext._engine.gradient`; the
    coordinates stretched by :data:`GRADIENT_STRETCH`, from single-term starts), others
    central differences and a Newton polish."""
    scale = theta_scales(dev)
    phi0 = default_start(dev.terms) if theta0 is None else np.asarray(theta0) * scale
    jac: str | Callable = "3-point"
    polish, kw = True, {}
    if supports_gradient(dev):  # analytic: d/dphi = d/dtheta / scale; no Newton polish
        polish = False         # needed, L-BFGS-B converges on the exact gradient
        scale = scale * GRADIENT_STRETCH
        kw["gradient_rtol"] = GRADIENT_RTOL / GRADIENT_STRETCH
        phi0 = (single_term_start(dev, reml) if theta0 is None
                else np.asarray(theta0, dtype=float)) * scale
        dev.chol.tail_outer_products()  # many factorisations follow: build the kernel now

        def analytic(phi):
            val, grad = deviance_and_gradient(dev, phi / scale, reml)
            return val, grad / scale

        jac = analytic

    opt = minimize_theta(lambda phi: dev(phi / scale, reml), phi0, theta_bounds(dev.terms),
                         polish=polish, jac=jac, **(kw | (options or {})))
    opt.theta = opt.theta / scale
    opt.history = [(*(np.asarray(row[:-1]) / scale), row[-1]) for row in opt.history]
    return opt, dev.solution(opt.theta, reml)


def fit_correlated(dev: CorrelatedDeviance, reml: bool, theta0=None, eta0=None,
                   options=None):
    """Minimise the deviance over ``(theta, eta)``: ``(OptimResult, Solution)``; ``dev``
    is left at the optimum's ``eta``. As :func:`fit_profiled`, the optimiser works in
    ``theta * theta_scales``; the fit is then checked against the boundary fits it could
    have missed (:func:`_check_boundaries`). One residual parameter and at most one
    ``theta``: the profile search (:func:`_minimize_profile`), unless L-BFGS-B's
    ``options`` are given (they configure the joint minimisation, which then runs)."""
    lower = theta_bounds(dev.terms)
    k = len(lower)
    if eta0 is None:
        eta0 = _best_start(dev, reml)
    eta0 = np.asarray(eta0, dtype=float)
    dev.set_eta(eta0)  # the scales from the start's whitened cross-products
    scale = np.concatenate([theta_scales(dev.inner), np.ones(dev.structure.n_eta)])
    theta0 = _theta_start(dev, reml, scale[:k], lower) if theta0 is None \
        else np.asarray(theta0) * scale[:k]
    x0 = np.concatenate([theta0, eta0])
    lo = np.concatenate([lower, np.full(dev.structure.n_eta, -np.inf)])

    def deviance(x):
        return dev(x / scale, reml)

    kw = dict(ftol=1e-10, gtol=1e-4) | (options or {})
    # one residual parameter and at most one theta, L-BFGS-B's options not given
    profile = dev.structure.n_eta == 1 and k <= 1 and not options
    n_rows = dev.inner.n

    def minimise(start, quick=False, fixed=None, target=None, history=()):
        """From ``start``; with ``fixed`` the parameter of that index held at 0; a screen
        of one parameter (``quick``) stops once it cannot come below ``target``, and
        starts from the evaluations in ``history`` (rows ``(x..., value)``) that have the
        fixed parameter at 0."""
        free = np.ones(len(start), dtype=bool)
        if fixed is not None:
            free[fixed] = False
        full = np.where(free, start, 0.0)

        def objective(x):
            full[free] = x
            return deviance(full)

        if quick and free.sum() == 1 and lo[free][0] == -np.inf:
            known = [(row[np.flatnonzero(free)[0]], row[-1]) for row in history
                     if row[fixed] == 0.0] if fixed is not None else []
            opt = _screen_one(objective, start[free], target=target, known=known)
        elif profile:
            opt = _minimize_profile(objective, start[free], tol=PROFILE_TOL_PER_ROW * n_rows)
        elif quick:  # a screen: L-BFGS-B alone, to a loose tolerance
            opt = minimize_theta(objective, start[free], lo[free], jac="2-point",
                                 **(kw | dict(ftol=1e-8, gtol=1e-3)))
        else:
            opt = minimize_theta(objective, start[free], lo[free], jac="2-point",
                                 polish=True, polish_tol=CORRELATED_POLISH_TOL, **kw)
            if free.sum() > 6:
                first = opt
                opt = minimize_theta(objective, first.theta, lo[free], **kw)
                opt.history[:0] = first.history
        x = np.zeros(len(start))
        x[free] = opt.theta
        opt.theta = x
        opt.history = [(*np.insert(row[:-1], fixed, 0.0), row[-1]) if fixed is not None
                       else row for row in opt.history]
        opt.nfev = len(opt.history)
        return opt

    opt = _check_boundaries(minimise, minimise(x0), lower)
    opt.theta = opt.theta / scale
    opt.history = [(*(np.asarray(row[:-1]) / scale), row[-1]) for row in opt.history]
    dev.set_eta(opt.theta[k:])
    sol = dev.inner.solution(opt.theta[:k], reml)
    sol.deviance += dev.logdet_r
    sol.eta = opt.theta[k:]
    return opt, sol


def _minimize_profile(objective, x0, tol: float) -> OptimResult:
    """Minimise ``objective([phi, eta])`` over ``phi >= 0`` (the deviance is even in it)
    and ``eta``, from ``x0``; with ``x0 = [eta]``, over ``eta`` alone
    (:func:`_screen_one` without a target).

    Over ``eta`` the profile ``p(eta) = min_phi objective([phi, eta])`` is minimised by
    successive parabolic interpolation (:func:`minimize_parabolic`, to ``tol``), each
    inner minimisation over ``phi`` likewise (to ``INNER_TOL`` times that) from ``phi``
    interpolated between the solved ``eta`` nearest. Converged: the search over ``eta``
    and the inner one at the optimum's ``eta``.

    Each new ``eta`` needs the rows whitened once, the evaluations over ``phi`` at it
    none. The ridge along which ``theta`` and ``eta`` trade off (a random intercept
    against a correlation near 1) is followed exactly instead of crossed by a joint
    optimiser's steps: 20,000 subjects x 8 visits with corExp take 9 values of ``eta``
    instead of 18. At each ``eta`` the deviance at ``phi = 0`` is evaluated too; the
    boundary screen starts from these values (:func:`_check_boundaries`).
    """
    history: list = []

    def logged(*x):
        val = float(objective(np.array(x)))
        history.append((*x, val))
        return val

    if len(x0) == 1:
        return _screen_one(objective, x0, tol=tol)
    start = logged(*x0)
    solved: list = []  # (eta, phi, profile value, inner search converged)

    def profile(eta):
        phi0 = _interpolated_phi(solved, eta, float(x0[0]))
        first = start if (phi0, eta) == (x0[0], x0[1]) else logged(phi0, eta)
        if not np.isfinite(first):  # R is not positive definite at eta
            return np.inf
        step = _inner_step(solved, eta, phi0)
        known = [(phi0, first)]
        if phi0 == 0.0:  # the deviance is even in phi: one value for both first steps
            at_step = logged(step, eta)
            known += [(step, at_step), (-step, at_step)]
        phi, val, _, inner_ok = minimize_parabolic(lambda t: logged(abs(t), eta), phi0,
                                                   step, tol=tol * INNER_TOL, known=known)
        phi = abs(phi)
        if phi > 0:  # theta = 0 at this eta: for the boundary screen, or the optimum
            at_zero = first if phi0 == 0.0 else logged(0.0, eta)
            if at_zero <= val + tol * INNER_TOL:  # as good, to the inner tolerance
                phi, val = 0.0, at_zero
        solved.append((eta, phi, val, inner_ok))
        return val

    _, _, nfev, ok = minimize_parabolic(profile, float(x0[1]), PROFILE_STEP, tol=tol)
    eta, phi, val, inner_ok = min(solved, key=lambda row: row[2]) if solved \
        else (x0[1], x0[0], np.inf, False)
    ok = ok and inner_ok
    return OptimResult(np.array([phi, eta]), val, ok and np.isfinite(val),
                       _profile_message(ok), len(history), nfev, history)


def _profile_message(converged: bool) -> str:
    return ("successive parabolic interpolation: converged" if converged else
            "successive parabolic interpolation: stopped before converging")


def _inner_step(solved, eta: float, phi0: float) -> float:
    """The first step of the minimisation over ``phi`` from ``phi0``: 5% of it, less when
    the nearest solved ``eta`` is close (twice the change of ``phi`` from there, at least
    0.1%); 0.1 from 0."""
    if not phi0 > 0:
        return 0.1
    step = 0.05 * phi0
    if solved:
        nearest = min(solved, key=lambda row: abs(row[0] - eta))[1]
        step = min(step, max(2.0 * abs(phi0 - nearest), 1e-3 * phi0))
    return step


def _interpolated_phi(solved, eta: float, default: float) -> float:
    """``phi`` at ``eta`` interpolated linearly between the two solved ``eta`` nearest
    (extrapolated beyond them; the nearest's where that is not positive)."""
    if not solved:
        return default
    near = sorted(solved, key=lambda row: abs(row[0] - eta))[:2]
    if len(near) == 1 or near[0][0] == near[1][0]:
        return near[0][1]
    (e1, p1, *_), (e2, p2, *_) = near
    phi = p1 + (p2 - p1) * (eta - e1) / (e2 - e1)
    return phi if phi > 0 else near[0][1]


def _theta_start(dev: CorrelatedDeviance, reml: bool, scale, lower) -> np.ndarray:
    """The start of ``theta * scale``: its optimum at the start's ``eta`` (``dev`` is
    there), to a loose tolerance, from lme4's start (kept where that is no better or the
    optimum is on the boundary). Evaluations at one ``eta`` need no new whitening of the
    rows, and the joint fit then starts near the ridge of ``theta`` against ``eta``
    instead of across it (20,000 subjects x 8 visits with corExp: 16 whitenings in the
    joint fit instead of 28)."""
    phi0 = default_start(dev.terms)

    def fun(phi):
        return dev.inner(phi / scale, reml)

    if len(phi0) == 1 and lower[0] == 0.0:
        res = minimize_scalar(lambda t: fun(np.array([abs(t)])), bracket=(0.5, 1.0),
                              method="brent", options=dict(xtol=1e-4, maxiter=100))
        phi, value = np.array([abs(float(res.x))]), float(res.fun)
    else:
        opt = minimize_theta(fun, phi0, lower, jac="2-point", ftol=1e-8, gtol=1e-3)
        phi, value = opt.theta, opt.deviance
    if not value < fun(phi0) or np.any((lower == 0.0) & (phi < 1e-3)):
        return phi0
    return phi


def _best_start(dev: CorrelatedDeviance, reml: bool) -> np.ndarray:
    """The structure's start, or of its ``start_candidates()`` (e.g. ranges over the
    distances of a spatial correlation) the one of lowest deviance at the default
    ``theta``."""
    candidates = getattr(dev.structure, "start_candidates", None)
    if candidates is None:
        return dev.structure.start()
    starts = candidates()
    if len(starts) == 1:
        return starts[0]
    theta0 = default_start(dev.terms)
    values = [dev(np.concatenate([theta0, eta]), reml) for eta in starts]
    return starts[int(np.argmin(values))]


class _FarAbove(Exception):
    """Raised by a screen's objective: the screen cannot come near its target."""


def _screen_one(objective, x0, tol: float = 1e-4, target: float | None = None,
                known=()) -> OptimResult:
    """A minimisation of one unbounded parameter from ``x0`` (or the best of the points
    ``known``, ``(x, objective([x]))`` evaluated before): successive parabolic
    interpolation to ``tol`` (:func:`minimize_parabolic`), quick for a boundary screen,
    to the profile search's tolerance for a fit of ``eta`` alone. With ``target``, it
    stops (at its best point) once :func:`convex_lower_bound` of the values so far is
    above ``target``: the screen cannot come below it. Its history holds its own
    evaluations."""
    points = [(float(x), float(val)) for x, val in known]
    history: list = []

    def far_above():
        return target is not None and convex_lower_bound(points) > target

    def logged(v):
        val = float(objective(np.array([float(v)])))
        history.append((float(v), val))
        points.append((float(v), val))
        if far_above():
            raise _FarAbove
        return val

    start = min(points, key=lambda row: row[-1])[0] if points else float(x0[0])
    try:
        if far_above():
            raise _FarAbove
        x, val, nfev, ok = minimize_parabolic(logged, start, PROFILE_STEP, tol=tol,
                                              known=points[:])
    except _FarAbove:
        x, val = min(points, key=lambda row: row[-1])
        return OptimResult(np.array([x]), val, True, "a screen, stopped above its target",
                           len(history), len(history), history)
    return OptimResult(np.array([x]), val, ok and np.isfinite(val), _profile_message(ok),
                       len(history), nfev, history)


def convex_lower_bound(history) -> float:
    """A lower bound of ``f`` between the neighbours of the best of the evaluated points
    ``history`` (rows ``(x, f(x))``), where ``f`` is convex; ``-inf`` while the best
    point has no evaluated point on either side (or some value is not finite).

    Notes
    -----
    The extension of a chord of a convex function lies below the function outside the
    chord's interval. With the points in order ``x_0 < x_1 < ...`` and ``x_b`` the best,
    on each interval ``[x_i, x_{i+1}]`` (``i = b - 1, b``) ``f`` lies above the chord of
    ``(x_{i-1}, x_i)`` extended to the right and the chord of ``(x_{i+1}, x_{i+2})``
    extended to the left (those that exist); the bound is the smaller of the two
    intervals' minima of the larger of those lines. A minimum of ``f`` below the values
    at ``x_{b-1}`` and ``x_{b+1}`` lies between them, where the screen's search looks.
    """
    x = np.array([row[0] for row in history], dtype=float)
    f = np.array([row[-1] for row in history], dtype=float)
    if len(x) < 3 or not np.all(np.isfinite(f)):
        return -np.inf
    order = np.argsort(x)
    x, f = x[order], f[order]
    b = int(np.argmin(f))
    if b == 0 or b == len(x) - 1 or not np.all(np.diff(x) > 0):
        return -np.inf
    bound = np.inf
    for i in (b - 1, b):
        lines = []  # (slope, value at x_i)
        if i >= 1:
            lines.append(((f[i] - f[i - 1]) / (x[i] - x[i - 1]), f[i]))
        if i + 2 < len(x):
            slope = (f[i + 2] - f[i + 1]) / (x[i + 2] - x[i + 1])
            lines.append((slope, f[i + 1] - slope * (x[i + 1] - x[i])))
        if not lines:
            return -np.inf
        at = [x[i], x[i + 1]]
        if len(lines) == 2 and lines[0][0] != lines[1][0]:  # where the two lines cross
            cross = x[i] + (lines[1][1] - lines[0][1]) / (lines[0][0] - lines[1][0])
            if x[i] < cross < x[i + 1]:
                at.append(cross)
        bound = min(bound, min(max(s * (u - x[i]) + v for s, v in lines) for u in at))
    return float(bound)


def _check_boundaries(minimise, opt, lower):
    """The better of ``opt`` and the fits with one variance fixed at 0.

    With a residual structure a random effect and the correlation can explain the same
    covariance (an intercept and AR(1) with rho near 1), and the joint optimiser may stop
    on the ridge between them, short of the boundary fit without the random effect. Each
    boundary fit is screened by a quick fit of the other parameters, and finished only if
    the screen comes within ``margin`` of ``opt``; a screen of one parameter stops as soon
    as its values show (for a deviance convex there, :func:`convex_lower_bound`) that it
    cannot.
    """
    margin = 1e-3
    for j in np.flatnonzero((lower == 0.0) & (opt.theta[:len(lower)] > 0.0)):
        screen = minimise(opt.theta, quick=True, fixed=j, target=opt.deviance + margin,
                          history=opt.history)
        other = screen
        if screen.deviance < opt.deviance + margin:
            other = minimise(screen.theta, fixed=j)
            other.history[:0] = screen.history
        other.history[:0] = opt.history
        other.nfev = len(other.history)
        if other.deviance < opt.deviance - 1e-10 * max(1.0, abs(opt.deviance)):
            opt = other
        else:
            opt.history, opt.nfev = other.history, other.nfev
    return opt


def fit_state(reml: bool, profiled: ProfiledDeviance | None = None,
              correlated: CorrelatedDeviance | None = None, *, residual_spec=None,
              theta0=None, eta0=None, options=None) -> FitState:
    """Fit by REML or ML and capture the state (the deviance objects given are moved to
    the optimum; the state keeps copies of its own). ``options``: L-BFGS-B's. BLAS runs
    on one thread unless the dense block is large (:mod:`mixedext._engine.threads`)."""
    dense = profiled if correlated is None else correlated
    with blas_threads_for(dense_size(dense)):
        return _fit_state(reml, profiled, correlated, residual_spec, theta0, eta0, options)


def dense_size(dev) -> int:
    """Columns of the dense tail of a deviance's factor (0 without one): a profiled or
    correlated deviance's factor, or a Laplace deviance's elimination plan."""
    chol = getattr(dev, "chol", None)
    if chol is not None:
        return int(chol.tail_offsets[-1]) if chol.tail else 0
    plan, terms = getattr(dev, "plan", None), getattr(dev, "terms", None)
    if plan is None or terms is None:
        return 0
    return int(sum(terms[i].n_units * terms[i].q for i in plan.order[plan.n_prefix:]))


def _fit_state(reml, profiled, correlated, residual_spec, theta0, eta0, options):
    if correlated is None:
        opt, sol = fit_profiled(profiled, reml, theta0, options)
        return FitState.capture(reml, sol, opt, profiled.terms, profiled)
    opt, sol = fit_correlated(correlated, reml, theta0, eta0, options)
    return FitState.capture(reml, sol, opt, correlated.terms, correlated.inner, correlated,
                            residual_spec)


def refit(state: FitState, reml: bool) -> FitState:
    """The fit of the same data by the other criterion (e.g. ML for a profile of a REML
    fit), from the default start as a fresh fit, on deviance objects of its own."""
    if state.reml == reml:
        return state
    if state.correlated is None:
        return fit_state(reml, state.profiled_deviance())
    return fit_state(reml, correlated=state.correlated_deviance(),
                     residual_spec=state.residual_spec)


def fit_laplace(dev, beta0, nagq: int = 1, *, maxiter: int = 2000, dispersion0=None):
    """Minimise a GLMM's deviance (:class:`~mixedext._engine.pirls.LaplaceDeviance`)
    jointly over ``(theta, beta)``, and the log of the family's dispersion when it has one
    (``dispersion0`` its start), from lme4's ``theta`` and ``beta0``: L-BFGS-B (forward
    differences where Newton steps follow, up to 6 parameters) on the Laplace deviance,
    then on the adaptive Gauss-Hermite one for ``nagq > 1``, Newton-polished. ``dev`` is
    left at the optimum's dispersion."""
    lower_t = theta_bounds(dev.terms)
    extra = [] if dispersion0 is None else [np.log(dispersion0)]
    x0 = np.concatenate([np.where(lower_t == 0, 1.0, 0.0), beta0, extra])
    lower = np.concatenate([lower_t, np.full(len(beta0) + len(extra), -np.inf)])
    k, p = dev.n_theta, len(beta0)

    def objective(x, q):
        if extra:
            if not np.isfinite(x[-1]) or abs(x[-1]) > 50:
                return np.inf
            dev.set_dispersion(np.exp(x[-1]))
        return dev.deviance(x[:k], x[k:k + p], q)

    jac = "2-point" if len(x0) <= 6 else "3-point"
    opt = minimize_theta(lambda x: objective(x, 1), x0, lower, maxiter=maxiter, jac=jac,
                         polish=nagq == 1)
    if nagq > 1:
        opt = minimize_theta(lambda x: objective(x, nagq), opt.theta, lower,
                             maxiter=maxiter, jac=jac, polish=True)
    if len(x0) > 6:  # minimize_theta polishes up to 6 parameters itself
        opt.theta, opt.deviance, _ = newton_polish(lambda x: objective(x, nagq), opt.theta,
                                                   lower, fx=opt.deviance)
    objective(opt.theta, nagq)  # leave dev at the optimum
    return opt
