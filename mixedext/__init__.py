"""mixedext: mixed-effects models for statsmodels.

A drop-in ``mixedlm`` (statsmodels' model, fitted by a blocked-Cholesky REML/ML engine
that reaches lme4's optimum), lme4-style nested and crossed random-effect terms, and
reporting checked against R.

>>> import mixedext as mx
>>> r = mx.mixedlm("strength ~ 1 + (1 | batch/cask)", mx.datasets.load("pastes")).fit()
"""

from . import datasets
from ._engine.crossprod import CrossProducts
from .data import MissingDataError
from .diagnostics import clusters_needed, design_effect
from .glmm import BinomialMixedGLM, binomial_mixedglm
from .inference import lrt
from .model import MixedLM, SingularFitWarning, mixedlm
from .results import MixedLMResults

__version__ = "0.1.0.dev0"

__all__ = ["BinomialMixedGLM", "CrossProducts", "MissingDataError", "MixedLM", "MixedLMResults",
           "SingularFitWarning", "binomial_mixedglm", "clusters_needed", "datasets",
           "design_effect", "lrt", "mixedlm"]
