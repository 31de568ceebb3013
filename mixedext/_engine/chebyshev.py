"""Tensor Chebyshev interpolation on a box, with first and second derivatives.

A function ``f`` on the box ``[lo, hi]`` of ``R^d`` is sampled at the tensor grid of
Chebyshev-Lobatto points ``x_j = cos(pi j / (n - 1))`` (mapped from ``[-1, 1]`` to each
side of the box) and interpolated by the tensor polynomial of degree ``n - 1`` in each
coordinate. Written with the 1-D cardinal functions ``ell_j`` (``ell_j(x_k) = delta_jk``),
``f(x) ~ sum_nu f(x_nu) prod_c ell_{nu_c}(x_c)``; ``ell_j(x) = sum_k T_k(x) C[k, j]``, ``C``
the inverse of the Chebyshev-Vandermonde matrix ``V[j, k] = T_k(x_j)``, so derivatives
come from ``T_k'`` and ``T_k''`` (by the three-term recurrence). For a function analytic
in a neighbourhood of the box the error falls geometrically with ``n``.

Many functions sampled at the same nodes are interpolated at once: values have shape
``(K, N)``, ``N = n^d`` nodes in C order over the coordinates.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["ChebyshevGrid"]


class ChebyshevGrid:
    """The tensor Chebyshev-Lobatto grid of ``n`` points per side of a box.

    Parameters
    ----------
    lo, hi : array_like (d,)
        The box (``lo < hi``).
    n : int
        Points per coordinate (at least 2).
    """

    def __init__(self, lo, hi, n: int):
        self.lo, self.hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
        self.d, self.n = len(self.lo), int(n)
        self.center, self.half = (self.hi + self.lo) / 2, (self.hi - self.lo) / 2
        self.x = np.cos(np.pi * np.arange(n) / (n - 1))
        self.coef = np.linalg.inv(_chebyshev_t(self.x, n)[0])  # values -> coefficients
        grid = np.array(list(itertools.product(range(n), repeat=self.d)), dtype=int)
        self.nodes = self.center + self.half * self.x[grid]

    @property
    def n_nodes(self) -> int:
        return self.n ** self.d

    def to_unit(self, points) -> np.ndarray:
        """Points of the box as coordinates in ``[-1, 1]^d``."""
        return (np.asarray(points, dtype=float) - self.center) / self.half

    def cardinals(self, points, order: int = 0) -> list:
        """Per derivative order ``0 .. order`` and coordinate, the cardinal functions'
        derivatives (in the box's units) at ``points`` (K, d): a list over orders of
        lists over coordinates of (K, n) arrays."""
        u = self.to_unit(points)
        out = [[None] * self.d for _ in range(order + 1)]
        for c in range(self.d):
            ts = _chebyshev_t(u[:, c], self.n, order)
            for o in range(order + 1):
                out[o][c] = (ts[o] @ self.coef) / self.half[c] ** o
        return out

    def weights(self, points) -> np.ndarray:
        """The interpolation weights of every node at ``points``: (K, N), so that the
        interpolant of values ``F`` (K, N) at point ``k`` is ``weights[k] @ F[k]``."""
        card = self.cardinals(points)[0]
        out = card[0]
        for c in range(1, self.d):
            out = (out[:, :, None] * card[c][:, None, :]).reshape(len(out), -1)
        return out

    def evaluate(self, values, points, derivatives: bool = False):
        """The interpolants of ``values`` (K, N) at ``points`` (K, d), one point per
        function: ``value (K,)``, and with ``derivatives`` also the gradient (K, d) and
        Hessian (K, d, d)."""
        k, d = len(values), self.d
        table = np.asarray(values, dtype=float).reshape((k,) + (self.n,) * d)
        card = self.cardinals(points, 2 if derivatives else 0)

        def contract(orders):
            out = table
            for c in range(d):
                out = np.einsum("ij...,ij->i...", out, card[orders[c]][c])
            return out

        value = contract([0] * d)
        if not derivatives:
            return value
        grad, hess = np.empty((k, d)), np.empty((k, d, d))
        for a in range(d):
            orders = [0] * d
            orders[a] = 1
            grad[:, a] = contract(orders)
            orders[a] = 2
            hess[:, a, a] = contract(orders)
            for b in range(a):
                orders = [0] * d
                orders[a] = orders[b] = 1
                hess[:, a, b] = hess[:, b, a] = contract(orders)
        return value, grad, hess


def _chebyshev_t(x, n: int, order: int = 0) -> list:
    """``T_k(x)``, and up to ``order`` (<= 2) of its derivatives, for ``k < n``: arrays of
    shape (len(x), n)."""
    x = np.asarray(x, dtype=float)
    t = np.zeros((len(x), n))
    t1, t2 = np.zeros_like(t), np.zeros_like(t)
    t[:, 0] = 1.0
    if n > 1:
        t[:, 1] = x
        t1[:, 1] = 1.0
    for k in range(1, n - 1):
        t[:, k + 1] = 2 * x * t[:, k] - t[:, k - 1]
        t1[:, k + 1] = 2 * t[:, k] + 2 * x * t1[:, k] - t1[:, k - 1]
        t2[:, k + 1] = 4 * t1[:, k] + 2 * x * t2[:, k] - t2[:, k - 1]
    return [t, t1, t2][:order + 1]
