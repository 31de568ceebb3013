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
  must hold whole residual units. A structure without them runs on Dask by its rows
  (:mod:`mixedext.models.dask_rows`): each partition keeps the kernel of its own units,
  evaluated at every ``eta``;
* for a kernel built on part of the rows (a partition's units), the whole data's
  constants: ``data_constants(spec)`` (of some rows), ``add_constants(a, b)`` (of two
  disjoint sets of units) and ``check_constants(constants, spec)`` (the checks that need
  all units), passed to ``build`` as ``spec.constants`` (e.g. the smallest distance
  between two rows of a unit, which sets the range's lower bound of ``"lin"``).

Parameters are optimised on an unconstrained scale ``eta``; ``het`` (``varIdent``: a
residual SD ratio ``delta_l`` per level of a column) is handled here for every structure
that takes it (``takes_het``). Variance functions (``variance=``) scale the rows' SDs of
any structure from outside (:mod:`mixedext.structures.variance.weighted`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ResidualStructure", "STRUCTURES", "register", "structure_class", "time_order"]

STRUCTURES: dict = {}  # cov_struct= name -> class


def register(structure):
    """Class decorator: make a structure available under each of its ``kinds``.

    Parameters
    ----------
    structure : type
        A :class:`ResidualStructure` subclass; ``structure.kinds`` are its
        ``cov_struct=`` names.

    Returns
    -------
    type
        ``structure`` itself, now in ``STRUCTURES``.
    """
    for kind in structure.kinds:
        STRUCTURES[kind] = structure
    return structure


def structure_class(kind: str):
    """The registered structure class of a ``cov_struct=`` name.

    Parameters
    ----------
    kind : str
        The name, e.g. ``"ar1"``; a name with arguments (``"arma(1,1)"``) finds the class
        registered as ``"arma(p,q)"``.

    Returns
    -------
    type
        The :class:`ResidualStructure` subclass.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the names known).
    """
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
    """Base class of the within-unit residual correlation (and variance) structures.

    See the module docstring for what a subclass provides; the base class is the
    independent structure's behaviour with an optional ``het`` (varIdent).

    Parameters
    ----------
    unit_codes : ndarray of int, shape (n,)
        The residual unit of every row.
    n_units : int
        Number of residual units.
    w : ndarray, shape (n, c)
        The columns ``W = [z columns, X, y]``.
    het : tuple, optional
        ``(level code per row, level names)`` of ``het_var``: an SD ratio per level.
    cols : array_like of int, optional
        The columns of ``W`` whose Gram rows are needed per unit (default: all).
    """

    kinds: tuple = ()
    name = "independence"
    n_params = 0
    needs_time = False  # time= is required
    takes_het = True  # het_var= combines with it
    dask_whole_units = False  # Dask partitions must hold whole residual units
    diagonal = False  # R is diagonal: a unit's Gram matrix adds over its rows

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
        """Build the kernel of a validated residual specification.

        Parameters
        ----------
        spec : ResidualSpec
            The residual specification (units, times, het levels of the rows).
        w : ndarray, shape (n, c)
            The columns ``W = [z columns, X, y]`` of the rows.
        cols : array_like of int or None
            The columns of ``W`` whose Gram rows are needed per unit.

        Returns
        -------
        ResidualStructure
            The structure's kernel over those rows.
        """
        return cls(spec.codes, spec.n_units, w, het=spec.het, cols=cols)

    @classmethod
    def validate(cls, spec, terms) -> None:
        """Check the data against this structure's own requirements.

        The spec's units, times and het levels are checked before (the base class checks
        nothing more); errors name the column at fault.

        Parameters
        ----------
        spec : ResidualSpec
            The residual specification.
        terms : list of RandomTerm
            The model's random-effect terms.
        """

    @classmethod
    def validate_rows(cls, spec, terms) -> None:
        """The checks of :meth:`validate` that any set of whole units passes alone.

        A Dask partition's units are checked with these; the checks that need all units
        are :meth:`check_constants`'. By default :meth:`validate`.

        Parameters
        ----------
        spec : ResidualSpec
            Some units' residual specification.
        terms : list of RandomTerm
            The model's random-effect terms over those rows.
        """
        cls.validate(spec, terms)

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
        """Number of parameters on the unconstrained scale (the structure's and ``het``'s)."""
        return self.n_params + self.n_het

    def start(self) -> np.ndarray:
        """The optimiser's start on the unconstrained scale.

        Returns
        -------
        ndarray, shape (n_eta,)
            The base class: zeros (no correlation, equal SDs).
        """
        return np.zeros(self.n_eta)

    def _deltas(self, eta):
        """SD ratio per het level (reference level 1)."""
        if self.het is None:
            return None
        return np.exp(np.concatenate([[0.0], eta[self.n_params:]]))

    def natural(self, eta) -> dict:
        """The named parameters on their natural scale.

        Parameters
        ----------
        eta : array_like
            The parameters on the optimiser's unconstrained scale.

        Returns
        -------
        dict
            ``name -> value`` in nlme's names (the base class: ``sd_ratio[level]`` of
            ``het``).
        """
        out = {}
        deltas = self._deltas(eta)
        if deltas is not None:
            for name, d in zip(self.het[1], deltas):
                out[f"sd_ratio[{name}]"] = float(d)
        return out

    def link(self, name: str):
        """The scale on which the Wald interval of a parameter is formed.

        Parameters
        ----------
        name : str
            The parameter's name, as in :meth:`natural`.

        Returns
        -------
        tuple of callable
            ``(f, f_inverse)``: ``log`` for SD ratios, ``atanh`` for correlations (nlme's
            scales).
        """
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
        """The correlation matrix of one unit's rows.

        Parameters
        ----------
        times : array_like
            The rows' times (or points).
        params : dict
            The natural parameters (:meth:`natural`).

        Returns
        -------
        ndarray, shape (len(times), len(times))
            The correlation matrix.
        """
        raise NotImplementedError

    def sd_ratios(self, times, params, het_levels=None) -> np.ndarray:
        """The residual SD of each row of one unit relative to sigma.

        Parameters
        ----------
        times : array_like
            The rows' times (or points).
        params : dict
            The natural parameters (:meth:`natural`).
        het_levels : sequence of str, optional
            Each row's ``het_var`` level name; None: the reference level.

        Returns
        -------
        ndarray, shape (len(times),)
            The SD ratios.
        """
        if het_levels is None or self.het is None:
            return np.ones(len(times))
        return np.array([params[f"sd_ratio[{lev}]"] for lev in het_levels])

    def within_unit_cov(self, times, params, het_levels=None) -> np.ndarray:
        """``R`` of one unit's rows: the correlation scaled by the SD ratios.

        Parameters
        ----------
        times : array_like
            The rows' times (or points).
        params : dict
            The natural parameters (:meth:`natural`).
        het_levels : sequence of str, optional
            Each row's ``het_var`` level name; None: the reference level.

        Returns
        -------
        ndarray, shape (len(times), len(times))
            ``S C S`` with ``C`` :meth:`corr` and ``S`` the :meth:`sd_ratios`; times
            ``sigma^2`` the rows' residual covariance.
        """
        sd = self.sd_ratios(times, params, het_levels)
        return self.corr(times, params) * np.outer(sd, sd)

    # -- Dask: statistics summed over partitions ---------------------------------------
    @classmethod
    def has_partition_statistics(cls) -> bool:
        """Whether Dask partitions reduce to statistics of fixed size per unit.

        That is, the structure implements :meth:`partition_statistics`; otherwise it runs
        on Dask by its rows, a kernel per partition.

        Returns
        -------
        bool
        """
        return any("partition_statistics" in vars(k) for k in cls.__mro__
                   if issubclass(k, ResidualStructure) and k is not ResidualStructure)

    # -- constants of the whole data, for kernels of parts of it -----------------------
    @classmethod
    def data_constants(cls, spec) -> dict:
        """What the kernel takes from all the rows besides each unit's own.

        Parameters
        ----------
        spec : ResidualSpec
            Some whole units' specification (their rows' units, times, het levels).

        Returns
        -------
        dict
            Constants that :meth:`add_constants` combines over disjoint sets of units
            (the base class: none).
        """
        return {}

    @classmethod
    def add_constants(cls, a: dict, b: dict) -> dict:
        """The constants of two disjoint sets of units.

        Parameters
        ----------
        a, b : dict
            Constants of :meth:`data_constants`.

        Returns
        -------
        dict
            The constants of both sets (the base class: none).
        """
        return {}

    @classmethod
    def check_constants(cls, constants: dict, spec) -> None:
        """The checks that need all units, from the whole data's constants.

        Parameters
        ----------
        constants : dict
            The constants of all units (:meth:`data_constants`, added).
        spec : ResidualSpec
            The specification (for the names in messages).
        """

    @classmethod
    def partition_statistics(cls, spec, w, cols) -> dict:
        """This structure's statistics of one partition's rows (sums over rows).

        The partition holds whole residual units when ``dask_whole_units`` is set or
        ``time=`` is given.

        Parameters
        ----------
        spec : ResidualSpec
            The partition's specification: its rows' residual units in the global unit
            indexing (``n_units`` all units), their times and het levels (the global
            level names); ``spec.continuous`` is the whole data's.
        w : ndarray, shape (n, c)
            The partition's columns ``W``.
        cols : array_like of int or None
            The columns of ``W`` whose Gram rows are needed per unit.

        Returns
        -------
        dict
            Statistics that :meth:`add_statistics` sums over partitions.

        Raises
        ------
        NotImplementedError
            In the base class (a structure not available on Dask).
        """
        raise NotImplementedError(f"cov_struct={cls.kinds[0]!r} is not available on Dask "
                                  "data frames")

    @staticmethod
    def add_statistics(a: dict, b: dict) -> dict:
        """Add the statistics of two disjoint sets of rows.

        Parameters
        ----------
        a, b : dict
            Statistics of :meth:`partition_statistics`.

        Returns
        -------
        dict
            The statistics of both sets.
        """
        raise NotImplementedError

    @classmethod
    def from_statistics(cls, stats: dict, spec, cols):
        """Build the kernel from statistics summed over all partitions.

        Parameters
        ----------
        stats : dict
            The sum of every partition's :meth:`partition_statistics`.
        spec : ResidualSpec
            The whole data's specification without rows (``codes`` None, ``times`` the
            distinct times or None, ``het`` ``(None, level names)``).
        cols : array_like of int or None
            The columns of ``W`` whose Gram rows are needed per unit.

        Returns
        -------
        ResidualStructure
            The kernel, as :meth:`build` gives it for the rows in memory.
        """
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
