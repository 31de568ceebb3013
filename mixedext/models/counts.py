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

from collections.abc import Callable

import numpy as np
import pandas as pd
from statsmodels.genmod import families
from statsmodels.genmod.bayes_mixed_glm import PoissonBayesMixedGLM, _BayesMixedGLM

from mixedext.families import Gamma, NegativeBinomial, Poisson
from mixedext.models.glmm import MixedGLMMixin, glmm_from_formula
from mixedext.results.glmm import MixedGLMResults

__all__ = ["PoissonMixedGLM", "NegativeBinomialMixedGLM", "GammaMixedGLM",
           "NegativeBinomialMixedResults", "GammaMixedResults", "poisson_mixedglm",
           "negbin_mixedglm", "gamma_mixedglm"]


class PoissonMixedGLM(MixedGLMMixin, PoissonBayesMixedGLM):
    """statsmodels' Poisson mixed GLM, with maximum likelihood (:meth:`fit_ml`)."""

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
    """Negative binomial fit: :class:`MixedGLMResults` with the dispersion."""

    @property
    def theta(self) -> float:
        """The NB2 dispersion (lme4's / MASS's ``size``, ``getME(m, "glmer.nb.theta")``):
        ``Var(y) = mu + mu^2 / theta``. The covariance factors are ``theta_re``."""
        return float(self.family.dispersion)

    @property
    def alpha(self) -> float:
        """statsmodels' NB2 ``alpha = 1 / theta``."""
        return 1.0 / self.family.dispersion

    @property
    def theta_re(self) -> pd.Series:
        """lme4's ``theta`` of the random effects (relative covariance factors)."""
        return super().theta

    def _extra_summary(self):
        return [f"Dispersion theta (size): {self.theta:.4f}   alpha = 1/theta: "
                f"{self.alpha:.4f}"]


class GammaMixedResults(MixedGLMResults):
    """Gamma fit: :class:`MixedGLMResults` with the shape."""

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
        """glmmTMB's ``sigma()``: the coefficient of variation ``1 / sqrt(shape)``."""
        return float(self.family.dispersion ** -0.5)

    def _extra_summary(self):
        return [f"Shape: {self.shape:.4f}   dispersion = 1/shape: {self.dispersion:.4f}"]


class NegativeBinomialMixedGLM(_MLOnlyGLMM):
    """A negative binomial (NB2, log link) mixed model fitted by maximum likelihood."""

    family_class = NegativeBinomial
    results_class = NegativeBinomialMixedResults
    sm_family = staticmethod(lambda: families.NegativeBinomial(alpha=1.0))


class GammaMixedGLM(_MLOnlyGLMM):
    """A Gamma (log link) mixed model fitted by maximum likelihood."""

    family_class = Gamma
    results_class = GammaMixedResults
    sm_family = staticmethod(lambda: families.Gamma(link=families.links.Log()))


def _builder(cls, outcome: str):
    def build(formula, data, vc_formulas=None, *, groups=None, nested=None, offset=None,
              exposure=None, weights=None, missing="drop", vcp_p=1, fe_p=2):
        return glmm_from_formula(cls, formula, data, vc_formulas, groups=groups,
                                 nested=nested, missing=missing, vcp_p=vcp_p, fe_p=fe_p,
                                 eval_env=2, offset=offset, exposure=exposure,
                                 weights=weights)

    build.__name__ = f"{cls.family_class.name}_mixedglm"
    build.__doc__ = f"""A {cls.family_class.title.lower()} (log link) mixed model of {outcome}
    from a formula.

    Parameters
    ----------
    formula : str
        Fixed effects, optionally with lme4-style terms ``(1 | unit)``, ``(1 | a/b)``,
        ``(1 + x | unit)``.
    data : DataFrame
    vc_formulas : dict, optional
        statsmodels-style variance components, e.g. ``{{"unit": "0 + C(unit)"}}``.
    groups : str, optional
        A random intercept per unit of this column.
    nested : str or list of str, optional
        Levels nested in ``groups`` (outermost first).
    offset : str or array_like, optional
        A known part of the linear predictor (log scale).
    exposure : str or array_like, optional
        Positive exposure (time at risk, population); ``log(exposure)`` is added to the
        offset.
    weights : str or array_like, optional
        Prior weights multiplying each row's log-likelihood.
    missing : {{"drop", "raise"}}

    Returns
    -------
    {cls.__name__}
    """
    return build


poisson_mixedglm = _builder(PoissonMixedGLM, "counts")
negbin_mixedglm = _builder(NegativeBinomialMixedGLM, "overdispersed counts")
gamma_mixedglm = _builder(GammaMixedGLM, "positive outcomes")
