r"""Random-effects meta-analysis and mixed-effects meta-regression, as metafor's ``rma``.

The model
---------
Study ``i = 1..k`` reports an estimate ``y_i`` of its true effect and the estimate's
sampling variance ``v_i``, taken as known:

    y_i = x_i' beta + u_i + e_i,    u_i ~ N(0, tau^2),    e_i ~ N(0, v_i),

independent over studies. ``x_i`` is the ``i``-th row of the design ``X`` (``k x p``):
a column of ones without moderators (then ``beta = mu``, the average true effect) or the
moderators' columns of a patsy formula (meta-regression). ``tau^2`` is the between-study
(residual) variance.

Names used
----------
``k`` studies, ``p`` coefficients, weights ``w_i = 1 / (v_i + tau^2)``, ``W = diag(w)``,
``P = W - W X (X'WX)^-1 X'W``; GLS ``beta = (X'WX)^-1 X'W y`` for a given tau^2;
the generalised ``Q(tau^2) = y'P y = sum w_i (y_i - x_i' beta)^2``; ``Q = Q(0)``
(Cochran's Q, QE with moderators); ``s^2 = (k - p) / tr(P)`` at ``tau^2 = 0`` (the
typical sampling variance of I^2 and H^2); BLUP the best linear unbiased prediction
of ``x_i' beta + u_i``.

Estimators of tau^2
-------------------
* ``REML`` / ``ML``: the maximum of the restricted / full log-likelihood in
  ``tau^2 >= 0`` (beta profiled out by GLS): Fisher scoring from the Hedges estimator,
  as metafor, with step halving, then Brent's method on the score around the optimum, a
  bounded search if scoring fails, and the boundary ``tau^2 = 0`` taken when its
  likelihood is not lower.
* ``DL`` (DerSimonian & Laird 1986): ``max(0, (Q - (k - p)) / tr(P))`` at
  ``tau^2 = 0``.
* ``PM`` (Paule & Mandel 1982): the root of ``Q(tau^2) = k - p``, 0 when
  ``Q(0) < k - p``.

metafor centres ``y`` before estimating tau^2 and QE. That changes nothing when the
design's columns span a constant (an intercept, or a full set of factor dummies); for a
design without one (``"0 + dose"``) mixedext uses ``y`` as it is, and its tau^2 and QE
differ from metafor's there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import patsy

from mixedext._checks import check_alpha
from mixedext.meta.inputs import check_method, check_test, meta_inputs
from mixedext.meta.results import MetaAnalysisResults, fit_inputs

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["meta_analysis"]


def meta_analysis(effect: str | ArrayLike, variance: str | ArrayLike,
                  data: pd.DataFrame | None = None, *, study: str | ArrayLike | None = None,
                  mods: str | None = None, method: str = "REML", test: str = "z",
                  alpha: float = 0.05) -> MetaAnalysisResults:
    """Fit a random-effects meta-analysis, or a meta-regression with moderators.

    Parameters
    ----------
    effect : str or array_like
        The study estimates ``y_i`` (e.g. log risk ratios): a column of ``data`` or an
        array.
    variance : str or array_like
        Their sampling variances ``v_i`` (squared standard errors), all positive.
    data : DataFrame, optional
        The studies, one row each; needed when ``effect``, ``variance``, ``study`` or
        the moderators are column names.
    study : str or array_like, optional
        Unique study labels (a column or an array); default the index of ``data``, or
        ``1..k`` without data.
    mods : str, optional
        Moderators as a patsy right-hand side (``"dose + year"``, ``"C(design)"``, a
        leading ``~`` allowed); the intercept is included unless removed (``"0 + ..."``).
    method : {"REML", "ML", "DL", "PM"}
        Estimator of tau^2: restricted or full maximum likelihood, DerSimonian-Laird or
        Paule-Mandel.
    test : {"z", "knha"}
        Tests and intervals of the coefficients: normal, or Knapp-Hartung (covariance
        scaled by ``Q(tau^2) / (k - p)``, t with ``k - p`` df; metafor's
        ``test = "knha"``).
    alpha : float
        Default ``1 - alpha`` coverage of every interval.

    Returns
    -------
    MetaAnalysisResults
        The fit: pooled effect (``mu``, ``se``) or coefficients (``params``), tau^2
        with its Q-profile interval, heterogeneity (Q, I^2, H^2), predictions, BLUPs,
        fit statistics, Egger's test and leave-one-out refits.

    Raises
    ------
    ValueError
        Naming the argument: a non-positive variance, NaN or infinite values in the
        effects, variances or moderators, mismatched lengths, unknown columns, duplicate
        study labels, fewer than 2 studies (``p + 1`` with moderators), a design that is
        not of full rank, an unknown ``method`` or ``test``, ``alpha`` outside (0, 1).

    See Also
    --------
    statsmodels.stats.meta_analysis.combine_effects : DL and PM pooling without
        moderators (its DL tau^2 is not truncated at 0).

    Notes
    -----
    The model, names and estimators are described in :mod:`mixedext.meta.model`.
    Numbers agree with metafor's ``rma(yi, vi, mods, method, test)`` and its methods
    (``confint``, ``predict``, ``blup``, ``fitstats``, ``regtest``, ``leave1out``); see
    ``tests/reference/metafor_reference.R``.

    References
    ----------
    Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package.
    *Journal of Statistical Software* 36(3).

    Knapp, G. & Hartung, J. (2003). Improved tests for a random effects meta-regression
    with a single covariate. *Statistics in Medicine* 22, 2693-2710.

    Examples
    --------
    >>> import numpy as np, mixedext as mx
    >>> bcg = mx.datasets.load("bcg")
    >>> t, c = bcg.tpos / (bcg.tpos + bcg.tneg), bcg.cpos / (bcg.cpos + bcg.cneg)
    >>> bcg["yi"] = np.log(t / c)
    >>> bcg["vi"] = 1 / bcg.tpos - 1 / (bcg.tpos + bcg.tneg) + 1 / bcg.cpos \\
    ...     - 1 / (bcg.cpos + bcg.cneg)
    >>> res = mx.meta_analysis("yi", "vi", bcg, study="trial")
    >>> round(res.mu, 4), round(res.tau2, 4)
    (-0.7145, 0.3132)
    >>> reg = mx.meta_analysis("yi", "vi", bcg, study="trial", mods="ablat")
    >>> round(float(reg.params["ablat"]), 4)
    -0.0291
    """
    method = check_method(method)
    test = check_test(test)
    alpha = check_alpha(alpha)
    env = patsy.EvalEnvironment.capture(1)
    inputs = meta_inputs(effect, variance, data, study=study, mods=mods, eval_env=env)
    return fit_inputs(inputs, method, test, alpha)
