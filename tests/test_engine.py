"""The numerical kernels of mixedext._engine, each against a dense brute-force version."""

import numpy as np
import pytest
import scipy.linalg as sla

from mixedext._engine.crossprod import cross_products
from mixedext._engine.deviance import ProfiledDeviance
from mixedext._engine.factor import lambda_blocks, plan_elimination
from mixedext.formula.terms import build_term


def _design(seed=0, crossed=True, slope=True):
    rs = np.random.RandomState(seed)
    n = 300
    a = rs.randint(0, 4, n)
    b = rs.randint(0, 3, n)            # nested in a: units (a, b)
    c = rs.randint(0, 7, n)            # crossed with a/b
    x = rs.normal(size=n)
    X = np.column_stack([np.ones(n), x, rs.normal(size=n)])
    y = X @ [1.0, 0.5, -0.2] + rs.normal(size=n)
    terms = [build_term("a", [a], None, ("Intercept",)),
             build_term("a/b", [a, b], np.column_stack([np.ones(n), x]) if slope else None,
                        ("Intercept", "x") if slope else ("Intercept",))]
    if crossed:
        terms.append(build_term("c", [c], None, ("Intercept",), cov="scalar"))
    return X, y, terms


def _dense_z(terms, n):
    blocks = []
    for t in terms:
        z = np.ones((n, 1)) if t.z is None else t.z
        zz = np.zeros((n, t.n_units * t.q))
        for a in range(t.q):
            zz[np.arange(n), t.codes * t.q + a] = z[:, a]
        blocks.append(zz)
    return np.hstack(blocks)


def _dense_deviance(X, y, terms, theta, reml):
    """Deviance from the marginal likelihood y ~ N(X beta, sigma^2 (Z Lam Lam' Z' + I))."""
    n, p = X.shape
    z = _dense_z(terms, n)
    lam = sla.block_diag(*[np.kron(np.eye(t.n_units), lb)
                           for t, lb in zip(terms, lambda_blocks(theta, terms))])
    v = z @ lam @ lam.T @ z.T + np.eye(n)
    vi = np.linalg.inv(v)
    beta = np.linalg.solve(X.T @ vi @ X, X.T @ vi @ y)
    r = y - X @ beta
    dof = n - p if reml else n
    s2 = r @ vi @ r / dof
    dev = np.linalg.slogdet(v)[1] + dof * (1 + np.log(2 * np.pi * s2))
    if reml:
        dev += np.linalg.slogdet(X.T @ vi @ X)[1]
    return dev, beta, s2


@pytest.mark.parametrize("crossed, slope", [(False, False), (False, True), (True, False),
                                            (True, True)])
@pytest.mark.parametrize("reml", [True, False])
def test_deviance_matches_dense_marginal_likelihood(crossed, slope, reml):
    X, y, terms = _design(crossed=crossed, slope=slope)
    dev = ProfiledDeviance(X, y, terms)
    rs = np.random.RandomState(1)
    for _ in range(3):
        theta = np.abs(rs.normal(size=dev.n_theta)) + 0.1
        sol = dev.solution(theta, reml)
        want, beta, s2 = _dense_deviance(X, y, terms, theta, reml)
        assert sol.deviance == pytest.approx(want, rel=1e-10)
        np.testing.assert_allclose(sol.beta, beta, rtol=1e-8)
        assert sol.sigma2 == pytest.approx(s2, rel=1e-8)


def test_conditional_modes_match_dense_solution():
    X, y, terms = _design()
    dev = ProfiledDeviance(X, y, terms)
    theta = np.array([0.8, 0.5, 0.1, 0.3, 0.6])
    sol = dev.solution(theta, True)
    z = _dense_z(terms, len(y))
    lam = sla.block_diag(*[np.kron(np.eye(t.n_units), lb)
                           for t, lb in zip(terms, lambda_blocks(theta, terms))])
    zl = z @ lam
    u = np.linalg.solve(zl.T @ zl + np.eye(zl.shape[1]), zl.T @ (y - X @ sol.beta))
    b = lam @ u
    np.testing.assert_allclose(np.concatenate([bb.reshape(-1) for bb in sol.b]), b, atol=1e-10)


def test_plan_nested_is_block_diagonal_crossed_is_dense():
    X, y, terms = _design(crossed=False)
    plan = plan_elimination(terms, cross_products(X, y, terms))
    assert plan.n_prefix == 2 and plan.order == (1, 0)  # inner level first, no dense tail
    X, y, terms = _design(crossed=True)
    plan = plan_elimination(terms, cross_products(X, y, terms))
    assert plan.n_prefix == 1  # a/b eliminated block-diagonally; a and c form the tail


def test_plan_puts_the_cheaper_term_in_the_dense_tail():
    """A vector term on fewer units but more columns is eliminated first by cost (its
    units are block-diagonal and the scalar term, fewer columns, forms the tail); the
    deviance is that of the dense marginal likelihood either way."""
    from mixedext._engine.factor import Plan, elimination_cost

    rs = np.random.RandomState(5)
    n, n_items, n_users = 1500, 60, 90
    item, user = rs.randint(0, n_items, n), rs.randint(0, n_users, n)
    x, z = rs.normal(size=n), rs.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    y = X @ [1.0, 0.3] + rs.normal(size=n)
    terms = [build_term("user", [user], None, ("Intercept",)),
             build_term("item", [item], np.column_stack([np.ones(n), x, z]),
                        ("Intercept", "x", "z"))]
    cp = cross_products(X, y, terms)
    plan = plan_elimination(terms, cp)
    assert plan.order == (1, 0) and plan.n_prefix == 1
    by_units = Plan(order=(0, 1), n_prefix=1)
    assert elimination_cost(terms, cp, plan) < elimination_cost(terms, cp, by_units)
    dev = ProfiledDeviance(X, y, terms)
    theta = np.array([0.7, 0.9, 0.2, 0.5, -0.1, 0.1, 0.4])
    want = _dense_deviance(X, y, terms, theta, True)[0]
    assert dev.solution(theta, True).deviance == pytest.approx(want, rel=1e-10)


def test_cross_products_match_dense():
    X, y, terms = _design()
    cp = cross_products(X, y, terms)
    z = _dense_z(terms, len(y))
    xy = np.column_stack([X, y])
    np.testing.assert_allclose(cp.xyxy, xy.T @ xy)
    off = np.cumsum([0] + [t.n_units * t.q for t in terms])
    for k, t in enumerate(terms):
        zk = z[:, off[k]:off[k + 1]]
        full = zk.T @ zk
        for i in range(t.n_units):
            s = slice(i * t.q, (i + 1) * t.q)
            np.testing.assert_allclose(cp.ztz[k][i], full[s, s])
        np.testing.assert_allclose(cp.ztxy[k].reshape(-1, xy.shape[1]), zk.T @ xy, atol=1e-10)
        for l in range(k):
            zl = z[:, off[l]:off[l + 1]]
            np.testing.assert_allclose(cp.pairs[(k, l)].toarray(), zk.T @ zl, atol=1e-10)


def test_central_hessian_of_known_functions():
    from mixedext._engine.differences import central_hessian

    a = np.array([[3.0, 1.0, 0.5], [1.0, 2.0, -0.3], [0.5, -0.3, 4.0]])
    x0 = np.array([0.2, -1.0, 2.0])
    quad = central_hessian(lambda x: 0.5 * x @ a @ x, x0,
                           np.full(3, 1e-3))
    np.testing.assert_allclose(quad, a, rtol=1e-6)
    # exp(x0 x1): [[x1^2, (1 + x0 x1)], [., x0^2]] * exp(x0 x1)
    x = np.array([0.3, 0.7])
    got = central_hessian(lambda v: np.exp(v[0] * v[1]), x, np.full(2, 1e-4))
    e = np.exp(x[0] * x[1])
    want = e * np.array([[x[1] ** 2, 1 + x[0] * x[1]], [1 + x[0] * x[1], x[0] ** 2]])
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # clamped at a lower bound: the point itself is never left below it
    seen = []
    central_hessian(lambda v: seen.append(v.copy()) or float(v @ v), np.array([0.0, 1.0]),
                    np.full(2, 1e-3), lower=np.array([0.0, -np.inf]))
    assert min(v[0] for v in seen) == 0.0


@pytest.mark.parametrize("max_products", [10**9, 300, 0])  # gathered, split, all dense
def test_tail_outer_products_kernel(max_products):
    import scipy.sparse as sp

    from mixedext._engine.tail_update import TailOuterProducts

    rs = np.random.RandomState(3)
    a = sp.random(40, 120, density=0.08, random_state=rs, format="csr")
    heavy = sp.csr_matrix(rs.poisson(2.0, size=(40, 3)).astype(float))  # dense columns
    empty = sp.csr_matrix((40, 1))  # a unit meeting no tail row
    a = sp.hstack([a, heavy, empty], format="csr")
    c = rs.rand(a.shape[1])
    kernel = TailOuterProducts(a, max_products=max_products)
    want = (a @ sp.diags(c) @ a.T).toarray()
    np.testing.assert_allclose(kernel(c), want, atol=1e-12)
    np.testing.assert_allclose(kernel.lower(c), np.tril(want), atol=1e-12)
    n_dense, met = kernel.dense_idx.size, int((a.getnnz(axis=0) > 0).sum())
    assert {10**9: n_dense == 3, 300: 3 < n_dense < met, 0: n_dense == met}[max_products]


@pytest.mark.parametrize("sorted_codes", [True, False])
@pytest.mark.parametrize("kept", [None, 0.3, 0.8])  # no mask, few rows, most rows
def test_unit_sums_kernel(sorted_codes, kept):
    from mixedext._engine.grams import UnitSums

    rs = np.random.RandomState(4)
    n, m = 200, 13
    codes = rs.randint(0, m, n)
    if sorted_codes:
        codes = np.sort(codes)
    left, right = rs.normal(size=(n, 4)), rs.normal(size=(n, 4))
    mask = rs.rand(n) < (kept or 2.0)
    got = UnitSums(codes, m).grams(left, right, [0, 2], None if kept is None else mask)
    want = np.zeros((m, 4, 4))
    for i in np.flatnonzero(mask):
        want[codes[i]] += np.outer(left[i], right[i])
    np.testing.assert_allclose(got.rows, want[:, [0, 2]], atol=1e-12)
    np.testing.assert_allclose(got.total, want.sum(axis=0), atol=1e-12)
