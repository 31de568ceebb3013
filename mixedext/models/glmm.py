"""Generalised linear mixed models by maximum likelihood, on statsmodels' Bayes mixed GLMs.

Model: ``g(E[y_i | b]) = eta_i = offset_i + x_i' beta + z_i' b``, ``b = Lambda_theta u``,
``u ~ N(0, I)``, ``y_i | b`` from the model's family (:mod:`mixedext.families`) with
prior weights ``w_i`` multiplying its log-likelihood row. :class:`MixedGLMMixin` adds
``fit_ml(nagq=1)`` (as ``lme4::glmer`` / ``glmmTMB``: the Laplace approximation for any
nesting, crossing and random slopes, adaptive Gauss-Hermite quadrature for one scalar
term; a family's dispersion estimated jointly) to a statsmodels model class; each
family's model is that mixin on statsmodels' class plus its ``family_class``.
:func:`glmm_from_formula` builds any of them from a formula with lme4-style terms.

Names: ``theta`` the relative covariance factors, ``beta`` the fixed effects, ``trials``
binomial trials per row, ``weights`` prior weights, ``offset`` the known part of ``eta``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import patsy
import scipy.sparse as sp
import statsmodels.api as sm

from mixedext._engine.crossprod import RandomTerm
from mixedext._engine.fitting import dense_size, fit_laplace
from mixedext._engine.laplace_hessian import laplace_hessian
from mixedext._engine.pirls import LaplaceDeviance
from mixedext._engine.threads import blas_threads_for
from mixedext.formula.data import prepare_frame, row_array
from mixedext.formula.terms import (
    build_term,
    categorical_c,
    factor_only_columns,
    formula_variables,
    split_formula,
    term_from_level,
)
from mixedext.models.linear import warn_if_singular

if TYPE_CHECKING:
    from mixedext.families.base import Family
    from mixedext.results.glmm import MixedGLMResults

__all__ = ["MixedGLMMixin", "glmm_from_formula", "row_values", "model_parameters",
           "builder_docstring"]

_HEAD = """
    Parameters
    ----------
    endog : array_like
        The outcome, one value per row.
    exog : array_like
        The fixed-effect design.
    exog_vc : array_like or scipy.sparse matrix
        Statsmodels' random-effect design: one column per random effect of every unit.
    ident : array_like of int
        The variance component of each column of ``exog_vc``.
    vcp_p : float, default 1
        Prior SD of the log random-effect SDs (statsmodels' Bayes fits only).
    fe_p : float, default 2
        Prior SD of the fixed effects (statsmodels' Bayes fits only).
    fep_names : list of str, optional
        Names of the fixed effects.
    vcp_names : list of str, optional
        Names of the variance components.
    vc_names : list of str, optional
        Names of the random effects (the columns of ``exog_vc``).
    re_terms : list of RandomTerm, optional
        The random-effect terms (set by the formula builders); by default built from
        ``exog_vc`` when each variance component is indicator columns (random
        intercepts).
"""
_TRIALS = """    trials : array_like, optional
        Binomial trials per row: ``endog`` then counts successes.
"""
_TAIL = """    weights : array_like, optional
        Prior weights multiplying each row's log-likelihood.
    offset : array_like, optional
        A known part of the linear predictor.
    yname : str, optional
        The outcome's name.
"""


_BUILDER_PARAMETERS = """
    Parameters
    ----------
    formula : str
        Fixed effects, optionally with lme4-style terms ``(1 | unit)``, ``(1 | a/b)``,
        ``(1 + x | unit)``, crossed ``(1 | a) + (1 | b)``.
    data : pandas.DataFrame or dict
        The data (a dict of columns is made a DataFrame).
    vc_formulas : dict of str to str, optional
        Statsmodels-style variance components, e.g. ``{{"unit": "0 + C(unit)"}}``:
        indicator columns become random intercepts; other columns random effects with
        one shared variance.
    groups : str, optional
        A random intercept per unit of this column.
    nested : str or list of str, optional
        Levels nested in ``groups`` (outermost first), each with a random intercept.
{row_arguments}    weights : str or array_like, optional
        Prior weights multiplying each row's log-likelihood (a column name or one value
        per row).
{after_weights}    missing : {{"drop", "raise"}}, default "drop"
        Rows with a missing value in a used column are dropped (statsmodels'
        ``from_formula`` default) or raise :class:`~mixedext.MissingDataError` naming
        the column.
    vcp_p : float, default 1
        Prior SD of the log random-effect SDs (statsmodels' Bayes fits only).
    fe_p : float, default 2
        Prior SD of the fixed effects (statsmodels' Bayes fits only).

    Returns
    -------
    {returns}
        The model; ``fit_ml()`` fits it by maximum likelihood.

    Raises
    ------
    TypeError
        For ``data`` that is not a data frame, or a non-numeric outcome.
    KeyError
        For a ``groups``, ``nested`` or row-argument column not in ``data``.
    ValueError
        For an outcome outside the family's support, row arguments of the wrong length
        or not finite, {value_errors}or no random effects.
    MissingDataError
        With ``missing="raise"``, for missing values in a used column.
"""


def builder_docstring(summary: str, row_arguments: tuple[str, str], returns: str,
                      value_errors: str, rest: str) -> str:
    """The docstring of a GLMM formula builder (``binomial_mixedglm``, ...): ``summary``,
    the shared Parameters, Returns and Raises sections (with the family's row arguments
    before and after ``weights`` and its ``value_errors``), then ``rest`` (Notes,
    References, Examples)."""
    return summary + _BUILDER_PARAMETERS.format(
        row_arguments=row_arguments[0], after_weights=row_arguments[1], returns=returns,
        value_errors=value_errors) + rest


def model_parameters(trials: bool = False) -> str:
    """The Parameters section of the GLMM classes' docstrings (``trials``: binomial)."""
    return _HEAD + (_TRIALS if trials else "") + _TAIL


class MixedGLMMixin:
    """Maximum likelihood for a statsmodels Bayes mixed GLM (see the module docstring).

    A subclass sets ``family_class`` (a :class:`~mixedext.families.Family`) and
    ``results_class``, and calls :meth:`_init_ml` after statsmodels' ``__init__``.
    """

    family_class: type[Family]  # set by each subclass
    results_class: type[MixedGLMResults]  # set by each subclass
    endog: np.ndarray  # statsmodels' model attributes
    exog: np.ndarray
    offset_source = None  # {column: None or "log"}: the offset read again from new data

    def _init_ml(self, re_terms, trials=None, weights=None, offset=None):
        n = len(self.endog)
        self.trials = None if trials is None else np.asarray(trials, dtype=float)
        self.weights = row_array(weights, "weights", n, positive=True)
        self.offset = row_array(offset, "offset", n)
        self._terms = re_terms if re_terms is not None else _terms_from_vc(
            self.exog_vc, self.ident, self.vcp_names)

    @classmethod
    def from_formula(cls, formula, vc_formulas, data, vcp_p=1, fe_p=2):
        """Create a model with statsmodels' constructor signature.

        As statsmodels' ``BinomialBayesMixedGLM.from_formula``: variance components of
        indicator columns become random intercepts (``fit_ml`` fits them).

        Parameters
        ----------
        formula : str
            The fixed effects (lme4-style ``(1 | g)`` terms are accepted too).
        vc_formulas : dict of str to str
            Statsmodels' variance components, ``{name: one-sided formula}``, e.g.
            ``{"herd": "0 + C(herd)"}``.
        data : pandas.DataFrame or dict
            The data.
        vcp_p : float, default 1
            Prior SD of the log random-effect SDs (statsmodels' Bayes fits only).
        fe_p : float, default 2
            Prior SD of the fixed effects (statsmodels' Bayes fits only).

        Returns
        -------
        MixedGLMMixin
            A model of this class.
        """
        return glmm_from_formula(cls, formula, data, vc_formulas, vcp_p=vcp_p, fe_p=fe_p,
                                 eval_env=2)

    @property
    def design_info(self):
        """The design information of the fixed effects (patsy's), or None.

        Kept for predictions on new data for models built from a formula in this session;
        None after unpickling (patsy's design information cannot be pickled).
        """
        return self.__dict__.get("_design_info")

    @property
    def random_terms(self) -> tuple:
        """The random-effect terms, in the order of the variance components."""
        return tuple(self._terms)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_design_info", None)  # patsy's DesignInfo cannot be pickled
        return state

    # -- statsmodels' Bayes fits, where they apply -----------------------------------------
    def fit_vb(self, *args, **kwargs):
        """Fit statsmodels' variational Bayes approximation (statsmodels' ``fit_vb``).

        Parameters
        ----------
        *args
            Passed to statsmodels' ``fit_vb``.
        **kwargs
            Passed to statsmodels' ``fit_vb``.

        Returns
        -------
        statsmodels.genmod.bayes_mixed_glm.BayesMixedGLMResults
            The posterior approximation (statsmodels' results).

        Raises
        ------
        NotImplementedError
            For a model with ``trials``, ``weights`` or ``offset`` (statsmodels' Bayes fits
            take none of them), and for families statsmodels has no Bayes model for
            (negative binomial, Gamma).
        """
        self._bayes_ok("fit_vb")
        return super().fit_vb(*args, **kwargs)

    def fit_map(self, *args, **kwargs):
        """Fit statsmodels' posterior mode (Laplace) approximation (statsmodels' ``fit_map``).

        Parameters
        ----------
        *args
            Passed to statsmodels' ``fit_map``.
        **kwargs
            Passed to statsmodels' ``fit_map``.

        Returns
        -------
        statsmodels.genmod.bayes_mixed_glm.BayesMixedGLMResults
            The posterior approximation (statsmodels' results).

        Raises
        ------
        NotImplementedError
            For a model with ``trials``, ``weights`` or ``offset`` (statsmodels' Bayes fits
            take none of them), and for families statsmodels has no Bayes model for
            (negative binomial, Gamma).
        """
        self._bayes_ok("fit_map")
        return super().fit_map(*args, **kwargs)

    def _bayes_ok(self, name):
        given = [arg for arg in ("trials", "weights", "offset")
                 if getattr(self, arg, None) is not None]
        if given:
            raise NotImplementedError(f"{name}: statsmodels' Bayes fits take no "
                                      f"{' or '.join(given)}; use fit_ml()")

    # -- maximum likelihood ------------------------------------------------------------------
    def ml_family(self, dispersion=None):
        """Bind the model's family to its outcome, trials and prior weights.

        Parameters
        ----------
        dispersion : float, optional
            The family's dispersion (``theta`` of the negative binomial, the Gamma's
            ``shape``); None for families without one.

        Returns
        -------
        Family
            A new :class:`~mixedext.families.Family` of the model's ``family_class``.
        """
        return self.family_class(self.endog, self.trials, self.weights, dispersion)

    @classmethod
    def check_data(cls, y, yname: str, trials=None, trials_name=None) -> None:
        """Refuse an outcome the family cannot describe (at construction).

        Parameters
        ----------
        y : array_like
            The outcome.
        yname : str
            Its name, for the error message.
        trials : array_like, optional
            Binomial trials per row (binomial models only).
        trials_name : str, optional
            The column the trials came from, for the error message.

        Raises
        ------
        ValueError
            For values outside the family's support (negative or non-integer counts,
            non-positive Gamma outcomes), naming the outcome.
        """
        cls.family_class.check_outcome(y, yname)

    def _check_outcome(self):
        """Refuse outcomes there is nothing to fit to (a subclass may add to this)."""
        y = np.asarray(self.endog, dtype=float)
        name = getattr(self, "endog_name", "y")
        self.check_data(y, name, self.trials)
        if np.all(y == y[0]):
            raise ValueError(f"the outcome {name!r} is constant ({y[0]:g} in every row): "
                             "there is nothing to fit")

    def fit_ml(self, nagq: int = 1, *, maxiter: int = 2000):
        """Fit by maximum likelihood (as ``lme4::glmer`` and ``glmmTMB``).

        Parameters
        ----------
        nagq : int, default 1
            1: the Laplace approximation; more: adaptive Gauss-Hermite quadrature with
            that many nodes (a single scalar random-effect term only).
        maxiter : int, default 2000
            L-BFGS-B's iteration limit.

        Returns
        -------
        MixedGLMResults
            The results class of the family (``results_class``).

        Raises
        ------
        ValueError
            For ``nagq`` not a positive integer, or an outcome with nothing to fit (a
            constant outcome; a binomial outcome without successes or failures).
        NotImplementedError
            For random effects given as general ``exog_vc`` columns (not grouping
            factors).

        Warns
        -----
        RuntimeWarning
            When the optimiser did not converge, or (binomial) for completely separated
            columns.
        SingularFitWarning
            When a variance is on its boundary 0.

        Notes
        -----
        The deviance ``-2 log L(theta, beta[, log dispersion])`` is minimised jointly
        (L-BFGS-B with finite differences, Newton-polished), starting from the GLM fit
        without random effects; the conditional modes come from penalised IRLS at each
        evaluation. With ``u`` the spherical random effects (``b = Lambda_theta u``,
        ``u ~ N(0, I)``) and ``u*`` their conditional modes, the Laplace approximation is
        ``-2 log L = -2 sum_i log p(y_i | u*) + |u*|^2 + log|L|^2``, ``L`` the Cholesky
        factor of ``Lambda' Z' H Z Lambda + I`` with ``H`` the observed information at
        ``u*``; adaptive Gauss-Hermite quadrature integrates each unit's likelihood
        around ``u*`` instead (see :mod:`mixedext._engine.pirls`). Standard errors
        come from the numerical Hessian of the deviance in all parameters, as glmer's
        default (``use.hessian = TRUE``) and glmmTMB's.

        References
        ----------
        .. [1] Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear
           mixed-effects models using lme4. Journal of Statistical Software 67(1).
        .. [2] Brooks, M. E. et al. (2017). glmmTMB balances speed and flexibility among
           packages for zero-inflated generalized linear mixed modeling. The R Journal
           9(2), 378-400.
        """
        if self._terms is None:
            raise NotImplementedError("fit_ml needs random effects given as grouping "
                                      "factors ((1 | g) terms, groups= or indicator "
                                      "vc_formulas); this exog_vc is general")
        if isinstance(nagq, bool) or not float(nagq).is_integer() or nagq < 1:
            raise ValueError(f"nagq must be a positive integer, got {nagq!r}")
        nagq = int(nagq)
        self._check_outcome()
        beta0, dispersion0 = self._start()
        family = self.ml_family(dispersion0)
        dev = LaplaceDeviance(self.exog, family, self._terms, offset=self.offset)
        k, p = dev.n_theta, len(beta0)
        with blas_threads_for(dense_size(dev)):  # one BLAS thread for small dense blocks
            opt = fit_laplace(dev, beta0, nagq, maxiter=maxiter, dispersion0=dispersion0)
            hess = laplace_hessian(dev, opt.theta, p, nagq)
            state = dev.pirls(opt.theta[:k], opt.theta[k:k + p])
        if not opt.converged:
            warnings.warn(f"fit_ml did not converge ({opt.message}); try rescaling "
                          "covariates or a simpler random-effect structure",
                          RuntimeWarning, stacklevel=2)
        res = self.results_class(self, dev, opt, state, hess, nagq)
        warn_if_singular(res)
        return res

    def _start(self):
        """``(beta0, dispersion0)`` from the GLM without random effects."""
        family = self.ml_family(1.0 if self.family_class.n_dispersion else None)
        endog = np.asarray(self.endog, dtype=float)
        kw = {}
        if self.trials is not None:
            endog = np.column_stack([endog, self.trials - endog])
        if self.offset is not None:
            kw["offset"] = self.offset
        if self.weights is not None:
            kw["var_weights"] = self.weights
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                glm = sm.GLM(endog, self.exog, family=family.glm_family(), **kw).fit()
            beta0 = np.asarray(glm.params)
            if not np.all(np.isfinite(beta0)):
                raise ValueError
        except Exception:  # noqa: BLE001 - a start value only
            beta0 = np.zeros(self.exog.shape[1])
            glm = None
        return beta0, self._dispersion_start(glm)

    def _dispersion_start(self, glm):
        """The dispersion's start (None for families without one): the moment estimate
        from the GLM's fitted means."""
        name = self.family_class.dispersion_name
        if name is None:
            return None
        y = np.asarray(self.endog, dtype=float)
        mu = np.asarray(glm.fittedvalues) if glm is not None else np.full_like(y, y.mean())
        if name == "theta":  # Var = mu + mu^2 / theta
            excess = np.mean((y - mu) ** 2 - mu)
            return float(np.clip(np.mean(mu ** 2) / excess, 0.05, 1e4)) if excess > 0 else 1e2
        return float(np.clip(1.0 / np.mean(((y - mu) / mu) ** 2), 1e-3, 1e6))  # shape


def _terms_from_vc(exog_vc, ident, names):
    """Random-intercept terms from statsmodels' indicator variance components."""
    exog_vc = sp.csc_array(exog_vc)
    terms = []
    for j, name in enumerate(names):
        cols = np.flatnonzero(ident == j)
        block = exog_vc[:, cols].tocsr()
        nnz = np.diff(block.indptr)
        if not (np.all(nnz == 1) and np.allclose(block.data, 1.0)):
            return None
        codes = block.indices.astype(np.int64)
        terms.append(build_term(name, [codes], None, ("Intercept",)))
    return terms


def _exog_vc(terms):
    """statsmodels' (exog_vc, ident, names) for the Bayes fits: one independent variance
    component per (term, covariate)."""
    mats, ident, names, vc_names = [], [], [], []
    n = len(terms[0].codes) if terms else 0
    for t in terms:
        shared = t.cov == "scalar" and t.q > 1  # one variance for all its columns
        for a, cov_name in enumerate(t.names):
            z = np.ones(n) if t.z is None else t.z[:, a]
            mats.append(sp.csr_array((z, (np.arange(n), t.codes)), shape=(n, t.n_units)))
            if shared:
                ident.append(np.full(t.n_units, len(names) - (a > 0)))
                if a == 0:
                    names.append(t.component or t.level)
                vc_names.extend(f"{names[-1]}[{cov_name}]" for _ in t.unit_labels)
                continue
            ident.append(np.full(t.n_units, len(names)))
            names.append(t.level if t.q == 1 else f"{t.level}:{cov_name}")
            vc_names.extend(f"{names[-1]}[{lab}]" for lab in t.unit_labels)
    return sp.hstack(mats, format="csr"), np.concatenate(ident).astype(int), names, vc_names


def row_values(arg, frame: pd.DataFrame, name: str) -> np.ndarray | None:
    """A per-row argument given as a column name or an array (None stays None)."""
    if arg is None:
        return None
    if isinstance(arg, str):
        return frame[arg].to_numpy(dtype=float)
    values = np.asarray(arg, dtype=float)
    if values.shape != (len(frame),):
        raise ValueError(f"{name} must be a column name or one value per row of data "
                         f"({len(frame)}), got shape {values.shape}")
    return values


def glmm_from_formula(cls, formula, data, vc_formulas=None, *, groups=None, nested=None,
                      missing="drop", vcp_p=1, fe_p=2, columns=(), eval_env: int = 1,
                      **row_args):
    """Build a ``cls`` model (a :class:`MixedGLMMixin` subclass) from a formula.

    ``row_args`` (``trials``, ``weights``, ``offset``, ``exposure``) are column names or
    arrays of one value per row of ``data``; named columns join the columns whose missing
    values drop a row. ``columns`` lists other columns to keep; ``eval_env`` how many
    frames up the formula's names are looked up (1: the caller's).
    """
    if isinstance(data, dict):  # statsmodels accepts a dict of columns
        data = pd.DataFrame(data)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a DataFrame (or a dict of columns), not "
                        f"{type(data).__name__}")
    fixed, levels = split_formula(formula)
    nested = [nested] if isinstance(nested, str) else list(nested or [])
    named = [v for v in row_args.values() if isinstance(v, str)]
    for arg, value in row_args.items():
        if isinstance(value, str) and value not in data.columns:
            raise KeyError(f"{arg}={value!r} is not a column of data")
    offset_source = {row_args[k]: transform for k, transform in (("offset", None),
                                                                  ("exposure", "log"))
                     if isinstance(row_args.get(k), str)} or None  # read from new data
    arrays = {k: v for k, v in row_args.items() if v is not None and not isinstance(v, str)}
    if arrays:  # arrays are aligned with data's rows: carry them as columns
        data = data.assign(**{f"__{k}__": row_values(v, data, k) for k, v in arrays.items()})
        row_args = row_args | {k: f"__{k}__" for k in arrays}
        named += [f"__{k}__" for k in arrays]
    group_cols = [f for lev in levels for f in lev.factors]
    group_cols += ([groups] if groups else []) + nested + named + list(columns)
    formulas = [formula, *(vc_formulas or {}).values()]
    frame, _ = prepare_frame(data, columns=formula_variables(formulas, list(data.columns)),
                             group_columns=group_cols, missing=missing,
                             factor_columns=factor_only_columns(fixed, data.columns))
    env = patsy.EvalEnvironment.capture(eval_env)
    y, x = patsy.dmatrices(fixed, frame, return_type="dataframe", NA_action="raise",
                           eval_env=env.with_outer_namespace({"C": categorical_c}))
    if y.shape[1] != 1:
        raise TypeError(f"the outcome {formula.split('~')[0].strip()!r} must be numeric")
    yname = y.columns[0]
    y = y.iloc[:, 0].to_numpy(dtype=float)
    values = {k: row_values(v, frame, k) for k, v in row_args.items()}
    cls.check_data(y, yname, values.get("trials"), row_args.get("trials"))
    exposure = values.pop("exposure", None)
    if exposure is not None:
        if np.any(exposure <= 0):
            raise ValueError("exposure must be positive (its log is the offset)")
        values["offset"] = np.log(exposure) + (0.0 if values.get("offset") is None
                                               else values["offset"])
    terms = [term_from_level(lev, frame, env) for lev in levels]
    if groups:
        path = [groups]
        terms.append(build_term(groups, [np.asarray(frame[groups])], None, ("Intercept",),
                                lhs="1", factors=path))
        for col in nested:
            path = [*path, col]
            terms.append(build_term("/".join(path), [np.asarray(frame[c]) for c in path],
                                    None, ("Intercept",), lhs="1", factors=path))
    for name, vf in (vc_formulas or {}).items():
        mat = patsy.dmatrix(vf, frame, eval_env=env, return_type="dataframe")
        vals = mat.to_numpy(float)
        if np.all((vals == 0) | (vals == 1)) and np.all(vals.sum(axis=1) == 1):
            labels = np.array([c.split("[", 1)[-1].rstrip("]") for c in mat.columns],
                              dtype=object)
            terms.append(RandomTerm(name, vals.argmax(axis=1).astype(np.int64), labels))
        else:  # statsmodels' meaning: every column an effect, all with one variance
            terms.append(build_term(name, [np.zeros(len(vals), dtype=np.int64)], vals,
                                    list(mat.columns), cov="scalar", component=name))
    if not terms:
        raise ValueError("no random effects: give (1 | g) terms, groups= or vc_formulas")
    exog_vc, ident, vcp_names, vc_names = _exog_vc(terms)
    model = cls(y, x, exog_vc, ident, vcp_p=vcp_p, fe_p=fe_p, fep_names=list(x.columns),
                vcp_names=vcp_names, vc_names=vc_names, re_terms=terms, yname=yname,
                **{k: v for k, v in values.items() if v is not None})
    model.formula = formula
    model.offset_source = offset_source
    model._design_info = x.design_info  # for predictions on new data (not pickled)
    return model
