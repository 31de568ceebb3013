"""Group-deletion influence of a linear mixed model: each unit of a level deleted in turn.

For unit ``i`` of a level the model is refitted (same criterion, REML or ML) without the
rows of ``i`` (and so without the units nested in it), exactly, in one of two ways:

* **together** (:func:`refits_together`): when every term nests in the level (the
  outermost level of a nested model, or a single level) and there are at most 3 variance
  parameters, one factorisation of the full model gives the exact deviance of every
  deletion (:mod:`mixedext._engine.nested_deletions`), and each deletion's optimum is
  found by Newton's method on an interpolant of its deviance checked against exact
  evaluations (:mod:`mixedext._engine.batched_refits`);
* **by the optimiser** (:func:`optimiser_refit`), for the other designs and for the
  deletions the first way leaves (large changes, a variance pushed to the boundary): from
  the full data's cross-products downdated by the unit's rows
  (:mod:`mixedext._engine.downdate`), started at the full fit's ``theta`` (and from
  lme4's default start as well where that stops short of convergence);
* with a **residual structure** (``cov_struct=`` / ``het_var=``) as a fit of the remaining
  rows (:mod:`mixedext.results.structure_influence`); the table then has a
  ``delta_<parameter>`` column per structure parameter (``delta_rho``, ...).

The table reports, per unit,

* ``cooks_distance``: ``D_i = (beta_hat - beta_(-i))' V^-1 (beta_hat - beta_(-i)) / p``,
  ``V`` the full fit's covariance of ``beta_hat`` (influence.ME's ``cooks.distance``);
  lme4's ``cooks.distance(influence(m))`` (formerly car's) is ``D_i (K - p) / K``;
* ``dfbetas_<name>``: ``(beta_(-i) - beta_hat) / SE_(-i)`` per fixed effect, the SE from
  the refit's covariance (lme4's / car's ``dfbetas`` for ``influence.merMod``; note the
  sign: the refit minus the full fit, the opposite of ``stats::dfbetas`` for ``lm``);
* ``delta_<component>``: the refit's variance component minus the full fit's
  (``var[level:term]``, ``cov[level:term,term2]``, ``var[Residual]``);
* ``llf``: the refit's log-likelihood (REML criterion for REML fits), ``nobs`` its rows,
  ``converged``.

Names: ``K`` units of the deleted level, ``p`` fixed effects.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mixedext._engine.batched_refits import batched_refits
from mixedext._engine.deviance import NotPositiveDefinite, ProfiledDeviance
from mixedext._engine.downdate import UnitDeletion
from mixedext._engine.factor import lambda_blocks
from mixedext._engine.fitting import fit_profiled, theta_scales
from mixedext._engine.nested_deletions import NestedDeletions
from mixedext.results.structure_influence import correlated_refit

__all__ = ["influence_table", "component_names", "component_values", "deleted_level",
           "optimiser_refit", "refits_together"]


def component_names(terms) -> list[str]:
    """Labels of every variance and covariance of ``terms``, then the residual's."""
    out = []
    for t in terms:
        if t.cov == "scalar" or t.q == 1:
            out.append(f"var[{t.level}:{t.component or t.names[0]}]")
            continue
        for a in range(t.q):
            out.append(f"var[{t.level}:{t.names[a]}]")
        for a in range(t.q):
            for b in range(a + 1, t.q):
                out.append(f"cov[{t.level}:{t.names[a]},{t.names[b]}]")
    return [*out, "var[Residual]"]


def component_values(theta, sigma2, terms) -> np.ndarray:
    """The variances and covariances ``sigma^2 Lambda Lambda'`` in the order of
    :func:`component_names`; for ``theta`` (K, d) and ``sigma2`` (K,), one row each."""
    theta = np.asarray(theta, dtype=float)
    many = theta.ndim == 2
    theta, sigma2 = np.atleast_2d(theta), np.atleast_1d(np.asarray(sigma2, dtype=float))
    d = theta.shape[1]
    # Lambda is linear in theta: each term's blocks from the unit vectors' blocks
    basis = [lambda_blocks(e, terms) for e in np.eye(d)]
    out = []
    for j, t in enumerate(terms):
        lam = np.einsum("kd,dab->kab", theta, np.array([blocks[j] for blocks in basis]))
        cov = sigma2[:, None, None] * np.einsum("kab,kcb->kac", lam, lam)
        if t.cov == "scalar" or t.q == 1:
            out.append(cov[:, 0, 0])
            continue
        out.extend(cov[:, a, a] for a in range(t.q))
        out.extend(cov[:, a, b] for a in range(t.q) for b in range(a + 1, t.q))
    values = np.column_stack([*out, sigma2])
    return values if many else values[0]


def deleted_level(terms, level):
    """The first term of ``level`` (default: the outermost level); a KeyError lists the
    levels."""
    levels = list(dict.fromkeys(t.level for t in terms))
    if level is None:
        level = levels[0]
    for t in terms:
        if t.level == level:
            return t
    raise KeyError(f"level {level!r} is not a level of the model (levels: "
                   f"{', '.join(map(str, levels))})")


def _refit(dev, reml, theta0):
    """The optimum of the reduced deviance from the full fit's ``theta``: ``(converged,
    Solution)``. Where L-BFGS-B stops without convergence (a line search at the noise
    floor of a flat deviance), a fit from lme4's default start is made too and the
    lower optimum kept; it counts as converged when either fit converged and the two
    optima agree (1e-6 relative in the deviance)."""
    opt, sol = fit_profiled(dev, reml, theta0)
    if opt.converged:
        return True, sol
    cold, sol_cold = fit_profiled(dev, reml)
    agree = abs(cold.deviance - opt.deviance) <= 1e-6 * max(1.0, abs(opt.deviance))
    best = sol_cold if cold.deviance < opt.deviance else sol
    return bool(cold.converged and agree), best


def optimiser_refit(deletion: UnitDeletion, i: int, state):
    """The refit without unit ``i`` by the optimiser, from the downdated cross-products:
    ``(converged, Solution, rows)`` (see :func:`_refit`)."""
    terms_i, cp_i = deletion.reduced(i)
    converged, sol = _refit(ProfiledDeviance(None, None, terms_i, cp=cp_i), state.reml,
                            state.theta)
    return converged, sol, cp_i.n


def refits_together(state, model, term):
    """All deletions refitted together where every term nests in the deleted level
    (:mod:`mixedext._engine.batched_refits`), or None."""
    dev = state.profiled_deviance()
    if not NestedDeletions.applies(dev, term.codes, term.n_units):
        return None
    deletions = NestedDeletions(dev, term.codes, term.n_units, model.exog,
                                model.engine_endog, weights=model.weights)
    return batched_refits(deletions, state.theta, theta_scales(dev), state.reml)


def influence_table(res, level=None, progress=None) -> pd.DataFrame:
    """Group-deletion diagnostics of a linear mixed model; see the module docstring.

    Parameters
    ----------
    res : MixedLMResults
        A fit by mixedext's engine, with its rows.
    level : str, optional
        The level whose units are deleted (default: the outermost level).
    progress : bool, optional
        A tqdm progress bar over the units; None shows it on interactive terminals.

    Returns
    -------
    DataFrame
        Indexed by the level's units (see the module docstring for the columns).
    """
    state = res.fit_state
    res._require_rows("influence()")
    model = res.model
    if not state.terms:
        raise ValueError("influence() deletes the units of a random-effect level; this "
                         "model has none")
    if state.has_structure and state.residual_spec.variance:
        raise NotImplementedError(
            f"influence() with variance={state.residual_spec.variance_spelling!r}: refits "
            "of a residual structure with variance functions are not available (a "
            "cov_struct= or het_var= alone is)")
    term = deleted_level(state.terms, level)
    sol = state.solution
    beta = np.asarray(sol.beta)
    p = len(beta)
    vinv = np.linalg.inv(sol.sigma2 * sol.xtvinvx_inv)
    full_vc = component_values(state.theta, state.sigma2, state.terms)
    n_vc = len(full_vc)
    full_eta = {} if not state.has_structure else state.structure.natural(state.eta)
    rows = np.full((term.n_units, 1 + p + n_vc + len(full_eta) + 3), np.nan)

    def record(idx, beta_i, sigma2_i, cov_i, theta_i, deviance_i, nobs_i, converged,
               eta_i=None):
        """Fill the rows ``idx`` from their refits' (stacked) results."""
        diff = beta_i - beta
        rows[idx, 0] = np.einsum("ka,ab,kb->k", diff, vinv, diff) / p
        var = np.diagonal(cov_i, axis1=1, axis2=2)
        rows[idx, 1:1 + p] = diff / np.sqrt(sigma2_i[:, None] * var)
        rows[idx, 1 + p:1 + p + n_vc] = component_values(theta_i, sigma2_i,
                                                         state.terms) - full_vc
        for j, (name, value) in enumerate(full_eta.items()):
            rows[idx, 1 + p + n_vc + j] = (eta_i or {}).get(name, np.nan) - value
        rows[idx, -3], rows[idx, -2], rows[idx, -1] = -0.5 * deviance_i, nobs_i, converged

    batch = None if state.has_structure else refits_together(state, model, term)
    slow = np.arange(term.n_units)
    if batch is not None:
        nobs = state.profiled.cp.n - term.unit_sizes
        done = np.flatnonzero(batch.accepted)
        record(done, batch.beta[done], batch.sigma2[done], batch.xtvinvx_inv[done],
               batch.theta[done], batch.deviance[done], nobs[done], True)
        slow = np.flatnonzero(~batch.accepted)
    # progress None: tqdm's own choice (off when not a terminal)
    disable = True if slow.size == 0 else None if progress is None else not progress
    failed, deletion = [], None
    for i in tqdm(slow, disable=disable, desc="influence", leave=False):
        if deletion is None and not state.has_structure:
            deletion = UnitDeletion(state.terms, state.profiled.cp, model.exog,
                                    model.engine_endog, term.codes, term.n_units,
                                    weights=model.weights)
        try:
            if state.has_structure:
                keep = term.codes != i
                converged, sol_i, eta_i = correlated_refit(state, model, keep)
                nobs_i = int(keep.sum())
            else:
                converged, sol_i, nobs_i = optimiser_refit(deletion, i, state)
                eta_i = None
        except (ValueError, NotPositiveDefinite, np.linalg.LinAlgError):
            failed.append(term.unit_labels[i])
            continue
        record([i], np.asarray(sol_i.beta)[None], np.array([sol_i.sigma2]),
               np.asarray(sol_i.xtvinvx_inv)[None], np.asarray(sol_i.theta)[None],
               sol_i.deviance, nobs_i, converged, eta_i)
    if failed:
        warnings.warn(f"influence(): the model could not be refitted without unit(s) "
                      f"{', '.join(map(str, failed[:5]))} of {term.level!r} (a term left "
                      "without units, or fixed effects no longer identified): NaN rows",
                      RuntimeWarning, stacklevel=3)
    names = list(model.exog_names)
    columns = ["cooks_distance", *[f"dfbetas_{n}" for n in names],
               *[f"delta_{c}" for c in component_names(state.terms)],
               *[f"delta_{name}" for name in full_eta], "llf", "nobs", "converged"]
    out = pd.DataFrame(rows, columns=columns, index=pd.Index(term.unit_labels,
                                                             name=term.level))
    out["nobs"] = out["nobs"].astype("Int64")
    out["converged"] = out["converged"].map({1.0: True, 0.0: False}).astype("boolean")
    return out
