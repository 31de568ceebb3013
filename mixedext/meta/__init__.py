"""Random-effects meta-analysis and meta-regression (metafor's ``rma.uni``).

* :mod:`mixedext.meta.model` -- :func:`meta_analysis` and the model;
* :mod:`mixedext.meta.inputs` -- checks of the arguments and the moderator design;
* :mod:`mixedext.meta.estimation` -- GLS and the REML, ML, DL and PM estimators of tau^2;
* :mod:`mixedext.meta.heterogeneity` -- Q, I^2, H^2 and the Q-profile interval;
* :mod:`mixedext.meta.results` -- :class:`MetaAnalysisResults`;
* :mod:`mixedext.meta.summary`, :mod:`mixedext.meta.plotting` -- the printed summary, the
  forest and funnel plots.
"""

from mixedext.meta.model import meta_analysis
from mixedext.meta.results import EggerTest, MetaAnalysisResults

__all__ = ["EggerTest", "MetaAnalysisResults", "meta_analysis"]
