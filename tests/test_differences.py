"""mixedext._engine.differences against derivatives known in closed form."""

import numpy as np
import pytest

from mixedext._engine.differences import (
    central_hessian,
    central_jacobian,
    central_slope,
    steps,
)


def test_hessian_and_gradient_of_a_cubic():
    a = np.array([[3.0, 1.0, 0.5], [1.0, 2.0, -0.3], [0.5, -0.3, 4.0]])

    def f(x):
        return 0.5 * x @ a @ x + x[0] ** 3

    x0 = np.array([0.7, -1.2, 2.0])
    hess, grad = central_hessian(f, x0, steps(x0), gradient=True)
    want = a.copy()
    want[0, 0] += 6 * x0[0]
    np.testing.assert_allclose(hess, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad, a @ x0 + np.array([3 * x0[0] ** 2, 0, 0]), rtol=1e-7)
    np.testing.assert_allclose(central_hessian(f, x0, steps(x0)), hess)


def test_hessian_at_a_bound_is_one_sided_for_an_even_function():
    """Clamped at lower = 0, x^2 at 0 gives (f(h) - 2 f(0) + f(0)) / h^2 = 1 (half of 2)."""
    hess = central_hessian(lambda x: x[0] ** 2, np.array([0.0]), np.array([1e-3]),
                           lower=np.array([0.0]))
    assert hess[0, 0] == pytest.approx(1.0)


def test_jacobian_of_a_matrix_function_and_slope():
    def f(x):
        return np.array([[x[0] * x[1], np.sin(x[0])], [x[1] ** 2, 1.0]])

    x0 = np.array([0.3, 1.7])
    jac = central_jacobian(f, x0, steps(x0, 1e-5))
    np.testing.assert_allclose(jac[0], [[x0[1], np.cos(x0[0])], [0, 0]], atol=1e-8)
    np.testing.assert_allclose(jac[1], [[x0[0], 0], [2 * x0[1], 0]], atol=1e-8)
    assert abs(central_slope(np.tanh, 0.4) - (1 - np.tanh(0.4) ** 2)) < 1e-9
