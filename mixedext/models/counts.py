"""Count and positive outcomes by maximum likelihood: Poisson, negative binomial (NB2) and
Gamma (log link) mixed models (:mod:`mixedext.models.glmm` for the model and the fit).

* :func:`poisson_mixedglm` builds :class:`PoissonMixedGLM`, a subclass of statsmodels'
  ``PoissonBayesMixedGLM`` (``fit_vb`` / ``fit_map`` unchanged) with ``fit_ml``;
* :func:`negbin_mixedglm`: ``Var(y) = mu + mu^2 / theta``, ``theta`` estimated
  (``lme4::glmer.nb``, ``glmmTMB(family = nbinom2)``);
* :func:`gamma_mixedglm`: ``Var(y) = mu^2 / shape``, the shape estimated
  (``glmmTMB(family = Gamma(link = "log"))``).

Each takes ``offset=`` and ``exposure=`` (column names or arrays, as statsmodels' GLM:
``log(exposure)`` is added to the offset) and prior ``weights=``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from statsmodels.genmod import families
from statsmodels.genmod.bayes_mixed_glm import PoissonBayesMixedGLM, _BayesMixedGLM

from mixedext.families import Gamma, NegativeBinomial, Poisson
from mixedext.models.glmm import (
    MixedGLMMixin,
    builder_docstring,
    glmm_from_formula,
    model_parameters,
)
from mixedext.results.glmm import RESULTS_PARAMETERS, MixedGLMResults

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["PoissonMixedGLM", "NegativeBinomialMixedGLM", "GammaMixedGLM",
           "NegativeBinomialMixedResults", "GammaMixedResults", "poisson_mixedglm",
           "negbin_mixedglm", "gamma_mixedglm"]


class PoissonMixedGLM(MixedGLMMixin, PoissonBayesMixedGLM):
    __doc__ = """Poisson (log link) mixed model with maximum likelihood (:meth:`fit_ml`).

    A subclass of statsmodels' ``PoissonBayesMixedGLM``.

    Built by :func:`poisson_mixedglm`; ``fit_vb`` and ``fit_map`` are statsmodels'.
    """ + model_parameters()

    family_class = Poisson
    results_class = MixedGLMResults

    def __init__(self, endog, exog, exog_vc, ident, vcp_p=1, fe_p=2, fep_names=None,
                 vcp_names=None, vc_names=None, *, re_terms=None, weights=None,
                 offset=None, yname=None):
        PoissonBayesMixedGLM.__init__(self, np.asarray(endog, float), exog, exog_vc, ident,
                                      vcp_p=vcp_p, fe_p=fe_p, fep_names=fep_names,
                                      vcp_names=vcp_names, vc_names=vc_names)
        if yname is not None:
            self.endog_name = yname
        self._init_ml(re_terms, None, weights, offset)


class _MLOnlyGLMM(MixedGLMMixin, _BayesMixedGLM):
    """A family statsmodels has no Bayes mixed GLM for: ``fit_ml`` only."""

    sm_family: Callable[[], families.Family]  # statsmodels' family, set by each subclass

    def __init__(self, endog, exog, exog_vc, ident, vcp_p=1, fe_p=2, fep_names=None,
                 vcp_names=None, vc_names=None, *, re_terms=None, weights=None,
                 offset=None, yname=None):
        _BayesMixedGLM.__init__(self, np.asarray(endog, float), exog, exog_vc=exog_vc,
                                ident=ident, family=self.sm_family(), vcp_p=vcp_p,
                                fe_p=fe_p, fep_names=fep_names, vcp_names=vcp_names,
                                vc_names=vc_names)
        if yname is not None:
            self.endog_name = yname
        self._init_ml(re_terms, None, weights, offset)

    def _bayes_ok(self, name):
        raise NotImplementedError(f"{name}: statsmodels has no Bayes fit for the "
                                  f"{self.family_class.title.lower()} family; use fit_ml()")


class NegativeBinomialMixedResults(MixedGLMResults):
    __doc__ = """Negative binomial fit: :class:`MixedGLMResults` with the dispersion ``theta``.

    ``theta`` here is the NB2 dispersion; the random effects' relative covariance
    factors (lme4's ``theta``) are :attr:`theta_re`.
    """ + RESULTS_PARAMETERS

    @property
    def theta(self) -> float:
        """The NB2 dispersion ``theta``: ``Var(y) = mu + mu^2 / theta``.

        lme4's / MASS's ``size`` (``getME(m, "glmer.nb.theta")``). The random effects'
        covariance factors are :attr:`theta_re`.
        """
        return float(self.family.dispersion)

    @property
    def alpha(self) -> float:
        """The NB2 dispersion in statsmodels' form, ``alpha = 1 / theta``."""
        return 1.0 / self.family.dispersion

    @property
    def theta_re(self) -> pd.Series:
        """The relative covariance factors of the random effects (lme4's ``theta``)."""
        return super().theta

    def _extra_summary(self):
        return [f"Dispersion theta (size): {self.theta:.4f}   alpha = 1/theta: "
                f"{self.alpha:.4f}"]


class GammaMixedResults(MixedGLMResults):
    __doc__ = """Gamma fit: :class:`MixedGLMResults` with the shape.
    """ + RESULTS_PARAMETERS

    @property
    def shape(self) -> float:
        """The Gamma shape ``nu``: ``Var(y) = mu^2 / nu``."""
        return float(self.family.dispersion)

    @property
    def dispersion(self) -> float:
        """``1 / shape`` (statsmodels' GLM ``scale`` for the Gamma)."""
        return 1.0 / self.family.dispersion

    @property
    def sigma(self) -> float:
        """The coefficient of variation ``1 / sqrt(shape)`` (glmmTMB's ``sigma()``)."""
        return float(self.family.dispersion ** -0.5)

    def _extra_summary(self):
        return [f"Shape: {self.shape:.4f}   dispersion = 1/shape: {self.dispersion:.4f}"]


class NegativeBinomialMixedGLM(_MLOnlyGLMM):
    __doc__ = """Negative binomial (NB2, log link) mixed model, fitted by maximum likelihood.

    ``Var(y) = mu + mu^2 / theta`` with ``theta`` estimated (``lme4::glmer.nb``,
    ``glmmTMB(family = nbinom2)``). Built by :func:`negbin_mixedglm`; statsmodels has no
    Bayes fit for this family.
    """ + model_parameters()

    family_class = NegativeBinomial
    results_class = NegativeBinomialMixedResults
    sm_family = staticmethod(lambda: families.NegativeBinomial(alpha=1.0))


class GammaMixedGLM(_MLOnlyGLMM):
    __doc__ = """Gamma (log link) mixed model, fitted by maximum likelihood.

    ``Var(y) = mu^2 / shape`` with the shape estimated
    (``glmmTMB(family = Gamma(link = "log"))``). Built by :func:`gamma_mixedglm`;
    statsmodels has no Bayes fit for this family.
    """ + model_parameters()

    family_class = Gamma
    results_class = GammaMixedResults
    sm_family = staticmethod(lambda: families.Gamma(link=families.links.Log()))


_COUNT_ROW_ARGUMENTS = ("""    offset : str or array_like, optional
        A known part of the linear predictor (log scale).
    exposure : str or array_like, optional
        Positive exposure (time at risk, population); ``log(exposure)`` is added to the
        offset. New data for ``predict`` read the same column.
""", "")


def _builder(cls, summary: str, rest: str) -> Callable[..., MixedGLMMixin]:
    """The formula builder of ``cls``, its docstring ``summary``, the shared sections
    and ``rest`` (:func:`mixedext.models.glmm.builder_docstring`)."""
    def build(formula: str, data: pd.DataFrame | dict,
              vc_formulas: dict[str, str] | None = None, *, groups: str | None = None,
              nested: str | Sequence[str] | None = None,
              offset: str | ArrayLike | None = None,
              exposure: str | ArrayLike | None = None,
              weights: str | ArrayLike | None = None, missing: str = "drop",
              vcp_p: float = 1, fe_p: float = 2) -> MixedGLMMixin:
        return glmm_from_formula(cls, formula, data, vc_formulas, groups=groups,
                                 nested=nested, missing=missing, vcp_p=vcp_p, fe_p=fe_p,
                                 eval_env=2, offset=offset, exposure=exposure,
                                 weights=weights)

    build.__name__ = build.__qualname__ = f"{cls.family_class.name}_mixedglm"
    build.__doc__ = builder_docstring(summary, _COUNT_ROW_ARGUMENTS, cls.__name__,
                                      "a non-positive exposure, ", rest)
    return build


_REFERENCES = """
    References
    ----------
    .. [1] Brooks, M. E. et al. (2017). glmmTMB balances speed and flexibility among
       packages for zero-inflated generalized linear mixed modeling. The R Journal 9(2),
       378-400.
"""

poisson_mixedglm = _builder(PoissonMixedGLM, """
    Create a Poisson (log link) mixed model of counts from a formula.

    A :class:`PoissonMixedGLM`: ``fit_ml()`` fits it by maximum likelihood as
    ``lme4::glmer(family = poisson)``; statsmodels' ``fit_vb()`` and ``fit_map()`` work
    without weights, offsets or exposure.
""", """
    Notes
    -----
    ``y_i | b ~ Poisson(mu_i)``, ``log(mu_i) = offset_i + x_i' beta + z_i' b``,
    ``b ~ N(0, Sigma)``; prior weights multiply each row's log-likelihood.
""" + _REFERENCES + """
    Examples
    --------
    Ticks on red grouse chicks, a random intercept per brood (lme4's ``grouseticks``):

    >>> import mixedext as mx
    >>> ticks = mx.datasets.load("grouseticks")
    >>> res = mx.poisson_mixedglm("TICKS ~ YEAR + cHEIGHT + (1 | BROOD)",
    ...                           ticks).fit_ml()
    >>> res.fe_params.round(2)
    Intercept     0.51
    YEAR[T.96]    1.14
    YEAR[T.97]   -1.00
    cHEIGHT      -0.02
    Name: fe_params, dtype: float64
    >>> res.variance_components()[["level", "variance"]].round(2)
       level  variance
    0  BROOD       0.9
""")
negbin_mixedglm = _builder(NegativeBinomialMixedGLM, """
    Create a negative binomial (NB2, log link) mixed model of overdispersed counts.

    A :class:`NegativeBinomialMixedGLM`, fitted by ``fit_ml()`` with the dispersion
    ``theta`` (``Var(y) = mu + mu^2 / theta``) estimated jointly, as
    ``lme4::glmer.nb`` and ``glmmTMB(family = nbinom2)``.
""", """
    Notes
    -----
    ``y_i | b ~ NB(mu_i, theta)`` with ``P(y) = Gamma(y + theta) / (Gamma(theta) y!)
    (theta / (theta + mu))^theta (mu / (theta + mu))^y``, ``log(mu_i) = offset_i +
    x_i' beta + z_i' b``, ``b ~ N(0, Sigma)``; statsmodels' ``alpha`` is ``1 / theta``.
""" + _REFERENCES + """
    Examples
    --------
    Sibling negotiation of barn owl nestlings, with the log brood size as offset:

    >>> import mixedext as mx
    >>> owls = mx.datasets.load("owls")
    >>> res = mx.negbin_mixedglm("SiblingNegotiation ~ FoodTreatment + (1 | Nest)", owls,
    ...                          offset="logBroodSize").fit_ml()
    >>> res.fe_params.round(2)
    Intercept                    0.69
    FoodTreatment[T.Satiated]   -0.68
    Name: fe_params, dtype: float64
    >>> round(res.theta, 2)
    0.84
""")
gamma_mixedglm = _builder(GammaMixedGLM, """
    Create a Gamma (log link) mixed model of positive outcomes from a formula.

    A :class:`GammaMixedGLM`, fitted by ``fit_ml()`` with the shape ``nu``
    (``Var(y) = mu^2 / nu``) estimated jointly, as
    ``glmmTMB(family = Gamma(link = "log"))``.
""", """
    Notes
    -----
    ``y_i | b ~ Gamma(nu, nu / mu_i)`` (shape ``nu``, mean ``mu_i``), ``log(mu_i) =
    offset_i + x_i' beta + z_i' b``, ``b ~ N(0, Sigma)``; glmmTMB's ``sigma`` is the
    coefficient of variation ``1 / sqrt(nu)``.
""" + _REFERENCES + """
    Examples
    --------
    Reaction times in the sleep study, multiplicative effects of the days:

    >>> import mixedext as mx
    >>> sleep = mx.datasets.load("sleepstudy")
    >>> res = mx.gamma_mixedglm("Reaction ~ Days + (1 | Subject)", sleep).fit_ml()
    >>> res.fe_params.round(3)
    Intercept    5.534
    Days         0.034
    Name: fe_params, dtype: float64
    >>> round(res.shape)
    107
""")
