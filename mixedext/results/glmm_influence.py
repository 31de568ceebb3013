"""Group-deletion influence of a GLMM: the model refitted by maximum likelihood without
each unit of a level.

A GLMM's deviance needs penalised IRLS over the rows, so its refits cannot be downdated
from cross-products as the linear model's (:mod:`mixedext.results.influence`): each refit
is ``fit_ml``'s own procedure on the rows without the unit (and without the units nested
in it; units left without rows are dropped): the same family at the fit's dispersion as
start, the Laplace or adaptive Gauss-Hermite deviance of the fit, lme4's start for
``theta`` and the full fit's ``beta``, and the Hessian of the deviance for the refit's
standard errors. The table has the linear model's columns (Cook's distance with the full
fit's covariance of ``beta``, DFBETAS with the refit's SEs, the change of every variance
component, the refit's log-likelihood, rows, convergence), plus the change of the
family's dispersion parameter where it has one (``delta_theta`` of the negative binomial,
``delta_shape`` of the Gamma).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mixedext._engine.fitting import fit_laplace
from mixedext._engine.laplace_hessian import laplace_hessian
from mixedext._engine.pirls import LaplaceDeviance
from mixedext.results.influence import component_names, component_values, deleted_level
from mixedext.results.structure_influence import subset_terms

__all__ = ["glmm_influence_table"]


def glmm_influence_table(res, level=None, progress=None) -> pd.DataFrame:
    """Group-deletion diagnostics of a GLMM fit (see the module docstring): a DataFrame
    indexed by the units of ``level``; ``level`` and ``progress`` as
    :func:`mixedext.results.influence.influence_table`."""
    terms = res._terms
    term = deleted_level(terms, level)
    family = res.family
    exog = np.asarray(res.model.exog, dtype=float)
    beta = res.fe_params.to_numpy()
    p, k = len(beta), res._k
    vinv = np.linalg.inv(res.cov_params().to_numpy())
    full_vc = component_values(res._opt.theta[:k], 1.0, terms)[:-1]
    disp = family.dispersion if family.n_dispersion else None
    extra = [f"delta_{family.dispersion_name}"] if disp is not None else []
    width = 1 + p + len(full_vc) + len(extra) + 3
    rows = np.full((term.n_units, width), np.nan)
    failed = []
    disable = None if progress is None else not progress
    for i in tqdm(range(term.n_units), disable=disable, desc="influence", leave=False):
        keep = term.codes != i
        try:
            sub_terms = subset_terms(terms, keep)
            sub_family = type(family)(family.y[keep], family.trials[keep],
                                      family.weights[keep], disp)
            dev = LaplaceDeviance(exog[keep], sub_family, sub_terms,
                                  offset=res._offset[keep])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                opt = fit_laplace(dev, beta, res.nagq, dispersion0=disp)
                hess = laplace_hessian(dev, opt.theta, p, res.nagq)
            vcov = 2.0 * np.linalg.inv(hess)[k:k + p, k:k + p]
        except (ValueError, np.linalg.LinAlgError):
            failed.append(term.unit_labels[i])
            continue
        diff = opt.theta[k:k + p] - beta
        rows[i, 0] = diff @ vinv @ diff / p
        rows[i, 1:1 + p] = diff / np.sqrt(np.diag(vcov))
        at = 1 + p + len(full_vc)
        rows[i, 1 + p:at] = component_values(opt.theta[:k], 1.0, sub_terms)[:-1] - full_vc
        if disp is not None:
            rows[i, at] = np.exp(opt.theta[-1]) - disp
        rows[i, -3] = -0.5 * opt.deviance
        rows[i, -2] = keep.sum()
        rows[i, -1] = opt.converged
    if failed:
        warnings.warn(f"influence(): the model could not be refitted without unit(s) "
                      f"{', '.join(map(str, failed[:5]))} of {term.level!r}: NaN rows",
                      RuntimeWarning, stacklevel=3)
    columns = ["cooks_distance", *[f"dfbetas_{n}" for n in res.model.fep_names],
               *[f"delta_{c}" for c in component_names(terms)[:-1]], *extra, "llf",
               "nobs", "converged"]
    out = pd.DataFrame(rows, columns=columns,
                       index=pd.Index(term.unit_labels, name=term.level))
    out["nobs"] = out["nobs"].astype("Int64")
    out["converged"] = out["converged"].map({1.0: True, 0.0: False}).astype("boolean")
    return out
