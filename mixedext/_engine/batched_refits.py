"""Every deletion of a level refitted at once, when all terms nest in it.

:class:`~mixedext._engine.nested_deletions.NestedDeletions` evaluates the exact profiled
deviance of all ``K`` deletions with one factorisation of the full model, at a common
``theta``. Each deletion has its own optimum ``theta_(-i)``; they are found together:

1. **Where they lie.** The deviances at ``theta_hat`` (the full fit's optimum) and at a
   central-difference stencil around it give each deletion's gradient ``g_i`` and
   Hessian ``H_i``; one Newton step ``theta_hat - H_i^-1 g_i`` estimates its optimum.
2. **A box** around those estimates (padded by a quarter of its width, each side no wider
   than ``MAX_HALF_WIDTH`` of the term's largest ``theta``, clear of the boundary
   ``theta = 0``), sampled on a tensor Chebyshev grid (:mod:`mixedext._engine.chebyshev`):
   each node is one evaluation for all deletions.
3. **Newton's method on each deletion's interpolant** from its estimate, to a step below
   ``1e-9`` of the box.
4. **Checks.** The interpolants are compared with exact deviances at ``N_CHECK`` further
   points of the box; a deletion is accepted when its interpolation error there is below
   ``TOL_DEVIANCE`` (absolute, in the deviance) and its optimum lies inside the box with a
   positive definite Hessian. At an accepted optimum the fixed effects, scale and
   ``(X'V^-1X)^-1`` come from the interpolated ``log|L|^2`` and Schur complement.

A deletion not accepted (its optimum outside the box: typically a large change, or a
variance pushed to the boundary) is left to the caller's optimiser. The work is ``O(K)``
per node; with ``d`` variance parameters there are ``n^d`` nodes (``NODES[d]`` per side),
so the method is used for ``d <= 3``.

Names: ``K`` deletions, ``d`` the length of ``theta``; ``phi = theta * scale`` the
optimiser's unit-free coordinates (:func:`~mixedext._engine.fitting.theta_scales`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixedext._engine.chebyshev import ChebyshevGrid
from mixedext._engine.factor import theta_bounds
from mixedext._engine.nested_deletions import DeletionComponents, NestedDeletions

__all__ = ["BatchedRefits", "batched_refits"]

NODES = {1: (8, 12, 16), 2: (6, 9, 12), 3: (5, 7, 9)}  # grid points per coordinate, by
# the number of parameters: the next where the checks fail
MAX_HALF_WIDTH = 0.1         # box half-width / the term's largest |phi|
TOL_DEVIANCE = 1e-8          # accepted interpolation error of the deviance
N_CHECK = 6                  # exact evaluations checking the interpolants
STENCIL_STEP = 1e-3          # relative step of the first-stage differences


@dataclass
class BatchedRefits:
    """The refits of the deletions found by :func:`batched_refits`.

    ``accepted`` marks the deletions solved here (the others are NaN: the caller refits
    them); ``theta`` (K, d), ``deviance`` (K,), ``beta`` (K, p), ``sigma2`` (K,),
    ``xtvinvx_inv`` (K, p, p) as in :class:`~mixedext._engine.deviance.Solution`;
    ``max_error`` the largest interpolation error seen at the checks (accepted
    deletions); ``evaluations`` the number of full-model factorisations.
    """

    accepted: np.ndarray
    theta: np.ndarray
    deviance: np.ndarray
    beta: np.ndarray
    sigma2: np.ndarray
    xtvinvx_inv: np.ndarray
    max_error: float
    evaluations: int


def _term_reference(dev, phi_hat) -> np.ndarray:
    """Per component of ``phi``: the largest ``|phi|`` of its term (the box's scale)."""
    out, pos = [], 0
    for t in dev.terms:
        out.extend([np.max(np.abs(phi_hat[pos:pos + t.n_theta]))] * t.n_theta)
        pos += t.n_theta
    return np.asarray(out)


def _stencil(deviance, x0, h):
    """Central-difference gradients (K, d) and Hessians (K, d, d) of all deletions at
    ``x0`` with steps ``h``: ``1 + 2 d^2`` evaluations."""
    d = len(x0)
    f0 = deviance(x0)
    grad, hess = np.empty((len(f0), d)), np.empty((len(f0), d, d))

    def at(*shifts):
        x = x0.copy()
        for i, s in shifts:
            x[i] += s * h[i]
        return deviance(x)

    for i in range(d):
        plus, minus = at((i, 1)), at((i, -1))
        grad[:, i] = (plus - minus) / (2 * h[i])
        hess[:, i, i] = (plus - 2 * f0 + minus) / h[i] ** 2
        for j in range(i):
            hess[:, i, j] = hess[:, j, i] = (at((i, 1), (j, 1)) - at((i, 1), (j, -1))
                                             - at((i, -1), (j, 1)) + at((i, -1), (j, -1))
                                             ) / (4 * h[i] * h[j])
    return grad, hess


def _positive_definite(hess) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.all(np.isfinite(hess), axis=(1, 2)) & np.all(
            np.linalg.eigvalsh(np.nan_to_num(hess)) > 0, axis=1)


def _newton(grid, values, start, active, max_iter: int = 30):
    """Minimise each active interpolant from ``start``: ``(x, converged)`` with ``x`` in
    the box's units; a deletion whose Hessian is not positive definite or whose iterate
    leaves the box does not converge."""
    x = start.copy()
    todo = active.copy()
    done = np.zeros(len(x), dtype=bool)
    tol = 1e-9 * grid.half
    for _ in range(max_iter):
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        _, grad, hess = grid.evaluate(values[idx], x[idx], derivatives=True)
        pd = _positive_definite(hess)
        step = np.zeros_like(grad)
        step[pd] = np.linalg.solve(hess[pd], grad[pd][:, :, None])[:, :, 0]
        x[idx] -= step
        inside = np.all(np.abs(grid.to_unit(x[idx])) <= 1.0, axis=1)
        small = np.all(np.abs(step) <= tol, axis=1)
        todo[idx[~pd | ~inside]] = False
        done[idx[pd & inside & small]] = True
        todo[idx[pd & inside & small]] = False
    return x, done


def batched_refits(nd: NestedDeletions, theta_hat, scale, reml: bool) -> BatchedRefits | None:
    """Refit every deletion of ``nd`` (see the module docstring); ``scale`` as
    :func:`~mixedext._engine.fitting.theta_scales` of the full model. None where the
    method does not apply (more than 3 variance parameters, or a variance of the full fit
    at the boundary)."""
    dev = nd.dev
    theta_hat = np.asarray(theta_hat, dtype=float)
    d, k = len(theta_hat), nd.n_groups
    lower = theta_bounds(dev.terms)
    phi_hat = theta_hat * scale
    ref = _term_reference(dev, phi_hat)
    diag = lower == 0.0
    if d not in NODES or np.any(phi_hat[diag] <= 1e-4 * ref[diag]):
        return None
    evaluations = 0

    def deviance(phi):
        nonlocal evaluations
        evaluations += 1
        return nd.deviance(phi / scale, reml)

    # 1. one Newton step per deletion from the stencil
    h = STENCIL_STEP * ref
    grad, hess = _stencil(deviance, phi_hat, h)
    active = _positive_definite(hess)
    start = np.tile(phi_hat, (k, 1))
    start[active] -= np.linalg.solve(hess[active], grad[active][:, :, None])[:, :, 0]
    # 2. the box: those estimates within MAX_HALF_WIDTH of phi_hat (each side)
    reach = MAX_HALF_WIDTH * ref / 1.5
    active &= np.all(np.abs(start - phi_hat) <= reach, axis=1)
    if not active.any():
        return None
    lo = np.minimum(start[active].min(axis=0), phi_hat)
    hi = np.maximum(start[active].max(axis=0), phi_hat)
    pad = 0.25 * (hi - lo) + 1e-6 * ref
    phi, error = start.copy(), np.full(k, np.inf)
    accepted = np.zeros(k, dtype=bool)
    grids: list = []
    grid_of = np.full(k, -1)
    for n in NODES[d]:  # finer grids for the deletions whose checks fail
        grid = ChebyshevGrid(lo - pad, hi + pad, n)
        values = np.column_stack([deviance(node) for node in grid.nodes])
        active &= np.all(np.isfinite(values), axis=1)
        # 3. Newton on the interpolants, of the deviances less their value at the first
        # node (the cardinal functions' derivatives sum to 0: a common value would cancel)
        x, converged = _newton(grid, values - values[:, :1], start, active)
        # 4. checks at points of the box away from the nodes
        err = np.zeros(k)
        for u in np.random.RandomState(n).uniform(-0.9, 0.9, size=(N_CHECK, d)):
            point = grid.center + grid.half * u
            approx = grid.weights(point[None])[0] @ values.T
            err = np.maximum(err, np.abs(approx - deviance(point)))
        good = active & converged & (err <= TOL_DEVIANCE)
        phi[good], error[good], grid_of[good] = x[good], err[good], len(grids)
        accepted |= good
        grids.append(grid)
        active &= converged & ~good  # retried on the next grid: failed a check only
        if not active.any():
            break
    # the solution at each accepted optimum, from the interpolated components
    logdet = np.zeros(k)
    schur = np.zeros((k, dev.p + 1, dev.p + 1))
    for g, grid in enumerate(grids):
        mine = grid_of == g
        if not mine.any():
            continue
        weights = grid.weights(phi[mine])
        for j, node in enumerate(grid.nodes):
            comp = nd.components(node / scale)
            evaluations += 1
            logdet[mine] += weights[:, j] * comp.logdet[mine]
            schur[mine] += weights[:, j, None, None] * comp.schur[mine]
    schur[~accepted] = np.eye(dev.p + 1)
    comp = DeletionComponents(logdet, schur, nd.nobs, nd.log_weights)
    accepted &= comp.ok
    beta, sigma2, cov = comp.fixed_effects(reml)
    nan = ~accepted
    theta = phi / scale
    theta[nan] = np.nan
    dev_out = comp.deviance(reml)
    dev_out[nan] = np.nan
    beta[nan], sigma2[nan], cov[nan] = np.nan, np.nan, np.nan
    return BatchedRefits(accepted=accepted, theta=theta, deviance=dev_out, beta=beta,
                         sigma2=sigma2, xtvinvx_inv=cov,
                         max_error=float(error[accepted].max(initial=0.0)),
                         evaluations=evaluations)
