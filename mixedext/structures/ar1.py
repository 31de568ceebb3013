"""First-order autoregressive residuals (nlme's ``corAR1`` / ``corCAR1``).

``R^{-1}`` is tridiagonal (Markov property, also at irregular times); the Prais-Winsten
whitening ``w~_1 = w_1, w~_t = (w_t - a_t w_{t-1}) / sqrt(1 - a_t^2)``, ``a_t = rho^{d_t}``
(``d_t`` the gap to the previous time), makes ``G_r`` a weighted sum of lag-0 and lag-1
products, grouped by gap. Integer times: ``rho = tanh(eta)`` in (-1, 1); real times
(continuous, ``"car1"``): ``phi = expit(eta)`` in (0, 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from mixedext._engine.grams import UnitGrams, UnitSums, outer_sums
from mixedext.structures.base import ResidualStructure, register, time_order
from mixedext.structures.markov import MarkovRows

__all__ = ["AR1", "ar1_gap_statistics", "add_gap_statistics"]


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
    out: dict = {"first": UnitSums(u_first, n_units).grams(w_first, w_first, cols),
                 "gaps": {}}
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


@register
class AR1(ResidualStructure):
    """First-order autoregressive correlation ``rho^|t_i - t_j|``.

    ``continuous=False``: integer times (gaps allowed), ``rho`` in (-1, 1) (nlme
    ``corAR1(form = ~ t | g)``); ``continuous=True``: real times, ``phi`` in (0, 1)
    (``corCAR1``). Consecutive pairs are grouped by (unit, gap, het levels), so the
    statistics shrink to a few per unit for integer times.
    """

    kinds = ("ar1", "car1")
    n_params = 1
    needs_time = True
    dask_whole_units = True
    markov_rows = None  # real-valued times: the rows, whitened per evaluation

    def __init__(self, unit_codes, n_units, w, times, *, continuous=False, het=None,
                 cols=None, whiten_rows=True):
        super().__init__(unit_codes, n_units, w, het=het, cols=cols)
        self.name = "car1" if continuous else "ar1"
        self.continuous = continuous
        if het is None and not continuous:
            self._set_gap_statistics(ar1_gap_statistics(unit_codes, n_units, w, times,
                                                        self.cols))
            if self.by_gap:
                return
        if continuous and whiten_rows:  # a gap per pair: whitening the rows is cheaper
            self.by_gap = False
            self.markov_rows = MarkovRows(unit_codes, n_units, w, times, self.cols,
                                          None if het is None else het[0])
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
    def build(cls, spec, w, cols):
        return cls(spec.codes, spec.n_units, w, spec.times, continuous=spec.continuous,
                   het=spec.het, cols=cols)

    def link(self, name: str):
        if name == "phi":  # continuous time: logit, as nlme's corCAR1
            return (lambda p: np.log(p / (1 - p))), expit
        return super().link(name)

    # -- Dask: statistics of whole units add up -----------------------------------------
    @classmethod
    def partition_statistics(cls, spec, w, cols) -> dict:
        """Integer times without ``het``: the per-gap statistics
        (:func:`ar1_gap_statistics`); otherwise the consecutive pairs' products by
        (unit, gap, het levels) (:meth:`pair_classes`)."""
        if spec.het is None and not spec.continuous:
            return {"gaps": ar1_gap_statistics(spec.codes, spec.n_units, w, spec.times, cols)}
        # pair classes add up over partitions (the whitened rows are the rows)
        return {"pairs": cls(spec.codes, spec.n_units, w, spec.times,
                             continuous=spec.continuous, het=spec.het, cols=cols,
                             whiten_rows=False).pair_classes()}

    def pair_classes(self) -> dict:
        """The lag products of the consecutive pairs summed by (unit, gap value, level,
        previous level), and the first rows' products (a structure built without per-gap
        statistics)."""
        keys = np.column_stack([self.cls_unit, self.gaps[self.cls_gap], self.cls_lev,
                                self.cls_lev_prev])
        keys, inv = np.unique(keys, axis=0, return_inverse=True)
        inv = inv.reshape(-1)

        def summed(values):
            out = np.zeros((len(keys),) + values.shape[1:], dtype=values.dtype)
            np.add.at(out, inv, values)
            return out

        return {"unit": keys[:, 0].astype(np.int64), "gap": keys[:, 1],
                "lev": keys[:, 2].astype(np.int64), "lev_prev": keys[:, 3].astype(np.int64),
                "s0": summed(self.s0), "s1": summed(self.s1), "s2": summed(self.s2),
                "count": summed(self.cls_count), "first": self.first,
                "first_count": self.first_count, "n_het_rows": self.n_het_rows}

    @staticmethod
    def add_statistics(a: dict, b: dict) -> dict:
        if "gaps" in a:
            return {"gaps": add_gap_statistics(a["gaps"], b["gaps"])}
        a, b = a["pairs"], b["pairs"]
        out: dict = {key: np.concatenate([a[key], b[key]]) for key in
               ("unit", "gap", "lev", "lev_prev", "s0", "s1", "s2", "count")}
        for key in ("first", "first_count", "n_het_rows"):
            out[key] = None if a[key] is None else a[key] + b[key]
        return {"pairs": out}

    @classmethod
    def from_statistics(cls, stats: dict, spec, cols):
        """An AR(1) structure from statistics reduced over whole units."""
        reduced = stats["gaps"] if "gaps" in stats else stats["pairs"]
        c = reduced["first"].total.shape[0] if "gaps" in stats else reduced["first"].shape[-1]
        out = cls._reduced(spec, c, cols)
        out.continuous = bool(spec.continuous)
        out.name = "car1" if out.continuous else "ar1"
        if "gaps" in stats:
            out._set_gap_statistics(reduced)
            if not out.by_gap:
                raise ValueError(f"more than 16 distinct time gaps in {spec.time_name!r}: "
                                 "AR(1) at integer times on Dask keeps statistics per gap; "
                                 "use in-memory data")
            return out
        out.by_gap = False
        out.first, out.first_count, out.n_het_rows = (reduced["first"], reduced["first_count"],
                                                      reduced["n_het_rows"])
        out.gaps, out.cls_gap = reduced["gap"], np.arange(len(reduced["gap"]))
        out.cls_unit, out.cls_lev, out.cls_lev_prev = reduced["unit"], reduced["lev"], \
            reduced["lev_prev"]
        out.s0, out.s1, out.s2, out.cls_count = reduced["s0"], reduced["s1"], reduced["s2"], \
            reduced["count"]
        return out

    def _rho(self, eta0):
        return expit(eta0) if self.continuous else np.tanh(eta0)

    def start(self):
        out = np.zeros(self.n_eta)
        if self.continuous:
            out[0] = 0.0  # phi = 0.5
        return out

    def grams(self, eta):
        rho = self._rho(eta[0])
        if self.markov_rows is not None:  # rho ** gap
            with np.errstate(divide="ignore"):
                a = self.markov_rows.exp_gaps(np.log(rho))
            return self.markov_rows.grams(a, self._deltas(eta))
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
