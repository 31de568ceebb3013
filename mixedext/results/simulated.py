"""Simulated (scaled quantile) residuals of a fitted mixed model, DHARMa's way.

For each row ``i`` the observed outcome ``y_i`` is compared with ``S`` outcomes
``y_i^(1..S)`` simulated from the fitted model: the residual is the empirical
probability integral transform

    u_i = #{s: y_i^(s) < y_i} / S                    (continuous outcomes),
    u_i ~ U(#{s: y_i^(s) < y_i} / S, #{s: y_i^(s) <= y_i} / S)   (discrete outcomes),

uniform on [0, 1] for a correctly specified model (the discrete case randomised within
the step of the empirical CDF, as DHARMa's ``getQuantile(method = "PIT")``). Residuals 0
and 1 mean the observation lies outside every simulated value.

The tests (each a :class:`SimulationTest` with ``statistic`` and ``pvalue``) are
DHARMa's:

* ``test_uniformity``: Kolmogorov-Smirnov of ``u`` against U(0, 1) (``testUniformity``);
* ``test_dispersion``: ``var(y - m) / mean_s var(y^(s) - m^(-s))``, ``m`` the per-row
  mean of the simulations (``m^(-s)`` without draw ``s``); the two-sided p-value from
  the simulated distribution, ``min(1, 2 min(P(T_sim <= T_obs), P(T_sim >= T_obs)))``
  (``testDispersion(type = "DHARMa")``, which centres on the fitted values: for
  conditional simulations these are the simulated means; for unconditional ones the
  simulated means are the right centre, as the simulated outcomes vary around the
  marginal, not the conditional, means);
* ``test_zero_inflation``: observed zeros over the mean simulated number, p-value as above
  (``testZeroInflation``);
* ``test_outliers``: exact binomial test of the number of residuals closer than
  ``1 / (S + 1)`` to 0 or 1 against the rate ``2 / (S + 1)`` (``testOutliers(type =
  "binomial")``).

Names: ``S`` the number of simulations (``n_sim``), ``n`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from mixedext._checks import check_count
from mixedext.results.checkplots import plot_simulated_residuals
from mixedext.results.residuals import row_index

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["SimulatedResiduals", "SimulationTest", "scaled_residuals",
           "simulation_pvalue", "simulate_residuals"]


@dataclass(frozen=True)
class SimulationTest:
    """The result of one test of simulated residuals.

    Parameters
    ----------
    statistic : float
        The test statistic (a ratio of observed to simulated for the dispersion and
        zero-inflation tests, the KS distance, the number of outliers).
    pvalue : float
        Its p-value.
    method : str
        What was tested, in words.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        The alternative hypothesis.
    """

    statistic: float
    pvalue: float
    method: str
    alternative: str = "two-sided"

    def __repr__(self) -> str:
        return (f"SimulationTest({self.method}: statistic={self.statistic:.4g}, "
                f"pvalue={self.pvalue:.4g}, {self.alternative})")


def simulation_pvalue(simulated, observed, alternative: str = "two-sided") -> float:
    """DHARMa's ``getP``: the p-value of ``observed`` in the ``simulated`` distribution."""
    simulated = np.asarray(simulated, dtype=float)
    below, above = np.mean(simulated <= observed), np.mean(simulated >= observed)
    if alternative == "greater":
        return float(above)
    if alternative == "less":
        return float(below)
    if alternative == "two-sided":
        return float(min(1.0, 2.0 * min(below, above)))
    raise ValueError(f"alternative must be 'two-sided', 'greater' or 'less', not "
                     f"{alternative!r}")


def scaled_residuals(observed, simulated, integer: bool, rng) -> np.ndarray:
    """The empirical PIT of each row (see the module docstring)."""
    observed = np.asarray(observed, dtype=float)[:, None]
    low = np.mean(simulated < observed, axis=1)
    if not integer:
        return low
    high = np.mean(simulated <= observed, axis=1)
    jitter = rng.uniform(size=len(low))
    return np.where(high > low, low + (high - low) * jitter, low)


@dataclass(frozen=True)
class SimulatedResiduals:
    """Scaled quantile residuals of a fit and the simulations they came from.

    Made by ``simulated_residuals()`` of the results classes.

    Parameters
    ----------
    residuals : pandas.Series
        ``u_i`` in [0, 1], labelled like the data's rows.
    observed : numpy.ndarray
        The outcomes, shape ``(n,)`` (successes for a binomial model).
    simulated : numpy.ndarray
        The simulated outcomes, shape ``(n, S)``.
    predicted : numpy.ndarray
        The fitted (conditional) means, shape ``(n,)``, for the residual plot.
    integer : bool, default False
        Discrete outcomes (randomised PIT).
    conditional : bool, default False
        Simulated at the fitted random effects (False: fresh random effects).
    """

    residuals: pd.Series
    observed: np.ndarray = field(repr=False)
    simulated: np.ndarray = field(repr=False)
    predicted: np.ndarray = field(repr=False)
    integer: bool = False
    conditional: bool = False

    @property
    def n_sim(self) -> int:
        """The number of simulations ``S``."""
        return self.simulated.shape[1]

    def test_uniformity(self) -> SimulationTest:
        """Test the residuals against U(0, 1) (Kolmogorov-Smirnov; DHARMa's ``testUniformity``).

        Returns
        -------
        SimulationTest
            The KS statistic and its p-value (two-sided).
        """
        ks = stats.kstest(self.residuals.to_numpy(), "uniform")
        return SimulationTest(float(ks.statistic), float(ks.pvalue),
                              "Kolmogorov-Smirnov against U(0, 1)")

    def test_dispersion(self, alternative: str = "two-sided") -> SimulationTest:
        """Test the dispersion: observed over simulated variance around the simulated means.

        DHARMa's ``testDispersion(type = "DHARMa")``; a ratio above 1 means
        overdispersion.

        Parameters
        ----------
        alternative : {"two-sided", "greater", "less"}, default "two-sided"
            ``"greater"`` tests for overdispersion only, ``"less"`` for underdispersion.

        Returns
        -------
        SimulationTest
            ``statistic`` the ratio, ``pvalue`` from the simulated distribution.

        Raises
        ------
        ValueError
            For an unknown ``alternative``.

        Notes
        -----
        With ``m_i`` the mean of row ``i``'s simulations and ``m_i^(-s)`` the mean without
        draw ``s``, the observed statistic is ``T = var(y - m)`` and its simulated values
        ``T^(s) = var(y^(s) - m^(-s))``; the ratio is ``T / mean_s T^(s)`` and the
        two-sided p-value ``min(1, 2 min(P(T^(s) <= T), P(T^(s) >= T)))``.
        """
        sims, s = self.simulated, self.n_sim
        total = sims.sum(axis=1, keepdims=True)
        observed = float(np.var(self.observed - total[:, 0] / s, ddof=1))
        loo = (total - sims) / (s - 1)  # the mean of the other draws
        simulated = np.var(sims - loo, axis=0, ddof=1)
        return SimulationTest(observed / float(np.mean(simulated)),
                              simulation_pvalue(simulated, observed, alternative),
                              "dispersion: variance around the simulated means, "
                              "observed / simulated", alternative)

    def test_zero_inflation(self, alternative: str = "two-sided") -> SimulationTest:
        """Test for zero inflation: observed zeros over the mean simulated number of zeros.

        DHARMa's ``testZeroInflation``.

        Parameters
        ----------
        alternative : {"two-sided", "greater", "less"}, default "two-sided"
            ``"greater"`` tests for more zeros than the model expects.

        Returns
        -------
        SimulationTest
            ``statistic`` the ratio, ``pvalue`` from the simulated numbers of zeros.

        Raises
        ------
        ValueError
            For an unknown ``alternative``.
        """
        observed = float(np.sum(self.observed == 0))
        simulated = np.sum(self.simulated == 0, axis=0).astype(float)
        mean = float(np.mean(simulated))
        ratio = observed / mean if mean > 0 else (np.inf if observed > 0 else np.nan)
        return SimulationTest(ratio, simulation_pvalue(simulated, observed, alternative),
                              "zero inflation: observed / simulated zeros", alternative)

    def test_outliers(self, alternative: str = "two-sided") -> SimulationTest:
        """Test the number of residuals outside the simulated range (a binomial test).

        DHARMa's ``testOutliers(type = "binomial")``: residuals closer than
        ``1 / (S + 1)`` to 0 or 1, against the rate ``2 / (S + 1)``.

        Parameters
        ----------
        alternative : {"two-sided", "greater", "less"}, default "two-sided"
            The alternative of the binomial test.

        Returns
        -------
        SimulationTest
            ``statistic`` the number of outliers, ``pvalue`` the exact binomial test's.

        Raises
        ------
        ValueError
            For an unknown ``alternative``.
        """
        u = self.residuals.to_numpy()
        edge = 1.0 / (self.n_sim + 1)
        count = int(np.sum(u < edge) + np.sum(u > 1 - edge))
        alt = {"two-sided": "two-sided", "greater": "greater", "less": "less"}.get(alternative)
        if alt is None:
            raise ValueError(f"alternative must be 'two-sided', 'greater' or 'less', not "
                             f"{alternative!r}")
        test = stats.binomtest(count, len(u), 2 * edge, alternative=alt)
        return SimulationTest(float(count), float(test.pvalue),
                              f"outliers: binomial test against rate 2 / (n_sim + 1) = "
                              f"{2 * edge:.4g}", alternative)

    def plot(self, axes: Sequence[Axes] | None = None) -> list[Axes]:
        """Plot DHARMa's two panels: the QQ plot and the residuals against the predictions.

        The QQ plot is against U(0, 1) (with the KS test's p-value); the residuals are drawn
        against the rank-transformed predictions with their binned 0.25 / 0.5 / 0.75
        quantiles (see :func:`mixedext.results.checkplots.plot_simulated_residuals`).

        Parameters
        ----------
        axes : sequence of matplotlib.axes.Axes, optional
            Two axes; by default a new figure with two panels.

        Returns
        -------
        list of matplotlib.axes.Axes
            The two panels.
        """
        return plot_simulated_residuals(self, axes)


# -- drawing the simulations ------------------------------------------------------------
def _draws(draw_chunk, n_sim: int, progress, chunk: int = 25) -> np.ndarray:
    """``draw_chunk(k) -> (n, k)`` called until ``n_sim`` columns, with a progress bar
    over the chunks (None: shown on interactive terminals for long simulations)."""
    sizes = [min(chunk, n_sim - start) for start in range(0, n_sim, chunk)]
    if progress is None:  # auto: on interactive terminals, for more than a few chunks
        disable = True if len(sizes) < 4 else None
    else:
        disable = not progress
    parts = [draw_chunk(k) for k in tqdm(sizes, disable=disable, desc="simulating",
                                         leave=False)]
    return np.concatenate(parts, axis=1)


def simulate_residuals(res, n_sim: int, seed, conditional: bool, progress,
                       integer: bool, observed, predicted, conditional_draw
                       ) -> SimulatedResiduals:
    """Simulate ``n_sim`` outcomes per row from ``res`` and form the residuals.

    ``conditional_draw(rng) -> (n,)`` draws one outcome at the fitted random effects;
    unconditional draws come from ``res.simulate`` (fresh random effects).
    """
    n_sim = check_count("n_sim", n_sim)
    if n_sim < 2:
        raise ValueError(f"n_sim must be at least 2 (got {n_sim}); DHARMa's default is 250")
    rng = np.random.default_rng(seed)
    if conditional:
        sims = _draws(lambda k: np.column_stack([conditional_draw(rng) for _ in range(k)]),
                      n_sim, progress)
    else:
        sims = _draws(lambda k: np.asarray(res.simulate(k, seed=rng)), n_sim, progress)
    observed = np.asarray(observed, dtype=float)
    u = scaled_residuals(observed, sims, integer, rng)
    return SimulatedResiduals(pd.Series(u, index=row_index(res.model, len(u)),
                                        name="simulated_residual"),
                              observed, sims, np.asarray(predicted, dtype=float),
                              integer=integer, conditional=conditional)
