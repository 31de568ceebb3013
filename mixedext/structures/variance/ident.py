"""A residual SD per level of a factor (nlme's ``varIdent(form = ~ 1 | g)``): SD ratio
``sd_ratio[level]`` to the first (sorted) level, on the log scale.

``variance="ident(g)"`` (and ``het_var="g"``) is carried by the correlation structure
itself where it takes one (sums per unit and level, ``O(units)`` per evaluation: see
:mod:`mixedext.structures.base`); this class is the row-wise form, used for a second
``ident`` factor or a structure without ``het`` (``"unstructured"``).
"""

from __future__ import annotations

import numpy as np

from mixedext.structures.variance.base import VarianceFunction, register_variance

__all__ = ["Ident"]


@register_variance
class Ident(VarianceFunction):
    """``s_i = sd_ratio[g_i]``, 1 at the reference level (nlme ``varIdent``)."""

    kind = "ident"
    nlme = "varIdent"
    param_names = ("sd_ratio",)
    links = {"sd_ratio": "log"}

    def names(self):
        return [f"sd_ratio[{lev}]" for lev in self.levels[1:]]

    def natural(self, eta):
        out = {f"sd_ratio[{self.levels[0]}]": 1.0}
        out.update(super().natural(eta))
        return out

    def _per_row(self, params, strata_codes):
        return {"sd_ratio": np.array([params[f"sd_ratio[{lev}]"]
                                      for lev in self.levels])[strata_codes]}

    def log_sd_of(self, per_row, values):
        return np.log(per_row["sd_ratio"])

    def log_sd(self, params, values=None, strata_codes=None):
        if strata_codes is None:
            strata_codes = self.strata[0]
        return self.log_sd_of(self._per_row(params, strata_codes), None)
