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

import numpy as np
from scipy.special import expit

from mixedext.structures.base import register
from mixedext.structures.patterns import PatternStructure, UnitBlocks

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
    """

    kinds = tuple(SPATIAL_KINDS)
    continuous = True  # no finite set of times to tabulate R over
    takes_coords = True
    takes_nugget = True

    def __init__(self, unit_codes, n_units, w, positions, *, kind="exp", nugget=False,
                 het=None, cols=None):
        self.name, self.kind, self.nugget = kind, kind, bool(nugget)
        self.f = SPATIAL_KINDS[kind]
        self.n_params = 2 if nugget else 1
        super().__init__(unit_codes, n_units, w, positions, het=het, cols=cols)
        pairs = [np.triu_indices(b.dist.shape[1], 1) for b in self.blocks]
        dists = np.concatenate([b.dist[:, i, j].ravel() for b, (i, j) in zip(self.blocks, pairs)]
                               + [np.zeros(0)])
        self.min_dist = float(dists.min()) if dists.size else 0.0
        self.median_dist = float(np.median(dists)) if dists.size else 1.0
        # ranges to start from: the smallest distance (nlme's start) and quantiles
        self.start_ranges = np.quantile(dists, [0.0, 0.05, 0.25, 0.5, 0.75]) if dists.size \
            else np.ones(1)
        self.shift = self.min_dist if kind in _SHIFTED else 0.0

    @classmethod
    def build(cls, spec, w, cols):
        return cls(spec.codes, spec.n_units, w, spec.times, kind=spec.kind,
                   nugget=spec.nugget, het=spec.het, cols=cols)

    @classmethod
    def validate(cls, spec, terms) -> None:
        sizes = np.bincount(spec.codes, minlength=spec.n_units)
        if sizes.max() < 2:
            raise ValueError(f"cov_struct={spec.kind!r}: every residual unit has a single "
                             "row, so there is no distance to correlate over")

    def prepare(self, block: UnitBlocks) -> None:
        block.dist = pairwise_distances(block.patterns)
        size = block.dist.shape[1]
        block.upper = np.triu_indices(size, 1)
        block.pair_dist = block.dist[:, block.upper[0], block.upper[1]]  # (P, pairs)
        # exponential over one time axis without a nugget is Markov (nlme's corCAR1):
        # the gaps between consecutive times whiten it
        block.neg_gaps = -np.diff(block.positions[:, :, 0], axis=1)

    @property
    def markov(self) -> bool:
        """Whether ``R^{-1}`` is tridiagonal: ``"exp"`` over ``time=`` without a nugget."""
        return self.kind == "exp" and not self.nugget and self.blocks[0].patterns.shape[2] == 1

    def whiten(self, block, w, eta):
        if not self.markov:
            return super().whiten(block, w, eta)
        rng = np.exp(eta[0])
        if not np.isfinite(rng) or rng <= 0:
            return None
        a = np.exp(block.neg_gaps * (1.0 / rng))  # (m_s, s - 1)
        one_m = 1.0 - a * a
        if not np.all(one_m > 1e-12):
            return None
        scale = 1.0 / np.sqrt(one_m)
        white = np.empty_like(w)
        white[:, 0] = w[:, 0]
        np.multiply(w[:, 1:], scale[:, :, None], out=white[:, 1:])
        white[:, 1:] -= (a * scale)[:, :, None] * w[:, :-1]
        return white, float(np.log(one_m).sum())

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
        lowest deviance): the likelihood of a range can have several local optima."""
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


def _as_points(times) -> np.ndarray:
    """Positions as (s, d) points."""
    t = np.asarray(times, dtype=float)
    return t[:, None] if t.ndim == 1 else t
