"""Exchangeable residuals (compound symmetry, nlme's ``corCompSymm``): correlation
``rho`` between any two rows of a unit, ``R^{-1} = (I - c_r J) / (1 - rho)``;
``rho = a + (1 - a) expit(eta)`` in ``(a, 1)``, ``a = -1 / (n_max - 1)``.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import expit

from mixedext._engine.grams import UnitGrams, outer_sums
from mixedext.structures.base import ResidualStructure, register

__all__ = ["Exchangeable"]


@register
class Exchangeable(ResidualStructure):
    """Compound symmetry: correlation ``rho`` between any two rows of a unit
    (nlme ``corCompSymm``); ``rho`` in ``(-1 / (n_max - 1), 1)``."""

    kinds = ("exchangeable",)
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
        return self.lower + (1.0 - self.lower) * expit(eta0)

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

    @classmethod
    def validate_terms(cls, spec, terms) -> None:
        # a random intercept (row-less terms: codes None, z None also for slopes) whose
        # units are the residual units
        if any(tuple(t.names) == ("Intercept",) and t.n_units == spec.n_units and
               (t.codes is None or np.array_equal(t.codes, spec.codes)) for t in terms):
            warnings.warn("cov_struct='exchangeable' within the units of a random intercept "
                          "is not identified (both give compound symmetry); the fit equals "
                          "the random-intercept model with one redundant parameter",
                          UserWarning, stacklevel=5)

    def link(self, name: str):
        if name == "rho":  # log((rho - a) / (1 - rho)), a the lower bound (nlme)
            lo = self.lower
            return (lambda r: np.log((r - lo) / (1 - r))), \
                (lambda x: (lo + np.exp(x)) / (1 + np.exp(x)))
        return super().link(name)

    def natural(self, eta):
        out = {"rho": float(self._rho(eta[0]))}
        out.update(super().natural(eta))
        return out

    def corr(self, times, params):
        n = len(times)
        return np.full((n, n), params["rho"]) + (1 - params["rho"]) * np.eye(n)

    # -- Dask: the per-(unit, level) sums add up over any rows -------------------------
    @classmethod
    def partition_statistics(cls, spec, w, cols) -> dict:
        part = cls.build(spec, w, cols)
        return {"stats": part.stats, "sums": part.sums, "n": part.n,
                "n_het_rows": part.n_het_rows}

    @staticmethod
    def add_statistics(a: dict, b: dict) -> dict:
        return {key: a[key] + b[key] for key in a}

    @classmethod
    def from_statistics(cls, stats: dict, spec, cols):
        out = cls._reduced(spec, stats["stats"].shape[-1], cols)
        out.k = stats["stats"].shape[1]
        out.stats, out.sums, out.n = stats["stats"], stats["sums"], stats["n"]
        out.n_het_rows = stats["n_het_rows"]
        out.lower = -1.0 / (max(out.n.max(), 2) - 1)
        return out
