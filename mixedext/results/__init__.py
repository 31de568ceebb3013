"""Results: the linear and binomial results classes, the reporting they share (variance
components, ICC, R², shrinkage, plots), summaries, prediction and the GEE comparison."""
