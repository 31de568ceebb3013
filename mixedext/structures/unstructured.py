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

    @classmethod
    def build(cls, spec, w, cols):
        tcodes, tvals = pd.factorize(spec.times, sort=True)
        return cls(spec.codes, spec.n_units, w, tcodes, np.asarray(tvals), cols=cols)

    @classmethod
    def validate(cls, spec, terms) -> None:
        tcodes, tvals = pd.factorize(spec.times, sort=True)
        nt = len(tvals)
        if nt > MAX_TIMES:
            raise ValueError(f"cov_struct='unstructured' with {nt} distinct times in "
                             f"{spec.time_name!r}: too many to estimate every correlation "
                             f"(at most {MAX_TIMES}); use 'ar1' or 'exchangeable'")
        present = np.zeros((spec.n_units, nt))
        present[spec.codes, tcodes] = 1.0
        together = present.T @ present
        if together.min() < 2:
            i, j = np.unravel_index(np.argmin(together), together.shape)
            raise ValueError(f"cov_struct='unstructured': times {tvals[i]:g} and "
                             f"{tvals[j]:g} of {spec.time_name!r} are observed together in "
                             "fewer than 2 units, so their correlation cannot be identified")

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
