"""Residual covariance within units: whitened cross-products from statistics computed once.

With ``Var(e) = sigma^2 R``, ``R`` block-diagonal over *residual units* (the innermost
grouping level, or ``cov_groups``), multiplying each unit's rows by ``R_r^{-1/2}`` gives a
model with independent errors; the deviance is that model's plus ``log|R|`` (ML and
REML alike). Everything the engine needs is the Gram matrix ``G_r = W_r' R_r^{-1} W_r`` of
``W = [z columns, X, y]`` per residual unit, and of that only the rows of the
random-effect columns per unit plus the sum over units (:class:`UnitGrams`). Each
structure computes them from statistics gathered once, so an evaluation costs
``O(units k c)`` (``k`` random-effect columns, ``c`` columns of ``W``), not ``O(n)``:

* :class:`AR1` (nlme ``corAR1`` / ``corCAR1``): ``R^{-1}`` is tridiagonal (Markov property,
  also at irregular times); the Prais-Winsten whitening
  ``w~_1 = w_1, w~_t = (w_t - a_t w_{t-1}) / sqrt(1 - a_t^2)``, ``a_t = rho^{d_t}``, makes
  ``G_r`` a weighted sum of lag-0 and lag-1 products, grouped by gap;
* :class:`Exchangeable` (``corCompSymm``): ``R^{-1} = (I - c_r J) / (1 - rho)``;
* :class:`Unstructured` (``corSymm`` + ``varIdent(~1 | time)``): ``R^{-1}`` per pattern of
  observed times, applied to products of rows at each pair of times;
* ``het`` (``varIdent``): a residual SD ratio ``delta_l`` per level of a column, alone or
  inside AR(1) and exchangeable structures.

Parameters are optimised on an unconstrained scale ``eta`` (``rho = tanh(eta)``, ...);
``natural(eta)`` maps them back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from mixedext._engine.grams import UnitGrams, UnitSums, outer_sums

__all__ = ["ResidualStructure", "Independence", "AR1", "Exchangeable", "Unstructured",
           "ar1_gap_statistics", "add_gap_statistics", "time_order"]


def _logistic(x):

    return expit(x)


class ResidualStructure:
    """Base class: a within-unit residual correlation (and variance) structure.

    Subclasses implement ``grams(eta) -> (UnitGrams, log|R|)`` (``(None, inf)`` where
    ``R`` is not positive definite), ``natural(eta)`` (a dict of named parameters on their
    natural scale) and ``corr(times, params)``. ``cols`` are the columns of ``W`` whose
    Gram rows are needed per unit (default: all).
    """

    name = "independence"
    n_params = 0

    def __init__(self, unit_codes, n_units, w, *, het=None, cols=None):
        self.codes = unit_codes
        self.m = n_units
        self.c = w.shape[1]
        self.cols = np.arange(self.c) if cols is None else np.asarray(cols)
        self.het = het  # (level codes per row, level names) or None
        self.n_het = 0 if het is None else len(het[1]) - 1

    @property
    def n_eta(self) -> int:
        return self.n_params + self.n_het

    def start(self) -> np.ndarray:
        return np.zeros(self.n_eta)

    def _deltas(self, eta):
        """SD ratio per het level (reference level 1)."""
        if self.het is None:
            return None
        return np.exp(np.concatenate([[0.0], eta[self.n_params:]]))

    def natural(self, eta) -> dict:
        out = {}
        deltas = self._deltas(eta)
        if deltas is not None:
            for name, d in zip(self.het[1], deltas):
                out[f"sd_ratio[{name}]"] = float(d)
        return out


class Independence(ResidualStructure):
    """Independent residuals, optionally with a variance per level (``het``)."""

    def __init__(self, unit_codes, n_units, w, *, het=None, cols=None):
        super().__init__(unit_codes, n_units, w, het=het, cols=cols)
        if het is None:
            self.base = UnitSums(unit_codes, n_units).grams(w, w, self.cols)
            return
        lev = het[0]
        k = len(het[1])
        key = unit_codes * k + lev
        self.k = k
        self.stats = outer_sums(key, w, w, n_units * k).reshape(n_units, k, self.c, self.c)
        self.count = np.bincount(lev, minlength=k)

    def het_statistics(self) -> dict:
        """What the structure keeps of the rows (with ``het``): sums over disjoint sets
        of rows add up."""
        return {"stats": self.stats, "count": self.count}

    @classmethod
    def from_het_statistics(cls, stats: dict, level_names, cols):
        """A ``varIdent`` structure from (summed) :meth:`het_statistics`."""
        out = cls.__new__(cls)
        m, k, c, _ = stats["stats"].shape
        out.codes, out.m, out.c, out.cols = None, m, c, np.asarray(cols)
        out.het, out.n_het, out.k = (None, list(level_names)), k - 1, k
        out.stats, out.count = stats["stats"], stats["count"]
        return out

    def grams(self, eta):
        if self.het is None:
            return self.base, 0.0
        d = self._deltas(eta)
        g = np.einsum("l,mlab->mab", d ** -2.0, self.stats)
        return UnitGrams.from_full(g, self.cols), float(2.0 * np.sum(self.count * np.log(d)))

    def corr(self, times, params):
        return np.eye(len(times))


def time_order(unit_codes, times):
    """Row order by (unit, time); None when the rows are already strictly in that order
    (so no time repeats within a unit)."""
    same = unit_codes[1:] == unit_codes[:-1]
    if np.all((unit_codes[1:] > unit_codes[:-1]) | (same & (times[1:] > times[:-1]))):
        return None
    return np.lexsort((times, unit_codes))


def ar1_gap_statistics(unit_codes, n_units, w, times, cols=None) -> dict:
    """Per-unit AR(1) statistics of ``W`` at integer times, keyed by the time gap.

    ``{"first": UnitGrams, "gaps": {gap: [lag-0, lag-1 (both orders), lag-0 of the
    previous row (UnitGrams), number of pairs]}}`` with per-unit rows for the columns
    ``cols`` of ``W`` (default all); sums over rows, so the statistics of disjoint sets
    of whole units add up (:func:`add_gap_statistics`).
    """
    cols = np.arange(w.shape[1]) if cols is None else np.asarray(cols)
    if len(unit_codes) == 0:
        c = w.shape[1]
        return {"first": UnitGrams(cols, np.zeros((n_units, len(cols), c)), np.zeros((c, c))),
                "gaps": {}}
    order = time_order(unit_codes, times)
    u, t, ws = (unit_codes, times, w) if order is None else \
        (unit_codes[order], times[order], w[order])
    first = np.r_[True, u[1:] != u[:-1]]
    u_first, w_first = u[first], ws[first]
    out = {"first": UnitSums(u_first, n_units).grams(w_first, w_first, cols), "gaps": {}}
    # consecutive pairs (row i - 1, row i) of a unit, in row i's unit; gap 0: no pair
    pair_sums, cur, prev = UnitSums(u[1:], n_units), ws[1:], ws[:-1]
    gap = np.where(first[1:], 0.0, t[1:] - t[:-1])
    in_unit = gap[gap > 0]
    for g in in_unit[:1] if np.all(in_unit == in_unit[:1]) else np.unique(in_unit):
        pair = gap == g
        lag1 = pair_sums.grams(cur, prev, cols, pair)
        lag1_t = pair_sums.grams(prev, cur, cols, pair, total=False)
        both = UnitGrams(cols, lag1.rows + lag1_t.rows, lag1.total + lag1.total.T)
        out["gaps"][float(g)] = [pair_sums.grams(cur, cur, cols, pair), both,
                                 pair_sums.grams(prev, prev, cols, pair), int(pair.sum())]
    return out


def add_gap_statistics(a: dict, b: dict) -> dict:
    """The statistics of two disjoint sets of whole units."""
    gaps = {}
    for g in set(a["gaps"]) | set(b["gaps"]):
        if g in a["gaps"] and g in b["gaps"]:
            gaps[g] = [x + y for x, y in zip(a["gaps"][g], b["gaps"][g])]
        else:
            gaps[g] = (a["gaps"] if g in a["gaps"] else b["gaps"])[g]
    return {"first": a["first"] + b["first"], "gaps": gaps}


class AR1(ResidualStructure):
    """First-order autoregressive correlation ``rho^|t_i - t_j|``.

    ``continuous=False``: integer times (gaps allowed), ``rho`` in (-1, 1) (nlme
    ``corAR1(form = ~ t | g)``); ``continuous=True``: real times, ``phi`` in (0, 1)
    (``corCAR1``). Consecutive pairs are grouped by (unit, gap, het levels), so the
    statistics shrink to a few per unit for integer times.
    """

    n_params = 1

    def __init__(self, unit_codes, n_units, w, times, *, continuous=False, het=None,
                 cols=None):
        super().__init__(unit_codes, n_units, w, het=het, cols=cols)
        self.name = "car1" if continuous else "ar1"
        self.continuous = continuous
        if het is None and not continuous:
            self._set_gap_statistics(ar1_gap_statistics(unit_codes, n_units, w, times,
                                                        self.cols))
            if self.by_gap:
                return
        order = np.lexsort((times, unit_codes))
        u, t, ws = unit_codes[order], times[order], w[order]
        lev = np.zeros(len(u), dtype=np.int64) if het is None else het[0][order]
        k = 1 if het is None else len(het[1])
        first = np.r_[True, u[1:] != u[:-1]]
        # first observation of each unit, by (unit, level)
        key0 = u[first] * k + lev[first]
        w_first = ws[first]
        self.first = outer_sums(key0, w_first, w_first, n_units * k).reshape(
            n_units, k, self.c, self.c)
        self.first_count = np.bincount(lev[first], minlength=k)
        cur = np.flatnonzero(~first)
        prev = cur - 1
        gap = t[cur] - t[prev]
        if continuous:
            gap_codes, gaps = np.arange(len(gap)), gap
        else:
            gap_codes, gaps = pd.factorize(gap, sort=True)
        self.gaps = np.asarray(gaps, dtype=float)
        self.by_gap = False
        wc, wp = ws[cur], ws[prev]
        pair_key = ((u[cur] * len(self.gaps) + gap_codes) * k + lev[cur]) * k + lev[prev]
        classes, inv = np.unique(pair_key, return_inverse=True)
        ncls = len(classes)
        self.cls_unit = classes // (len(self.gaps) * k * k)
        rest = classes % (len(self.gaps) * k * k)
        self.cls_gap = rest // (k * k)
        self.cls_lev = (rest % (k * k)) // k
        self.cls_lev_prev = rest % k
        self.s0 = outer_sums(inv, wc, wc, ncls)  # same object: symmetric
        cross = outer_sums(inv, wc, wp, ncls)
        self.s1 = cross + np.transpose(cross, (0, 2, 1))
        self.s2 = outer_sums(inv, wp, wp, ncls)
        self.cls_count = np.bincount(inv, minlength=ncls)
        self.n_het_rows = None if het is None else np.bincount(lev, minlength=k)

    def _set_gap_statistics(self, stats: dict) -> None:
        """Use per-gap statistics (few distinct gaps): the first rows' and three per gap,
        stacked as (1 + 3 gaps, m k c) rows and (1 + 3 gaps, c, c) totals, plus the number
        of pairs per gap."""
        gaps = sorted(stats["gaps"])
        self.by_gap = len(gaps) <= 16
        if not self.by_gap:
            return
        self.gaps = np.asarray(gaps, dtype=float)
        blocks = [stats["first"]] + [block for g in gaps for block in stats["gaps"][g][:3]]
        self.rows_shape = blocks[0].rows.shape
        self.stacked_rows = np.stack([b.rows.reshape(-1) for b in blocks])
        self.stacked_totals = np.stack([b.total for b in blocks])
        self.gap_count = np.array([stats["gaps"][g][3] for g in gaps])

    @classmethod
    def from_gap_statistics(cls, stats: dict, n_units: int):
        """An AR(1) structure from reduced per-gap statistics (integer times)."""
        out = cls.__new__(cls)
        first = stats["first"]
        out.codes, out.m, out.c = None, n_units, first.total.shape[0]
        out.cols = first.cols
        out.het, out.n_het = None, 0
        out.name, out.continuous = "ar1", False
        out._set_gap_statistics(stats)
        if not out.by_gap:
            raise ValueError("more than 16 distinct time gaps: use in-memory data")
        return out

    def _rho(self, eta0):
        return _logistic(eta0) if self.continuous else np.tanh(eta0)

    def start(self):
        out = np.zeros(self.n_eta)
        if self.continuous:
            out[0] = 0.0  # phi = 0.5
        return out

    def grams(self, eta):
        rho = self._rho(eta[0])
        if self.by_gap:
            a = rho ** self.gaps
            one_m = 1.0 - a ** 2
            if np.any(one_m <= 0):
                return None, np.inf
            wgt = np.r_[1.0, np.column_stack([1.0 / one_m, -a / one_m, a ** 2 / one_m]).ravel()]
            rows = (wgt @ self.stacked_rows).reshape(self.rows_shape)  # one pass, no temporaries
            g = UnitGrams(self.cols, rows, np.tensordot(wgt, self.stacked_totals, axes=1))
            return g, float(np.sum(self.gap_count * np.log(one_m)))
        d = self._deltas(eta)
        d = np.ones(1) if d is None else d
        a = rho ** self.gaps[self.cls_gap]
        one_m = 1.0 - a ** 2
        if np.any(one_m <= 0):
            return None, np.inf
        dc, dp = d[self.cls_lev], d[self.cls_lev_prev]
        wgt = np.stack([1.0 / (one_m * dc ** 2), -a / (one_m * dc * dp),
                        a ** 2 / (one_m * dp ** 2)])
        contrib = (wgt[0][:, None, None] * self.s0 + wgt[1][:, None, None] * self.s1
                   + wgt[2][:, None, None] * self.s2)
        g = np.einsum("l,mlab->mab", d ** -2.0, self.first)
        flat = contrib.reshape(len(contrib), -1)
        for j in range(flat.shape[1]):
            g.reshape(self.m, -1)[:, j] += np.bincount(self.cls_unit, weights=flat[:, j],
                                                       minlength=self.m)
        logdet = float(np.sum(self.cls_count * np.log(one_m)))
        if self.het is not None:
            logdet += float(2.0 * np.sum(self.n_het_rows * np.log(d)))
        return UnitGrams.from_full(g, self.cols), logdet

    def natural(self, eta):
        out = {("phi" if self.continuous else "rho"): float(self._rho(eta[0]))}
        out.update(super().natural(eta))
        return out

    def corr(self, times, params):
        rho = params["phi" if self.continuous else "rho"]
        t = np.asarray(times, dtype=float)
        return rho ** np.abs(t[:, None] - t[None, :])


class Exchangeable(ResidualStructure):
    """Compound symmetry: correlation ``rho`` between any two rows of a unit
    (nlme ``corCompSymm``); ``rho`` in ``(-1 / (n_max - 1), 1)``."""

    name = "exchangeable"
    n_params = 1

    def __init__(self, unit_codes, n_units, w, *, het=None, cols=None):
        super().__init__(unit_codes, n_units, w, het=het, cols=cols)
        k = 1 if het is None else len(het[1])
        lev = np.zeros(len(unit_codes), dtype=np.int64) if het is None else het[0]
        key = unit_codes * k + lev
        self.k = k
        self.stats = outer_sums(key, w, w, n_units * k).reshape(n_units, k, self.c, self.c)
        self.sums = np.column_stack([np.bincount(key, weights=w[:, j], minlength=n_units * k)
                                     for j in range(self.c)]).reshape(n_units, k, self.c)
        self.n = np.bincount(unit_codes, minlength=n_units)
        self.lower = -1.0 / (max(self.n.max(), 2) - 1)
        self.n_het_rows = np.bincount(lev, minlength=k)

    def _rho(self, eta0):
        return self.lower + (1.0 - self.lower) * _logistic(eta0)

    def start(self):
        out = np.zeros(self.n_eta)
        p = -self.lower / (1.0 - self.lower)
        out[0] = np.log(p / (1 - p)) if 0 < p < 1 else 0.0
        return out

    def grams(self, eta):
        rho = self._rho(eta[0])
        d = self._deltas(eta)
        d = np.ones(1) if d is None else d
        den = 1.0 + (self.n - 1) * rho
        if rho >= 1 or np.any(den <= 0):
            return None, np.inf
        cr = rho / den
        s = np.einsum("l,mla->ma", 1.0 / d, self.sums)
        a = np.einsum("l,mlab->mab", d ** -2.0, self.stats)
        g = (a - cr[:, None, None] * s[:, :, None] * s[:, None, :]) / (1.0 - rho)
        logdet = float(np.sum((self.n - 1) * np.log(1.0 - rho) + np.log(den)))
        logdet += float(2.0 * np.sum(self.n_het_rows * np.log(d)))
        return UnitGrams.from_full(g, self.cols), logdet

    def natural(self, eta):
        out = {"rho": float(self._rho(eta[0]))}
        out.update(super().natural(eta))
        return out

    def corr(self, times, params):
        n = len(times)
        return np.full((n, n), params["rho"]) + (1 - params["rho"]) * np.eye(n)


class Unstructured(ResidualStructure):
    """A variance per distinct time and every correlation (nlme ``corSymm`` +
    ``varIdent(~ 1 | time)``; SAS ``TYPE=UN``).

    The correlation matrix is ``C = L L'`` with ``L`` lower triangular, its rows scaled to
    unit length (unconstrained off-diagonal entries); SD ratios ``exp(eta)`` relative to
    the first time.
    """

    name = "unstructured"

    def __init__(self, unit_codes, n_units, w, time_codes, time_values, *, cols=None):
        super().__init__(unit_codes, n_units, w, cols=cols)
        self.times = np.asarray(time_values)
        nt = len(self.times)
        self.nt = nt
        self.n_params = nt * (nt - 1) // 2 + (nt - 1)
        present = np.zeros((n_units, nt), dtype=bool)
        present[unit_codes, time_codes] = True
        self.patterns, self.pattern_of = np.unique(present, axis=0, return_inverse=True)
        self.pattern_of = self.pattern_of.reshape(-1)
        self.pattern_count = np.bincount(self.pattern_of)
        row = np.zeros((n_units, nt, self.c))
        row[unit_codes, time_codes] = w
        self.row = row  # w at (unit, time), zero where unobserved
        # per pattern, sum over its units of row_t row_s' (for the total over units)
        self.pattern_products = np.stack([
            np.einsum("mta,msb->tasb", row[self.pattern_of == j], row[self.pattern_of == j])
            for j in range(len(self.patterns))])
        # times absent from a pattern get an identity block, so one batched inverse
        # gives each pattern's inverse (zeroed back outside the pattern) and determinant
        self.present_pairs = self.patterns[:, :, None] & self.patterns[:, None, :]
        self.absent_diag = np.stack([np.diag(~pat).astype(float) for pat in self.patterns])
        self._path = None

    @property
    def n_eta(self):
        return self.n_params

    def _corr_sd(self, eta):
        nt = self.nt
        low = np.eye(nt)
        low[np.tril_indices(nt, -1)] = eta[:nt * (nt - 1) // 2]
        low /= np.linalg.norm(low, axis=1, keepdims=True)
        corr = low @ low.T
        sd = np.exp(np.concatenate([[0.0], eta[nt * (nt - 1) // 2:]]))
        return corr, sd

    def grams(self, eta):
        corr, sd = self._corr_sd(eta)
        cov = corr * np.outer(sd, sd)
        padded = np.where(self.present_pairs, cov[None], 0.0) + self.absent_diag
        sign, logdets = np.linalg.slogdet(padded)
        if np.any(sign <= 0):
            return None, np.inf
        pinv = np.linalg.inv(padded) * self.present_pairs
        total = np.einsum("jts,jtasb->ab", pinv, self.pattern_products)
        rows = np.zeros((self.m, 0, self.c))
        if len(self.cols):  # random effects: the rows of their columns, unit by unit
            operands = (self.row[:, :, self.cols], pinv[self.pattern_of], self.row)
            if self._path is None:
                self._path = np.einsum_path("mtk,mts,msb->mkb", *operands, optimize=True)[0]
            rows = np.einsum("mtk,mts,msb->mkb", *operands, optimize=self._path)
        return UnitGrams(self.cols, rows, total), float(self.pattern_count @ logdets)

    def natural(self, eta):
        corr, sd = self._corr_sd(eta)
        out = {}
        for i in range(self.nt):
            out[f"sd_ratio[{self.times[i]:g}]"] = float(sd[i])
        for j in range(self.nt):
            for i in range(j + 1, self.nt):
                out[f"corr[{self.times[j]:g},{self.times[i]:g}]"] = float(corr[i, j])
        return out

    def corr_sd(self, params):
        nt = self.nt
        sd = np.array([params[f"sd_ratio[{t:g}]"] for t in self.times])
        corr = np.eye(nt)
        for j in range(nt):
            for i in range(j + 1, nt):
                corr[i, j] = corr[j, i] = params[f"corr[{self.times[j]:g},{self.times[i]:g}]"]
        return corr, sd
