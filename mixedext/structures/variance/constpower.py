"""Constant plus power of a covariate (nlme's ``varConstPower(form = ~ v)``, ``~ v | g``):
residual SD ``sigma (const + |v_i|^power)``, ``const > 0`` (on nlme's scale ``log
const``), ``power`` unbounded; nlme's start ``const = 1, power = 0``."""

from __future__ import annotations

import numpy as np

from mixedext.structures.variance.base import VarianceFunction, register_variance

__all__ = ["ConstPower"]


@register_variance
class ConstPower(VarianceFunction):
    """``s_i = const + |v_i|^power`` (nlme ``varConstPower``)."""

    kind = "constpower"
    nlme = "varConstPower"
    param_names = ("const", "power")
    links = {"const": "log", "power": "identity"}

    def log_sd_of(self, per_row, values):
        with np.errstate(divide="ignore"):  # 0^power, power < 0: an infinite SD
            return np.log(per_row["const"] + np.abs(values) ** per_row["power"])
