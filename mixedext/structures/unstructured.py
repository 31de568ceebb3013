"""Unstructured residuals (nlme's ``corSymm`` + ``varIdent(~ 1 | time)``; SAS
``TYPE=UN``): a variance per distinct time and every correlation. ``R^{-1}`` per pattern of
observed times, applied to products of rows at each pair of times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mixedext._engine.grams import UnitGrams
from mixedext.structures.base import ResidualStructure, register

__all__ = ["Unstructured", "MAX_TIMES"]

MAX_TIMES = 20  # distinct times at most


@register
class Unstructured(ResidualStructure):
    """A variance per distinct time and every correlation (nlme ``corSymm`` +
    ``varIdent(~ 1 | time)``; SAS ``TYPE=UN``).

    The correlation matrix is ``C = L L'`` with ``L`` lower triangular, its rows scaled to
    unit length (unconstrained off-diagonal entries); SD ratios ``exp(eta)`` relative to
    the first time.
    """

    kinds = ("unstructured",)
    name = "unstructured"
    needs_time = True
    takes_het = False

    def __init__(self, unit_codes, n_units, w, time_codes, time_values, *, cols=None):
        super().__init__(unit_codes, n_units, w, cols=cols)
        nt = len(time_values)
        present = np.zeros((n_units, nt), dtype=bool)
        present[unit_codes, time_codes] = True
        row = np.zeros((n_units, nt, self.c))
        row[unit_codes, time_codes] = w
        self._set_rows(row, present, time_values)

    def _set_rows(self, row, present, time_values) -> None:
        """The kernel from ``w`` at (unit, time) (``row``, zero where unobserved) and
        which (unit, time) are observed (``present``)."""
        self.times = np.asarray(time_values)
        nt = len(self.times)
        self.nt = nt
        self.n_params = nt * (nt - 1) // 2 + (nt - 1)
        self.patterns, self.pattern_of = np.unique(present, axis=0, return_inverse=True)
        self.pattern_of = self.pattern_of.reshape(-1)
        self.pattern_count = np.bincount(self.pattern_of)
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

    @classmethod
    def build(cls, spec, w, cols):
        if spec.constants:  # the whole data's times (the rows are some of its units)
            tvals = spec.constants["times"]
            return cls(spec.codes, spec.n_units, w, np.searchsorted(tvals, spec.times), tvals,
                       cols=cols)
        tcodes, tvals = pd.factorize(spec.times, sort=True)
        return cls(spec.codes, spec.n_units, w, tcodes, np.asarray(tvals), cols=cols)

    @classmethod
    def validate(cls, spec, terms) -> None:
        cls.check_constants(cls.data_constants(spec), spec)

    @classmethod
    def validate_rows(cls, spec, terms) -> None:
        """Nothing: the times are counted over all units (:meth:`check_constants`)."""

    @classmethod
    def data_constants(cls, spec) -> dict:
        """The distinct times and, per pair of times, the units observed at both."""
        tcodes, tvals = pd.factorize(spec.times, sort=True)
        present = np.zeros((spec.n_units, len(tvals)))
        present[spec.codes, tcodes] = 1.0
        return {"times": np.asarray(tvals, dtype=float), "together": present.T @ present}

    @classmethod
    def add_constants(cls, a: dict, b: dict) -> dict:
        times = np.union1d(a["times"], b["times"])
        together = np.zeros((len(times), len(times)))
        for part in (a, b):
            at = np.searchsorted(times, part["times"])
            together[np.ix_(at, at)] += part["together"]
        return {"times": times, "together": together}

    @classmethod
    def check_constants(cls, constants: dict, spec) -> None:
        _check_time_count(len(constants["times"]), spec.time_name)
        _check_identified(constants["together"], constants["times"], spec.time_name)

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

    def corr(self, times, params):
        idx = self._time_index(times)
        corr = np.eye(self.nt)
        for j in range(self.nt):
            for i in range(j + 1, self.nt):
                corr[i, j] = corr[j, i] = params[f"corr[{self.times[j]:g},{self.times[i]:g}]"]
        return corr[np.ix_(idx, idx)]

    def sd_ratios(self, times, params, het_levels=None):
        sd = np.array([params[f"sd_ratio[{t:g}]"] for t in self.times])
        return sd[self._time_index(times)]

    def _time_index(self, times):
        times = np.asarray(times, dtype=float)
        idx = np.searchsorted(self.times, times)
        if np.any(idx >= self.nt) or not np.allclose(self.times[np.minimum(idx, self.nt - 1)],
                                                     times):
            raise ValueError(f"times must be among the fitted times {list(self.times)}")
        return idx

    # -- Dask: w at (unit, time) adds up over any rows, keyed by the time's value ------
    @classmethod
    def partition_statistics(cls, spec, w, cols) -> dict:
        tcodes, tvals = pd.factorize(spec.times, sort=True)
        _check_time_count(len(tvals), spec.time_name)
        row = np.zeros((spec.n_units, len(tvals), w.shape[1]))
        np.add.at(row, (spec.codes, tcodes), w)
        count = np.zeros((spec.n_units, len(tvals)), dtype=np.int64)
        np.add.at(count, (spec.codes, tcodes), 1)
        return {"times": np.asarray(tvals, dtype=float), "row": row, "count": count}

    @staticmethod
    def add_statistics(a: dict, b: dict) -> dict:
        times = np.union1d(a["times"], b["times"])
        out = {"times": times}
        for key in ("row", "count"):
            total = np.zeros((a[key].shape[0], len(times)) + a[key].shape[2:],
                             dtype=a[key].dtype)
            for part in (a, b):
                total[:, np.searchsorted(times, part["times"])] += part[key]
            out[key] = total
        return out

    @classmethod
    def from_statistics(cls, stats: dict, spec, cols):
        times, count = stats["times"], stats["count"]
        _check_time_count(len(times), spec.time_name)
        if count.max(initial=0) > 1:
            i, j = np.unravel_index(np.argmax(count), count.shape)
            raise ValueError(f"duplicate times within a unit in column {spec.time_name!r}: "
                             f"time {times[j]:g} appears {count[i, j]} times in one unit; "
                             "each unit may be measured once per time")
        present = (count > 0).astype(float)
        _check_identified(present.T @ present, times, spec.time_name)
        out = cls._reduced(spec, stats["row"].shape[-1], cols)
        out._set_rows(stats["row"], count > 0, times)
        return out


def _check_time_count(nt: int, time_name) -> None:
    if nt > MAX_TIMES:
        raise ValueError(f"cov_struct='unstructured' with {nt} distinct times in "
                         f"{time_name!r}: too many to estimate every correlation "
                         f"(at most {MAX_TIMES}); use 'ar1' or 'exchangeable'")


def _check_identified(together, tvals, time_name) -> None:
    """Every pair of times observed together in 2 units or more (``together``: the units
    observed at both times of each pair)."""
    if together.min() < 2:
        i, j = np.unravel_index(np.argmin(together), together.shape)
        raise ValueError(f"cov_struct='unstructured': times {tvals[i]:g} and "
                         f"{tvals[j]:g} of {time_name!r} are observed together in "
                         "fewer than 2 units, so their correlation cannot be identified")
