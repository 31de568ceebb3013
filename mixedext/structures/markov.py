"""Gram matrices of a first-order Markov correlation over one time axis.

When the correlation of two rows of a unit is the product of the correlations of the
consecutive rows between them (nlme's ``corCAR1``, ``a_j = phi^gap_j``, and ``corExp``
over one time axis without a nugget, ``a_j = exp(-gap_j / range)``), ``R_u^{-1}`` is
tridiagonal. With a unit's rows
in time order and ``a_j`` the correlation of row ``j`` with the row before it (``a_j = 0``
for a unit's first row), the Prais-Winsten whitening

    w~_j = (w_j / d_j - a_j w_{j-1} / d_{j-1}) / sqrt(1 - a_j^2)

(``d_j`` the row's residual SD ratio of ``het_var=``, 1 without) gives ``G_u = sum_{j in
u} w~_j w~_j'`` and ``log|R_u| = sum_j [log(1 - a_j^2) + 2 log d_j]``. The whitening is
one product ``W~ = B W`` with a bidiagonal sparse ``B`` (pattern fixed, two values a row),
the sum over units ``W~' W~``, and the rows of the ``k`` random-effect columns per unit
``S_col W~`` with ``S_col`` the sparse (unit x row) matrix of column ``col`` of ``W~``:
``O(n c)`` per evaluation in compiled loops, no per-unit or per-row Python loops and no
(n, c) temporaries besides ``W~``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mixedext._engine.grams import UnitGrams
from mixedext.structures.base import time_order

__all__ = ["MarkovRows"]

LOG_GROUP = 16  # factors 1 - a^2 >= 1e-12 multiplied before their logarithm: >= 1e-192


class MarkovRows:
    """The rows of ``W`` in (unit, time) order, whitened per evaluation.

    Parameters
    ----------
    unit_codes : ndarray (n,)
        Residual unit of each row.
    n_units : int
    w : ndarray (n, c)
        The columns ``W = [z, X, y]``.
    times : ndarray (n,)
        Each row's time (distinct within a unit).
    cols : ndarray (k,)
        The columns of ``W`` whose Gram rows are kept per unit.
    levels : ndarray (n,), optional
        Each row's ``het_var`` level code.

    Attributes
    ----------
    gaps : ndarray (n,)
        Each row's time since the previous row of its unit (``inf`` for a unit's first
        row, so that ``a = exp(-gap / range)`` or ``phi ** gap`` is 0 there).
    """

    def __init__(self, unit_codes, n_units, w, times, cols, levels=None):
        times = np.asarray(times, dtype=float)
        order = time_order(unit_codes, times)
        u, t = (unit_codes, times) if order is None else (unit_codes[order], times[order])
        first = np.r_[True, u[1:] != u[:-1]]
        n = len(u)
        self.gaps = np.empty(n)
        self.gaps[:1] = np.inf
        self.gaps[1:] = np.where(first[1:], np.inf, t[1:] - t[:-1])
        self._sorted = (u, t)
        self.m, self.cols = n_units, np.asarray(cols, dtype=np.int64)
        w = np.asarray(w, dtype=float)
        self.w = np.ascontiguousarray(w if order is None else w[order])
        self.levels = None if levels is None else \
            np.asarray(levels) if order is None else np.asarray(levels)[order]
        itype = sp.csr_matrix((1, max(n, 1))).indices.dtype  # scipy's index type
        # B: row j holds -b_j at column j - 1 and c_j at column j (row 0: c_0 only)
        self._b_indptr = np.r_[0, np.arange(1, 2 * n, 2)].astype(itype) if n else \
            np.zeros(1, dtype=itype)
        self._b_indices = np.empty(max(2 * n - 1, 0), dtype=itype)
        self._b_indices[:1] = 0
        self._b_indices[1::2] = np.arange(n - 1)
        self._b_indices[2::2] = np.arange(1, n)
        self._whiten = sp.csr_matrix((np.zeros(len(self._b_indices)), self._b_indices,
                                      self._b_indptr), shape=(n, n))
        # its values are written in place (grams): c_j at data[2 j], -b_j at data[2 j - 1]
        # S: unit x row, the rows in unit order (its values: a column of W~, per call)
        s_indptr = np.r_[0, np.cumsum(np.bincount(u, minlength=n_units))].astype(itype)
        self._by_unit = sp.csr_matrix((np.zeros(n), np.arange(n, dtype=itype), s_indptr),
                                      shape=(n_units, n))
        # 1 - a^2, padded with ones to groups of LOG_GROUP (see grams), and exp_gaps' result
        self._one_m = np.ones(-(-n // LOG_GROUP) * LOG_GROUP)
        self._decay = np.empty(n)

    def exp_gaps(self, scale: float) -> np.ndarray:
        """``exp(scale * gap)`` for every row (``scale < 0``: 0 for first rows), the
        correlations ``a`` of corExp (``scale = -1 / range``) and corCAR1 (``log phi``),
        in a work array that the next call overwrites."""
        out = self._decay
        with np.errstate(under="ignore", invalid="ignore"):  # 0 * inf: NaN, rejected
            np.multiply(self.gaps, scale, out=out)
            np.exp(out, out=out)
        return out

    def grams(self, a, deltas=None):
        """``(UnitGrams, log|R|)`` for the correlations ``a`` (n,) of each row with the
        previous row of its unit (0 for first rows) and the SD ratio ``deltas[level]``
        per ``het`` level (None: 1); ``(None, inf)`` where some ``|a_j| >= 1``.

        The coefficients of ``B`` are written into its sparse matrix, built once, and the
        work arrays are reused: one call at a time per object.

        Notes
        -----
        ``sum_j log(1 - a_j^2)`` is taken as the sum of the logarithms of products of
        ``LOG_GROUP`` factors (each in ``(1e-12, 1]``, so no product underflows): a
        sixteenth of the logarithms.
        """
        n = len(a)
        one_m = self._one_m[:n]
        np.multiply(a, a, out=one_m)
        np.subtract(1.0, one_m, out=one_m)
        if not one_m.min() > 1e-12:  # also NaN
            return None, np.inf
        products = np.multiply.reduce(self._one_m.reshape(LOG_GROUP, -1), axis=0)
        logdet = float(np.log(products).sum())
        # views taken here, not kept: a kernel pickled to a worker process must still
        # write into its own matrix
        data = self._whiten.data
        cur, prev = data[0::2], data[1::2]
        np.sqrt(one_m, out=one_m)
        np.divide(1.0, one_m, out=cur)
        np.multiply(a[1:], cur[1:], out=prev)
        if deltas is not None:
            d = deltas[self.levels]
            cur /= d
            prev /= d[:-1]
            logdet += 2.0 * float(np.log(d).sum())
        np.negative(prev, out=prev)
        white = self._whiten @ self.w
        total = white.T @ white
        by_unit = self._by_unit
        rows = np.empty((self.m, len(self.cols), white.shape[1]))
        for i, col in enumerate(self.cols):
            np.copyto(by_unit.data, white[:, col])
            rows[:, i] = by_unit @ white
        return UnitGrams(self.cols, rows, total), logdet
