"""Exponential of a covariate (nlme's ``varExp(form = ~ v)``, ``~ v | g``): residual SD
``sigma exp(expon v_i)``; ``expon`` unbounded (nlme's own scale)."""

from __future__ import annotations

from mixedext.structures.variance.base import VarianceFunction, register_variance

__all__ = ["Exponential"]


@register_variance
class Exponential(VarianceFunction):
    """``s_i = exp(expon v_i)`` (nlme ``varExp``)."""

    kind = "exp"
    nlme = "varExp"
    param_names = ("expon",)
    links = {"expon": "identity"}

    def log_sd_of(self, per_row, values):
        return per_row["expon"] * values
