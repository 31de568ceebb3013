"""Group-deletion refits of a linear mixed model with a residual structure.

With ``Var(e) = sigma^2 R`` (``cov_struct=`` / ``het_var=``) the model is refitted without
each unit ``i`` of a level exactly as a fit of the remaining rows: the residual
specification restricted to those rows (units, times, ``het_var`` levels present; a
CAR(1) stays continuous), the structure's kernel built on them
(:func:`~mixedext.structures.spec.correlated_deviance`, its own checks included), and the
joint minimisation over ``(theta, eta)`` of the full fit
(:func:`~mixedext._engine.fitting.fit_correlated`, boundary checks included), started at
the full fit's ``theta`` and ``eta`` (at the structure's own start where the deletion
changes its parameters, e.g. a ``het_var`` level or an unstructured time without rows).
Each refit reads the remaining rows once to build the structure's statistics; the
optimisation then runs on per-unit statistics, as a fit does.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mixedext._engine.fitting import fit_correlated
from mixedext.structures.spec import ResidualSpec, correlated_deviance

__all__ = ["subset_terms", "subset_spec", "correlated_refit"]


def subset_terms(terms, keep):
    """The terms over the rows ``keep``, units without rows dropped."""
    out = []
    for t in terms:
        codes = t.codes[keep]
        present = np.flatnonzero(np.bincount(codes, minlength=t.n_units))
        remap = np.full(t.n_units, -1)
        remap[present] = np.arange(len(present))
        out.append(replace(t, codes=remap[codes], unit_labels=t.unit_labels[present],
                           z=None if t.z is None else t.z[keep]))
    return out


def _recode(codes, keep):
    """Codes of the rows ``keep``, renumbered over the values present; and which of the
    old values are present."""
    sub = np.asarray(codes)[keep]
    present = np.bincount(sub, minlength=int(np.max(codes)) + 1) > 0
    remap = np.cumsum(present) - 1
    return remap[sub], present


def subset_spec(spec: ResidualSpec, keep) -> ResidualSpec:
    """The residual specification of the rows ``keep`` (boolean, one per row)."""
    codes, present = _recode(spec.codes, keep)
    het = None
    if spec.het is not None:
        lev, there = _recode(spec.het[0], keep)
        het = (lev, [name for name, p in zip(spec.het[1], there) if p])
    out = ResidualSpec(spec.kind, codes, int(present.sum()),
                       None if spec.times is None else spec.times[keep], spec.time_name,
                       het, spec.het_name, nugget=spec.nugget,
                       labels=None if spec.labels is None else spec.labels[present])
    out.__dict__["continuous"] = spec.continuous  # as the full fit, whatever times remain
    return out


def correlated_refit(state, model, keep):
    """The refit of ``model``'s rows ``keep`` (see the module docstring):
    ``(converged, Solution, natural parameters of the structure)``. Raises ValueError
    where the remaining rows cannot be fitted (a structure's check, a term without
    units)."""
    keep = np.asarray(keep, dtype=bool)
    terms = subset_terms(state.terms, keep)
    for t in terms:
        if t.n_units == 0:
            raise ValueError(f"deleting these rows leaves level {t.level!r} without units")
    spec = subset_spec(state.residual_spec, keep)
    spec.structure.validate(spec, terms)
    dev = correlated_deviance(spec, terms, np.asarray(model.exog)[keep],
                              np.asarray(model.endog)[keep])
    same = (dev.structure.n_eta == len(state.eta) and
            (spec.het is None or spec.het[1] == state.residual_spec.het[1]))
    opt, sol = fit_correlated(dev, state.reml, theta0=state.theta,
                              eta0=state.eta if same else None)
    return bool(opt.converged), sol, dev.structure.natural(sol.eta)
