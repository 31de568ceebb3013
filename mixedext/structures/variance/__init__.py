"""Variance functions (nlme's ``varFunc``): a residual SD per row from a covariate.

``variance=`` names them (:data:`VARIANCE_FUNCTIONS`): ``"power(x)"`` (``varPower``),
``"exp(x)"`` (``varExp``), ``"constpower(x)"`` (``varConstPower``), ``"ident(g)"``
(``varIdent``), a parameter set per level of a factor after ``|``, several multiplied
with ``*`` (``varComb``). Each is applied to the rows' SDs whatever the correlation
structure (:mod:`mixedext.structures.variance.weighted`). To add one: a module here with
a :class:`~mixedext.structures.variance.base.VarianceFunction` subclass decorated with
``@register_variance``, its import below, and its tests.
"""

from mixedext.structures.variance import constpower, exponential, ident, power  # noqa: F401
from mixedext.structures.variance.base import (
    VARIANCE_FUNCTIONS,
    VarianceFunction,
    register_variance,
)
from mixedext.structures.variance.parse import (
    parse_variance,
    variance_columns,
    variance_functions,
)
from mixedext.structures.variance.weighted import VarianceWeighted

__all__ = ["VARIANCE_FUNCTIONS", "VarianceFunction", "VarianceWeighted", "parse_variance",
           "register_variance", "variance_columns", "variance_functions"]
