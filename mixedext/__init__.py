"""mixedext: mixed-effects models for statsmodels.

A drop-in ``mixedlm`` (statsmodels' model, fitted by a blocked-Cholesky REML/ML engine
that reaches lme4's optimum), lme4-style nested and crossed random-effect terms, and
reporting checked against R; random-effects meta-analysis and meta-regression
(``meta_analysis``, as metafor's ``rma``).

>>> import mixedext as mx
>>> r = mx.mixedlm("strength ~ 1 + (1 | batch/cask)", mx.datasets.load("pastes")).fit()
"""

from mixedext import datasets
from mixedext._engine.crossprod import CrossProducts
from mixedext.formula.data import MissingDataError
from mixedext.inference.lrt import lrt
from mixedext.meta import MetaAnalysisResults, meta_analysis
from mixedext.models.binomial import BinomialMixedGLM, binomial_mixedglm
from mixedext.models.counts import (
    GammaMixedGLM,
    NegativeBinomialMixedGLM,
    PoissonMixedGLM,
    gamma_mixedglm,
    negbin_mixedglm,
    poisson_mixedglm,
)
from mixedext.models.linear import MixedLM, SingularFitWarning, mixedlm
from mixedext.results.diagnostics import clusters_needed, design_effect
from mixedext.results.linear import MixedLMResults

__version__ = "0.1.0.dev0"

__all__ = ["BinomialMixedGLM", "CrossProducts", "GammaMixedGLM", "MetaAnalysisResults",
           "MissingDataError", "MixedLM", "MixedLMResults", "NegativeBinomialMixedGLM",
           "PoissonMixedGLM", "SingularFitWarning", "binomial_mixedglm", "clusters_needed",
           "datasets", "design_effect", "gamma_mixedglm", "lrt", "meta_analysis", "mixedlm",
           "negbin_mixedglm", "poisson_mixedglm"]
