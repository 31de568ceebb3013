"""Independent residuals, optionally with a residual SD per level of a column (nlme's
``varIdent``, ``het_var=``): ``R = diag(delta_l(i)^2)``, ``delta`` 1 at the reference
level."""

from __future__ import annotations

import numpy as np

from mixedext._engine.grams import UnitGrams, UnitSums, outer_sums
from mixedext.structures.base import ResidualStructure, register

__all__ = ["Independence"]


@register
class Independence(ResidualStructure):
    """Independent residuals, optionally with a variance per level (``het``)."""

    kinds = ("independence",)
    diagonal = True

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

    def grams(self, eta):
        if self.het is None:
            return self.base, 0.0
        d = self._deltas(eta)
        g = np.einsum("l,mlab->mab", d ** -2.0, self.stats)
        return UnitGrams.from_full(g, self.cols), float(2.0 * np.sum(self.count * np.log(d)))

    def corr(self, times, params):
        return np.eye(len(times))

    # -- Dask (het_var=): outer products per (unit, level) add up over any rows ----------
    @classmethod
    def partition_statistics(cls, spec, w, cols) -> dict:
        out = cls.build(spec, w, cols)
        return {"stats": out.stats, "count": out.count}

    @staticmethod
    def add_statistics(a: dict, b: dict) -> dict:
        return {"stats": a["stats"] + b["stats"], "count": a["count"] + b["count"]}

    @classmethod
    def from_statistics(cls, stats: dict, spec, cols):
        out = cls._reduced(spec, stats["stats"].shape[-1], cols)
        out.k = stats["stats"].shape[1]
        out.stats, out.count = stats["stats"], stats["count"]
        return out
