"""GLMM families: one class per module, registered by name (see
:mod:`mixedext.families.base`). To add one: a module here with a ``Family`` subclass
decorated ``@register``, its import below, and its tests."""

from mixedext.families.base import FAMILIES, Family, register
from mixedext.families.binomial import Binomial
from mixedext.families.gamma import Gamma
from mixedext.families.negbin import NegativeBinomial
from mixedext.families.poisson import Poisson

__all__ = ["FAMILIES", "Family", "Binomial", "Gamma", "NegativeBinomial", "Poisson",
           "register"]
