"""The interface of a variance function, and the registry of variance functions.

A variance function (nlme's ``varFunc``) gives each row ``i`` a residual SD relative to
``sigma``, ``s_i = f(v_i; delta_g(i))``: a covariate ``v`` and parameters ``delta``,
optionally one set per level ``g`` of a factor (nlme's ``form = ~ v | g``). With a
correlation structure ``C`` the residual covariance of a unit is ``sigma^2 S C S``,
``S = diag(s)``: the variance function is applied to the rows' SDs whatever ``C`` is
(:mod:`mixedext.structures.variance.weighted`).

A variance function is one class in a module of its own, registered under its name in
``variance=`` with :func:`register_variance`. It provides

* ``param_names``: nlme's names of its parameters (``power``, ``expon``, ``const``);
  with a factor each is suffixed by its level, ``power[A]``;
* ``log_sd_of(params, values)``: ``log s`` of rows from natural parameters per row
  (vectorised);
* ``check_values(values, spelling)``: checks of the covariate (errors name the column);
* ``links``: the unbounded scale per parameter name (``"identity"`` or ``"log"``): the
  optimiser's scale ``eta`` and the scale of the Wald interval, as nlme's.

Parameters are optimised on the unconstrained scale ``eta`` (nlme's ``coef(...,
unconstrained = TRUE)``), start at nlme's (``s = 1`` but for ``constpower``'s ``const =
1``).
"""

from __future__ import annotations

import copy

import numpy as np

__all__ = ["VarianceFunction", "VARIANCE_FUNCTIONS", "register_variance", "spelling_of"]

VARIANCE_FUNCTIONS: dict = {}  # variance= name -> class

_LINKS = {"identity": (lambda x: x, lambda x: x), "log": (np.log, np.exp)}


def spelling_of(kind: str, covariate: str | None, factor: str | None) -> str:
    """The ``variance=`` spelling of one function: ``power(x)``, ``power(x | g)``,
    ``ident(g)``."""
    if covariate is None:
        return f"{kind}({factor})"
    return f"{kind}({covariate}{'' if factor is None else ' | ' + factor})"


def register_variance(cls):
    """Class decorator: make ``cls`` available in ``variance=`` under ``cls.kind``."""
    VARIANCE_FUNCTIONS[cls.kind] = cls
    return cls


class VarianceFunction:
    """A residual SD per row from a covariate (see the module docstring).

    Parameters
    ----------
    values : ndarray (n,)
        The covariate of every row of the model.
    column : str
        Its name (as spelled in ``variance=``).
    strata : tuple (level codes per row, level names), optional
        A parameter set per level of a factor.
    strata_name : str, optional
        The factor's name.
    """

    kind = ""
    nlme = ""  # nlme's constructor, for messages and docs
    param_names: tuple = ()
    links: dict = {}

    def __init__(self, values, column, strata=None, strata_name=None):
        self.values = None if values is None else np.asarray(values, dtype=float)
        self.column = column
        self.strata = strata
        self.strata_name = strata_name
        self.levels = None if strata is None else [str(x) for x in strata[1]]

    def of_rows(self, rows) -> VarianceFunction:
        """This function over some of its rows (an index array; None: no rows, for its
        names and scales alone)."""
        out = copy.copy(self)
        out.values = None if rows is None or self.values is None else self.values[rows]
        if self.strata is not None:
            out.strata = (None if rows is None else self.strata[0][rows], self.strata[1])
        return out

    # -- names and scales --------------------------------------------------------------
    @property
    def spelling(self) -> str:
        """The ``variance=`` spelling of this function."""
        return spelling_of(self.kind, self.column, self.strata_name)

    def names(self) -> list[str]:
        """The parameters' names, in the order of ``eta``."""
        if self.levels is None:
            return list(self.param_names)
        return [f"{p}[{lev}]" for p in self.param_names for lev in self.levels]

    @property
    def n_eta(self) -> int:
        return len(self.names())

    def start(self) -> np.ndarray:
        return np.zeros(self.n_eta)

    def _base(self, name: str) -> str:
        return name.split("[", 1)[0]

    def link(self, name: str):
        """``(f, f_inverse)``: the unconstrained scale of parameter ``name``."""
        return _LINKS[self.links[self._base(name)]]

    def unbounded(self, name: str) -> bool:
        """True when the natural scale of ``name`` has no bounds (no boundary estimate)."""
        return self.links[self._base(name)] == "identity"

    def natural(self, eta) -> dict:
        """Named parameters on their natural scale."""
        return {name: float(self.link(name)[1](e)) for name, e in zip(self.names(), eta)}

    # -- the SDs -----------------------------------------------------------------------
    def _per_row(self, params: dict, strata_codes) -> dict:
        """Each parameter's value per row (one value without a factor)."""
        if self.levels is None:
            return {p: params[p] for p in self.param_names}
        return {p: np.array([params[f"{p}[{lev}]"] for lev in self.levels])[strata_codes]
                for p in self.param_names}

    def log_sd(self, params: dict, values=None, strata_codes=None) -> np.ndarray:
        """``log s`` per row: the model's rows by default, or rows with covariate
        ``values`` and factor level codes ``strata_codes`` (codes into the fit's levels)."""
        if values is None:
            values = self.values
            strata_codes = None if self.strata is None else self.strata[0]
        return self.log_sd_of(self._per_row(params, strata_codes), np.asarray(values, float))

    def log_sd_eta(self, eta) -> np.ndarray:
        """``log s`` of the model's rows at ``eta``."""
        return self.log_sd(self.natural(eta))

    def log_sd_of(self, per_row: dict, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def check_values(cls, values: np.ndarray, spelling: str, column: str) -> None:
        """Checks of the covariate (finite values are already checked)."""
