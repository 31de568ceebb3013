"""Bounded minimisation of the profiled deviance over ``theta``, keeping its history.

L-BFGS-B with central-difference gradients (one-sided at a bound) reaches the optimum to
about 1e-6 in ``theta`` on the reference problems; lme4's own defaults stop ~1e-5 short.
A variance at its bound 0 is a legitimate optimum (a singular fit), not a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from mixedext._engine.differences import central_hessian, steps

__all__ = ["OptimResult", "minimize_theta", "newton_polish", "minimize_parabolic"]

# With an analytic gradient, L-BFGS-B stops once it is below this fraction of the
# deviance (a deviance gain below ~1e-12 n on n rows): on a million rows the deviance
# cannot resolve a gradient of 1e-6, and the line search then spends evaluations at the
# optimum.
GRADIENT_RTOL = 1e-7


@dataclass
class OptimResult:
    """The optimum and how it was reached.

    ``history`` is a DataFrame-ready list of ``(evaluation, theta..., deviance)`` rows,
    one per objective evaluation (finite-difference evaluations included).
    """

    theta: np.ndarray
    deviance: float
    converged: bool
    message: str
    nfev: int
    nit: int
    history: list = field(default_factory=list)


# the finite differences of L-BFGS-B subtract inf from inf where a step leaves the
# domain (the deviance is inf there, and the line search steps back): no warning
@np.errstate(invalid="ignore")
def minimize_theta(fun, theta0, lower, *, maxiter: int = 2000, ftol: float = 1e-13,
                   gtol: float = 1e-6, jac="3-point", polish: bool = False,
                   maxls: int = 50, maxcor: int = 10,
                   gradient_rtol: float = GRADIENT_RTOL,
                   polish_tol: float = 1e-6) -> OptimResult:
    """Minimise ``fun(theta)`` subject to ``theta >= lower``.

    Parameters
    ----------
    fun : callable
        The deviance; returns ``inf`` where it is undefined.
    theta0 : array_like
        Start (lme4's: 1 on the diagonals of Lambda, 0 elsewhere).
    lower : array_like
        Lower bounds (``-inf`` for unbounded).
    jac : {"3-point", "2-point"} or callable
        Finite-difference gradient (central by default; forward where a Newton polish
        follows), or a function returning ``(fun(theta), gradient)`` (an analytic
        gradient; ``fun`` is then used only by the boundary checks and the polish).
    polish : bool
        Finish with :func:`newton_polish` (up to 6 parameters): L-BFGS-B may stop ~1e-6
        short of the optimum on flat deviances, and by a different amount for the same
        problem with its rows reordered.
    maxiter, ftol, gtol, maxls, maxcor :
        L-BFGS-B's options (``fit(maxiter=...)`` and the others pass them on).
    gradient_rtol : float
        With an analytic gradient, ``gtol`` is at least this fraction of the deviance at
        the start (:data:`GRADIENT_RTOL`; smaller where the coordinates are stretched).
    polish_tol : float
        The polish's ``tol`` (:func:`newton_polish`).
    """
    history = []

    def logged(theta):
        val = float(fun(theta))
        history.append((*theta, val))
        return val

    if callable(jac):
        with_gradient = jac
        start_value: dict = {}  # the first evaluation, kept for L-BFGS-B's own first call

        def jac(theta):  # noqa: F811 - L-BFGS-B's (value, gradient) form
            key = np.asarray(theta, dtype=float).tobytes()
            val, grad = start_value.pop(key) if key in start_value else with_gradient(theta)
            history.append((*theta, float(val)))
            return float(val), np.asarray(grad, dtype=float)

        objective = jac
        lbfgs_jac = True
    else:
        objective, lbfgs_jac = logged, jac

    theta0 = np.asarray(theta0, dtype=float)
    if theta0.size == 0:
        val = logged(theta0)
        return OptimResult(theta0, val, True, "no variance parameters", 1, 0, history)
    if theta0.size == 1 and lower[0] == 0.0:
        return _minimize_one(logged, theta0, history, maxiter)
    bounds = [(None if not np.isfinite(lo) else lo, None) for lo in lower]
    if lbfgs_jac is True:  # gtol relative to the deviance (gradient_rtol)
        value, grad = with_gradient(theta0)
        start_value[theta0.tobytes()] = (value, grad)
        if np.isfinite(value):
            gtol = max(gtol, gradient_rtol * abs(float(value)))
    lbfgsb = dict(ftol=ftol, gtol=gtol, maxiter=maxiter, maxls=maxls, maxcor=maxcor)
    start, nit = theta0, 0
    for _ in range(4):  # restarts away from a spurious stop on the boundary
        res = minimize(objective, start, method="L-BFGS-B", jac=lbfgs_jac, bounds=bounds,
                       options=lbfgsb)
        nit += int(res.nit)
        theta = np.maximum(res.x, lower)
        best = float(res.fun) if np.array_equal(theta, res.x) else logged(theta)
        start = _escape_boundary(logged, theta, best, lower)
        if start is None:
            break
    if lbfgs_jac is True:  # an analytic gradient: resume while it is not ~0 at the stop
        for _ in range(3):
            if _settled(res, lower, best):
                break
            res = minimize(objective, theta, method="L-BFGS-B", jac=True, bounds=bounds,
                           options=lbfgsb)
            nit += int(res.nit)
            theta, best = np.maximum(res.x, lower), float(res.fun)
    if polish and theta.size <= 6 and np.isfinite(best):
        for _ in range(3):  # when Newton steps do not settle, L-BFGS-B stopped early
            theta, best, settled = newton_polish(logged, theta, lower, fx=best,
                                                 tol=polish_tol)
            if settled:
                break
            res = minimize(objective, theta, method="L-BFGS-B", jac=lbfgs_jac,
                           bounds=bounds, options=lbfgsb)
            nit += int(res.nit)
            if res.fun < best:
                theta, best = np.maximum(res.x, lower), logged(np.maximum(res.x, lower))
    converged = bool(res.success) and np.isfinite(best)
    msg = res.message if isinstance(res.message, str) else str(res.message)
    return OptimResult(theta, best, converged, msg, len(history), nit, history)


def _settled(res, lower, best) -> bool:
    """L-BFGS-B's projected gradient at its stop is negligible (relative to the value)."""
    grad = np.asarray(res.jac, dtype=float)
    at_bound = (res.x - lower) <= 1e-10
    projected = np.where(at_bound & (grad > 0), 0.0, grad)
    return bool(np.max(np.abs(projected), initial=0.0) <= 1e-6 * max(1.0, abs(best)))


def _escape_boundary(fun, theta, best, lower):
    """A better start when a bounded parameter sits at 0, or None.

    The deviance depends on a diagonal of Lambda only through its square, so its
    derivative there is 0 and L-BFGS-B may stop at 0 on a saddle; probing a few positive
    values tells a true boundary optimum (a singular fit) from such a stop.
    """
    for j in np.flatnonzero((lower == 0.0) & (theta < 1e-6)):
        for h in (0.01, 0.05, 0.3, 1.0):
            x = theta.copy()
            x[j] = h
            if fun(x) < best - 1e-8 * max(1.0, abs(best)):
                return x
    return None


def _minimize_one(fun, theta0, history, maxiter=500) -> OptimResult:
    """One relative SD: Brent's method on ``t -> fun(|t|)`` (the deviance depends on
    ``theta^2`` only), far cheaper per step than L-BFGS-B with differences."""

    start = float(theta0[0]) if theta0[0] > 0 else 1.0
    res = minimize_scalar(lambda t: fun(np.array([abs(t)])), bracket=(0.5 * start, start),
                          method="brent", options=dict(xtol=1e-10, maxiter=min(maxiter, 500)))
    theta = np.array([abs(res.x)])
    best = fun(theta)
    converged = bool(res.success) and np.isfinite(best)
    msg = str(getattr(res, "message", "")) or "Brent's method converged"
    return OptimResult(theta, best, converged, msg, len(history), int(res.nit), history)


def newton_polish(fun, x, lower, *, fx=None, max_steps: int = 3, rel: float = 1e-4,
                  tol: float = 1e-6):
    """A few Newton steps from ``x`` with a central-difference gradient and Hessian.

    Parameters at their lower bound stay there. A step is kept only if it lowers
    ``fun``; after a kept step whose predicted decrease was below ``tol`` the next one
    would change nothing that matters, so the polish stops. Used where each evaluation is
    costly but smooth (the Laplace deviance, residual correlation), to reach the optimum
    to ~1e-8 from L-BFGS-B's ~1e-5. ``fx``: ``fun(x)`` when already known.

    Returns the polished point, its value and whether it settled: the Hessian was
    positive definite and the last predicted decrease below ``tol`` (False means ``x``
    is not near a minimum: the caller's optimiser stopped early).
    """
    x = np.asarray(x, dtype=float).copy()
    fx = fun(x) if fx is None else fx
    settled = False
    for _ in range(max_steps):
        free = ~((x - lower) <= 1e-10)
        idx = np.flatnonzero(free)
        if idx.size == 0:
            settled = True
            break

        def sub(v, idx=idx, x=x):
            y = x.copy()
            y[idx] = v
            return fun(y)

        hess, grad = central_hessian(sub, x[idx], steps(x[idx], rel), f0=fx, gradient=True)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        decrease = 0.5 * grad @ step
        positive = np.all(np.linalg.eigvalsh(hess) > 0)
        cand = x.copy()
        cand[idx] -= step
        cand = np.maximum(cand, lower)
        fc = fun(cand)
        if not fc < fx:
            # at the noise floor of the differences, or the quadratic model is poor here
            settled = bool(positive and decrease < tol)
            break
        x, fx = cand, fc
        if positive and decrease < tol:
            settled = True
            break
    return x, fx, settled


def minimize_parabolic(fun, x0: float, step: float, *, tol: float, known=(),
                       max_eval: int = 100) -> tuple[float, float, int, bool]:
    """Minimise a smooth function of one variable from ``x0`` by successive parabolic
    interpolation: ``(x, fun(x), evaluations, converged)``.

    Parameters
    ----------
    fun : callable
        ``fun(x)`` for a float ``x``; ``inf`` outside the domain.
    x0, step : float
        The start and the first step: with fewer than two ``known`` points, ``fun`` is
        evaluated at ``x0`` (unless known) and ``x0 + step``, and at ``x0 - step`` where
        that is no lower.
    tol : float
        Stop after a step predicted by its parabola to gain less than ``tol`` (absolute)
        that changed the best value by less than ``tol`` too: near a smooth minimum the
        next would gain ~``tol^2``. Also stop where the values on either side of the
        best point, or its two nearest on one side where it is the outermost, are
        within ``tol`` of it (a flat function, or one falling towards an asymptote).
    known : sequence of (float, float)
        Points ``(x, fun(x))`` evaluated before.
    max_eval : int
        At most this many new evaluations (``evaluations`` counts them).

    Notes
    -----
    Each step fits the parabola through the best point ``b`` and the two evaluated points
    nearest it and evaluates its vertex (superlinear convergence).

    * Where ``b`` has evaluated points on either side (a bracket), the vertex is kept
      inside them and at least ``1e-10 (1 + |b|)`` from ``b``. Where the parabola is not
      convex or its vertex lies outside, the midpoint of ``b`` and its farther neighbour
      (or a neighbour outside the domain) is taken instead.
    * Where ``b`` is the outermost point, the step goes 1.6 times as far as a vertex
      beyond it (so that the next point likely brackets the minimum), at most four
      spacings (to a vertex next to ``b``: a tenth of a spacing); without a convex
      parabola it is 1.6 spacings outwards.

    Unlike Brent's method it spends no evaluations shrinking the bracket to a given width
    around ``b``: a smooth minimum costs a few evaluations fewer, which matters where each
    one is a pass over the rows.
    """
    if not step:
        raise ValueError("minimize_parabolic: step must be non-zero")
    xs: list = []
    fs: list = []

    def ev(x):
        val = float(fun(x))
        xs.append(float(x))
        fs.append(val if np.isfinite(val) else np.inf)
        return fs[-1]

    for x, val in known:
        if float(x) not in xs:
            xs.append(float(x))
            fs.append(float(val) if np.isfinite(val) else np.inf)
    n_known = len(xs)
    if n_known < 2:
        f_start = fs[xs.index(float(x0))] if float(x0) in xs else ev(x0)
        if not ev(x0 + step) < f_start:
            ev(x0 - step)
    converged = False
    while len(fs) - n_known < max_eval and np.isfinite(min(fs)):
        order = np.argsort(xs)
        x, f = np.asarray(xs)[order], np.asarray(fs)[order]
        b = int(np.argmin(f))
        gap = 1e-10 * (1.0 + abs(x[b]))
        finite = np.flatnonzero(np.isfinite(f))
        near = np.sort(finite[np.argsort(np.abs(x[finite] - x[b]), kind="stable")[:3]])
        u, lowest = _vertex(x[near], f[near]) if len(near) == 3 else (None, -np.inf)
        gain = f[b] - lowest
        flat = False  # the last two steps outwards changed the value by < tol
        if 0 < b < len(x) - 1:  # bracketed
            lo, hi = x[b - 1], x[b + 1]
            if hi - lo < 4 * gap or max(f[b - 1], f[b + 1]) - f[b] < tol:
                converged = True  # no room left, or flat to tol across the bracket
                break
            if u is None or not lo < u < hi:  # into the wider side, or towards inf
                side = b - 1 if not np.isfinite(f[b - 1]) or (
                    np.isfinite(f[b + 1]) and x[b] - lo > hi - x[b]) else b + 1
                u, gain = 0.5 * (x[b] + x[side]), np.inf
            u = float(np.clip(u, lo + gap, hi - gap))
            if abs(u - x[b]) < gap:  # on b: the least step into the wider side
                u = x[b] + gap if hi - x[b] > x[b] - lo else x[b] - gap
        else:  # b outermost
            inner = b - 1 if b == len(x) - 1 else b + 1
            spacing = x[b] - x[inner]  # signed: outwards
            if u is None:
                u = x[b] + 1.6 * spacing
            elif (u - x[b]) / spacing > 0.01:  # beyond b: past the vertex, to bracket it
                u = x[b] + min(1.6 * (u - x[b]) / spacing, 4.0) * spacing
            elif (u - x[b]) / spacing > -0.01:  # about b: a short step out, to bracket it
                u = x[b] + 0.1 * spacing
            flat = abs(f[b] - f[inner]) < tol
        fu = ev(u)
        if abs(f[b] - fu) < tol and (gain < tol or flat):  # as predicted, or flat
            converged = True
            break
    best = int(np.argmin(fs))
    return xs[best], fs[best], len(fs) - n_known, converged


def _vertex(x, f):
    """The vertex of the parabola through three points and its value: ``(vertex,
    minimum)``; ``(None, -inf)`` where the parabola is not convex or a value is not
    finite."""
    if not np.all(np.isfinite(f)):
        return None, -np.inf
    d1 = (f[1] - f[0]) / (x[1] - x[0])
    d2 = (f[2] - f[1]) / (x[2] - x[1])
    curv = 2.0 * (d2 - d1) / (x[2] - x[0])
    if not curv > 0:
        return None, -np.inf
    slope = d1 + 0.5 * curv * (x[1] - x[0])  # at x[1]
    return float(x[1] - slope / curv), float(f[1] - 0.5 * slope ** 2 / curv)
