"""Binary and binomial outcomes: statsmodels' ``BinomialBayesMixedGLM`` with maximum likelihood.

``mixedext.binomial_mixedglm(formula, data, vc_formulas=None, *, groups=None, nested=None,
trials=None)`` builds :class:`BinomialMixedGLM`, a subclass of statsmodels'
``BinomialBayesMixedGLM``: ``fit_vb()`` and ``fit_map()`` behave as in statsmodels, and
``fit_ml(nagq=1)`` adds maximum likelihood as ``lme4::glmer``: the Laplace approximation
(``nagq=1``, any nesting, random slopes) or adaptive Gauss-Hermite quadrature (``nagq > 1``,
one scalar random-effect term), from :mod:`mixedext._engine.pirls`.

Model: ``logit P(y = 1) = X beta + Z b``, ``b = Lambda_theta u``, ``u ~ N(0, I)``; with
``trials=`` the outcome counts successes out of ``trials`` (glmer's ``cbind(s, n - s)``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import patsy
import scipy.sparse as sp
import statsmodels.api as sm
from statsmodels.genmod import families
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM, _BayesMixedGLM

from mixedext._engine.crossprod import RandomTerm
from mixedext._engine.differences import central_hessian, steps
from mixedext._engine.factor import theta_bounds
from mixedext._engine.fitting import fit_laplace
from mixedext._engine.pirls import LaplaceDeviance
from mixedext.families import Binomial
from mixedext.formula.data import prepare_frame
from mixedext.formula.terms import build_term, formula_variables, split_formula, term_from_level
from mixedext.models.linear import warn_if_singular
from mixedext.results.binomial import BinomialMixedResults

__all__ = ["BinomialMixedGLM", "binomial_mixedglm"]


class BinomialMixedGLM(BinomialBayesMixedGLM):
    """statsmodels' binomial mixed GLM, with maximum likelihood (:meth:`fit_ml`).

    Built by :func:`binomial_mixedglm` or statsmodels' own
    ``from_formula(formula, vc_formulas, data)`` (variance components of indicator
    columns become random intercepts). See the module docstring for the model.
    """

    def __init__(self, endog, exog, exog_vc, ident, vcp_p=1, fe_p=2, fep_names=None,
                 vcp_names=None, vc_names=None, *, re_terms=None, trials=None):
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
        self.trials = None if trials is None else np.asarray(trials, dtype=float)
        self._terms = re_terms if re_terms is not None else _terms_from_vc(
            self.exog_vc, self.ident, self.vcp_names)

    @classmethod
    def from_formula(cls, formula, vc_formulas, data, vcp_p=1, fe_p=2):
        """statsmodels' constructor (``vc_formulas[name]`` a one-sided formula)."""
        return binomial_mixedglm(formula, data, vc_formulas, vcp_p=vcp_p, fe_p=fe_p)

    @property
    def design_info(self):
        """patsy's design information of the fixed effects (models from
        ``binomial_mixedglm`` in this session; None after unpickling)."""
        return self.__dict__.get("_design_info")

    @property
    def random_terms(self) -> tuple:
        """The random-effect terms, in the order of the variance components."""
        return tuple(self._terms)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_design_info", None)  # patsy's DesignInfo cannot be pickled
        return state

    def fit_vb(self, *args, **kwargs):
        self._bayes_ok("fit_vb")
        return super().fit_vb(*args, **kwargs)

    def fit_map(self, *args, **kwargs):
        self._bayes_ok("fit_map")
        return super().fit_map(*args, **kwargs)

    def _bayes_ok(self, name):
        if self.trials is not None:
            raise NotImplementedError(f"{name}: statsmodels' Bayes fits take 0/1 outcomes; "
                                      "use fit_ml() for binomial counts (trials=)")

    def fit_ml(self, nagq: int = 1, *, maxiter: int = 2000):
        """Maximum likelihood (as ``lme4::glmer``).

        Parameters
        ----------
        nagq : int
            1: Laplace approximation; more: adaptive Gauss-Hermite quadrature with that
            many nodes (a single scalar random-effect term only).

        Returns
        -------
        BinomialMixedResults

        Notes
        -----
        The deviance ``-2 log L(theta, beta)`` is minimised jointly over ``theta >= 0``
        and ``beta`` (L-BFGS-B, central differences), starting from the GLM fit; the
        conditional modes come from PIRLS at each evaluation. Standard errors of
        ``beta`` come from the numerical Hessian of the deviance in ``(theta, beta)``,
        as glmer's default.
        """
        if self._terms is None:
            raise NotImplementedError("fit_ml needs random effects given as grouping "
                                      "factors ((1 | g) terms, groups= or indicator "
                                      "vc_formulas); this exog_vc is general")
        if isinstance(nagq, bool) or not float(nagq).is_integer() or nagq < 1:
            raise ValueError(f"nagq must be a positive integer, got {nagq!r}")
        nagq = int(nagq)
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
                          "use fit_map() with its prior", RuntimeWarning, stacklevel=2)
        dev = LaplaceDeviance(self.exog, Binomial(self.endog, trials), self._terms)
        beta0 = _glm_start(self.exog, self.endog, trials)
        opt = fit_laplace(dev, beta0, nagq, maxiter=maxiter)
        k = dev.n_theta
        lower = np.concatenate([theta_bounds(self._terms), np.full(len(beta0), -np.inf)])

        def objective(x, q):
            return dev.deviance(x[:k], x[k:], q)

        if not opt.converged:
            warnings.warn(f"fit_ml did not converge ({opt.message}); try rescaling "
                          "covariates or a simpler random-effect structure",
                          RuntimeWarning, stacklevel=2)
        hess = central_hessian(lambda x: objective(x, nagq), opt.theta, steps(opt.theta),
                               lower)
        state = dev.pirls(opt.theta[:k], opt.theta[k:])
        res = BinomialMixedResults(self, dev, opt, state, hess, nagq)
        warn_if_singular(res)
        return res


def _glm_start(exog, y, trials):
    """Fixed-effect start: the binomial GLM ignoring the random effects."""

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sm.GLM(np.column_stack([y, trials - y]), exog,
                         family=sm.families.Binomial()).fit()
        return np.asarray(res.params)
    except Exception:  # noqa: BLE001 - a start value only
        return np.zeros(exog.shape[1])


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


def binomial_mixedglm(formula, data, vc_formulas=None, *, groups=None, nested=None,
                      trials=None, missing="drop", vcp_p=1, fe_p=2) -> BinomialMixedGLM:
    """A binomial (logit) mixed model from a formula.

    Parameters
    ----------
    formula : str
        Fixed effects, optionally with lme4-style terms ``(1 | unit)``, ``(1 | a/b)``,
        ``(1 + x | unit)``.
    data : DataFrame
    vc_formulas : dict, optional
        statsmodels-style variance components, e.g. ``{"unit": "0 + C(unit)"}``.
    groups : str, optional
        A random intercept per unit of this column.
    nested : str or list of str, optional
        Levels nested in ``groups`` (outermost first), each with a random intercept.
    trials : str, optional
        Column of trials: the outcome then counts successes (glmer's
        ``cbind(successes, trials - successes)``).
    missing : {"drop", "raise"}
        Rows with a missing value in a used column are dropped (statsmodels'
        ``from_formula`` default) or raise an error naming the column.

    Returns
    -------
    BinomialMixedGLM
    """
    if isinstance(data, dict):  # statsmodels accepts a dict of columns
        data = pd.DataFrame(data)
    fixed, levels = split_formula(formula)
    nested = [nested] if isinstance(nested, str) else list(nested or [])
    group_cols = [f for lev in levels for f in lev.factors]
    group_cols += ([groups] if groups else []) + nested + ([trials] if trials else [])
    formulas = [formula, *(vc_formulas or {}).values()]
    frame, _ = prepare_frame(data, columns=formula_variables(formulas, list(data.columns)),
                             group_columns=group_cols, missing=missing)
    env = patsy.EvalEnvironment.capture(1)
    y, x = patsy.dmatrices(fixed, frame, eval_env=env, return_type="dataframe",
                           NA_action="raise")
    if y.shape[1] != 1:
        raise TypeError(f"the outcome {formula.split('~')[0].strip()!r} must be numeric "
                        "(0/1, or successes with trials=)")
    yname = y.columns[0]
    y = y.iloc[:, 0].to_numpy(dtype=float)
    m = None
    if trials:
        m = frame[trials].to_numpy(dtype=float)
        if np.any(m < 1) or np.any(m != np.round(m)):
            raise ValueError(f"trials column {trials!r} must hold positive integers")
        if np.any(y < 0) or np.any(y > m) or np.any(y != np.round(y)):
            raise ValueError(f"outcome {yname!r} must count successes: integers between 0 "
                             f"and the trials in {trials!r}")
    elif not np.all(np.isin(y, (0.0, 1.0))):
        bad = np.unique(y[~np.isin(y, (0.0, 1.0))])[:5]
        raise ValueError(f"outcome {yname!r} must be binary (0/1) for a binomial model; "
                         f"found {', '.join(f'{v:g}' for v in bad)} (for counts, give trials=)")
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
        values = mat.to_numpy(float)
        if np.all((values == 0) | (values == 1)) and np.all(values.sum(axis=1) == 1):
            labels = np.array([c.split("[", 1)[-1].rstrip("]") for c in mat.columns],
                              dtype=object)
            terms.append(RandomTerm(name, values.argmax(axis=1).astype(np.int64), labels))
        else:  # statsmodels' meaning: every column an effect, all with one variance
            terms.append(build_term(name, [np.zeros(len(values), dtype=np.int64)], values,
                                    list(mat.columns), cov="scalar", component=name))
    if not terms:
        raise ValueError("no random effects: give (1 | g) terms, groups= or vc_formulas")
    exog_vc, ident, vcp_names, vc_names = _exog_vc(terms)
    model = BinomialMixedGLM(y, x, exog_vc, ident, vcp_p=vcp_p, fe_p=fe_p,
                             fep_names=list(x.columns), vcp_names=vcp_names,
                             vc_names=vc_names, re_terms=terms, trials=m)
    model.endog_name = yname
    model.formula = formula
    model._design_info = x.design_info  # for predictions on new data (not pickled)
    return model

