"""Binary and binomial outcomes: statsmodels' ``BinomialBayesMixedGLM`` with maximum likelihood.

``mixedext.binomial_mixedglm(formula, data, vc_formulas=None, *, groups=None, nested=None,
trials=None, weights=None, offset=None)`` builds :class:`BinomialMixedGLM`, a subclass of
statsmodels' ``BinomialBayesMixedGLM``: ``fit_vb()`` and ``fit_map()`` behave as in
statsmodels, and ``fit_ml(nagq=1)`` adds maximum likelihood as ``lme4::glmer``
(:mod:`mixedext.models.glmm`).

Model: ``logit P(y = 1) = offset + X beta + Z b``, ``b = Lambda_theta u``,
``u ~ N(0, I)``; with ``trials=`` the outcome counts successes out of ``trials`` (glmer's
``cbind(s, n - s)``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from statsmodels.genmod import families
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM, _BayesMixedGLM

from mixedext.families import Binomial
from mixedext.models.glmm import (
    MixedGLMMixin,
    builder_docstring,
    glmm_from_formula,
    model_parameters,
)
from mixedext.results.binomial import BinomialMixedResults

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["BinomialMixedGLM", "binomial_mixedglm"]


class BinomialMixedGLM(MixedGLMMixin, BinomialBayesMixedGLM):
    __doc__ = """Binomial (logit) mixed model with maximum likelihood (:meth:`fit_ml`).

    A subclass of statsmodels' ``BinomialBayesMixedGLM``.

    Built by :func:`binomial_mixedglm` or statsmodels' own
    ``from_formula(formula, vc_formulas, data)`` (variance components of indicator
    columns become random intercepts). See the module docstring for the model.
    """ + model_parameters(trials=True)

    family_class = Binomial
    results_class = BinomialMixedResults

    def __init__(self, endog, exog, exog_vc, ident, vcp_p=1, fe_p=2, fep_names=None,
                 vcp_names=None, vc_names=None, *, re_terms=None, trials=None,
                 weights=None, offset=None, yname=None):
        endog = np.asarray(endog, dtype=float)
        if trials is None:
            BinomialBayesMixedGLM.__init__(self, endog, exog, exog_vc, ident, vcp_p=vcp_p,
                                           fe_p=fe_p, fep_names=fep_names,
                                           vcp_names=vcp_names, vc_names=vc_names)
        else:  # counts: statsmodels' Bayes fits are for 0/1 outcomes only
            _BayesMixedGLM.__init__(self, endog, exog, exog_vc=exog_vc, ident=ident,
                                    vcp_p=vcp_p, fe_p=fe_p, family=families.Binomial(),
                                    fep_names=fep_names, vcp_names=vcp_names,
                                    vc_names=vc_names)
        if yname is not None:
            self.endog_name = yname
        self._init_ml(re_terms, trials, weights, offset)

    @classmethod
    def check_data(cls, y, yname, trials=None, trials_name=None):
        """Refuse an outcome that is not 0/1, or not successes out of ``trials``.

        Parameters
        ----------
        y : array_like
            The outcome.
        yname : str
            Its name, for the error message.
        trials : array_like, optional
            Trials per row; ``y`` then counts successes.
        trials_name : str, optional
            The column the trials came from, for the error message.

        Raises
        ------
        ValueError
            For trials that are not positive integers, successes that are not integers
            between 0 and the trials, or (without trials) an outcome that is not 0/1.
        """
        y = np.asarray(y, dtype=float)
        if trials is not None:
            label = f"trials column {trials_name!r}" if isinstance(trials_name, str) \
                else "trials"
            m = np.asarray(trials, dtype=float)
            if np.any(m < 1) or np.any(m != np.round(m)):
                raise ValueError(f"{label} must hold positive integers")
            if np.any(y < 0) or np.any(y > m) or np.any(y != np.round(y)):
                raise ValueError(f"outcome {yname!r} must count successes: integers "
                                 f"between 0 and the {label}")
        elif not np.all(np.isin(y, (0.0, 1.0))):
            bad = np.unique(y[~np.isin(y, (0.0, 1.0))])[:5]
            raise ValueError(f"outcome {yname!r} must be binary (0/1) for a binomial model;"
                             f" found {', '.join(f'{v:g}' for v in bad)} (for counts, give "
                             "trials=)")

    def _check_outcome(self):
        trials = np.ones(len(self.endog)) if self.trials is None else self.trials
        successes = float(np.sum(self.endog))
        if successes == 0 or successes == float(np.sum(trials)):
            raise ValueError(f"the outcome {getattr(self, 'endog_name', 'y')!r} has "
                             f"{'no successes' if successes == 0 else 'no failures'}: "
                             "there is nothing to fit")
        separated = separated_columns(self.exog, self.endog, trials, list(self.fep_names))
        if separated:
            warnings.warn(f"complete separation: column(s) {', '.join(map(repr, separated))} "
                          "predict the outcome perfectly, so their coefficients diverge "
                          "(infinite maximum-likelihood estimates); drop or merge them, or "
                          "use fit_map() with its prior", RuntimeWarning, stacklevel=3)


def separated_columns(exog, y, trials, names) -> list[str]:
    """Fixed-effect columns that separate the outcome completely or quasi-completely.

    A column separates when, among the rows where it is not 0, every outcome is a success
    or every outcome a failure (a 0/1 column), or when a threshold on it splits successes
    from failures (a continuous column). Its coefficient then diverges.
    """
    out = []
    fail = trials - y
    for j, name in enumerate(names):
        x = exog[:, j]
        if np.all(x == x[0]):
            continue  # the intercept
        binary = np.all(np.isin(x, (0.0, 1.0)))
        if binary:
            on = x == 1
            if (y[on].sum() == 0 or fail[on].sum() == 0) and on.any():
                out.append(name)
            continue
        succ_x, fail_x = x[y > 0], x[fail > 0]
        if len(succ_x) and len(fail_x) and (succ_x.min() >= fail_x.max()
                                            or succ_x.max() <= fail_x.min()):
            out.append(name)
    return out


def binomial_mixedglm(formula: str, data: pd.DataFrame | dict,
                      vc_formulas: dict[str, str] | None = None, *,
                      groups: str | None = None, nested: str | Sequence[str] | None = None,
                      trials: str | ArrayLike | None = None,
                      weights: str | ArrayLike | None = None,
                      offset: str | ArrayLike | None = None, missing: str = "drop",
                      vcp_p: float = 1, fe_p: float = 2) -> BinomialMixedGLM:
    return glmm_from_formula(BinomialMixedGLM, formula, data, vc_formulas, groups=groups,
                             nested=nested, missing=missing, vcp_p=vcp_p, fe_p=fe_p,
                             eval_env=2, trials=trials, weights=weights, offset=offset)


binomial_mixedglm.__doc__ = builder_docstring(
    """Create a binomial (logit) mixed model from a formula.

    A :class:`BinomialMixedGLM`: ``fit_ml()`` fits it by maximum likelihood as
    ``lme4::glmer(family = binomial)``; statsmodels' ``fit_vb()`` and ``fit_map()`` work
    on 0/1 outcomes without trials, weights or offsets.
""", ("""    trials : str or array_like, optional
        Trials per row: the outcome then counts successes (glmer's
        ``cbind(successes, trials - successes)``).
""", """    offset : str or array_like, optional
        A known part of the linear predictor (log-odds scale).
"""), "BinomialMixedGLM", "trials that are not positive integers, ", """
    Notes
    -----
    The model is ``y_i | b ~ Binomial(m_i, mu_i)``, ``logit(mu_i) = offset_i + x_i' beta
    + z_i' b``, ``b ~ N(0, Sigma)`` (``m_i = 1`` for binary outcomes); prior weights
    multiply each row's log-likelihood.

    References
    ----------
    .. [1] Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear
       mixed-effects models using lme4. Journal of Statistical Software 67(1).

    Examples
    --------
    lme4's ``glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
    family = binomial)``:

    >>> import mixedext as mx
    >>> cbpp = mx.datasets.load("cbpp")
    >>> res = mx.binomial_mixedglm("incidence ~ period + (1 | herd)", cbpp,
    ...                            trials="size").fit_ml()
    >>> res.fe_params.round(2)
    Intercept     -1.40
    period[T.2]   -0.99
    period[T.3]   -1.13
    period[T.4]   -1.58
    Name: fe_params, dtype: float64
    >>> res.variance_components()[["level", "variance"]].round(3)
      level  variance
    0  herd     0.412
""")
