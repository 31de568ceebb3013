"""Isotropic spatial / continuous-time correlations (nlme's ``corSpatial`` family).

The correlation of two rows of a unit a Euclidean distance ``d > 0`` apart (``d``
between the values of ``time=``, or between the points of ``coords=[...]`` in two or
more dimensions) is ``(1 - nugget) f(d / range)``, 1 on the diagonal; without
``nugget=True`` the nugget is 0. With ``x = d / range``:

=========== ================================================ ==============
``kind``    ``f(x)``                                         nlme
=========== ================================================ ==============
``"exp"``   ``exp(-x)``                                      ``corExp``
``"gaus"``  ``exp(-x^2)``                                    ``corGaus``
``"lin"``   ``1 - x`` for ``x < 1``, else 0                  ``corLin``
``"ratio"`` ``1 / (1 + x^2)``                                ``corRatio``
``"spher"`` ``1 - 1.5 x + 0.5 x^3`` for ``x < 1``, else 0    ``corSpher``
=========== ================================================ ==============

Parameters as nlme's: ``range`` (``log(range)`` unconstrained; for ``"lin"`` and
``"spher"`` ``log(range - d_min)``, ``d_min`` the smallest distance between two rows of a
unit, as nlme), ``nugget`` (``logit(nugget)``). Their Wald intervals are formed on those
scales, as nlme's ``intervals``.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy.special import expit

from mixedext.structures.base import ResidualStructure, register
from mixedext.structures.markov import MarkovRows
from mixedext.structures.patterns import PatternStructure, UnitBlocks, within_unit_distances

__all__ = ["Spatial", "SPATIAL_KINDS", "pairwise_distances"]


def _exp(x):
    return np.exp(-x)


def _gaus(x):
    return np.exp(-x * x)


def _lin(x):
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _ratio(x):
    return 1.0 / (1.0 + x * x)


def _spher(x):
    return np.where(x < 1.0, 1.0 - 1.5 * x + 0.5 * x ** 3, 0.0)


SPATIAL_KINDS = {"exp": _exp, "gaus": _gaus, "lin": _lin, "ratio": _ratio, "spher": _spher}
_SHIFTED = ("lin", "spher")  # range > d_min, as nlme
# distances kept for the starts' quantiles in the whole data's constants (beyond it, an
# evenly spaced subset of them)
MAX_START_DISTANCES = 2_000_000


def pairwise_distances(points) -> np.ndarray:
    """Euclidean distances between the rows of each stacked set of points.

    Parameters
    ----------
    points : ndarray (..., s, d)
        Positions of ``s`` points in ``d`` dimensions.

    Returns
    -------
    ndarray (..., s, s)
    """
    points = np.asarray(points, dtype=float)
    diff = points[..., :, None, :] - points[..., None, :, :]
    return np.sqrt(np.sum(diff * diff, axis=-1))


@register
class Spatial(PatternStructure):
    """An isotropic correlation ``(1 - nugget) f(d / range)`` of the distance ``d``
    between rows of a unit (nlme's ``corExp``, ``corGaus``, ``corLin``, ``corRatio``,
    ``corSpher``; see the module docstring).

    Parameters
    ----------
    unit_codes : ndarray (n,)
        Residual unit of each row.
    n_units : int
    w : ndarray (n, c)
        The columns ``W = [z, X, y]``.
    positions : ndarray (n,) or (n, d)
        ``time=`` values or ``coords=`` points.
    kind : {"exp", "gaus", "lin", "ratio", "spher"}
    nugget : bool
        Whether a nugget is estimated.
    het, cols
        As :class:`~mixedext.structures.base.ResidualStructure`.
    constants : dict, optional
        The whole data's distances (:meth:`data_constants`) when the rows are only some
        of the units (a Dask partition); None: from the rows.
    """

    kinds = tuple(SPATIAL_KINDS)
    continuous = True  # no finite set of times to tabulate R over
    takes_coords = True
    takes_nugget = True

    def __init__(self, unit_codes, n_units, w, positions, *, kind="exp", nugget=False,
                 het=None, cols=None, constants=None):
        self.name, self.kind, self.nugget = kind, kind, bool(nugget)
        self.f = SPATIAL_KINDS[kind]
        self.n_params = 2 if nugget else 1
        positions = np.asarray(positions, dtype=float)
        self._positions = positions
        self._constants = constants or None
        self.markov_rows = None
        if kind == "exp" and not nugget and (positions.ndim == 1 or positions.shape[1] == 1):
            # exponential over one time axis without a nugget is Markov (nlme's corCAR1):
            # the gaps between consecutive times whiten it (structures.markov)
            ResidualStructure.__init__(self, unit_codes, n_units, w, het=het, cols=cols)
            self.blocks = []
            self.markov_rows = MarkovRows(unit_codes, n_units, w, positions.reshape(-1),
                                          self.cols, None if het is None else het[0])
        else:
            super().__init__(unit_codes, n_units, w, positions, het=het, cols=cols)
        self.shift = self.min_dist if kind in _SHIFTED else 0.0

    # -- the distances in the data (starts, the shift of "lin" / "spher"), on first use
    @cached_property
    def _distances(self) -> np.ndarray:
        """The distances between the rows of each unit (each pair once; of all units,
        a subset of them beyond ``MAX_START_DISTANCES``, when the constants are given)."""
        if self._constants is not None:
            return self._constants["distances"]
        return within_unit_distances(self.codes, self._positions)

    @cached_property
    def min_dist(self) -> float:
        """The smallest distance between two rows of a unit (nlme's ``minD``)."""
        if self._constants is not None:
            return float(self._constants["min_dist"]) if self._constants["pairs"] else 0.0
        return float(self._distances.min()) if self._distances.size else 0.0

    @cached_property
    def median_dist(self) -> float:
        """The median distance between two rows of a unit (the start's range)."""
        # the kernel's own distances are partitioned in place (the other uses, min and
        # quantiles, do not depend on their order); the whole data's are shared
        return _median(self._distances, overwrite=self._constants is None) \
            if self._distances.size else 1.0

    @cached_property
    def start_ranges(self) -> np.ndarray:
        """Ranges to start from: the smallest distance (nlme's start) and quantiles (the
        Markov case starts from the median alone: ``start_candidates``)."""
        dists = self._distances
        if not dists.size:
            return np.ones(1)
        if self.markov_rows is not None:
            return np.array([self.median_dist])
        return np.quantile(dists, [0.0, 0.05, 0.25, 0.5, 0.75])

    @classmethod
    def build(cls, spec, w, cols):
        return cls(spec.codes, spec.n_units, w, spec.times, kind=spec.kind,
                   nugget=spec.nugget, het=spec.het, cols=cols,
                   constants=spec.constants)

    @classmethod
    def validate(cls, spec, terms) -> None:
        sizes = np.bincount(spec.codes, minlength=spec.n_units)
        _check_pairs(int(sizes.max() >= 2), spec.kind)

    @classmethod
    def validate_rows(cls, spec, terms) -> None:
        """Nothing: some unit of all must have two rows (:meth:`check_constants`)."""

    # -- the whole data's distances, for kernels of some units (Dask partitions) -------
    @classmethod
    def data_constants(cls, spec) -> dict:
        """The distances within the units of ``spec`` (an evenly spaced subset of them
        beyond ``MAX_START_DISTANCES``), their number and the smallest."""
        dist = within_unit_distances(spec.codes, spec.times)
        return {"distances": _thinned(dist), "pairs": int(dist.size),
                "min_dist": float(dist.min()) if dist.size else np.inf}

    @classmethod
    def add_constants(cls, a: dict, b: dict) -> dict:
        return {"distances": _thinned(np.concatenate([a["distances"], b["distances"]])),
                "pairs": a["pairs"] + b["pairs"], "min_dist": min(a["min_dist"], b["min_dist"])}

    @classmethod
    def check_constants(cls, constants: dict, spec) -> None:
        _check_pairs(constants["pairs"], spec.kind)

    def prepare(self, block: UnitBlocks) -> None:
        block.dist = pairwise_distances(block.patterns)
        size = block.dist.shape[1]
        block.upper = np.triu_indices(size, 1)
        block.pair_dist = block.dist[:, block.upper[0], block.upper[1]]  # (P, pairs)

    @property
    def markov(self) -> bool:
        """Whether ``R^{-1}`` is tridiagonal: ``"exp"`` over one time axis without a
        nugget (its Gram matrices from :class:`~mixedext.structures.markov.MarkovRows`)."""
        return self.markov_rows is not None

    def grams(self, eta):
        if self.markov_rows is None:
            return super().grams(eta)
        eta = np.asarray(eta, dtype=float)
        rng = np.exp(eta[0]) if np.all(np.isfinite(eta)) else np.nan
        if not np.isfinite(rng) or rng <= 0:
            return None, np.inf
        a = self.markov_rows.exp_gaps(-1.0 / rng)
        return self.markov_rows.grams(a, self._deltas(eta))

    # -- parameters --------------------------------------------------------------------
    def _range_nugget(self, eta):
        rng = self.shift + np.exp(eta[0])
        nug = expit(eta[1]) if self.nugget else 0.0
        return rng, nug

    def _start_at(self, start_range):
        out = np.zeros(self.n_eta)
        start = max(start_range, 1.1 * self.min_dist) if self.shift else start_range
        out[0] = np.log(max(start - self.shift, 1e-3 * max(start, 1e-12)))
        if self.nugget:
            out[1] = np.log(0.1 / 0.9)  # nlme's start
        return out

    def start(self):
        return self._start_at(self.median_dist)

    def start_candidates(self) -> list:
        """Starts at ranges over the distances in the data (the fit begins at the one of
        lowest deviance): the likelihood of a range can have several local optima. The
        Markov case (``"exp"`` over time without a nugget, ``corCAR1`` in another
        parametrisation) starts from the median distance alone, as ``"car1"`` from its
        one start."""
        if self.markov:
            return [self.start()]
        return [self._start_at(r) for r in self.start_ranges]

    def natural(self, eta):
        rng, nug = self._range_nugget(eta)
        out = {"range": float(rng)}
        if self.nugget:
            out["nugget"] = float(nug)
        out.update(super().natural(eta))
        return out

    def link(self, name: str):
        if name == "range":
            s = self.shift
            return (lambda r: np.log(r - s)), (lambda x: s + np.exp(x))
        if name == "nugget":
            return (lambda p: np.log(p / (1 - p))), expit
        return super().link(name)

    # -- correlation -------------------------------------------------------------------
    def _corr_of_distances(self, dist, rng, nug):
        with np.errstate(over="ignore", under="ignore"):
            out = (1.0 - nug) * self.f(dist / rng)
        eye = np.eye(dist.shape[-1], dtype=bool)
        return np.where(eye, 1.0, out)

    def pattern_corr(self, block, eta):
        if not np.all(np.isfinite(eta)):
            return None
        rng, nug = self._range_nugget(eta)
        if not np.isfinite(rng) or rng <= 0:
            return None
        n_pat, size = block.dist.shape[:2]
        with np.errstate(over="ignore", under="ignore"):
            values = (1.0 - nug) * self.f(block.pair_dist / rng)
        out = np.empty((n_pat, size, size))
        i, j = block.upper
        out[:, i, j] = values
        out[:, j, i] = values
        diag = np.arange(size)
        out[:, diag, diag] = 1.0
        return out

    def corr(self, times, params):
        return self._corr_of_distances(pairwise_distances(_as_points(times)),
                                       params["range"], params.get("nugget", 0.0))


def _check_pairs(pairs: int, kind: str) -> None:
    """Some unit must have two rows (``pairs``: the pairs of rows of a unit)."""
    if not pairs:
        raise ValueError(f"cov_struct={kind!r}: every residual unit has a single row, so "
                         "there is no distance to correlate over")


def _thinned(dist: np.ndarray) -> np.ndarray:
    """At most ``MAX_START_DISTANCES`` of the distances, evenly spaced."""
    step = -(-len(dist) // MAX_START_DISTANCES)
    return dist if step <= 1 else dist[::step]


def _median(x, overwrite: bool = False) -> float:
    """``np.median(x)`` of a non-empty array by one partition (np.median makes two);
    ``overwrite=True`` partitions ``x`` itself (reordering it) instead of a copy."""
    half = len(x) // 2
    if overwrite:
        x.partition(half)
        part = x
    else:
        part = np.partition(x, half)
    return float(part[half] if len(x) % 2 else 0.5 * (part[:half].max() + part[half]))


def _as_points(times) -> np.ndarray:
    """Positions as (s, d) points."""
    t = np.asarray(times, dtype=float)
    return t[:, None] if t.ndim == 1 else t
