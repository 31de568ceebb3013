"""Conditional covariances of the random effects (lme4's ``ranef(condVar = TRUE)``).

``Var(b | y, theta, beta) = sigma^2 Lambda A^{-1} Lambda'`` with
``A = Lambda' Z'Z Lambda + I = L L'``; only the ``q x q`` diagonal blocks of ``A^{-1}`` (one
per unit) are needed. With ``C = L^{-1}``, the block of unit ``i`` is ``sum_j C_ji' C_ji``
over the row blocks ``j`` of column block ``i``. Column by term: ``C_kk = L_kk^{-1}``
(block-diagonal), ``C_lk = -L_ll^{-1} sum_{k <= j < l} W_lj C_jk`` for later prefix terms
(sparse: a unit reaches only its ancestors under nesting) and the dense tail likewise.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from mixedext._engine.factor import BlockedCholesky, Factor, _blockdiag

__all__ = ["conditional_covariances"]


def _unit_grams(c, m: int, q: int) -> np.ndarray:
    """Per-unit ``q x q`` Gram matrices of the column blocks of ``c`` (rows x m*q)."""
    if sp.issparse(c):
        if q == 1:
            return np.asarray(c.multiply(c).sum(axis=0)).reshape(m, 1, 1)
        g = (c.T @ c).tocoo()
        keep = g.row // q == g.col // q
        out = np.zeros((m, q, q))
        np.add.at(out, (g.row[keep] // q, g.row[keep] % q, g.col[keep] % q), g.data[keep])
        return out
    c3 = c.reshape(c.shape[0], m, q)
    return np.einsum("rma,rmb->mab", c3, c3)


def conditional_covariances(chol: BlockedCholesky, f: Factor, sigma2: float) -> list:
    """``Var(b_k[i] | y)`` per term (elimination order), each an (m_k, q_k, q_k) array."""
    terms, npre = chol.terms, chol.n_prefix
    out: list = [None] * len(terms)
    tail_inv = np.zeros((0, 0))
    if chol.tail:
        assert f.tail_chol is not None  # a factor with a dense tail
        tail_inv = sla.solve_triangular(f.tail_chol, np.eye(f.tail_chol.shape[0]), lower=True)
    for k in range(npre):
        m, q = terms[k].n_units, terms[k].q
        cols = {k: _blockdiag(f.chol_inv[k])}
        gram = _unit_grams(cols[k], m, q)
        for l in range(k + 1, npre):
            acc = sum(f.below[(l, j)] @ cols[j] for j in range(k, l))
            cols[l] = -(_blockdiag(f.chol_inv[l]) @ acc).tocsr()
            gram += _unit_grams(cols[l], m, q)
        if chol.tail:
            acc = sum(f.below[("T", j)] @ cols[j] for j in range(k, npre))
            ct = -(tail_inv @ acc.toarray())
            gram += _unit_grams(ct, m, q)
        out[k] = gram
    for j, l in enumerate(chol.tail):
        s = slice(chol.tail_offsets[j], chol.tail_offsets[j + 1])
        out[l] = _unit_grams(tail_inv[:, s], terms[l].n_units, terms[l].q)
    return [sigma2 * np.einsum("ab,mbc,dc->mad", lam, g, lam)
            for lam, g in zip(f.lambdas, out)]
