"""Models: the linear mixed model (statsmodels' ``MixedLM``), the binomial GLMM
(statsmodels' ``BinomialBayesMixedGLM`` with maximum likelihood) and models built from
Dask data frames."""
