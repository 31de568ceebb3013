"""Drop-in replacement for ``statsmodels.formula.api``.

``import mixedext.formula.api as smf`` gives everything statsmodels' formula API offers,
with ``mixedlm`` replaced by :func:`mixedext.mixedlm`.
"""

from statsmodels.formula import api as _sm_api
from statsmodels.formula.api import *  # noqa: F401,F403

from mixedext.models.binomial import binomial_mixedglm  # noqa: F401
from mixedext.models.linear import mixedlm  # noqa: F401

__all__ = sorted({*getattr(_sm_api, "__all__", []), "mixedlm", "binomial_mixedglm"})
