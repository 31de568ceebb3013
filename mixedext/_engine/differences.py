"""Central finite differences: the one place derivatives of deviances are computed.

Every derivative the package takes by differences (Hessians of deviances for standard
errors, Satterthwaite's df and Newton steps; Jacobians of matrix or vector functions; the
slope of a scalar map) goes through these functions, with steps from :func:`steps`:
``h_i = rel * max(|x_i|, floor)``. The callers choose ``rel`` and ``floor`` for their
parameters (1e-4 of the value is the default; variance parameters on a scale set by
``sigma^2`` pass that scale as ``floor``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["steps", "central_hessian", "central_jacobian", "central_slope"]


def steps(x, rel: float = 1e-4, floor=1e-2) -> np.ndarray:
    """Step sizes ``rel * max(|x|, floor)`` (``floor`` a number or an array)."""
    return rel * np.maximum(np.abs(np.asarray(x, dtype=float)), floor)


def central_hessian(fun, x0, h, lower=None, f0=None, *, gradient: bool = False):
    """Central-difference Hessian of ``fun`` at ``x0`` with steps ``h`` (an array);
    with ``gradient=True`` also the gradient from the same evaluations:
    ``(hessian, gradient)``. ``2 m + 2 m (m - 1)`` evaluations besides ``f0``: the
    diagonal pairs first, then the off-diagonal quadruples.

    With ``lower``, shifted points are clamped to it (a parameter at its bound then gets
    a one-sided difference, as its deviance is even there).
    """
    x0 = np.asarray(x0, dtype=float)
    m = len(x0)
    f0 = fun(x0) if f0 is None else f0
    hess, grad = np.empty((m, m)), np.empty(m)

    def at(i, si, j=None, sj=0):
        x = x0.copy()
        x[i] += si * h[i]
        if j is not None:
            x[j] += sj * h[j]
        return fun(x if lower is None else np.maximum(x, lower))

    for i in range(m):
        plus, minus = at(i, 1), at(i, -1)
        grad[i] = (plus - minus) / (2 * h[i])
        hess[i, i] = (plus - 2 * f0 + minus) / h[i] ** 2
    for i in range(m):
        for j in range(i):
            hess[i, j] = hess[j, i] = (at(i, 1, j, 1) - at(i, 1, j, -1) - at(i, -1, j, 1)
                                       + at(i, -1, j, -1)) / (4 * h[i] * h[j])
    return (hess, grad) if gradient else hess


def central_jacobian(fun, x0, h) -> list:
    """``d fun / d x_i`` for each ``i`` (``fun`` array-valued): a list of arrays."""
    x0 = np.asarray(x0, dtype=float)
    out = []
    for i in range(len(x0)):
        e = np.zeros_like(x0)
        e[i] = h[i]
        out.append((np.asarray(fun(x0 + e)) - np.asarray(fun(x0 - e))) / (2 * h[i]))
    return out


def central_slope(fun, x, h: float = 1e-6) -> float:
    """``fun'(x)`` of a scalar function."""
    return (fun(x + h) - fun(x - h)) / (2 * h)
