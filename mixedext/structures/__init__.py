"""Residual covariance structures: one class per module, registered by name.

``cov_struct=`` looks a structure up in :data:`STRUCTURES` (see
:mod:`mixedext.structures.base` for what a structure provides). To add one: a module
here with a :class:`~mixedext.structures.base.ResidualStructure` subclass decorated with
``@register``, its import below, and its tests.
"""

from mixedext.structures import (  # noqa: F401
    ar1,
    arma,
    exchangeable,
    independence,
    spatial,
    toeplitz,
    unstructured,
)
from mixedext.structures.base import STRUCTURES, ResidualStructure, register, structure_class

__all__ = ["STRUCTURES", "ResidualStructure", "register", "structure_class"]
