"""Tensor Chebyshev interpolation (mixedext._engine.chebyshev): values, gradients and
Hessians of a smooth function of three variables against its closed forms, and the
interpolation weights against the interpolant; the error falls with the grid."""

import numpy as np

from mixedext._engine.chebyshev import ChebyshevGrid


def _f(t):
    return np.log(1 + 10 * t[..., 0] ** 2) * np.exp(t[..., 1]) + np.sin(t[..., 2] * t[..., 0])


def _grad(t):
    a, b, c = t[..., 0], t[..., 1], t[..., 2]
    return np.stack([20 * a / (1 + 10 * a ** 2) * np.exp(b) + c * np.cos(c * a),
                     np.log(1 + 10 * a ** 2) * np.exp(b), a * np.cos(c * a)], axis=-1)


def _points(grid, k=5, seed=0):
    return grid.lo + (grid.hi - grid.lo) * np.random.RandomState(seed).uniform(size=(k, 3))


def test_values_gradients_and_hessians():
    grid = ChebyshevGrid([0.5, 0.9, -0.2], [0.55, 0.95, -0.15], 9)
    assert grid.nodes.shape == (9 ** 3, 3) and grid.n_nodes == 729
    pts = _points(grid)
    values = np.tile(_f(grid.nodes), (len(pts), 1))
    value, grad, hess = grid.evaluate(values, pts, derivatives=True)
    np.testing.assert_allclose(value, _f(pts), rtol=0, atol=1e-12)
    np.testing.assert_allclose(grad, _grad(pts), rtol=1e-9)
    eps = 1e-6
    for a in range(3):
        e = np.zeros(3)
        e[a] = eps
        np.testing.assert_allclose(hess[:, a], (_grad(pts + e) - _grad(pts - e)) / (2 * eps),
                                   rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(hess, np.transpose(hess, (0, 2, 1)))
    # the weights reproduce the interpolant, and sum to 1
    w = grid.weights(pts)
    np.testing.assert_allclose(np.sum(w * values, axis=1), value, rtol=1e-14)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-13)


def test_error_falls_with_the_grid():
    errors = []
    for n in (3, 5, 7):
        grid = ChebyshevGrid([0.5, 0.9, -0.2], [0.7, 1.1, 0.1], n)
        pts = _points(grid, seed=1)
        approx = grid.evaluate(np.tile(_f(grid.nodes), (len(pts), 1)), pts)
        errors.append(np.max(np.abs(approx - _f(pts))))
    assert errors[0] > 10 * errors[1] > 100 * errors[2]


def test_nodes_are_interpolated_exactly():
    grid = ChebyshevGrid([1.0, 2.0], [1.5, 2.5], 4)
    values = np.random.RandomState(2).normal(size=(3, grid.n_nodes))
    pts = grid.nodes[[0, 5, 15]]
    np.testing.assert_allclose(grid.evaluate(values, pts), values[[0, 1, 2], [0, 5, 15]],
                               atol=1e-12)
