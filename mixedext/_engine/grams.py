"""Per-unit Gram matrices ``G_r = W_r' R_r^{-1} W_r`` and the engine's cross-products.

``W = [z columns, X, y]`` over the rows of a *residual unit* ``r``. The engine needs, per
unit, only the rows of ``G_r`` for the random-effect columns, and the sum of ``G_r`` over
units (:class:`UnitGrams`); :class:`UnitSums` forms such sums over rows with one sparse
(unit x row) product per column; :class:`CrossProductAssembler` turns them into the
:class:`~mixedext._engine.crossprod.CrossProducts` of the whitened model, with its index
work done once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mixedext._engine.crossprod import CrossProducts

__all__ = ["UnitGrams", "UnitSums", "CrossProductAssembler", "outer_sums"]


def outer_sums(codes, left, right, m):
    """``sum_{rows in unit} left_i right_i'`` per unit: (m, c_left, c_right).

    One weighted ``bincount`` per entry (the upper triangle only when ``left`` is
    ``right``): no (n, c, c) temporary.
    """
    cl, cr = left.shape[1], right.shape[1]
    out = np.empty((m, cl, cr))
    symmetric = left is right
    for a in range(cl):
        for b in range(a if symmetric else 0, cr):
            out[:, a, b] = np.bincount(codes, weights=left[:, a] * right[:, b], minlength=m)
            if symmetric:
                out[:, b, a] = out[:, a, b]
    return out


@dataclass
class UnitGrams:
    """Gram matrices ``G_r`` of the residual units, as far as the engine needs them.

    Attributes
    ----------
    cols : ndarray (k,)
        The columns of ``W`` whose rows are kept per unit (the random-effect columns).
    rows : ndarray (m, k, c)
        ``G_r[cols, :]`` for every unit ``r``.
    total : ndarray (c, c)
        ``sum_r G_r`` (its ``[X y]`` block is all the engine needs of the rest).
    """

    cols: np.ndarray
    rows: np.ndarray
    total: np.ndarray

    @classmethod
    def from_full(cls, g: np.ndarray, cols) -> UnitGrams:
        """From complete per-unit Gram matrices (m, c, c)."""
        return cls(np.asarray(cols), g[:, cols], g.sum(axis=0))

    def __add__(self, other: UnitGrams) -> UnitGrams:
        return UnitGrams(self.cols, self.rows + other.rows, self.total + other.total)


class UnitSums:
    """Sums over the rows of each unit as products with a sparse (unit x row) matrix whose
    pattern is built once for the codes."""

    def __init__(self, codes, m: int):
        self.n, self.m = len(codes), m
        order = None if np.all(codes[1:] >= codes[:-1]) else np.argsort(codes, kind="stable")
        self.order = order
        # scipy's own index type for these sizes, so that no call converts them
        itype = sp.csr_matrix((m, self.n)).indices.dtype
        self.indices = (np.arange(self.n) if order is None else order).astype(itype)
        self.indptr = np.r_[0, np.cumsum(np.bincount(codes, minlength=m))].astype(itype)

    def grams(self, left, right, cols, mask=None, *, total=True) -> UnitGrams:
        """``sum_{rows i in unit, mask_i} left_i right_i'`` (rows for ``cols`` of ``left``;
        ``total=False`` leaves the sum over units out, as None)."""
        right = np.ascontiguousarray(right)
        rows = np.empty((self.m, len(cols), right.shape[1]))
        for i, a in enumerate(cols):
            data = left[:, a] if mask is None else np.where(mask, left[:, a], 0.0)
            unit_by_row = sp.csr_matrix(
                (data if self.order is None else data[self.order], self.indices, self.indptr),
                shape=(self.m, self.n))
            rows[:, i] = unit_by_row @ right
        if not total:
            total = None
        elif mask is None:
            total = left.T @ right
        elif 2 * np.count_nonzero(mask) < self.n:
            on = np.flatnonzero(mask)
            total = left[on].T @ right[on]
        else:  # all rows but a few
            off = np.flatnonzero(~mask)
            total = left.T @ right - left[off].T @ right[off]
        return UnitGrams(np.asarray(cols), rows, total)


class CrossProductAssembler:
    """The engine's :class:`CrossProducts` from per-residual-unit Gram matrices.

    The index work (which rows of ``G`` feed which term, the sparse pattern of the blocks
    between terms) is done once; each call then only gathers and sums.

    Parameters
    ----------
    cols : ndarray (k,)
        The columns of ``W`` whose Gram rows :class:`UnitGrams` keeps per unit.
    parents : list of ndarray (m_r,)
        For each term, the unit containing each residual unit.
    z_slices : list of index arrays
        Each term's columns in ``W``.
    p : int
        Number of fixed effects (the last ``p + 1`` columns of ``W`` are ``[X y]``).
    counts : list of ndarray
        Rows per unit of each term (unchanged by whitening).
    n : int
        Number of rows.
    """

    def __init__(self, cols, parents, z_slices, p, counts, n):
        where = {int(col): i for i, col in enumerate(cols)}
        self.z_rows = [np.array([where[int(j)] for j in zs], dtype=np.int64) for zs in z_slices]
        self.z_slices = [np.asarray(zs, dtype=np.int64) for zs in z_slices]
        self.parents, self.p, self.counts, self.n = parents, p, counts, n
        self.ms = [len(cnt) for cnt in counts]
        # a term whose units are the residual units needs no summing
        self.same_units = [m == len(par) and np.array_equal(par, np.arange(m))
                           for par, m in zip(parents, self.ms)]
        self.pair_patterns = {}
        for l in range(len(parents)):
            for k in range(l):
                self.pair_patterns[(l, k)] = self._pattern(l, k)

    def _pattern(self, l, k):
        """CSR pattern of the (l, k) block and each Gram entry's place in its data."""
        ql, qk = len(self.z_slices[l]), len(self.z_slices[k])
        rows = self.parents[l][:, None, None] * ql + np.arange(ql)[None, :, None]
        cols = self.parents[k][:, None, None] * qk + np.arange(qk)[None, None, :]
        rows, cols = (a.reshape(-1) for a in np.broadcast_arrays(rows, cols))
        shape = (self.ms[l] * ql, self.ms[k] * qk)
        pattern = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
        pattern.sort_indices()
        # entry (r, c) sits at indptr[r] + position of c among row r's columns
        key = rows.astype(np.int64) * shape[1] + cols
        row_of = np.repeat(np.arange(shape[0]), np.diff(pattern.indptr))
        keys = row_of.astype(np.int64) * shape[1] + pattern.indices
        return pattern, np.searchsorted(keys, key)

    def __call__(self, g: UnitGrams):


        c = g.total.shape[0]
        xy = slice(c - self.p - 1, c)
        ztz, ztxy, pairs = [], [], {}
        for i, (zr, zs, m) in enumerate(zip(self.z_rows, self.z_slices, self.ms)):
            ztz.append(self._unit_sum(i, g.rows[:, zr][:, :, zs], m))
            ztxy.append(self._unit_sum(i, g.rows[:, zr, xy], m))
        for (l, k), (pattern, place) in self.pair_patterns.items():
            blk = g.rows[:, self.z_rows[l]][:, :, self.z_slices[k]]  # (m_r, ql, qk)
            data = np.bincount(place, weights=blk.reshape(-1), minlength=pattern.nnz)
            pairs[(l, k)] = sp.csr_matrix((data, pattern.indices, pattern.indptr),
                                          shape=pattern.shape)
        return CrossProducts(n=self.n, p=self.p, xyxy=g.total[xy, xy], ztz=ztz, ztxy=ztxy,
                             pairs=pairs, counts=self.counts)

    def _unit_sum(self, i, block, m):
        if self.same_units[i]:
            return np.ascontiguousarray(block)
        flat = block.reshape(len(block), -1)
        par = self.parents[i]
        out = np.column_stack([np.bincount(par, weights=flat[:, j], minlength=m)
                               for j in range(flat.shape[1])])
        return out.reshape((m,) + block.shape[1:])
