"""Results of :meth:`mixedext.BinomialMixedGLM.fit_ml`: :class:`MixedGLMResults
<mixedext.results.glmm.MixedGLMResults>` with the binomial's shrinkage report (unit
log-odds with half a success and half a failure added, and the rates)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from mixedext._checks import check_alpha
from mixedext.results.glmm import RESULTS_PARAMETERS, MixedGLMResults

__all__ = ["BinomialMixedResults"]


class BinomialMixedResults(MixedGLMResults):
    __doc__ = """Maximum-likelihood fit of a binomial mixed model (see :class:`MixedGLMResults`).

    Adds the binomial's shrinkage report (unit log-odds with half a success and half a
    failure added, and the rates).
    """ + RESULTS_PARAMETERS

    def shrinkage(self, level: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
        """Compare raw and shrunk unit effects on the log-odds scale, plus rates.

        Random intercepts only.

        Parameters
        ----------
        level : str, optional
            The level; by default the outermost.
        alpha : float, default 0.05
            The conditional intervals have coverage ``1 - alpha``.

        Returns
        -------
        pandas.DataFrame
            Indexed by unit: ``n`` (trials), ``raw``, ``blup`` (the conditional mode),
            ``factor`` (``1 - cond_var / tau^2``), ``cond_se``, ``lower``, ``upper``,
            ``rate_raw`` (the observed proportion), ``rate_shrunk`` (the mean conditional
            probability of the unit's rows) and ``flag`` (the interval excludes 0).

        Raises
        ------
        ValueError
            For ``alpha`` outside (0, 1).
        KeyError
            For a ``level`` that is not a level of the model.
        NotImplementedError
            For a level with random slopes.

        Notes
        -----
        ``raw`` is the unit's own (unpooled) log-odds offset ``a``: the root of
        ``sum_j [y_j - m_j expit(f_j + a)] + 1/2 - expit(f_bar + a) = 0`` over its rows
        ``j`` (``f_j`` the fixed-effect linear predictor, ``m_j`` the trials, ``f_bar``
        their mean), i.e. the maximum-likelihood shift with half a success and half a
        failure added at the unit's mean predictor, so that it stays finite for 0/n and
        n/n (an empirical logit adjusted for case mix).
        """
        alpha = check_alpha(alpha)
        level, i = self._intercept_term(level)
        t = self._terms[i]
        m, y = self.family.trials, self.family.y
        units = t.n_units
        fixed = self._offset + self.model.exog @ self.fe_params.to_numpy()
        rows = np.bincount(t.codes, minlength=units)
        raw = _unit_offsets(t.codes, units, y, m, fixed, rows)
        frame = self._shrinkage_frame(level, i, raw, alpha)
        succ = np.bincount(t.codes, weights=y, minlength=units)
        trials = np.bincount(t.codes, weights=m, minlength=units)
        frame.insert(len(frame.columns) - 1, "rate_raw", succ / trials)
        frame.insert(len(frame.columns) - 1, "rate_shrunk", np.bincount(
            t.codes, weights=self.fittedvalues * m, minlength=units) / trials)
        return frame


def _unit_offsets(codes, units, y, m, fixed, rows, iterations=50):
    """Per-unit ML offset ``a`` with ``sum_j [y_j - m_j expit(f_j + a)] + 1/2 -
    expit(mean f + a) = 0`` (half a success and half a failure), by vectorised Newton."""
    mean_fixed = np.bincount(codes, weights=fixed, minlength=units) / rows
    succ = np.bincount(codes, weights=y, minlength=units)
    trials = np.bincount(codes, weights=m, minlength=units)
    a = np.log((succ + 0.5) / (trials - succ + 0.5)) - mean_fixed
    for _ in range(iterations):
        mu = expit(fixed + a[codes])
        mu0 = expit(mean_fixed + a)
        score = succ - np.bincount(codes, weights=m * mu, minlength=units) + 0.5 - mu0
        info = np.bincount(codes, weights=m * mu * (1 - mu), minlength=units) + mu0 * (1 - mu0)
        step = score / info
        a = a + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return a
