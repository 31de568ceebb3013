"""The update of the dense tail by a scalar block-diagonal term: ``A diag(c) A'``.

With a scalar first term (``m`` units) and scalar tail terms (``M_T`` columns), the update
of the tail's diagonal block in each factorisation is ``D_T A diag(c) A' D_T`` for a fixed
sparse ``A = Z_T'Z_1`` (``M_T x m``, unscaled), new unit weights ``c`` and the tail's
scaling ``D_T``; the gradient needs the same product with other weights. A sparse matrix
product recomputes its symbolic phase each time and costs ``sum_i nnz_i^2`` scattered
operations (``nnz_i`` the nonzeros of unit ``i``'s column). Here the columns are split:

* **sparse units** (few nonzeros): the products ``A[r, i] A[s, i]`` (``r <= s``) are
  gathered once into a CSR matrix ``G`` of shape ``(M_T^2, m)``, so the lower triangle of
  the update is ``G c``, one pass over the products;
* **dense units** (many nonzeros, e.g. the most active users of a ratings matrix): their
  columns are kept as a dense ``M_T x k`` block ``A_d`` and their part of the update is
  one BLAS rank-``k`` update ``(A_d C^{1/2})(A_d C^{1/2})'`` (``syrk``), added in place.

Only the lower triangle is formed (the Cholesky factorisation reads no other), in a new
array each call.

A unit is dense when its share of the gathered products would cost more than its BLAS
update (``nnz_i^2 / 2`` scattered products against ``M_T^2`` flops at BLAS speed), and
further units, densest first, while the gathered products exceed :data:`MAX_PRODUCTS`
(the memory of ``G``: 12 bytes a product).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import blas

__all__ = ["TailOuterProducts"]

MAX_PRODUCTS = 40_000_000  # gathered products kept (~480 MB)
BLAS_ADVANTAGE = 40.0  # one BLAS flop costs about 1/40 of one gathered product


class TailOuterProducts:
    """``A diag(c) A'`` for a fixed sparse ``A`` and new nonnegative weights ``c``.

    Parameters
    ----------
    a : scipy.sparse matrix, shape (M_T, m)
        The unscaled cross-products of the tail columns (rows) with the units of the
        block-diagonal term (columns).
    max_products : int
        Budget of gathered products (sparse units).
    """

    def __init__(self, a, *, max_products: int = MAX_PRODUCTS):
        cols = sp.csc_matrix(a)
        cols.sum_duplicates()
        cols.sort_indices()
        m_t, m = cols.shape
        self.shape = (m_t, m_t)
        nnz = np.diff(cols.indptr).astype(np.int64)
        dense = self.dense_units(nnz, m_t, max_products)
        self.dense_idx = np.flatnonzero(dense)
        self.sparse_idx = np.flatnonzero(~dense)
        # the dense units' columns, Fortran-ordered for syrk
        self.dense_cols = np.asfortranarray(cols[:, self.dense_idx].toarray())
        self.gather = self._gather(cols[:, self.sparse_idx], m_t)

    @staticmethod
    def dense_units(nnz: np.ndarray, m_t: int, max_products: int = MAX_PRODUCTS) -> np.ndarray:
        """Which units (by their column's nonzeros ``nnz``) are updated by BLAS."""
        pairs = nnz * (nnz + 1) // 2
        dense = pairs * BLAS_ADVANTAGE > float(m_t) ** 2
        order = np.argsort(-nnz, kind="stable")
        kept = np.cumsum(np.where(dense, 0, pairs)[order][::-1])[::-1]  # from each on
        over = kept > max_products
        dense[order[over]] = True
        return dense

    @staticmethod
    def _gather(cols: sp.csc_matrix, m_t: int) -> sp.csr_matrix:
        """The CSR matrix ``G``: row ``s M_T + r`` (row ``s``, column ``r`` of the update)
        holds ``A[r, i] A[s, i]`` in column ``i`` for the units ``i`` meeting both, ``r <= s``.

        Built block by block of rows (one tail row ``s`` of ``A`` at a time, its products
        sorted by ``r``), so the arrays are written once, in order, and the temporaries
        are one block's. (A CSR matrix-vector product reads ``c`` at random and writes in
        order: about 2.5 times faster here than the scattered writes of a CSC one.)
        """
        m, r_type = cols.shape[1], cols.indices.dtype
        col_of = np.repeat(np.arange(m), np.diff(cols.indptr))  # unit of each entry
        by_row = np.lexsort((col_of, cols.indices))  # the entries in (row, unit) order
        row_ptr = np.searchsorted(cols.indices[by_row], np.arange(m_t + 1))
        first = cols.indptr[:-1][col_of]  # where each entry's column starts
        upto = np.arange(len(col_of)) - first + 1  # its column's entries up to it (r <= s)
        total = int(upto.sum())
        index_type = np.int32 if max(total, m_t * m_t) < 2 ** 31 else np.int64
        indptr = np.zeros(m_t * m_t + 1, dtype=index_type)
        indices = np.empty(total, dtype=index_type)
        data = np.empty(total)
        key_type = np.uint16 if m_t <= 2 ** 16 else r_type  # numpy radix-sorts 16 bits
        pos = 0
        for s in range(m_t):
            ks = by_row[row_ptr[s]:row_ptr[s + 1]]  # the entries (s, i)
            reps = upto[ks]
            n = int(reps.sum())
            offsets = np.cumsum(reps) - reps
            partner = np.repeat(first[ks] - offsets, reps) + np.arange(n)  # entries (r, i)
            r = cols.indices[partner]
            order = np.argsort(r.astype(key_type, copy=False), kind="stable")
            indices[pos:pos + n] = np.repeat(col_of[ks], reps)[order]
            data[pos:pos + n] = (np.repeat(cols.data[ks], reps) * cols.data[partner])[order]
            per_r = np.bincount(r, minlength=m_t)
            indptr[s * m_t + 1:(s + 1) * m_t + 1] = pos + np.cumsum(per_r)
            pos += n
        return sp.csr_matrix((data, indices, indptr), shape=(m_t * m_t, m))

    def lower(self, c: np.ndarray) -> np.ndarray:
        """The lower triangle (diagonal included; 0 above) of ``A diag(c) A'``."""
        c = np.asarray(c, dtype=float)
        out = (self.gather @ c[self.sparse_idx]).reshape(self.shape)
        if self.dense_idx.size:
            scaled = self.dense_cols * np.sqrt(c[self.dense_idx])[None, :]
            # out.T is Fortran-ordered: its upper triangle is out's lower one
            blas.dsyrk(1.0, np.asfortranarray(scaled), beta=1.0, c=out.T, lower=0,
                       overwrite_c=1)
        return out

    def __call__(self, c: np.ndarray) -> np.ndarray:
        """The whole (symmetric) ``A diag(c) A'``."""
        lower = self.lower(c)
        return lower + np.tril(lower, -1).T
