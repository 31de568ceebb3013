"""A correlation structure with variance functions: ``R = S C S`` per residual unit.

``C`` (and a ``het`` SD ratio per level, where the structure takes one) is any registered
structure; ``S = diag(s)`` multiplies the rows' SDs by the variance functions' ``s_i``
(:mod:`mixedext.structures.variance.base`). Since ``W' R^{-1} W = (S^{-1} W)' C^{-1}
(S^{-1} W)`` and ``log|R| = log|C| + 2 sum log s_i``, the structure's statistics are
gathered again from ``S^{-1} W`` whenever the variance parameters change: ``O(n c^2)``
per such evaluation (the rows are put in (unit, time) order once), the structure's own
parameters as cheap as without variance functions.

``eta`` is the structure's parameters followed by each variance function's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mixedext.structures.base import ResidualStructure

__all__ = ["VarianceWeighted"]


class VarianceWeighted(ResidualStructure):
    """The structure ``spec.structure`` with the rows' SDs scaled by ``spec.variance``.

    Reporting (``corr``, ``sd_ratios``, ``within_unit_cov``, ``name``, ...) is the inner
    structure's: the variance functions' per-row factor is
    :meth:`~mixedext.structures.spec.ResidualSpec.row_sd`.
    """

    def __init__(self, spec, w, cols):
        codes, times = spec.codes, spec.times
        # (unit, time) order; points of coords= (an (n, d) array) need only the units'
        order = (np.argsort(codes, kind="stable") if times is None or times.ndim > 1
                 else np.lexsort((times, codes)))
        self._order = order
        het = None if spec.het is None else (spec.het[0][order], spec.het[1])
        self._spec = replace(spec, codes=codes[order], variance=(), het=het,
                             times=None if spec.times is None else spec.times[order])
        self._w = np.ascontiguousarray(w[order])
        self._cols = cols
        self.functions = list(spec.variance)
        self._sizes = [f.n_eta for f in self.functions]
        inner = spec.structure.build(self._spec, self._w, cols)
        self.k = inner.n_eta
        # (variance eta, inner structure, log|S|^2): none yet evaluated (the rows' SDs at
        # the start need not be 1: constpower's are 2)
        self._cache = (None, inner, 0.0)
        super().__init__(codes, spec.n_units, w, het=spec.het, cols=cols)
        self.name = inner.name

    @property
    def inner(self):
        """The correlation structure (at the last variance parameters evaluated)."""
        return self._cache[1]

    def __getattr__(self, name):  # the inner structure's own attributes (times, ...)
        if name.startswith("_") or "_cache" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self._cache[1], name)

    # -- parameters --------------------------------------------------------------------
    @property
    def n_eta(self) -> int:
        return self.k + sum(self._sizes)

    def _split(self, eta):
        eta = np.asarray(eta, dtype=float)
        cuts = np.cumsum([self.k] + self._sizes)
        return eta[:self.k], np.split(eta[self.k:], cuts[1:-1] - self.k)

    def start(self):
        return np.concatenate([self.inner.start()] + [f.start() for f in self.functions])

    def start_candidates(self) -> list:
        """The structure's starts to choose from (its ``start_candidates()``, e.g. ranges
        of a spatial correlation, or its start), each followed by the variance
        functions' starts."""
        own = getattr(self.inner, "start_candidates", None)
        tail = [f.start() for f in self.functions]
        return [np.concatenate([np.asarray(e, dtype=float)] + tail)
                for e in (own() if own is not None else [self.inner.start()])]

    def natural(self, eta):
        inner_eta, parts = self._split(eta)
        out = self.inner.natural(inner_eta)
        for f, e in zip(self.functions, parts):
            out.update(f.natural(e))
        return out

    def _owner(self, name):
        for f in self.functions:
            if name in f.natural(f.start()):
                return f
        return None

    def link(self, name):
        f = self._owner(name)
        return self.inner.link(name) if f is None else f.link(name)

    def unbounded(self, name):
        f = self._owner(name)
        return self.inner.unbounded(name) if f is None else f.unbounded(name)

    def boundary_names(self, eta):
        """The structure's, and bounded variance parameters (``const``, SD ratios) with
        ``|eta| > 15``."""
        inner_eta, parts = self._split(eta)
        out = self.inner.boundary_names(inner_eta)
        for f, e in zip(self.functions, parts):
            out += [n for n, v in zip(f.names(), e) if not f.unbounded(n) and abs(v) > 15]
        return out

    # -- the Gram matrices -------------------------------------------------------------
    def row_log_sd(self, eta) -> np.ndarray:
        """``log s`` of the model's rows (data order) at ``eta``."""
        _, parts = self._split(eta)
        return sum((f.log_sd_eta(e) for f, e in zip(self.functions, parts)),
                   np.zeros(len(self._w)))

    def grams(self, eta):
        inner_eta, _ = self._split(eta)
        var_eta = np.asarray(eta, dtype=float)[self.k:]
        cached_eta, inner, logdet_s = self._cache
        if cached_eta is None or not np.array_equal(var_eta, cached_eta):
            log_s = self.row_log_sd(eta)[self._order]
            if not np.all(np.isfinite(log_s)):
                return None, np.inf
            inner = self._spec.structure.build(self._spec, self._w * np.exp(-log_s)[:, None],
                                               self._cols)
            logdet_s = float(2.0 * log_s.sum())
            self._cache = (var_eta.copy(), inner, logdet_s)
        g, logdet = inner.grams(inner_eta)
        if g is None:
            return None, np.inf
        return g, logdet + logdet_s

    # -- one unit's R: the inner structure's (times het levels; see row_sd) ------------
    def corr(self, times, params):
        return self.inner.corr(times, params)

    def sd_ratios(self, times, params, het_levels=None):
        return self.inner.sd_ratios(times, params, het_levels)
