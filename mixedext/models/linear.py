"""``mixedext.MixedLM``: statsmodels' linear mixed model on a blocked-Cholesky engine.

The model is statsmodels' (``statsmodels.regression.mixed_linear_model``)

    y = X beta + sum_k Z_k b_k + e,   b_k ~ N(0, Sigma_k) per unit,   e ~ N(0, sigma^2 I),

written as a list of random-effect *terms* (:class:`~mixedext._engine.crossprod.RandomTerm`):
statsmodels' ``groups`` + ``re_formula`` give one term with an unstructured covariance
(``cov_re``), each ``vc_formula`` entry one variance component (``vcomp``), and lme4-style
``(1 | a/b)`` terms one term per level. The fit minimises the profiled REML/ML deviance
(``_engine.deviance``) from cross-products computed once.

What statsmodels' inherited methods need (the data split per group: ``endog_li``,
``exog_re_li``, ...) is built lazily, on first use, by statsmodels' own constructor.
``fit()`` options only statsmodels' optimiser understands fall back to its ``fit``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import patsy
import scipy.linalg as sla
from statsmodels.base.data import handle_data
from statsmodels.base.model import LikelihoodModel
from statsmodels.regression import mixed_linear_model as sm_mlm
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from mixedext._compat import (
    VC_FORMAT_WARNING,
    advance_eval_env,
    patsy_formulas,
    set_formula_spec,
    warn_unused_fit_kwargs,
    with_names,
)
from mixedext._engine import fitting
from mixedext._engine.crossprod import CrossProducts, RandomTerm
from mixedext._engine.deviance import NotPositiveDefinite, ProfiledDeviance
from mixedext._engine.factor import theta_bounds
from mixedext._engine.state import FitState
from mixedext.formula.data import MissingDataError, prepare_frame, row_array
from mixedext.formula.groups import StatsmodelsLayout, statsmodels_layout, statsmodels_levels
from mixedext.formula.terms import (
    build_term,
    categorical_c,
    design,
    factor_only_columns,
    formula_variables,
    split_formula,
    term_from_level,
)
from mixedext.models.dask import dask_cross_products, is_dask_frame
from mixedext.results.linear import (
    MixedLMResults,
    MixedLMResultsWrapper,
    from_statsmodels,
    psi_to_theta,
)
from mixedext.structures.spec import correlated_deviance, residual_spec
from mixedext.structures.variance import variance_columns

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["MixedLM", "mixedlm", "ConvergenceWarning", "SingularFitWarning"]


# statsmodels fit() options that only its own optimiser understands
_STATSMODELS_FIT_OPTIONS = ("start_params", "free", "fe_pen", "cov_pen", "method")
# the optimiser keywords statsmodels' MixedLM.fit takes, and those the engine honours
_FIT_KWARGS = ("gtol", "maxiter", "eps", "maxcor", "ftol", "tol", "disp", "maxls")
_ENGINE_FIT_KWARGS = ("gtol", "maxiter", "maxcor", "ftol", "maxls")
# keywords statsmodels' MixedLM.__init__ permits (from_formula passes them)
_INIT_KWARGS = ("missing_idx", "model_spec", "design_info", "formula")
# attributes of statsmodels' MixedLM built per group by its constructor (built lazily here)
_PER_GROUP_ATTRIBUTES = frozenset({
    "row_indices", "endog_li", "exog_li", "exog_re_li", "exog_re2_li", "_aex_r", "_aex_r2",
    "_lin", "_quad", "exog_vc",
})


class MixedLM(sm_mlm.MixedLM):
    __doc__ = """Linear mixed model (statsmodels' ``MixedLM``, fitted by mixedext's engine).

    Build models with :func:`mixedext.mixedlm` / :meth:`from_formula`, which add
    lme4-style ``(1 | a/b)`` terms, residual structures, weights and offsets; the
    constructor takes statsmodels' arrays (see
    :class:`statsmodels.regression.mixed_linear_model.MixedLM`).

    Parameters
    ----------
    endog : array_like
        The outcome, one value per row.
    exog : array_like
        The fixed-effect design (rows by columns).
    groups : array_like, optional
        The grouping label of each row (required unless ``re_terms`` is given).
    exog_re : array_like, optional
        Statsmodels' random-effect design within ``groups`` (default a random
        intercept).
    exog_vc : dict or VCSpec, optional
        Statsmodels' variance components (a ``VCSpec``, or its deprecated dict form).
        Components that are indicator columns within every group, or the same
        covariates in every group, are fitted by the engine; others by statsmodels'
        optimiser.
    use_sqrt : bool, default True
        Statsmodels' parametrisation flag (its optimiser only).
    missing : {"none", "drop", "raise"}, default "none"
        Statsmodels' handling of missing values in the arrays.
    re_terms : list of RandomTerm, optional
        The random-effect terms (set by :meth:`from_formula`).
    sm_layout : StatsmodelsLayout, optional
        How ``re_terms`` map to statsmodels' ``cov_re`` and ``vcomp`` (set by
        :meth:`from_formula`; None for lme4-style terms).
    residual : ResidualSpec, optional
        The residual structure (set by :meth:`from_formula`).
    **kwargs
        ``weights`` and ``offset`` (one value per row), and statsmodels' keywords
        (``missing_idx``, ``model_spec``, ``design_info``, ``formula``).

    Raises
    ------
    ValueError
        For neither ``groups`` nor ``re_terms``, an unknown keyword, or ``weights`` /
        ``offset`` that are not one finite value per row (positive for weights).
    NotImplementedError
        For ``weights`` or ``offset`` with a residual structure.

    Notes
    -----
    The model and the names used in the code::

        y = X beta + Z b + e,  b = Lambda_theta u,  u ~ N(0, sigma^2 I),  e ~ N(0, sigma^2 I)

    ``theta`` holds the relative Cholesky factors of the random-effect covariances
    (lme4's parameterisation); the profiled deviance is minimised over ``theta >= 0``
    (on the diagonals). A model built from arrays with ``exog_vc`` is fitted by
    statsmodels' own optimiser.
    """

    weights = None        # prior weights (residual variance sigma^2 / w)
    offset = None         # a known part of the mean
    offset_source = None  # {column: None}: the offset's column, read again from new data

    def __init__(self, endog, exog, groups=None, exog_re=None, exog_vc=None, use_sqrt=True,
                 missing="none", *, re_terms=None, sm_layout=None, residual=None, **kwargs):
        self.use_sqrt = use_sqrt
        self.reml = True
        self.fe_pen = None
        self.re_pen = None
        self.cov_pen = None
        if exog is not None and np.ndim(exog) == 1:
            exog = np.asarray(exog)[:, None]
        if exog_re is not None and np.ndim(exog_re) == 1:
            exog_re = np.asarray(exog_re)[:, None]
        if groups is None and re_terms is None:
            raise ValueError("groups is required (or give lme4-style terms such as "
                             "(1 | g) in the formula)")
        weights, offset = kwargs.pop("weights", None), kwargs.pop("offset", None)
        for name in kwargs:  # as statsmodels' MixedLM
            if name not in _INIT_KWARGS:
                raise ValueError(f"argument {name} not permitted for MixedLM initialization")
        if isinstance(exog_vc, dict):
            warnings.warn("Using deprecated variance components format", VC_FORMAT_WARNING,
                          stacklevel=2)
        self._freepat = None  # statsmodels' score() reads it (set by its fit)
        LikelihoodModel.__init__(self, endog, exog, groups=groups, exog_re=exog_re,
                                 missing=missing, **kwargs)
        self._init_keys.extend(["use_sqrt", "exog_vc"])
        self.k_fe = self.exog.shape[1]
        self.nobs = self.n_totobs = len(self.endog)
        if self.exog_names is None:
            self.exog_names = [f"FE{k + 1:d}" for k in range(self.k_fe)]

        if re_terms is None:
            re_terms, sm_layout = self._terms_from_arrays(exog_vc)
        self._terms = re_terms
        self._sm_layout = sm_layout
        self._residual_spec = residual
        self._correlated = None
        self._set_parameter_layout(exog_vc)
        self._engine_cache = None
        self.weights = row_array(weights, "weights", self.nobs, positive=True)
        self.offset = row_array(offset, "offset", self.nobs)
        if (self.weights is not None or self.offset is not None) and residual is not None:
            raise NotImplementedError("weights= and offset= with a residual covariance "
                                      "structure (cov_struct/het_var/variance) are not "
                                      "available yet")

    # -- construction -------------------------------------------------------------------
    def _terms_from_arrays(self, exog_vc):
        """Terms for a model given as arrays (statsmodels' constructor arguments)."""
        if exog_vc is not None:
            vc = sm_mlm._convert_vc(exog_vc) if isinstance(exog_vc, dict) else exog_vc
            self.__dict__["exog_vc"] = vc
            return _terms_from_vcspec(self, vc)  # (None, None): statsmodels' own fit
        groups = [np.asarray(self.groups)]
        if self.exog_re is None:
            term = build_term("Group", groups, None, ("Intercept",))
            names = ["Group"]
        else:
            names = _exog_re_names(self)
            term = build_term("Group", groups, np.asarray(self.exog_re, dtype=float), names)
        return [term], StatsmodelsLayout("Group", 0, list(names))

    def _set_parameter_layout(self, exog_vc):
        lay = self._sm_layout
        if lay is not None:
            self.k_re = 0 if lay.re_term is None else len(lay.re_names)
            self.k_vc = len(lay.vc_terms)
            re_names, vc_names = lay.re_names, lay.vc_names
        elif self._terms is not None:  # lme4-style terms: every variance parameter a "vcomp"
            self.k_re = 0
            re_names, vc_names = [], _lme4_parameter_names(self._terms)
            self.k_vc = len(vc_names)
        else:  # arrays with a VCSpec
            vc = self.__dict__["exog_vc"]
            self.k_vc = len(vc.names)
            self.k_re = 0 if self.exog_re is None else self.exog_re.shape[1]
            re_names = (["Group"] if self.exog_re is None
                        else sm_mlm._get_exog_re_names(self, self.exog_re))
            vc_names = list(vc.names)
        self.k_re2 = self.k_re * (self.k_re + 1) // 2
        if self.k_re > 0 and self.exog_re is None and self.exog is not None:
            self.exog_re = np.ones((self.nobs, 1))
            self.data.exog_re = self.exog_re
        cov_names = []
        for i in range(self.k_re):
            for j in range(i + 1):
                cov_names.append(f"{re_names[i]} Var" if i == j
                                 else f"{re_names[j]} x {re_names[i]} Cov")
        vc_param_names = [f"{v} Var" for v in vc_names] if lay is not None or \
            self._terms is None else vc_names
        self.data.param_names = list(self.exog_names) + cov_names + vc_param_names
        self.data.exog_re_names = list(re_names)
        self.data.exog_re_names_full = cov_names
        self.data.vcomp_names = list(vc_names)
        self.data.variance_param_names = cov_names + vc_param_names  # labels of bse_re
        self.k_params = self.k_fe + self.k_re2
        if self.groups is not None:
            self.group_labels = np.unique(np.asarray(self.groups)).tolist()
        else:
            self.group_labels = [0]
        self.n_groups = len(self.group_labels)

    @classmethod
    def from_formula(cls, formula: str, data: Any, re_formula: str | None = None,
                     vc_formula: dict[str, str] | None = None, subset: ArrayLike | None = None,
                     use_sparse: bool = False, missing: str = "none", *args: Any,
                     groups: str | ArrayLike | None = None,
                     nested: str | Sequence[str] | None = None, cov_struct: str | None = None,
                     time: str | None = None, cov_groups: str | Sequence[str] | None = None,
                     het_var: str | None = None, variance: str | Sequence[str] | None = None,
                     weights: str | ArrayLike | None = None,
                     offset: str | ArrayLike | None = None,
                     coords: str | Sequence[str] | None = None, nugget: bool = False,
                     **kwargs: Any) -> MixedLM:
        """Create a linear mixed model from a formula and a data frame.

        As :meth:`statsmodels.regression.mixed_linear_model.MixedLM.from_formula`, plus
        lme4-style random-effect terms, residual covariance structures (nlme's
        ``correlation=``), variance functions (nlme's ``weights = varFunc``), prior weights
        and offsets. ``mixedext.mixedlm`` is this method.

        Parameters
        ----------
        formula : str
            The fixed effects, ``"y ~ x1 + x2"``; may contain lme4-style random-effect
            terms: ``(1 | g)``, ``(1 + x | g)``, ``(0 + x | g)``, nested ``(1 | a/b)``,
            interactions ``(1 | a:b)`` and crossed ``(1 | a) + (1 | b)``; ``groups`` is then
            not given.
        data : pandas.DataFrame, dict or dask.dataframe.DataFrame
            The data. A Dask data frame is reduced to cross-products over its partitions
            (:meth:`from_dask`; random effects as lme4-style terms or ``groups=`` a column
            name).
        re_formula : str, optional
            Statsmodels' random-effect covariates within ``groups`` (``"~ x"``), with an
            unstructured covariance; by default a random intercept.
        vc_formula : dict of str to str, optional
            Statsmodels' variance components within ``groups``: ``{name: formula}``, e.g.
            ``{"cask": "0 + C(cask)"}``, each with one variance.
        subset : array_like, optional
            Rows to use (a boolean mask or index labels), as statsmodels' ``subset``.
        use_sparse : bool, default False
            Statsmodels' argument, accepted for compatibility; it has no effect here (the
            engine works from cross-products, not statsmodels' per-group matrices).
        missing : {"none", "drop", "raise"}, default "none"
            ``"drop"`` drops the rows with a missing value in a column the model uses;
            otherwise such a value raises :class:`~mixedext.MissingDataError` naming the
            column.
        *args
            Passed on to statsmodels' ``Model.from_formula`` (after ``subset`` and
            ``drop_cols``).
        groups : str or array_like, optional
            Top-level grouping, as in statsmodels (a column name or one label per row).
        nested : str or list of str, optional
            Columns nested inside ``groups``, outermost first: each adds a random
            intercept per unit of that level (``nested="rep"`` with ``groups="center"``
            fits ``(1 | center/rep)``); the group-level intercept is kept.
        cov_struct : str, optional
            Residual correlation within each unit of the innermost grouping level (or of
            ``cov_groups``): ``"independence"`` (the default); ``"ar1"``
            ``rho^|t_i - t_j|`` (integer ``time``: nlme's ``corAR1``, gaps allowed;
            real-valued ``time``: continuous-time ``corCAR1``; with ``het_var=`` the time
            column, heterogeneous AR(1)), ``"car1"`` forces continuous time,
            ``"exchangeable"`` (``corCompSymm``), ``"unstructured"`` (a variance per
            distinct ``time`` and every correlation), ``"arma(p,q)"`` (``corARMA`` at
            integer times), ``"toeplitz"`` (a correlation per lag at integer times), and
            the spatial / continuous-time ``"exp"``, ``"gaus"``, ``"lin"``, ``"ratio"``,
            ``"spher"`` (``corExp``, ``corGaus``, ``corLin``, ``corRatio``,
            ``corSpher``) over ``time`` or ``coords``.
        time : str, optional
            Column of measurement times (required by every structure but
            ``"exchangeable"``, unless ``coords`` is given).
        cov_groups : str or list of str, optional
            Columns whose combinations are the residual units (default: the innermost
            grouping level).
        het_var : str, optional
            A residual variance per level of this column (nlme's ``varIdent``; the same
            as ``variance="ident(<column>)"``).
        variance : str or list of str, optional
            Variance functions (nlme's ``varFunc``): the residual SD of row ``i`` is
            ``sigma s_i`` times the structure's, with ``"power(x)"`` ``s_i = |x_i|^power``
            (``varPower``), ``"exp(x)"`` ``exp(expon x_i)`` (``varExp``),
            ``"constpower(x)"`` ``const + |x_i|^power`` (``varConstPower``),
            ``"ident(g)"`` an SD ratio per level of ``g`` (``varIdent``); ``"power(x | g)"``
            a parameter per level of ``g``; ``"ident(g) * power(x)"`` (or a list) the
            product (``varComb``). Combines with any ``cov_struct``.
        weights : str or array_like, optional
            Prior weights: the residual variance of row ``i`` is ``sigma^2 / w_i``
            (``lmer(weights =)``); a column name or one value per row.
        offset : str or array_like, optional
            A known part of the mean, ``y = offset + X beta + Z b + e``; new data for
            ``predict`` read the same column (or take ``offset=``).
        coords : list of str, optional
            Columns of coordinates for a spatial correlation: Euclidean distances between
            the points (nlme's ``form = ~ x + y | g``); instead of ``time``.
        nugget : bool, default False
            A nugget in a spatial correlation, ``(1 - nugget) f(d / range)`` for
            ``d > 0`` (nlme's ``nugget = TRUE``).
        **kwargs
            Passed on to statsmodels' ``from_formula`` and the model's constructor (e.g.
            ``eval_env``, the patsy environment of the formula).

        Returns
        -------
        MixedLM
            The model; :meth:`fit` fits it.

        Raises
        ------
        ValueError
            For random effects given both as ``(1 | g)`` terms and through
            ``groups``/``re_formula``/``vc_formula``/``nested``, for neither, for ``weights``
            or ``offset`` arrays of the wrong length, or an unknown ``missing``.
        KeyError
            For a grouping, ``weights``, ``offset`` or ``variance`` column not in ``data``.
        TypeError
            For a non-numeric outcome column.
        MissingDataError
            For missing or infinite values in a used column (unless ``missing="drop"``).
        NotImplementedError
            For options not available on Dask data frames, or ``weights``/``offset``
            with a residual structure.

        See Also
        --------
        MixedLM.fit : Fit the model by REML or ML.

        Notes
        -----
        The model is ``y = X beta + Z b + e`` with ``b ~ N(0, Sigma)`` (block diagonal over
        the terms and their units) and ``e ~ N(0, sigma^2 R)``, ``R = I`` without a
        residual structure. lme4's ``(1 | a/b)`` is statsmodels'
        ``groups="a", vc_formula={"b": "0 + C(b)"}``; both give the same fit.

        References
        ----------
        .. [1] Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear
           mixed-effects models using lme4. Journal of Statistical Software 67(1).
        .. [2] Pinheiro, J. C. and Bates, D. M. (2000). Mixed-Effects Models in S and
           S-PLUS. Springer.

        Examples
        --------
        Nested random intercepts, lme4's ``lmer(strength ~ 1 + (1 | batch/cask), Pastes)``:

        >>> import mixedext as mx
        >>> pastes = mx.datasets.load("pastes")
        >>> res = mx.mixedlm("strength ~ 1 + (1 | batch/cask)", pastes).fit()
        >>> print(res.variance_components()[["level", "variance", "std"]].round(3))
                level  variance    std
        0       batch     1.657  1.287
        1  batch/cask     8.434  2.904
        2    Residual     0.678  0.823

        statsmodels' spelling of a random slope gives statsmodels' results, from mixedext's
        engine:

        >>> sleep = mx.datasets.load("sleepstudy")
        >>> res = mx.mixedlm("Reaction ~ Days", sleep, groups="Subject",
        ...                  re_formula="~Days").fit()
        >>> res.fe_params.round(2)
        Intercept    251.41
        Days          10.47
        dtype: float64
        """
        user_env = kwargs.get("eval_env", None)
        if user_env is None or isinstance(user_env, int):
            # patsy environment for the random-effect designs: the caller's frame
            env = (patsy.EvalEnvironment([{}]) if user_env == -1
                   else patsy.EvalEnvironment.capture((user_env or 0) + 1))
        else:
            env = user_env
        if user_env in (None, 0) and patsy_formulas():
            # the caller's frame, with C() handing Categoricals to patsy as they are
            kwargs["eval_env"] = with_names(env, {"C": categorical_c})
        else:
            advance_eval_env(kwargs)  # statsmodels' fixed-effect design, one frame down

        fixed, levels = split_formula(formula)
        if isinstance(nested, str):
            nested = [nested]
        if levels and (re_formula is not None or vc_formula is not None or nested or
                       groups is not None):
            raise ValueError("give random effects either as (1 | g) terms in the formula or "
                             "through groups/re_formula/vc_formula/nested, not both (with "
                             "(1 | g) terms, groups= would be ignored)")
        if not levels and groups is None:
            raise ValueError("groups is a required keyword argument unless the formula has "
                             "random-effect terms such as (1 | g)")
        if is_dask_frame(data):
            unavailable = {"weights": weights, "offset": offset, "cov_groups": cov_groups,
                           "subset": subset}
            given = [name for name, value in unavailable.items() if value is not None]
            if given:
                raise NotImplementedError(f"{', '.join(given)}= on Dask data frames are not "
                                          "available yet; use an in-memory DataFrame")
            return cls.from_dask(formula, data, missing=missing, cov_struct=cov_struct,
                                 time=time, het_var=het_var, groups=groups,
                                 re_formula=re_formula, vc_formula=vc_formula,
                                 nested=nested, coords=coords, nugget=nugget,
                                 variance=variance)
        if isinstance(data, dict):  # statsmodels accepts a dict of columns
            data = pd.DataFrame(data)
        _check_outcome(fixed, data)
        group_cols = [f for lev in levels for f in lev.factors]
        group_name = groups if isinstance(groups, str) else "Group"
        if isinstance(groups, str):
            group_cols.append(groups)
        group_cols.extend(nested or [])
        coord_cols = [coords] if isinstance(coords, str) else list(coords or [])
        residual_cols = [c for c in ([time, het_var] + coord_cols + (
            [cov_groups] if isinstance(cov_groups, str) else list(cov_groups or [])))
            if c is not None]
        group_cols.extend(residual_cols)
        variance_cols = variance_columns(variance)
        for col in variance_cols:
            if col not in data.columns:
                raise KeyError(f"variance={variance!r}: column {col!r} is not in data")
        group_cols.extend(variance_cols)
        row_args = {"weights": weights, "offset": offset}
        for arg, value in row_args.items():
            if isinstance(value, str):
                if value not in data.columns:
                    raise KeyError(f"{arg}={value!r} is not a column of data")
                group_cols.append(value)
            elif value is not None and np.shape(value) != (len(data),):
                raise ValueError(f"{arg} must have one value per row of data "
                                 f"({len(data)}), got shape {np.shape(value)}")
        formulas = [formula, re_formula, *(vc_formula or {}).values()]
        data, extra = prepare_frame(
            data, columns=formula_variables(formulas, list(data.columns)),
            group_columns=group_cols, subset=subset, missing=missing,
            arrays={"groups": None if isinstance(groups, str) else groups,
                    **{k: v for k, v in row_args.items() if not isinstance(v, str)}},
            raw_columns=([time] if time is not None else []) + coord_cols,
            factor_columns=factor_only_columns(fixed, data.columns))
        row_args = {k: (data[v].to_numpy(dtype=float) if isinstance(v, str) else
                        None if v is None else extra[k]) for k, v in row_args.items()}
        if groups is not None:
            groups = np.asarray(data[groups] if isinstance(groups, str) else extra["groups"])

        if levels:
            terms = [term_from_level(lev, data, env) for lev in levels]
            layout = None
        else:
            terms, layout = _statsmodels_terms(data, groups, group_name, re_formula,
                                               vc_formula, nested or [], env)
        exog_re = None
        if layout is not None and layout.re_term is not None:
            t = terms[layout.re_term]
            exog_re = np.ones((len(data), 1)) if t.z is None else t.z
        residual = None
        if cov_struct not in (None, "independence") or het_var is not None or \
                time is not None or cov_groups is not None or variance is not None or \
                coords is not None or nugget:
            residual = residual_spec(data, terms, groups, cov_struct or "independence",
                                     time=time, cov_groups=cov_groups, het_var=het_var,
                                     coords=coords, nugget=nugget, variance=variance)
        kwargs.update(groups=groups, exog_re=exog_re, re_terms=terms, sm_layout=layout,
                      missing="none", residual=residual,
                      **{k: v for k, v in row_args.items() if v is not None})
        mod = LikelihoodModel.from_formula.__func__(cls, fixed, data, None, None, *args,
                                                    **kwargs)
        mod.formula = formula
        mod.offset_source = {offset: None} if isinstance(offset, str) else None
        return mod

    @classmethod
    def from_dask(cls, formula: str, data: Any, *, missing: str = "none",
                  cov_struct: str | None = None, time: str | None = None,
                  het_var: str | None = None, groups: Any = None,
                  re_formula: str | None = None, vc_formula: dict | None = None,
                  nested: Sequence[str] | str | None = None, coords: Any = None,
                  nugget: bool = False, variance: Any = None) -> MixedLM:
        """Create a model from a Dask data frame, reduced to per-unit cross-products.

        The cross-products (with a residual structure: the structure's statistics, e.g.
        AR(1) lag statistics or ``het_var=`` outer products per unit and level) are reduced
        over the partitions (:mod:`mixedext.models.dask`); the rows stay in Dask. A
        structure without such statistics (the spatial, ARMA and Toeplitz correlations)
        and variance functions are evaluated by the partitions, which keep their units'
        rows (:mod:`mixedext.models.dask_rows`).

        Parameters
        ----------
        formula : str
            Fixed effects, and lme4-style ``(1 | g)`` random-effect terms unless
            ``groups`` is given.
        data : dask.dataframe.DataFrame
            The data.
        missing : {"none", "drop", "raise"}, default "none"
            As :meth:`from_formula`.
        cov_struct : str, optional
            A residual structure, as :meth:`from_formula` takes it (see
            :mod:`mixedext.models.dask` for how each is reduced).
        time : str, optional
            Column of measurement times for ``cov_struct``.
        het_var : str, optional
            A residual variance per level of this column.
        groups : str, optional
            The grouping column of statsmodels' spelling (a column name on Dask), with
            ``re_formula``, ``vc_formula`` and ``nested`` as :meth:`from_formula` takes
            them.
        re_formula : str, optional
            The random effects per group (``"0"``: none, the gls-type model).
        vc_formula : dict, optional
            Variance components within the groups.
        nested : str or list of str, optional
            Grouping columns nested in ``groups``.
        coords : str or list of str, optional
            The columns of the rows' points for a spatial ``cov_struct``.
        nugget : bool, default False
            A nugget in a spatial correlation.
        variance : str or list of str, optional
            Variance functions, as :meth:`from_formula` takes them.

        Returns
        -------
        MixedLM
            A row-less model (``has_rows`` False): fits, summaries and intervals work;
            methods that need the rows raise ``NotImplementedError``.
        """
        cp, terms, info = dask_cross_products(data, formula, missing=missing,
                                              cov_struct=cov_struct, time=time,
                                              het_var=het_var, groups=groups,
                                              re_formula=re_formula, vc_formula=vc_formula,
                                              nested=nested, coords=coords, nugget=nugget,
                                              variance=variance)
        if cp is not None:
            return cls.from_cross_products(cp, terms, info)
        dev = info["correlated"]
        dev.set_eta(dev.structure.start())  # the whitened products at a valid eta
        mod = cls.from_cross_products(dev.inner.cp, terms, info)
        mod._correlated = dev
        mod._residual_spec = info["residual_spec"]
        return mod

    @classmethod
    def from_cross_products(cls, cp: CrossProducts, terms: list[RandomTerm],
                            info: dict[str, Any]) -> MixedLM:
        """Create a row-less model fitted from :class:`~mixedext.CrossProducts` alone.

        Parameters
        ----------
        cp : CrossProducts
            The cross-products of the fixed-effect design, the outcome and the
            random-effect terms.
        terms : list of RandomTerm
            The random-effect terms the cross-products were computed for.
        info : dict
            ``exog_names`` and ``endog_name``; optionally ``design_info``,
            ``fixed_formula``, ``frame`` and ``formula`` (for predictions on new data).

        Returns
        -------
        MixedLM
            A model without rows (``exog`` and ``endog`` None).
        """
        names = list(info["exog_names"])
        stub_x = pd.DataFrame(np.zeros((2, len(names))), columns=names)
        stub_y = pd.Series(np.zeros(2), name=info["endog_name"])
        mod = cls.__new__(cls)
        mod.use_sqrt, mod.reml, mod.fe_pen, mod.re_pen, mod.cov_pen = True, True, None, None, None
        mod.data = handle_data(stub_y, stub_x, "none", None)
        if info.get("design_info") is not None:
            # statsmodels rebuilds it from formula and frame after unpickling
            set_formula_spec(mod.data, info["design_info"])
            mod.data.formula = info.get("fixed_formula")
            mod.data.frame = info.get("frame")
        mod.formula = info.get("formula")
        mod.exog = mod.endog = mod.groups = mod.exog_re = None
        mod._init_keys, mod._data_attr = [], []
        mod.k_fe, mod.nobs = len(names), cp.n
        mod.n_totobs = cp.n
        mod._terms, mod._sm_layout, mod._residual_spec = terms, info.get("layout"), None
        mod._correlated = None
        mod._set_parameter_layout(None)
        if info.get("group_labels") is not None:  # statsmodels' groups, without rows
            mod.group_labels = list(info["group_labels"])
            mod.n_groups = len(mod.group_labels)
        mod._engine_cache = ProfiledDeviance(None, None, terms, cp=cp)
        return mod

    # -- the model's structure, read by results and inference --------------------------
    @property
    def random_terms(self) -> tuple | None:
        """The random-effect terms, in the order of the formula.

        A tuple of :class:`~mixedext._engine.crossprod.RandomTerm`; None for statsmodels'
        general ``exog_vc`` arrays (fitted by statsmodels' optimiser).
        """
        return None if self._terms is None else tuple(self._terms)

    @property
    def statsmodels_layout(self) -> StatsmodelsLayout | None:
        """How the terms map to statsmodels' ``cov_re`` and ``vcomp``.

        None for models with lme4-style terms.
        """
        return self._sm_layout

    @property
    def residual_spec(self):
        """The residual structure checked against the data, or None.

        The :class:`~mixedext.structures.spec.ResidualSpec` of ``cov_struct=``,
        ``het_var=`` and ``variance=``.
        """
        return self._residual_spec

    @property
    def has_rows(self) -> bool:
        """Whether the model holds its rows (False for models built from cross-products)."""
        return self.exog is not None

    # -- statsmodels' per-group data, built on first use ---------------------------------
    def __getattr__(self, name):
        if name in _PER_GROUP_ATTRIBUTES and "_terms" in self.__dict__:
            self._build_per_group_data()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _build_per_group_data(self):
        given = [a for a in ("weights", "offset") if self.__dict__.get(a) is not None]
        if given:
            raise NotImplementedError(f"statsmodels' per-group methods know no {given[0]}=; "
                                      "this model has them")
        if self.__dict__.get("_residual_spec") is not None:
            raise NotImplementedError("statsmodels' per-group methods assume independent "
                                      "residuals; this model has a residual covariance "
                                      "structure (cov_struct/het_var/variance)")
        if self._sm_layout is None and self._terms is not None:
            raise NotImplementedError(
                "this statsmodels method needs the data split by one grouping factor, which "
                "models with lme4-style (1 | g) terms do not have; use the equivalent "
                "groups=/re_formula=/vc_formula= call for statsmodels' own methods")
        exog_vc = self.__dict__.get("exog_vc")
        if exog_vc is None:
            exog_vc = _vcspec(self)
        sm = sm_mlm.MixedLM(self.endog, self.exog, self.groups, exog_re=self.exog_re,
                            exog_vc=exog_vc, use_sqrt=self.use_sqrt)
        for name in _PER_GROUP_ATTRIBUTES:
            self.__dict__[name] = getattr(sm, name)

    def __getstate__(self):
        state = self.__dict__.copy()
        if self.has_rows:  # rebuilt from the rows on first use
            state["_engine_cache"] = None
        return state

    # -- fitting -------------------------------------------------------------------------
    @property
    def deviance_function(self) -> ProfiledDeviance:
        """The profiled deviance of this model (cross-products computed on first use)."""
        if self._engine_cache is None:
            if not self.has_rows:
                raise RuntimeError("the cross-products of this row-less model were lost "
                                   "(e.g. by pickling); rebuild it from the data")
            self._engine_cache = ProfiledDeviance(self.exog, self.engine_endog, self._terms,
                                                  weights=self.weights)
        return self._engine_cache

    @property
    def engine_endog(self) -> np.ndarray:
        """The outcome the engine fits: ``endog`` minus the offset."""
        endog = np.asarray(self.endog, dtype=float)
        return endog if self.__dict__.get("offset") is None else endog - self.offset

    def fit(self, start_params: ArrayLike | sm_mlm.MixedLMParams | None = None,
            reml: bool = True, niter_sa: int = 0, do_cg: bool = True, fe_pen: Any = None,
            cov_pen: Any = None, free: Any = None, full_output: bool = False,
            method: str | Sequence[str] | None = None,
            **fit_kwargs: Any) -> MixedLMResultsWrapper:
        """Fit the model by REML (default) or ML.

        Same arguments as statsmodels' ``MixedLM.fit``. The profiled deviance is minimised
        by mixedext's engine (from ``start_params`` when given); with ``free``, ``fe_pen``,
        ``cov_pen`` or ``method``, which only statsmodels' optimiser understands, that
        optimiser runs (and so for statsmodels' general ``exog_vc`` arrays).

        Parameters
        ----------
        start_params : array_like or MixedLMParams, optional
            Starting values, as statsmodels' (packed, with or without the fixed effects).
        reml : bool, default True
            Fit by REML; False: by maximum likelihood.
        niter_sa : int, default 0
            Statsmodels' argument (its optimiser only).
        do_cg : bool, default True
            Statsmodels' argument (its optimiser only).
        fe_pen : object, optional
            Statsmodels' fixed-effects penalty (its optimiser runs).
        cov_pen : object, optional
            Statsmodels' covariance penalty (its optimiser runs).
        free : MixedLMParams, optional
            Statsmodels' free-parameter pattern (its optimiser runs).
        full_output : bool, default False
            Statsmodels' argument (its optimiser only).
        method : str or list of str, optional
            Statsmodels' optimisers (its optimiser runs).
        **fit_kwargs
            ``maxiter``, ``gtol``, ``ftol``, ``maxls`` and ``maxcor`` are passed to the
            engine's L-BFGS-B; other statsmodels options warn that they have no effect.
            With a residual structure of one parameter and at most one random-effect
            SD, the default search over the structure's parameter does not use
            L-BFGS-B: giving these options selects the joint L-BFGS-B minimisation
            they configure (both reach the same optimum).

        Returns
        -------
        MixedLMResults
            The fit (wrapped as statsmodels wraps its results).

        Raises
        ------
        ValueError
            For fixed effects that are not identified (naming the dependent columns), a
            grouping level with one unit or as many units as rows, a constant outcome,
            fewer observations than parameters, or invalid ``start_params``.
        NotImplementedError
            For statsmodels' optimiser on a model with ``weights`` or ``offset``.

        Warns
        -----
        ConvergenceWarning
            When the optimiser did not converge.
        SingularFitWarning
            When a variance (or correlation, or residual-structure parameter) is on the
            boundary of its space.

        Notes
        -----
        Without a residual structure, the REML criterion minimised over ``theta``
        (``beta`` and ``sigma^2`` profiled out) is ``d_R(theta) = log|L_theta|^2 +
        log|R_X|^2 + (n - p) (1 + log(2 pi r^2 / (n - p)))``, ``L_theta L_theta' =
        Lambda' Z' Z Lambda + I``, ``R_X`` the Cholesky factor of the fixed effects' Schur
        complement and ``r^2`` the penalised residual sum of squares; the ML criterion
        ``d(theta)`` drops ``log|R_X|^2`` and has ``n`` for ``n - p`` (Bates et al. 2015;
        :mod:`mixedext._engine.deviance`). The log-likelihood is ``-d / 2``.

        References
        ----------
        .. [1] Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear
           mixed-effects models using lme4. Journal of Statistical Software 67(1).
        """
        unknown = set(fit_kwargs) - set(_FIT_KWARGS)
        if unknown:
            warn_unused_fit_kwargs(unknown)
            fit_kwargs = {k: v for k, v in fit_kwargs.items() if k not in unknown}
        only_statsmodels = dict(free=free, fe_pen=fe_pen, cov_pen=cov_pen, method=method)
        if self._terms is None or any(v is not None for v in only_statsmodels.values()):
            if self.weights is not None or self.offset is not None:
                raise NotImplementedError("statsmodels' optimiser (free=, fe_pen=, cov_pen=, "
                                          "method=, general exog_vc) knows no weights= or "
                                          "offset=")
            with warnings.catch_warnings():  # statsmodels' duplicate of the warning above
                warnings.filterwarnings("ignore", "Argument.*not used by MixedLM.fit")
                res = sm_mlm.MixedLM.fit(self, start_params=start_params, reml=reml,
                                         niter_sa=niter_sa, do_cg=do_cg,
                                         full_output=full_output, **only_statsmodels,
                                         **fit_kwargs)
            return from_statsmodels(res)
        ignored = [k for k, v in fit_kwargs.items()
                   if k not in _ENGINE_FIT_KWARGS and not (k == "disp" and not v)]
        if ignored:
            warnings.warn(f"fit option(s) {', '.join(sorted(ignored))} have no effect on "
                          "mixedext's engine (it honours "
                          f"{', '.join(_ENGINE_FIT_KWARGS)}; every deviance evaluation is in "
                          "results.optim_history)", UserWarning, stacklevel=2)
        options = {k: v for k, v in fit_kwargs.items() if k in _ENGINE_FIT_KWARGS}
        self.reml = reml  # statsmodels' attribute; results read their own FitState
        xtx = self.exog.T @ self.exog if self.has_rows else \
            self.deviance_function.cp.xyxy[:-1, :-1]
        _check_identified(xtx, self.exog_names)
        _check_estimable(self)
        theta0 = None if start_params is None else self._start_theta(start_params)
        state = self.fit_state(reml, options, theta0=theta0)
        if not state.optim.converged:
            warnings.warn(f"the optimiser did not converge ({state.optim.message}); see "
                          "results.optim_history, try ML (reml=False), rescaling covariates "
                          "or a simpler random-effect structure", ConvergenceWarning,
                          stacklevel=2)
        res = MixedLMResults.from_engine(self, state)
        warn_if_singular(res._results)
        if state.has_structure:
            _warn_if_structure_on_boundary(res._results)
        return res

    def _start_theta(self, start_params) -> np.ndarray:
        """statsmodels' ``start_params`` (``MixedLMParams`` or packed, with or without the
        fixed effects) as the engine's start ``theta``."""
        if isinstance(start_params, sm_mlm.MixedLMParams):
            params = start_params
        else:
            start = np.asarray(start_params, dtype=float)
            has_fe = len(start) == self.k_fe + self.k_re2 + self.k_vc
            if not has_fe and len(start) != self.k_re2 + self.k_vc:
                raise ValueError("invalid start_params")
            params = sm_mlm.MixedLMParams.from_packed(start, self.k_fe, self.k_re,
                                                      self.use_sqrt, has_fe=has_fe)
        cov_re = np.atleast_2d(params.cov_re)
        psi = np.concatenate([cov_re[np.tril_indices(cov_re.shape[0])],
                              np.asarray(params.vcomp, dtype=float)])
        try:
            return psi_to_theta(self, psi, 1.0)  # statsmodels' are relative to the scale
        except np.linalg.LinAlgError as err:
            raise ValueError("start_params: the random-effect covariance is not positive "
                             "definite") from err

    def fit_state(self, reml: bool = True, options: dict | None = None,
                  theta0: np.ndarray | None = None) -> FitState:
        """Fit by REML or ML and return the engine's fit state.

        No warnings, no results object; the model's statsmodels attributes are untouched.

        Parameters
        ----------
        reml : bool, default True
            Fit by REML; False: by maximum likelihood.
        options : dict, optional
            L-BFGS-B's options (``maxiter``, ``gtol``, ``ftol``, ``maxls``, ``maxcor``).
        theta0 : numpy.ndarray, optional
            Start of the relative covariance factors (default lme4's start).

        Returns
        -------
        FitState
            The optimum and what it was computed from
            (:class:`~mixedext._engine.state.FitState`).

        Raises
        ------
        ValueError
            For fixed effects that are not identified.
        """
        try:
            if self._residual_spec is None:
                return fitting.fit_state(reml, self.deviance_function, options=options,
                                         theta0=theta0)
            if self._correlated is None:
                self._correlated = correlated_deviance(self._residual_spec, self._terms,
                                                       self.exog, self.endog)
            return fitting.fit_state(reml, correlated=self._correlated,
                                     residual_spec=self._residual_spec, options=options,
                                     theta0=theta0)
        except NotPositiveDefinite as err:
            raise ValueError("the fixed effects are not identified: the columns of exog "
                             f"({', '.join(self.exog_names)}) are linearly dependent") from err


class SingularFitWarning(ConvergenceWarning):
    """A variance (or a correlation) of the fit is on the boundary of its space.

    A subclass of statsmodels' ``ConvergenceWarning`` (statsmodels warns about the same
    fits with it), so code that filters statsmodels' warnings filters this one too."""


def warn_if_singular(res) -> None:
    """Warn, naming the levels, when a relative covariance factor is below 1e-4."""
    if not res.singular:
        return
    theta = res._variance_parameters()[0]  # linear and binomial results alike
    terms = res.model.random_terms
    lower = theta_bounds(terms)
    levels, pos = [], 0
    for t in terms:
        k = t.n_theta
        if np.any((lower[pos:pos + k] == 0) & (theta[pos:pos + k] < 1e-4)):
            levels.append(t.level)
        pos += k
    warnings.warn(f"singular fit: the random-effect covariance of level(s) "
                  f"{', '.join(map(repr, dict.fromkeys(levels)))} is on the boundary (a "
                  "variance of 0 or a correlation of +/-1); the estimates are valid, but "
                  "consider a simpler random-effect structure", SingularFitWarning,
                  stacklevel=3)


def _warn_if_structure_on_boundary(res) -> None:
    """Warn when a residual-structure parameter ran to the edge of its range (e.g. the
    continuous-time AR(1) ``phi`` to 0): the fit is valid, the structure degenerate."""
    state = res.fit_state
    edge = state.structure.boundary_names(state.eta)
    if not edge:
        return
    params = res.cov_struct_params
    shown = ", ".join(f"{n} = {params[n]:.3g}" if n in params else n for n in edge)
    warnings.warn(f"singular fit: residual-structure parameter(s) on the boundary of their "
                  f"range ({shown}); the estimates are valid, but the structure is "
                  "degenerate: consider a simpler residual structure", SingularFitWarning,
                  stacklevel=3)


def _check_outcome(fixed: str, data) -> None:
    """The outcome, when it is a column, must be numeric (named in the error)."""
    name = fixed.split("~")[0].strip()
    if isinstance(data, pd.DataFrame) and name in data.columns:
        col = data[name]
        if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
            raise TypeError(f"outcome {name!r} must be numeric (got {col.dtype})")


def _check_estimable(model) -> None:
    """Each grouping level needs two units and fewer units than rows (as lme4); the
    outcome must vary; the data must outnumber the parameters."""
    for t in model.random_terms:
        if t.n_units < 2:
            raise ValueError(f"grouping level {t.level!r} has a single unit: its variance "
                             "cannot be estimated; drop the term or check the column")
        if t.n_units >= model.nobs:
            raise ValueError(f"grouping level {t.level!r} has as many units as rows "
                             f"({model.nobs}): its variance cannot be told from the "
                             "residual variance; drop the term or check the column")
    if model.has_rows and np.ptp(np.asarray(model.endog, dtype=float)) == 0:
        name = model.endog_names if isinstance(model.endog_names, str) else "endog"
        raise ValueError(f"the outcome {name!r} is constant: there is no variance to "
                         "split")
    k = model.k_fe + sum(t.n_theta for t in model.random_terms) + 1
    if model.nobs <= k:
        raise ValueError(f"{model.nobs} observations for {k} parameters: the model cannot "
                         "be estimated; simplify it or add data")


def _check_identified(xtx: np.ndarray, names: list[str]) -> None:
    """Raise if ``X`` is rank deficient, naming the dependent columns (pivoted QR)."""
    d = np.sqrt(np.maximum(np.diag(xtx), 1e-300))
    _, r, piv = sla.qr(xtx / np.outer(d, d), pivoting=True)
    small = np.abs(np.diag(r)) < 1e-10 * max(1.0, abs(r[0, 0]))
    if (d <= 1e-150).any() or small.any():
        bad = sorted({names[i] for i in piv[small]} | {names[i] for i in np.flatnonzero(
            d <= 1e-150)})
        raise ValueError("the fixed effects are not identified: column(s) "
                         f"{', '.join(map(repr, bad))} are linear combinations of the other "
                         "columns of the fixed-effects design; drop them or reparametrise")


def _lme4_parameter_names(terms: list[RandomTerm]) -> list[str]:
    names = []
    for t in terms:
        if t.q == 1:
            names.append(f"{t.level} Var")
            continue
        for i in range(t.q):
            for j in range(i + 1):
                names.append(f"{t.level}: {t.names[i]} Var" if i == j else
                             f"{t.level}: {t.names[j]} x {t.names[i]} Cov")
    return names


def _statsmodels_terms(data, groups, group_name, re_formula, vc_formula, nested, eval_env):
    """Terms for statsmodels' ``groups`` / ``re_formula`` / ``vc_formula`` (+ ``nested``)."""
    levels = statsmodels_levels(group_name, re_formula, vc_formula, nested, data.dtypes)
    given_by_name = group_name in data.columns
    terms, names = [], []
    for lev in levels:
        spec = lev.spec
        if spec.lhs == "1":
            z, term_names = None, ("Intercept",)
        else:
            z, term_names = design(spec.lhs, data, eval_env)
            if z.shape[1] == 0:  # re_formula="0": no cov_re term
                names.append(None)
                continue
        cols = [groups] + [np.asarray(data[c]) for c in spec.factors[1:]]
        terms.append(build_term(spec.name, cols, z, term_names, cov=lev.cov,
                                component=lev.component, lhs=spec.lhs,
                                factors=spec.factors if given_by_name else None))
        names.append(term_names)
    return terms, statsmodels_layout(group_name, levels, names)


def _exog_re_names(model) -> list:
    """statsmodels' names of the ``exog_re`` columns (its helper reads ``k_re``)."""
    model.k_re = model.exog_re.shape[1]
    return sm_mlm._get_exog_re_names(model, getattr(model.data, "orig_exog_re",
                                                    model.exog_re))


def _terms_from_vcspec(model, vc):
    """Engine terms and layout for statsmodels' variance components given as arrays:
    each component either indicator columns within every group (a nested random
    intercept per group and column, as ``0 + C(x)``) or the same covariates in every
    group (independent effects with one variance, as a ``vc_formula`` slope). Otherwise
    ``(None, None)``: statsmodels' own optimiser fits it."""
    groups = np.asarray(model.groups)
    labels = sorted(set(groups.tolist()))  # statsmodels' group order
    rows = [np.flatnonzero(groups == g) for g in labels]
    terms, names = [], []
    if model.exog_re is not None:
        names = _exog_re_names(model)
        terms.append(build_term("Group", [groups], np.asarray(model.exog_re, float), names))
    layout = StatsmodelsLayout("Group", 0 if terms else None, list(names))
    n = len(groups)
    for j, name in enumerate(vc.names):
        mats = [np.asarray(m, dtype=float) for m in vc.mats[j]]
        cols = [list(map(str, c)) for c in vc.colnames[j]]
        if all(m.shape[1] > 0 and np.all(np.isin(m, (0.0, 1.0))) and
               np.all(m.sum(axis=1) == 1) for m in mats) and \
                not any("/" in c for cs in cols for c in cs):
            column = np.empty(n, dtype=object)
            for r, m, c in zip(rows, mats, cols):
                column[r] = np.asarray(c, dtype=object)[m.argmax(axis=1)]
            terms.append(build_term(f"Group/{name}", [groups, column], None, ("Intercept",),
                                    cov="scalar", component=name))
            layout.vc_colnames.append("{}")
        elif all(c == cols[0] for c in cols) and all(m.shape[1] == len(cols[0]) for m in mats):
            z = np.zeros((n, len(cols[0])))
            for r, m in zip(rows, mats):
                z[r] = m
            terms.append(build_term("Group", [groups], z, cols[0], cov="scalar",
                                    component=name))
            layout.vc_colnames.append(None)
        else:
            return None, None
        layout.vc_terms.append(len(terms) - 1)
        layout.vc_names.append(name)
    return terms, layout


def _vcspec(model) -> sm_mlm.VCSpec:
    """statsmodels' per-group variance-component matrices, from the terms."""
    lay = model.statsmodels_layout
    groups = np.asarray(model.groups)
    labels = model.group_labels
    rows = {g: np.flatnonzero(groups == g) for g in labels}
    mats, colnames = [], []
    for k, fmt in zip(lay.vc_terms, lay.vc_colnames):
        t = model.random_terms[k]
        mk, ck = [], []
        for g in labels:
            r = rows[g]
            if fmt is None:
                mk.append(t.z[r])
                ck.append(list(t.names))
                continue
            units, pos = np.unique(t.codes[r], return_inverse=True)
            mat = np.zeros((len(r), len(units)))
            mat[np.arange(len(r)), pos] = 1.0
            mk.append(mat)
            ck.append([fmt.format(str(lab).rsplit("/", 1)[-1]) for lab in t.unit_labels[units]])
        mats.append(mk)
        colnames.append(ck)
    return sm_mlm.VCSpec(list(lay.vc_names), colnames, mats)


mixedlm = MixedLM.from_formula

__all__ += ["MissingDataError"]
