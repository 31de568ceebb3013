"""Residual structures on Dask whose Gram matrices need the rows at every evaluation.

The spatial, ARMA and Toeplitz correlations (``cov_struct="exp"``, ``"arma(1,1)"``,
``"toeplitz"``, ...) and the variance functions (``variance="power(x)"``, ...) have no
per-unit statistics of fixed size: ``G_u(eta) = W_u' R_u(eta)^{-1} W_u`` must be formed
from unit ``u``'s rows for each ``eta``. On a Dask data frame (partitions holding whole
residual units where the structure needs them):

1. each partition becomes a :class:`PartitionRows`: its design ``W``, its residual
   specification in its own unit indexing and each of its units' index among all
   (``units``); these are persisted, on a ``distributed`` cluster's workers;
2. the structure's whole-data constants (``data_constants``, e.g. the distances that set
   a spatial range's starts and bound, the longest lag of ``"toeplitz"``) are added over
   the partitions and checked (``check_constants``);
3. each partition builds the in-memory kernel of its units with those constants
   (:class:`PartitionKernel`), persisted where it was built;
4. every evaluation of the deviance sends ``eta`` to the partitions and gathers each
   one's :class:`~mixedext._engine.grams.UnitGrams` and ``log|R|``: ``O(units k c)``
   numbers, one pass over the persisted partitions (:class:`RowsStructure`). The rows
   never leave the workers.

The driver keeps a *template*: the kernel of one unit with the whole data's constants,
for what does not depend on the rows (parameter names, starts, links, ``R`` of given
times). So the kernels are those of the in-memory fit, and the deviance is the same sum
over units.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial, wraps

import numpy as np

from mixedext._engine.grams import UnitGrams
from mixedext.structures.spec import ResidualSpec, build_structure

__all__ = ["PartitionRows", "PartitionKernel", "RowsStructure", "rows_structure",
           "skip_empty"]


@dataclass
class PartitionRows:
    """One partition's rows, for a kernel of its own units.

    Attributes
    ----------
    spec : ResidualSpec
        Its residual specification, its units coded ``0 .. len(units) - 1``.
    w : ndarray (n, c)
        Its columns ``W = [z columns, X, y]``.
    cols : ndarray (k,)
        The columns of ``W`` whose Gram rows are kept per unit.
    units : ndarray (m_p,)
        Each of its units' index among all residual units.
    counts : list of ndarray
        Its rows per unit of each random-effect term (all units of the term).
    """

    spec: ResidualSpec
    w: np.ndarray
    cols: np.ndarray
    units: np.ndarray
    counts: list

    @property
    def n(self) -> int:
        return len(self.w)

    def constants(self) -> dict:
        """The structure's constants of these units (``data_constants``)."""
        return self.spec.structure.data_constants(self.spec)

    def kernel(self, constants: dict) -> PartitionKernel:
        """The kernel of these units with the whole data's ``constants``."""
        spec = replace(self.spec, constants=constants)
        return PartitionKernel(self.units, build_structure(spec, self.w, self.cols))

    def template(self, constants: dict) -> tuple:
        """The kernel of the first unit alone (with the whole data's constants) and this
        partition's specification without rows: what the driver keeps."""
        rows = np.flatnonzero(self.spec.codes == 0)
        spec = _rows_of(self.spec, rows)
        kernel = build_structure(replace(spec, constants=constants), self.w[rows], self.cols)
        return kernel, _without_rows(self.spec)


def _rows_of(spec: ResidualSpec, rows) -> ResidualSpec:
    """``spec`` restricted to ``rows`` of one unit (coded 0)."""
    het = None if spec.het is None else (spec.het[0][rows], spec.het[1])
    variance = tuple(f.of_rows(rows) for f in spec.variance)
    return replace(spec, codes=np.zeros(len(rows), dtype=np.int64), n_units=1,
                   times=None if spec.times is None else spec.times[rows], het=het,
                   variance=variance)


def _without_rows(spec: ResidualSpec) -> ResidualSpec:
    """``spec`` without its rows (its het level names and variance functions' names)."""
    het = None if spec.het is None else (None, spec.het[1])
    variance = tuple(f.of_rows(None) for f in spec.variance)
    return replace(spec, codes=None, times=None, het=het, variance=variance)


@dataclass
class PartitionKernel:
    """A structure's kernel of one partition's units (``units``: their indices among
    all)."""

    units: np.ndarray
    structure: object

    def grams(self, eta):
        """``(units, UnitGrams of these units, log|R|)``, or None where ``R`` is not
        positive definite."""
        g, logdet = self.structure.grams(eta)
        if g is None or not np.isfinite(logdet):
            return None
        return self.units, g, float(logdet)


def _kernel_grams(kernel, eta):
    return None if kernel is None else kernel.grams(eta)


class RowsStructure:
    """A residual structure evaluated on persisted partitions (see the module
    docstring): :meth:`grams` gathers the partitions' Gram matrices; everything else is
    the template kernel's.

    Parameters
    ----------
    kernels : list of dask.delayed.Delayed
        The persisted :class:`PartitionKernel` of each partition (None for an empty one).
    template : ResidualStructure
        The kernel of one unit with the whole data's constants.
    n_units : int
        Number of residual units.
    n_columns : int
        Columns of ``W``.
    scheduler : callable, optional
        The scheduler that holds the kernels (a ``distributed`` client's ``get``): every
        evaluation runs there, whichever scheduler is current then.
    """

    def __init__(self, kernels, template, n_units: int, n_columns: int, scheduler=None):
        self.kernels = list(kernels)
        self.template = template
        self.m, self.c = n_units, n_columns
        self.cols = np.asarray(template.cols)
        self.scheduler = scheduler

    def __getattr__(self, name):  # names, starts, links, R of given times: the template's
        if name.startswith("_") or "template" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.template, name)

    def __getstate__(self) -> dict:
        """Pickled without the partitions' kernels, which stay with the scheduler that
        built them: an unpickled fit answers from what its results store."""
        return {**self.__dict__, "kernels": None, "scheduler": None}

    def grams(self, eta):
        """``(UnitGrams, log|R|)`` of all units: one task per partition; ``(None, inf)``
        where ``R`` is not positive definite."""
        import dask

        if self.kernels is None:
            raise RuntimeError("this Dask fit was unpickled: its partitions' rows stay with "
                               "the scheduler that fitted it, so the deviance cannot be "
                               "evaluated again; refit the model from the Dask data frame")
        eta = np.asarray(eta, dtype=float)
        parts = dask.compute(*[dask.delayed(_kernel_grams)(k, eta) for k in self.kernels],
                             scheduler=self.scheduler)
        rows = np.zeros((self.m, len(self.cols), self.c))
        total = np.zeros((self.c, self.c))
        logdet = 0.0
        for part in parts:
            if part is None:
                return None, np.inf
            units, g, part_logdet = part
            rows[units] += g.rows  # units are distinct within a partition
            total += g.total
            logdet += part_logdet
        return UnitGrams(self.cols, rows, total), logdet


def skip_empty(add):
    """``add(..., a, b)`` of two partitions' results where an empty partition's is None."""
    @wraps(add)
    def added(*args):
        *first, a, b = args
        if a is None or b is None:
            return b if a is None else a
        return add(*first, a, b)
    return added


@skip_empty
def _add_constants(cls, a, b):
    return cls.add_constants(a, b)


def _constants_of(rows):
    return None if rows is None else rows.constants()


def _kernel_of(rows, constants):
    return None if rows is None else rows.kernel(constants)


def _summary_of(rows, index):
    if rows is None:
        return None
    return {"counts": rows.counts, "n": rows.n, "first": index}


@skip_empty
def _add_summaries(a, b):
    return {"counts": [x + y for x, y in zip(a["counts"], b["counts"])], "n": a["n"] + b["n"],
            "first": min(a["first"], b["first"])}


def _template_of(rows, constants):
    return rows.template(constants)


def rows_structure(parts, cls, spec, n_columns: int, tree_sum):
    """The structure of the partitions' rows, with the row counts.

    Parameters
    ----------
    parts : list of dask.delayed.Delayed
        Each partition's :class:`PartitionRows` (None for an empty one), not computed.
    cls : type
        The structure class.
    spec : ResidualSpec
        The whole data's specification without rows (``n_units`` all residual units;
        ``continuous`` set); the checks' messages name its columns.
    n_columns : int
        Columns of ``W``.
    tree_sum : callable
        ``tree_sum(delayed parts, add)``: their sum, computed.

    Returns
    -------
    structure : RowsStructure
    summary : dict
        ``counts`` (rows per unit of each term) and ``n`` (rows).
    partition_spec : ResidualSpec
        A partition's specification without rows (its het levels and variance functions,
        which are the whole data's).
    """
    import dask
    from dask.base import get_scheduler

    (parts,) = dask.persist(parts)
    summary = tree_sum([dask.delayed(_summary_of)(p, i) for i, p in enumerate(parts)],
                       _add_summaries)
    if summary is None:
        raise ValueError("the data frame has no rows")
    constants = tree_sum([dask.delayed(_constants_of)(p) for p in parts],
                         partial(_add_constants, cls))
    cls.check_constants(constants, spec)
    constants = {**constants, "continuous": bool(spec.continuous)}
    (kernels,) = dask.persist([dask.delayed(_kernel_of)(p, constants) for p in parts])
    template, partition_spec = dask.delayed(_template_of)(parts[summary["first"]],
                                                          constants).compute()
    structure = RowsStructure(kernels, template, spec.n_units, n_columns, get_scheduler())
    return structure, summary, partition_spec
