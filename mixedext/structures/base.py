"""The interface of a residual covariance structure, and the registry of structures.

With ``Var(e) = sigma^2 R``, ``R`` block-diagonal over *residual units* (the innermost
grouping level, or ``cov_groups``), multiplying each unit's rows by ``R_r^{-1/2}`` gives a
model with independent errors; the deviance is that model's plus ``log|R|`` (ML and
REML alike). Everything the engine needs is the Gram matrix ``G_r = W_r' R_r^{-1} W_r`` of
``W = [z columns, X, y]`` per residual unit, and of that only the rows of the
random-effect columns per unit plus the sum over units
(:class:`~mixedext._engine.grams.UnitGrams`). Each structure computes them from
statistics gathered once, so an evaluation costs ``O(units k c)`` (``k`` random-effect
columns, ``c`` columns of ``W``), not ``O(n)``.

A structure is one class in a module of its own, registered under its ``cov_struct=``
names with :func:`register`. It provides

* ``build(spec, w, cols)``: the kernel for a validated
  :class:`~mixedext.structures.spec.ResidualSpec` and the columns ``W``;
* ``validate(spec, terms)``: checks of its own (errors name the column);
* ``grams(eta) -> (UnitGrams, log|R|)`` (``(None, inf)`` where ``R`` is not positive
  definite), ``start()``, ``natural(eta)`` (named parameters on their natural scale);
* ``corr(times, params)`` and ``sd_ratios(times, params, het_levels)``: one unit's ``R``
  for reporting and simulation (``within_unit_cov``);
* ``link(name)``: the unbounded scale of a parameter's Wald interval (nlme's);
  ``unbounded(name)`` / ``boundary_names(eta)``: which parameters can sit on a boundary
  and which do;
* for Dask data frames, ``partition_statistics(spec, w, cols)`` (one partition's
  statistics), ``add_statistics(a, b)`` (two partitions') and ``from_statistics(stats,
  spec, cols)`` (the kernel from their sum); ``dask_whole_units``: whether a partition
  must hold whole residual units. A structure with these runs on Dask.

Parameters are optimised on an unconstrained scale ``eta``; ``het`` (``varIdent``: a
residual SD ratio ``delta_l`` per level of a column) is handled here for every structure
that takes it (``takes_het``). Variance functions (``variance=``) scale the rows' SDs of
any structure from outside (:mod:`mixedext.structures.variance.weighted`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ResidualStructure", "STRUCTURES", "register", "structure_class", "time_order"]

STRUCTURES: dict = {}  # cov_struct= name -> class


def register(cls):
    """Class decorator: make ``cls`` available under each of its ``kinds``."""
    for kind in cls.kinds:
        STRUCTURES[kind] = cls
    return cls


def structure_class(kind: str):
    """The class of ``cov_struct=kind``; a ValueError lists the names known. A name with
    arguments (``"arma(1,1)"``) finds the class registered as ``"arma(p,q)"``."""
    if isinstance(kind, str) and kind not in STRUCTURES and "(" in kind:
        for name, cls in STRUCTURES.items():
            if "(" in name and name.split("(")[0] == kind.split("(")[0].strip():
                return cls
    if kind not in STRUCTURES:
        raise ValueError(f"cov_struct must be one of {', '.join(map(repr, STRUCTURES))}, "
                         f"not {kind!r}")
    return STRUCTURES[kind]


def time_order(unit_codes, times):
    """Row order by (unit, time); None when the rows are already strictly in that order
    (so no time repeats within a unit)."""
    same = unit_codes[1:] == unit_codes[:-1]
    if np.all((unit_codes[1:] > unit_codes[:-1]) | (same & (times[1:] > times[:-1]))):
        return None
    return np.lexsort((times, unit_codes))


class ResidualStructure:
    """Base class: a within-unit residual correlation (and variance) structure (see the
    module docstring for what a subclass provides). ``cols`` are the columns of ``W``
    whose Gram rows are needed per unit (default: all)."""

    kinds: tuple = ()
    name = "independence"
    n_params = 0
    needs_time = False  # time= is required
    takes_het = True  # het_var= combines with it
    dask_whole_units = False  # Dask partitions must hold whole residual units

    def __init__(self, unit_codes, n_units, w, *, het=None, cols=None):
        self.codes = unit_codes
        self.m = n_units
        self.c = w.shape[1]
        self.cols = np.arange(self.c) if cols is None else np.asarray(cols)
        self.het = het  # (level codes per row, level names) or None
        self.n_het = 0 if het is None else len(het[1]) - 1

    # -- construction ------------------------------------------------------------------
    @classmethod
    def build(cls, spec, w, cols):
        """The kernel for the validated ``spec`` and the columns ``w`` of ``W``."""
        return cls(spec.codes, spec.n_units, w, het=spec.het, cols=cols)

    @classmethod
    def validate(cls, spec, terms) -> None:
        """Checks of this structure's own (the spec's units, times and het levels are
        already checked)."""

    @classmethod
    def validate_terms(cls, spec, terms) -> None:
        """Check the structure against the random-effect terms (warnings or errors).

        Only the terms' levels and unit counts are used, not the rows, so the check runs
        in memory and on Dask alike (the base class checks nothing).

        Parameters
        ----------
        spec : ResidualSpec
            The validated residual specification (row-less on Dask).
        terms : list of RandomTerm
            The model's random-effect terms (row-less on Dask).
        """

    # -- parameters --------------------------------------------------------------------
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

    def link(self, name: str):
        """``(f, f_inverse)``: the scale on which the Wald interval of parameter ``name``
        is formed (``log`` for SD ratios, ``atanh`` for correlations)."""
        if name.startswith("sd_ratio["):
            return np.log, np.exp
        return np.arctanh, np.tanh

    def unbounded(self, name: str) -> bool:
        """Whether a parameter has no bounds (so no estimate on a boundary).

        Parameters
        ----------
        name : str
            The parameter's name, as in :meth:`natural`.

        Returns
        -------
        bool
            True when the parameter ranges over the whole real line (the base class:
            False for every parameter).
        """
        return False

    def boundary_names(self, eta) -> list[str]:
        """The parameters run to the edge of their range.

        Parameters
        ----------
        eta : array_like
            The parameters on the optimiser's unconstrained scale.

        Returns
        -------
        list of str
            The names (as in :meth:`natural`; ``eta<i>`` beyond them) of the parameters
            with ``|eta| > 15``, i.e. a correlation or SD ratio within ~1e-6 of a bound.
        """
        names = list(self.natural(eta))
        return [names[i] if i < len(names) else f"eta{i}"
                for i in np.flatnonzero(np.abs(np.asarray(eta)) > 15)]

    # -- one unit's R (reporting, simulation) ------------------------------------------
    def corr(self, times, params) -> np.ndarray:
        """The correlation matrix of one unit's rows at ``times``."""
        raise NotImplementedError

    def sd_ratios(self, times, params, het_levels=None) -> np.ndarray:
        """The residual SD of each row relative to sigma (``het_levels``: each row's
        het_var level name; None: the reference level)."""
        if het_levels is None or self.het is None:
            return np.ones(len(times))
        return np.array([params[f"sd_ratio[{lev}]"] for lev in het_levels])

    def within_unit_cov(self, times, params, het_levels=None) -> np.ndarray:
        """``R`` of one unit's rows: correlation times SD ratios."""
        sd = self.sd_ratios(times, params, het_levels)
        return self.corr(times, params) * np.outer(sd, sd)

    # -- Dask: statistics summed over partitions ---------------------------------------
    @classmethod
    def check_dask(cls, kind: str, het_var) -> None:
        """Raise NotImplementedError unless ``cov_struct=kind`` (with ``het_var``) works on
        Dask data frames: by default, when the structure implements
        :meth:`partition_statistics`."""
        if not any("partition_statistics" in vars(k) for k in cls.__mro__
                   if issubclass(k, ResidualStructure) and k is not ResidualStructure):
            raise NotImplementedError(f"cov_struct={kind!r} is not available on Dask data "
                                      "frames yet (its partition statistics are not "
                                      "implemented); use an in-memory pandas DataFrame")

    @classmethod
    def partition_statistics(cls, spec, w, cols) -> dict:
        """This structure's statistics of one partition's rows (sums over rows).

        ``spec`` is the partition's :class:`~mixedext.structures.spec.ResidualSpec`: its
        rows' residual units in the global unit indexing (``n_units`` all units), their
        times and het levels (the global level names); ``spec.continuous`` is the whole
        data's. The partition holds whole residual units when ``dask_whole_units`` is
        set or ``time=`` is given."""
        raise NotImplementedError(f"cov_struct={cls.kinds[0]!r} is not available on Dask "
                                  "data frames")

    @staticmethod
    def add_statistics(a: dict, b: dict) -> dict:
        """The statistics of two disjoint sets of rows."""
        raise NotImplementedError

    @classmethod
    def from_statistics(cls, stats: dict, spec, cols):
        """The kernel from statistics summed over all partitions; ``spec`` is the whole
        data's residual spec without rows (``codes`` None, ``times`` the distinct times
        or None, ``het`` ``(None, level names)``)."""
        raise NotImplementedError

    @classmethod
    def _reduced(cls, spec, n_columns: int, cols):
        """An instance without rows, its base attributes set (for ``from_statistics``)."""
        out = cls.__new__(cls)
        out.codes, out.m, out.c = None, spec.n_units, n_columns
        out.cols = np.arange(n_columns) if cols is None else np.asarray(cols)
        out.het = spec.het
        out.n_het = 0 if spec.het is None else len(spec.het[1]) - 1
        return out
