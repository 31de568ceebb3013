"""Blocked Cholesky factor of ``Omega(theta) = [[L'Z'ZL + I, L'Z'[X y]], [., [X y]'[X y]]]``.

``L`` here is lme4's relative covariance factor Lambda_theta (block diagonal, one
``q x q`` block per unit of a term). The random-effect columns are ordered term by term,
terms with most units first (as MixedModels.jl does), and factored in two kinds of block:

* **block-diagonal** terms (the *prefix*): the diagonal block of the term is one small
  ``q x q`` matrix per unit, factored with a batched ``np.linalg.cholesky``. A term stays
  block-diagonal when every unit of each earlier term meets at most one of its units,
  i.e. when the earlier terms are nested in it. A single term, nested terms of any
  depth, and several terms on the same grouping factor all factor this way in
  ``O(units * q^3)``;
* a **dense tail**: the remaining terms (crossed factors), merged in one dense block.

The fixed-effect and response columns ``[X y]`` come last, so the factor's last block
``L_xx`` holds ``R_X'`` and ``r`` (the square root of the penalised residual sum of
squares) of the appendix of ``design.md``.

Names: ``m`` units, ``q`` covariates per unit, ``M = m q`` columns of a term, ``p``
fixed effects; ``D`` a block-diagonal block (m, q, q); ``S`` an off-diagonal block of
Omega, ``W`` the corresponding block of the factor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.linalg import lapack

from mixedext._engine.crossprod import CrossProducts, RandomTerm
from mixedext._engine.tail_update import TailOuterProducts

__all__ = ["BlockedCholesky", "Factor", "Plan", "elimination_cost", "lambda_blocks",
           "plan_elimination", "theta_bounds"]


class NotPositiveDefinite(np.linalg.LinAlgError):
    """The fixed-effect block is singular: the fixed effects are not identified."""


def lambda_blocks(theta: np.ndarray, terms: list[RandomTerm]) -> list[np.ndarray]:
    """Split ``theta`` into the ``q x q`` lower-triangular factor of each term.

    A ``"full"`` term takes ``q (q + 1) / 2`` values, the lower triangle in column-major
    order (lme4's ``theta``); a ``"scalar"`` term one value, ``theta I_q``.
    """
    out, pos = [], 0
    for t in terms:
        q = t.q
        if t.cov == "scalar":
            out.append(theta[pos] * np.eye(q))
            pos += 1
        else:
            lam = np.zeros((q, q))
            rows, cols = np.tril_indices(q)
            order = np.lexsort((rows, cols))  # column-major
            lam[rows[order], cols[order]] = theta[pos:pos + t.n_theta]
            out.append(lam)
            pos += t.n_theta
    return out


def theta_bounds(terms: list[RandomTerm]) -> np.ndarray:
    """Lower bounds of ``theta``: 0 on diagonals of Lambda, ``-inf`` off the diagonal."""
    lower = []
    for t in terms:
        if t.cov == "scalar":
            lower.append(0.0)
            continue
        rows, cols = np.tril_indices(t.q)
        order = np.lexsort((rows, cols))
        lower.extend(np.where(rows[order] == cols[order], 0.0, -np.inf))
    return np.asarray(lower, dtype=float)


@dataclass(frozen=True)
class Plan:
    """The symbolic part of the factorization, fixed for a model.

    ``order`` lists the terms in elimination order (most units first); the first
    ``n_prefix`` of them are factored block-diagonally, the rest form the dense tail.
    """

    order: tuple[int, ...]
    n_prefix: int


def _unit_pattern(block: sp.csr_matrix, ql: int, qk: int, ml: int, mk: int) -> sp.csr_matrix:
    coo = block.tocoo()
    keep = coo.data != 0
    pat = sp.coo_matrix((np.ones(keep.sum(), dtype=bool),
                         (coo.row[keep] // ql, coo.col[keep] // qk)), shape=(ml, mk))
    return pat.tocsr()


def plan_elimination(terms: list[RandomTerm], cp: CrossProducts) -> Plan:
    """Choose the elimination order and how many terms factor block-diagonally.

    Two orders are considered, terms by units and by columns (most first; they differ
    only with vector terms), and the one of lower :func:`elimination_cost` is kept.
    """
    by_units = sorted(range(len(terms)), key=lambda i: -terms[i].n_units)
    by_columns = sorted(range(len(terms)), key=lambda i: (-terms[i].n_units * terms[i].q,
                                                          -terms[i].n_units))
    plans = [_plan_for_order(terms, cp, order)
             for order in dict.fromkeys([tuple(by_units), tuple(by_columns)])]
    return min(plans, key=lambda plan: elimination_cost(terms, cp, plan))


def _plan_for_order(terms, cp, order) -> Plan:
    """The plan of one elimination order: simulates the fill of the elimination on
    unit-level sparsity patterns; term ``k`` is block-diagonal if, for every term
    eliminated before it, each unit meets at most one unit of ``k`` (so the update
    ``W W'`` of its diagonal block is block-diagonal)."""
    pat = _unit_patterns(terms, cp, order)
    n_prefix = 0
    for k in range(len(order)):
        if any(pat[(k, j)].getnnz(axis=0).max(initial=0) > 1 for j in range(k)):
            break
        n_prefix += 1
        for l in range(k + 1, len(order)):
            for l2 in range(l + 1, len(order)):
                pat[(l2, l)] = (pat[(l2, l)] + pat[(l2, k)] @ pat[(l, k)].T).astype(bool)
    return Plan(order=tuple(order), n_prefix=n_prefix)


def _unit_patterns(terms, cp, order) -> dict:
    """``(a, b) -> `` which units of the ``a``-th term in ``order`` meet which of the
    ``b``-th (``a > b``), as a boolean sparse matrix."""
    pat = {}
    for a, ia in enumerate(order):
        for b in range(a):
            ib = order[b]
            blk = cp.pairs[(ia, ib)] if ia > ib else cp.pairs[(ib, ia)].T.tocsr()
            pat[(a, b)] = _unit_pattern(blk, terms[ia].q, terms[ib].q,
                                        terms[ia].n_units, terms[ib].n_units)
    return pat


def elimination_cost(terms: list[RandomTerm], cp: CrossProducts, plan: Plan) -> float:
    """Flops of one factorisation under ``plan``, roughly: the batched Cholesky factors
    of the prefix terms (``m q^3``), the first prefix term's update of the dense tail
    (``q^2`` times the squared tail units each of its units meets), and the tail's
    dense Cholesky factor with its inverse (``M_T^3``, as the gradient needs both)."""
    order, npre = plan.order, plan.n_prefix
    cost = float(sum(terms[i].n_units * terms[i].q ** 3 for i in order[:npre]))
    tail = order[npre:]
    m_tail = sum(terms[i].n_units * terms[i].q for i in tail)
    cost += float(m_tail) ** 3
    if npre and tail:
        first = order[0]
        met = np.zeros(terms[first].n_units)
        for i in tail:
            blk = cp.pairs[(i, first)] if i > first else cp.pairs[(first, i)].T.tocsr()
            pat = _unit_pattern(blk, terms[i].q, terms[first].q, terms[i].n_units,
                                terms[first].n_units)
            met += pat.getnnz(axis=0) * terms[i].q
        cost += float(np.sum((met * terms[first].q) ** 2))
    return cost


@dataclass
class Factor:
    """The numeric factor at one ``theta`` (all blocks in elimination order).

    Attributes
    ----------
    chol : list of ndarray (m, q, q)
        Block-diagonal Cholesky factors of the prefix terms.
    chol_inv : list of ndarray (m, q, q)
        Their inverses.
    below : dict
        ``(l, k) -> W_lk`` sparse, for prefix terms ``l > k``; ``("T", k)`` for the tail.
    xrow : list of ndarray (M_k, p + 1)
        The ``[X y]`` rows of the factor against prefix term ``k`` (transposed).
    tail_chol : ndarray (M_T, M_T) or None
    tail_xrow : ndarray (M_T, p + 1) or None
    lxx : ndarray (p + 1, p + 1) or None
        Lower Cholesky factor of the Schur complement of ``[X y]`` (None when skipped).
    logdet : float
        ``log |L_theta|^2``.
    lambdas : list of ndarray
        Lambda blocks of the terms in elimination order.
    """

    chol: list
    chol_inv: list
    below: dict
    xrow: list
    tail_chol: np.ndarray | None
    tail_xrow: np.ndarray | None
    lxx: np.ndarray | None
    logdet: float
    lambdas: list


def cholesky_lower_inplace(a: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor of the symmetric C-ordered ``a`` (only its lower triangle
    is read), computed in ``a``'s memory; 0 above the diagonal."""
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    # a.T is Fortran-ordered and its upper triangle is a's lower one: LAPACK factors it
    # as U'U in place, and U' is the lower factor of a
    u, info = lapack.dpotrf(a.T, lower=0, clean=1, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError("matrix is not positive definite")
    return u.T


def batched_cholesky(d: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of an (m, q, q) stack; closed forms for q = 1, 2."""
    q = d.shape[1]
    if q == 1:
        if not np.all(d > 0):
            raise np.linalg.LinAlgError("matrix is not positive definite")
        return np.sqrt(d)
    if q == 2:
        out = np.zeros_like(d)
        if not np.all(d[:, 0, 0] > 0):
            raise np.linalg.LinAlgError("matrix is not positive definite")
        l11 = np.sqrt(d[:, 0, 0])
        l21 = d[:, 1, 0] / l11
        l22_sq = d[:, 1, 1] - l21 ** 2
        if not np.all(l22_sq > 0):
            raise np.linalg.LinAlgError("matrix is not positive definite")
        out[:, 0, 0], out[:, 1, 0] = l11, l21
        out[:, 1, 1] = np.sqrt(l22_sq)
        return out
    return np.linalg.cholesky(d)


def batched_tril_inverse(lower: np.ndarray) -> np.ndarray:
    """Inverses of an (m, q, q) stack of lower-triangular matrices."""
    q = lower.shape[1]
    if q == 1:
        return 1.0 / lower
    if q == 2:
        out = np.zeros_like(lower)
        out[:, 0, 0] = 1.0 / lower[:, 0, 0]
        out[:, 1, 1] = 1.0 / lower[:, 1, 1]
        out[:, 1, 0] = -lower[:, 1, 0] * out[:, 0, 0] * out[:, 1, 1]
        return out
    return np.linalg.inv(lower)


def _scale_columns(mat: sp.csr_matrix, blocks: np.ndarray) -> sp.csr_matrix:
    """``mat @ bd(blocks)`` for a block-diagonal right factor given as (m, q, q)."""
    if blocks.shape[1] == 1:
        out = mat.copy()
        out.data = out.data * blocks[:, 0, 0][out.indices]
        return out
    return (mat @ _blockdiag(blocks)).tocsr()


def _lambda_t_a_lambda(lam: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``Lambda' A_i Lambda`` for each (q, q) block of an (m, q, q) stack."""
    if lam.shape == (1, 1):
        return a * lam[0, 0] ** 2
    return np.einsum("ba,mbc,cd->mad", lam, a, lam)


def _left_multiply(left: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``left_i @ a_i`` for (m, q, c) ``a``; ``left`` one (q, q) matrix or an (m, q, q) stack."""
    if left.shape[-2:] == (1, 1):
        return a * (left.reshape(-1, 1, 1) if left.ndim == 3 else left[0, 0])
    if left.ndim == 2:
        return np.einsum("ab,mbp->map", left, a)
    return np.einsum("mab,mbp->map", left, a)


def _subtract_block_diagonal(d: np.ndarray, w: sp.csr_matrix) -> None:
    """``d -= blocks of w w'`` where ``w w'`` is known to be block-diagonal (nesting)."""
    m, q, _ = d.shape
    if q == 1:
        rows = np.repeat(np.arange(w.shape[0]), np.diff(w.indptr))
        d[:, 0, 0] -= np.bincount(rows, weights=w.data ** 2, minlength=m)
        return
    upd = (w @ w.T).tocoo()
    np.add.at(d, (upd.row // q, upd.row % q, upd.col % q), -upd.data)


def _blockdiag(blocks: np.ndarray) -> sp.csr_matrix:
    """Sparse block-diagonal matrix from an (m, q, q) array."""
    m, q, _ = blocks.shape
    if q == 1:
        return sp.diags(blocks[:, 0, 0], format="csr")
    cols = (np.arange(m)[:, None, None] * q + np.arange(q)[None, None, :]).repeat(q, axis=1)
    indptr = np.arange(0, m * q * q + 1, q)
    return sp.csr_matrix((blocks.reshape(-1), cols.reshape(-1), indptr), shape=(m * q, m * q))


def _scale_pair(block, lam_l, lam_k, ml, mk):
    """``bd(Lambda_l)' block bd(Lambda_k)`` for a sparse off-diagonal block."""
    if lam_l.shape == (1, 1) and lam_k.shape == (1, 1):
        return block * (lam_l[0, 0] * lam_k[0, 0])
    left = sp.kron(sp.identity(ml), lam_l.T, format="csr")
    right = sp.kron(sp.identity(mk), lam_k, format="csr")
    return (left @ block @ right).tocsr()


class BlockedCholesky:
    """Refactor ``Omega(theta)`` for new ``theta``: one object per model.

    Holds the cross-products in elimination order; ``factorize(theta)`` returns a
    :class:`Factor`.
    """

    def __init__(self, terms: list[RandomTerm], cp: CrossProducts, plan: Plan):
        self.terms = [terms[i] for i in plan.order]
        self.plan = plan
        self.cp = cp
        order = plan.order
        self.ztz = [cp.ztz[i] for i in order]
        self.ztxy = [cp.ztxy[i] for i in order]
        self.pairs = {}
        for a, ia in enumerate(order):
            for b in range(a):
                ib = order[b]
                blk = cp.pairs[(ia, ib)] if ia > ib else cp.pairs[(ib, ia)].T.tocsr()
                self.pairs[(a, b)] = blk
        self.n_prefix = plan.n_prefix
        self.tail = list(range(plan.n_prefix, len(order)))
        self.tail_outer: TailOuterProducts | None = None
        self._tail_outer_source = None
        self._factorizations = 0
        sizes = [t.n_units * t.q for t in self.terms]
        self.tail_offsets = np.cumsum([0] + [sizes[i] for i in self.tail])
        if self.tail:
            # The unscaled dense tail Z_T'Z_T and its coupling to the prefix terms.
            mt = self.tail_offsets[-1]
            a0 = np.zeros((mt, mt))
            for j, l in enumerate(self.tail):
                s = slice(self.tail_offsets[j], self.tail_offsets[j + 1])
                if self.terms[l].q == 1:
                    np.fill_diagonal(a0[s, s], self.ztz[l][:, 0, 0])
                else:
                    a0[s, s] = sla.block_diag(*self.ztz[l])
                for j2, l2 in enumerate(self.tail[:j]):
                    s2 = slice(self.tail_offsets[j2], self.tail_offsets[j2 + 1])
                    a0[s, s2] = self.pairs[(l, l2)].toarray()
                    a0[s2, s] = a0[s, s2].T
            self.tail_ztz = a0
            # scalar first term and scalar tail: its update of the tail by a kernel built
            # at the second factorisation or the first gradient (a factor refactored once,
            # as in PIRLS, would not repay it)
            if self.n_prefix and self.terms[0].q == 1 and all(
                    self.terms[l].q == 1 for l in self.tail):
                self._tail_outer_source = sp.vstack([self.pairs[(l, 0)] for l in self.tail],
                                                    format="csr")

    def tail_outer_products(self) -> TailOuterProducts | None:
        """The kernel of the first term's update of the tail (None where the terms are not
        scalar), built on first use."""
        if self._tail_outer_source is not None:
            self.tail_outer = TailOuterProducts(self._tail_outer_source)
            self._tail_outer_source = None
        return self.tail_outer

    # -- step 1: set theta -------------------------------------------------------------
    def _lambdas(self, theta_user: np.ndarray, user_terms: list[RandomTerm]) -> list:
        lams = lambda_blocks(theta_user, user_terms)
        return [lams[i] for i in self.plan.order]

    # -- step 2: update the factor -------------------------------------------------------
    def factorize(self, theta_user: np.ndarray, user_terms: list[RandomTerm], *,
                  with_xx: bool = True) -> Factor:
        """Factor ``Omega(theta)``; ``with_xx=False`` skips the ``[X y]`` Schur block (for
        solves with the random-effect part only, e.g. PIRLS)."""
        lams = self._lambdas(theta_user, user_terms)
        terms, npre = self.terms, self.n_prefix
        self._factorizations += 1
        if self._factorizations == 2:
            self.tail_outer_products()
        p1 = self.cp.p + 1
        diag = [_lambda_t_a_lambda(lam, z) + np.eye(lam.shape[0])
                for lam, z in zip(lams[:npre], self.ztz[:npre])]
        xcol = [_left_multiply(lam.T, zx).reshape(-1, p1) for lam, zx in zip(lams, self.ztxy)]
        # off-diagonal blocks among prefix terms, and tail rows against each prefix term
        off = {(l, k): _scale_pair(self.pairs[(l, k)], lams[l], lams[k],
                                   terms[l].n_units, terms[k].n_units)
               for l in range(npre) for k in range(l)}
        tail_rows: dict = {}
        tail_a = tail_x = None
        if self.tail:
            for k in range(npre):
                tail_rows[k] = sp.vstack(
                    [_scale_pair(self.pairs[(l, k)], lams[l], lams[k],
                                 terms[l].n_units, terms[k].n_units) for l in self.tail],
                    format="csr")
            if self.tail_outer is not None and len(self.tail) == 1:
                pass  # one scalar tail term: its block is built from the kernel's update
            elif all(lams[l].shape == (1, 1) for l in self.tail):  # scalar terms: scaling
                tail_scale = self.tail_scale(lams)
                tail_a = np.multiply(self.tail_ztz, tail_scale[:, None])
                tail_a *= tail_scale[None, :]
                tail_a.flat[::tail_a.shape[0] + 1] += 1.0
            else:
                lam_t = sla.block_diag(*[np.kron(np.eye(terms[l].n_units), lams[l])
                                         for l in self.tail])
                tail_a = lam_t.T @ self.tail_ztz @ lam_t + np.eye(lam_t.shape[0])
            tail_x = np.vstack([xcol[l] for l in self.tail])
        xx = self.cp.xyxy.copy()

        chol: list = []
        chol_inv: list = []
        below: dict = {}
        xrow: list = []
        logdet = 0.0
        for k in range(npre):
            lk = batched_cholesky(diag[k])
            if not np.all(np.diagonal(lk, axis1=1, axis2=2) > 0):
                raise np.linalg.LinAlgError("block is not positive definite")
            kinv = batched_tril_inverse(lk)
            chol.append(lk)
            chol_inv.append(kinv)
            logdet += 2.0 * np.log(np.diagonal(lk, axis1=1, axis2=2)).sum()
            m, q = terms[k].n_units, terms[k].q
            right = np.transpose(kinv, (0, 2, 1))
            wx = _left_multiply(kinv, xcol[k].reshape(m, q, p1)).reshape(-1, p1)
            xrow.append(wx)
            xx -= wx.T @ wx
            w_k = {l: _scale_columns(off[(l, k)], right) for l in range(k + 1, npre)}
            below.update({(l, k): w for l, w in w_k.items()})
            for l, w in w_k.items():
                _subtract_block_diagonal(diag[l], w)
                xcol[l] = xcol[l] - w @ wx
                for l2 in range(l + 1, npre):
                    off[(l2, l)] = (off[(l2, l)] - w_k[l2] @ w.T).tocsr()
            if self.tail:
                wt = _scale_columns(tail_rows[k], right)
                below[("T", k)] = wt
                if k == 0 and self.tail_outer is not None:
                    # W W' = D_T (A diag(c) A') D_T, c = (lambda_0 / L_0)^2 per unit; only
                    # the lower triangle is formed: the Cholesky factor reads no other
                    c = (lams[0][0, 0] * kinv[:, 0, 0]) ** 2
                    tail_a = self._tail_block_updated(tail_a, c, lams)
                else:
                    tail_a -= (wt @ wt.T).toarray()
                tail_x -= wt @ wx
                for l, w in w_k.items():
                    tail_rows[l] = (tail_rows[l] - wt @ w.T).tocsr()
        tail_chol = tail_xrow = None
        if self.tail:
            assert tail_a is not None  # built above for every tail
            tail_chol = cholesky_lower_inplace(tail_a)
            tail_xrow = sla.solve_triangular(tail_chol, tail_x, lower=True)
            xx -= tail_xrow.T @ tail_xrow
            logdet += 2.0 * np.log(np.diag(tail_chol)).sum()
        lxx = None
        if with_xx:
            try:
                lxx = np.linalg.cholesky(xx)
            except np.linalg.LinAlgError as err:
                raise NotPositiveDefinite(str(err)) from err
        return Factor(chol=chol, chol_inv=chol_inv, below=below, xrow=xrow,
                      tail_chol=tail_chol, tail_xrow=tail_xrow, lxx=lxx, logdet=logdet,
                      lambdas=lams)

    def tail_scale(self, lams) -> np.ndarray:
        """``D_T``'s diagonal: each scalar tail unit's relative SD (``lams`` in
        elimination order)."""
        return np.concatenate([np.full(self.terms[l].n_units, lams[l][0, 0])
                               for l in self.tail])

    def _tail_block_updated(self, tail_a, c, lams):
        """The tail's diagonal block less the first term's update, ``D_T A diag(c) A' D_T``
        (lower triangle): built from the update for one tail term (``tail_a`` None; its
        block before the update is diagonal), else subtracted from ``tail_a``."""
        if tail_a is None:
            lam_t = lams[self.tail[0]][0, 0]
            out = self.tail_outer.lower(c * lam_t ** 2)
            out *= -1.0
            out.flat[::out.shape[0] + 1] += lam_t ** 2 * self.ztz[self.tail[0]][:, 0, 0] + 1.0
            return out
        scale = self.tail_scale(lams)
        update = self.tail_outer.lower(c)
        update *= scale[:, None]
        update *= scale[None, :]
        tail_a -= update
        return tail_a

    # -- solves with the random-effect part of the factor ------------------------------
    def solve_upper(self, f: Factor, v: list) -> list:
        """Solve ``L_Z' u = v`` (back substitution); ``v`` per term in elimination order."""
        npre = self.n_prefix
        u = [None] * len(self.terms)
        if self.tail:
            vt = np.concatenate([v[l] for l in self.tail])
            ut = sla.solve_triangular(f.tail_chol, vt, lower=True, trans="T")
            for j, l in enumerate(self.tail):
                u[l] = ut[self.tail_offsets[j]:self.tail_offsets[j + 1]]
        for k in reversed(range(npre)):
            rhs = v[k].copy()
            for l in range(k + 1, npre):
                rhs -= f.below[(l, k)].T @ u[l]
            if self.tail:
                rhs -= f.below[("T", k)].T @ ut
            m, q = self.terms[k].n_units, self.terms[k].q
            u[k] = np.einsum("mba,mb->ma", f.chol_inv[k], rhs.reshape(m, q)).reshape(-1)
        return u
