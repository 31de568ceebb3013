"""The analytic gradient of the profiled deviance for scalar random-effect terms.

For models whose terms are all scalar (one relative SD ``theta_k`` per term, e.g. crossed
random intercepts ``(1 | s) + (1 | d)``), with ``Omega = Lambda'Z'Z Lambda + I``,
``W = Lambda'Z'X``, the conditional modes ``u`` and ``r^2`` the penalised residual sum of
squares at the optimum (Bates et al. 2015, section 3):

* ``d log|Omega| / d theta_k = (2 / theta_k) (m_k - tr_k(Omega^-1))``, with ``tr_k`` the
  trace over the term's diagonal block and ``m_k`` its number of units;
* ``d r^2 / d theta_k = -(2 / theta_k) |u_k|^2`` (the modes and ``beta`` minimise
  ``r^2``, so only its explicit dependence counts, and ``theta_k Z_k' e = u_k``);
* ``d log|R_X|^2 / d theta_k = -(2 / theta_k) tr(C G_k'G_k)`` with ``G = Omega^-1 W`` and
  ``C = (R_X'R_X)^-1`` (REML only).

So the ML deviance ``log|Omega| + n (1 + log(2 pi r^2 / n))`` has
``g_k = (2 / theta_k) (m_k - tr_k(Omega^-1) - n |u_k|^2 / r^2)``; REML adds
``- tr(C G_k'G_k)`` and uses ``n - p``. At ``theta_k = 0`` the deviance is even in
``theta_k`` and ``g_k = 0``.

The traces come from the blocked factor ``L = [[L_11, 0], [L_21, L_22]]`` (one
block-diagonal prefix term, a dense tail): with ``S = L_22 L_22'`` and
``B = L_21 L_11^-1``, the prefix block of ``Omega^-1`` has trace
``sum 1 / L_11^2 + <S^-1, B B'>`` and a tail term's block the trace of its block of
``S^-1`` (the lower triangle of ``S^-1`` from LAPACK's ``potri``, about the cost of two
factorisations; ``B B'`` by the factor's gather of the tail update, with other weights).
Other block structures (several block-diagonal terms, vector terms) have no analytic
gradient here: :func:`supports_gradient` says which.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

__all__ = ["supports_gradient", "deviance_and_gradient"]


def supports_gradient(dev) -> bool:
    """Whether :func:`deviance_and_gradient` applies to the profiled deviance ``dev``:
    every term scalar, at most one block-diagonal (prefix) term, and a dense tail."""
    chol = dev.chol
    return (len(dev.terms) > 1 and all(t.q == 1 for t in dev.terms)
            and chol.n_prefix <= 1 and bool(chol.tail))


def _tail_inverse_lower(tail_chol: np.ndarray) -> np.ndarray:
    """The lower triangle (diagonal included; 0 above) of ``S^-1`` from the lower
    Cholesky factor of ``S`` (C-ordered, 0 above the diagonal), in the factor's memory."""
    inv, info = lapack.dpotri(tail_chol.T, lower=0, overwrite_c=1)  # as U = L'
    if info != 0:
        raise np.linalg.LinAlgError("potri failed")
    return inv.T


def _tail_update_lower(dev, f) -> np.ndarray:
    """The lower triangle (diagonal included; 0 above) of ``B B'``, ``B = L_21 L_11^-1``:
    ``D_T A diag(lambda_0^2 / L_11^4) A' D_T`` by the factor's kernel when it has one."""
    chol = dev.chol
    kinv = f.chol_inv[0][:, 0, 0]
    kernel = chol.tail_outer_products()
    if kernel is not None:
        lam0 = f.lambdas[0][0, 0]
        scale = chol.tail_scale(f.lambdas)
        lower = kernel.lower(lam0 ** 2 * kinv ** 4)
        lower *= scale[:, None]
        lower *= scale[None, :]
        return lower
    b = f.below[("T", 0)].multiply(kinv[None, :]).tocsr()
    return np.tril((b @ b.T).toarray())


def deviance_and_gradient(dev, theta: np.ndarray, reml: bool) -> tuple[float, np.ndarray]:
    """The profiled deviance of ``dev`` at ``theta`` and its gradient (user term order).
    ``(inf, nan)`` where ``Omega`` is not positive definite."""
    theta = np.asarray(theta, dtype=float)
    try:
        sol = dev.solution(theta, reml)
    except np.linalg.LinAlgError:
        return np.inf, np.full(len(theta), np.nan)
    f, chol, plan = sol.factor, dev.chol, dev.plan
    p = dev.p
    n_eff = dev.n - p if reml else dev.n
    off = chol.tail_offsets
    cols = []
    if reml:  # G = Omega^-1 W, block by block: back-substitution on the factor's X rows
        rows = list(f.xrow) + [f.tail_xrow[off[j]:off[j + 1]] for j in range(len(chol.tail))]
        cols = [chol.solve_upper(f, [r[:, a] for r in rows]) for a in range(p)]
    s_inv = _tail_inverse_lower(f.tail_chol)  # the factor is not used after this
    diag = np.diag(s_inv).copy()
    # traces of Omega^-1 per term, in elimination order
    traces = []
    if chol.n_prefix:
        kinv = f.chol_inv[0][:, 0, 0]
        lower = _tail_update_lower(dev, f)
        # <S^-1, B B'> from the lower triangles: twice their sum less the diagonal
        inner = 2.0 * np.einsum("ij,ij->", s_inv, lower) - float(diag @ np.diag(lower))
        traces.append(float(np.sum(kinv ** 2) + inner))
    traces += [float(diag[off[j]:off[j + 1]].sum()) for j in range(len(chol.tail))]
    c = sol.xtvinvx_inv
    grad_elim = np.zeros(len(plan.order))
    for pos, i in enumerate(plan.order):
        t = dev.terms[i]
        th = theta[i]
        if th <= 0.0:
            continue
        u2 = float(np.sum(sol.u[i] ** 2))
        g = t.n_units - traces[pos] - n_eff * u2 / sol.r2
        if reml:
            gk = np.column_stack([cols[a][pos] for a in range(p)])  # (m_k, p)
            g -= float(np.sum(c * (gk.T @ gk)))
        grad_elim[pos] = 2.0 * g / th
    grad = np.zeros(len(theta))
    for pos, i in enumerate(plan.order):
        grad[i] = grad_elim[pos]
    return sol.deviance, grad
