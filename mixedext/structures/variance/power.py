"""Power of a covariate (nlme's ``varPower(form = ~ v)``, ``~ v | g``): residual SD
``sigma |v_i|^power``; ``power`` unbounded (nlme's own scale)."""

from __future__ import annotations

import numpy as np

from mixedext.structures.variance.base import VarianceFunction, register_variance

__all__ = ["Power"]


@register_variance
class Power(VarianceFunction):
    """``s_i = |v_i|^power`` (nlme ``varPower``)."""

    kind = "power"
    nlme = "varPower"
    param_names = ("power",)
    links = {"power": "identity"}

    def log_sd_of(self, per_row, values):
        return per_row["power"] * np.log(np.abs(values))

    @classmethod
    def check_values(cls, values, spelling, column):
        if np.any(values == 0):
            i = int(np.flatnonzero(values == 0)[0])
            raise ValueError(f"variance={spelling!r}: column {column!r} is 0 in row {i}, "
                             "where |v|^power is 0 or infinite; use 'constpower' (c + "
                             "|v|^power) or shift the column")
