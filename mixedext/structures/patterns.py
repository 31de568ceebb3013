"""Correlations that are a function of each unit's positions, one factor per pattern.

For a correlation ``C_u = f(positions of unit u's rows; params)`` with no sparse
inverse (spatial correlations, ARMA, Toeplitz), the Gram matrices
``G_u = W_u' S_u^{-1} C_u^{-1} S_u^{-1} W_u`` are formed by whitening each unit's rows
with the inverse lower Cholesky factor of ``C_u``. Units are grouped by size; within a
size, units whose positions differ only by a translation (``t - t_first``, or
``coords - coords_first``) share ``C_u``, so each evaluation factors one matrix per
*pattern* and whitens the rows with one batched product: ``O(sum_u n_u^2 c)`` for ``c``
columns of ``W`` plus ``O(patterns n^3)``. ``S_u`` holds the residual SD ratios of
``het_var=`` (nlme's ``varIdent``), applied to the rows before whitening.
"""

from __future__ import annotations

import numpy as np

from mixedext._engine.grams import UnitGrams
from mixedext.structures.base import ResidualStructure

__all__ = ["PatternStructure", "LagCorrelation", "UnitBlocks", "unit_blocks",
           "within_unit_distances"]


class UnitBlocks:
    """The rows of the units of one size ``s``, as (units, s, ...) arrays.

    Attributes
    ----------
    units : ndarray (m_s,)
        The units (residual-unit codes), in the order of their patterns.
    w : ndarray (m_s, s, c)
        Their rows of ``W``, each unit's rows ordered by position.
    levels : ndarray (m_s, s) or None
        The ``het`` level of each row.
    positions : ndarray (m_s, s, d)
        Each row's position.
    patterns : ndarray (P, s, d)
        The distinct translated positions.
    pattern_of : ndarray (m_s,)
        Each unit's pattern.
    counts : ndarray (P,)
        Units per pattern.
    dist, upper, pair_dist, lag
        What a structure's ``prepare`` sets of the patterns (distances, the upper
        triangle's indices, distances of the pairs there, lags at integer times).
    """

    dist: np.ndarray
    upper: tuple
    pair_dist: np.ndarray
    lag: np.ndarray

    def __init__(self, units, w, levels, positions):
        rel = positions - positions[:, :1, :]  # translation-invariant key
        flat = np.ascontiguousarray(rel.reshape(len(units), -1))
        pats, inv = np.unique(flat, axis=0, return_inverse=True)
        inv = np.asarray(inv).reshape(-1)
        order = np.argsort(inv, kind="stable")  # units in pattern order
        self.units, self.w = units[order], w[order]
        self.levels = None if levels is None else levels[order]
        self.positions = positions[order]
        self.patterns = pats.reshape((len(pats),) + positions.shape[1:])
        self.pattern_of = inv[order]
        self.counts = np.bincount(self.pattern_of, minlength=len(pats))
        # the units in pattern order (each unit a pattern of its own)
        self.identity = bool(np.array_equal(self.pattern_of, np.arange(len(units))))


def unit_blocks(unit_codes, n_units, w, positions, levels=None) -> list[UnitBlocks]:
    """The rows grouped by unit size, each unit's rows ordered by position (the first
    coordinate, then the next ...)."""
    positions = np.asarray(positions, dtype=float)
    if positions.ndim == 1:
        positions = positions[:, None]
    keys = [positions[:, j] for j in range(positions.shape[1] - 1, -1, -1)]
    order = np.lexsort((*keys, unit_codes))
    u = unit_codes[order]
    sizes = np.bincount(u, minlength=n_units)
    start = np.r_[0, np.cumsum(sizes)[:-1]]
    out = []
    for s in np.unique(sizes[sizes > 0]):
        units = np.flatnonzero(sizes == s)
        rows = order[(start[units][:, None] + np.arange(s)[None, :])]  # (m_s, s)
        lev = None if levels is None else levels[rows]
        out.append(UnitBlocks(units, w[rows], lev, positions[rows]))
    return out


def within_unit_distances(unit_codes, positions) -> np.ndarray:
    """The Euclidean distance of every pair of rows of a unit (each pair once).

    With the rows in unit order, the pairs ``lag`` rows apart in one unit are found lag
    by lag (no unit has more than ``lag`` rows once there are none) and their distances
    written into one array: two passes over the lags, counts, then values.

    Parameters
    ----------
    unit_codes : ndarray of int (n,)
        Each row's unit.
    positions : ndarray (n,) or (n, d)
        Each row's time or point.

    Returns
    -------
    ndarray (pairs,)
        In no particular order.
    """
    points = np.asarray(positions, dtype=float).reshape(len(unit_codes), -1)
    u = np.asarray(unit_codes)
    if np.any(u[1:] < u[:-1]):
        order = np.argsort(u, kind="stable")
        u, points = u[order], points[order]
    n = len(u)
    same = np.empty(n, dtype=bool)

    def pairs_at(lag):  # rows `lag` apart in the same unit
        return np.equal(u[lag:], u[:n - lag], out=same[:n - lag])

    counts = []
    for lag in range(1, n):
        count = int(np.count_nonzero(pairs_at(lag)))
        if not count:
            break
        counts.append(count)
    out = np.empty(sum(counts))
    pos = 0
    line = points[:, 0] if points.shape[1] == 1 else None
    gap = np.empty(n)
    for lag, count in enumerate(counts, start=1):
        pairs = pairs_at(lag)
        if line is not None:  # one axis: |t_i - t_j| without (pairs, d) temporaries
            np.subtract(line[lag:], line[:n - lag], out=gap[:n - lag])
            np.abs(gap[:n - lag][pairs], out=out[pos:pos + count])
        else:
            diff = points[lag:][pairs] - points[:n - lag][pairs]
            out[pos:pos + count] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        pos += count
    return out


class PatternStructure(ResidualStructure):
    """Base of the structures whose correlation is a function of the positions of a
    unit's rows (see the module docstring). A subclass provides ``n_params``,
    ``pattern_corr(block, eta)`` (the correlation matrices of a block's patterns,
    (P, s, s), or None where the parameters are out of range), optionally
    ``prepare(block)`` (what it needs of a block's patterns, computed once), and
    ``natural``, ``corr``, ``start`` and ``link``."""

    needs_time = True
    dask_whole_units = True

    def __init__(self, unit_codes, n_units, w, positions, *, het=None, cols=None):
        super().__init__(unit_codes, n_units, w, het=het, cols=cols)
        levels = None if het is None else het[0]
        self.blocks = unit_blocks(unit_codes, n_units, w, positions, levels)
        for b in self.blocks:
            self.prepare(b)
        self.n_het_rows = None if het is None else np.bincount(het[0],
                                                                minlength=len(het[1]))

    def prepare(self, block: UnitBlocks) -> None:
        """Set what ``pattern_corr`` needs of ``block`` (e.g. its distances), once."""

    def pattern_corr(self, block: UnitBlocks, eta):
        """The correlation matrices (P, s, s) of ``block.patterns`` (P, s, d); None where
        ``eta`` is out of range."""
        raise NotImplementedError

    def whiten(self, block: UnitBlocks, w, eta):
        """``(T_u W_u for the block's units, sum_u log|C_u|)`` with ``T_u`` the inverse of
        the lower Cholesky factor of ``C_u``; None where ``C_u`` is not positive
        definite."""
        corr = self.pattern_corr(block, eta)
        if corr is None:
            return None
        try:
            chol = np.linalg.cholesky(corr)
        except np.linalg.LinAlgError:
            return None
        diag = np.diagonal(chol, axis1=1, axis2=2)
        if not np.all(diag > 1e-10):
            return None
        logdet = 2.0 * float(block.counts @ np.log(diag).sum(axis=1))
        n_pat, (m_s, s) = len(block.patterns), w.shape[:2]
        if 4 * n_pat <= m_s:  # few patterns: one inverse factor each
            inv = np.linalg.inv(chol)
            return (inv[0] @ w if n_pat == 1 else inv[block.pattern_of] @ w), logdet
        # a pattern (almost) per unit: forward substitution, one time step at a time
        low = chol if n_pat == m_s and block.identity else chol[block.pattern_of]
        white = np.empty_like(w)
        for k in range(s):
            acc = w[:, k] if k == 0 else w[:, k] - (low[:, k, None, :k] @ white[:, :k])[:, 0]
            white[:, k] = acc / low[:, k, k][:, None]
        return white, logdet

    def grams(self, eta):
        eta = np.asarray(eta, dtype=float)
        deltas = self._deltas(eta)
        rows = np.zeros((self.m, len(self.cols), self.c))
        total = np.zeros((self.c, self.c))
        logdet = 0.0
        for b in self.blocks:
            w = b.w if deltas is None else b.w / deltas[b.levels][:, :, None]
            out = self.whiten(b, w, eta)
            if out is None or not np.isfinite(out[1]):
                return None, np.inf
            white, part = out
            logdet += part
            flat = white.reshape(-1, self.c)
            total += flat.T @ flat
            if len(self.cols):
                rows[b.units] = np.swapaxes(white[:, :, self.cols], 1, 2) @ white
        if deltas is not None:
            logdet += float(2.0 * np.sum(self.n_het_rows * np.log(deltas)))
        return UnitGrams(self.cols, rows, total), logdet

class LagCorrelation(PatternStructure):
    """Base of the stationary correlations at integer times: ``corr(t_i, t_j) =
    acf[|t_i - t_j|]`` (gaps allowed). A subclass provides ``acf(eta, max_lag)`` and
    ``acf_from_params(params, max_lag)`` (``acf[0] = 1``; None where ``eta`` is out of
    range)."""

    def __init__(self, unit_codes, n_units, w, times, *, het=None, cols=None):
        super().__init__(unit_codes, n_units, w, times, het=het, cols=cols)
        self.max_lag = max(int(b.lag.max()) for b in self.blocks)

    @classmethod
    def validate(cls, spec, terms) -> None:
        t = spec.times
        if t.ndim != 1 or not np.array_equal(t, np.round(t)):
            raise ValueError(f"cov_struct={spec.kind!r} needs integer times in "
                             f"{spec.time_name!r} (visit numbers; gaps allowed)")

    def prepare(self, block: UnitBlocks) -> None:
        t = block.patterns[:, :, 0]
        block.lag = np.abs(t[:, :, None] - t[:, None, :]).astype(np.int64)

    def acf(self, eta, max_lag: int):
        """Autocorrelations at lags ``0 .. max_lag`` for ``eta``."""
        raise NotImplementedError

    def acf_from_params(self, params: dict, max_lag: int):
        """Autocorrelations at lags ``0 .. max_lag`` for the named parameters."""
        raise NotImplementedError

    def pattern_corr(self, block, eta):
        if not np.all(np.isfinite(eta)):
            return None
        acf = self.acf(eta, self.max_lag)
        return None if acf is None else acf[block.lag]

    def corr(self, times, params):
        t = np.asarray(times, dtype=float)
        lag = np.abs(t[:, None] - t[None, :])
        if not np.array_equal(lag, np.round(lag)):
            raise ValueError(f"cov_struct={self.name!r} is defined at integer times")
        lag = lag.astype(np.int64)
        return self.acf_from_params(params, int(lag.max(initial=0)))[lag]
