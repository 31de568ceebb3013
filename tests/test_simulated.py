"""Simulated (DHARMa-style) residuals: results.simulated_residuals() and its tests.

The size check (``test_uniformity_size``, marked slow) fits 200 seeded data sets from a
correct random-intercept model (10 units x 30 rows) and counts KS rejections at 0.05.
Note on its design: the KS test of residuals simulated from a *fitted* model is
conservative where the estimates adapt the marginal distribution to the data (Lilliefors'
effect: 40 units x 5 rows rejects ~0% of the time) and anti-conservative where rows share
a unit's random effect (with the true parameters the same 40 x 5 design rejects ~14%);
with few large units the two balance near the nominal rate.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedext as mx
from mixedext.results.simulated import (
    SimulatedResiduals,
    scaled_residuals,
    simulation_pvalue,
)


def _linear_data(seed, units=10, rows=30, sd_unit=1.0):
    rs = np.random.RandomState(seed)
    g = np.repeat(np.arange(units), rows)
    x = rs.normal(size=units * rows)
    y = 1 + 0.5 * x + sd_unit * rs.normal(size=units)[g] + rs.normal(size=units * rows)
    return pd.DataFrame({"g": g, "x": x, "y": y})


def _counts(seed=3, zero_inflated=False):
    rs = np.random.RandomState(seed)
    g = np.repeat(np.arange(40), 10)
    x = rs.normal(size=400)
    mu = np.exp(1.0 + 0.4 * x + 0.4 * rs.normal(size=40)[g])
    nb = rs.negative_binomial(2.0, 2.0 / (2.0 + mu))
    pois = rs.poisson(mu)
    if zero_inflated:
        pois = np.where(rs.rand(400) < 0.25, 0, pois)
    return pd.DataFrame({"g": g, "x": x, "nb": nb, "pois": pois})


@pytest.fixture(scope="module")
def sleep_fit():
    return mx.mixedlm("Reaction ~ Days + (Days | Subject)", mx.datasets.load("sleepstudy")).fit()


@pytest.mark.slow
def test_uniformity_size():
    rejections = []
    for seed in range(200):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a few fits are singular
            res = mx.mixedlm("y ~ x + (1 | g)", _linear_data(seed)).fit()
        sim = res.simulated_residuals(n_sim=99, seed=seed)
        rejections.append(sim.test_uniformity().pvalue < 0.05)
    assert 0.02 <= np.mean(rejections) <= 0.09


@pytest.mark.parametrize("conditional", [False, True])
def test_dispersion_poisson_vs_negbin(conditional):
    data = _counts()
    pois = mx.poisson_mixedglm("nb ~ x + (1 | g)", data).fit_ml()
    negbin = mx.negbin_mixedglm("nb ~ x + (1 | g)", data).fit_ml()
    over = pois.simulated_residuals(seed=1, conditional=conditional).test_dispersion()
    fine = negbin.simulated_residuals(seed=1, conditional=conditional).test_dispersion()
    assert over.pvalue < 0.01 and over.statistic > 1.5
    assert fine.pvalue > 0.05 and 0.8 < fine.statistic < 1.25
    assert pois.simulated_residuals(seed=1).test_uniformity().pvalue < 0.01


def test_zero_inflation():
    inflated = mx.poisson_mixedglm("pois ~ x + (1 | g)", _counts(5, True)).fit_ml()
    test = inflated.simulated_residuals(seed=2).test_zero_inflation()
    assert test.statistic > 1.3 and test.pvalue < 0.01
    plain = mx.poisson_mixedglm("pois ~ x + (1 | g)", _counts(5)).fit_ml()
    test = plain.simulated_residuals(seed=2).test_zero_inflation()
    assert test.pvalue > 0.05
    assert test.statistic == pytest.approx(
        np.sum(_counts(5)["pois"] == 0)
        / np.mean(np.sum(plain.simulated_residuals(seed=2).simulated == 0, axis=0)))


def test_residuals_layout_and_reproducibility(sleep_fit):
    a = sleep_fit.simulated_residuals(n_sim=50, seed=7)
    b = sleep_fit.simulated_residuals(n_sim=50, seed=7)
    c = sleep_fit.simulated_residuals(n_sim=50, seed=8)
    assert isinstance(a, SimulatedResiduals)
    pd.testing.assert_series_equal(a.residuals, b.residuals)
    assert not a.residuals.equals(c.residuals)
    assert a.simulated.shape == (180, 50) and a.n_sim == 50
    assert a.residuals.between(0, 1).all()
    # continuous outcomes: no randomisation, multiples of 1 / n_sim
    np.testing.assert_allclose(a.residuals * 50, np.round(a.residuals * 50), atol=1e-12)
    assert not a.integer and not a.conditional


def test_residuals_follow_the_data_index():
    data = _linear_data(1, units=8, rows=6)
    data.index = [f"row{i}" for i in range(len(data))]
    res = mx.mixedlm("y ~ x + (1 | g)", data).fit()
    sim = res.simulated_residuals(n_sim=20, seed=0)
    pd.testing.assert_index_equal(sim.residuals.index, data.index)


def test_discrete_outcomes_are_randomised():
    data = _counts()
    res = mx.poisson_mixedglm("pois ~ x + (1 | g)", data).fit_ml()
    sim = res.simulated_residuals(n_sim=40, seed=3)
    assert sim.integer
    steps = sim.residuals.to_numpy() * 40
    assert np.mean(np.abs(steps - np.round(steps)) > 1e-9) > 0.5
    # each residual lies in its step of the empirical CDF
    low = np.mean(sim.simulated < sim.observed[:, None], axis=1)
    high = np.mean(sim.simulated <= sim.observed[:, None], axis=1)
    assert np.all((sim.residuals >= low - 1e-12) & (sim.residuals <= high + 1e-12))


def test_randomised_pit_is_uniform_with_known_parameters():
    """With simulations from the distribution that generated the data, the randomised
    PIT of discrete outcomes is exactly uniform."""
    rng = np.random.default_rng(11)
    mu = np.exp(rng.normal(0.5, 0.5, 4000))
    y = rng.poisson(mu).astype(float)
    sims = rng.poisson(mu[:, None], size=(4000, 199)).astype(float)
    u = scaled_residuals(y, sims, True, rng)
    assert stats.kstest(u, "uniform").pvalue > 0.01
    assert np.mean(u) == pytest.approx(0.5, abs=0.02)
    assert np.var(u) == pytest.approx(1 / 12, rel=0.05)
    # without randomisation the same residuals are far from uniform
    assert stats.kstest(scaled_residuals(y, sims, False, rng), "uniform").pvalue < 1e-6


def test_conditional_simulation_centres_on_the_fitted_values(sleep_fit):
    sim = sleep_fit.simulated_residuals(n_sim=400, seed=5, conditional=True)
    assert sim.conditional
    se = np.sqrt(sleep_fit.scale / 400)
    np.testing.assert_allclose(sim.simulated.mean(axis=1), sleep_fit.fittedvalues,
                               atol=5 * se)
    spread = sim.simulated.std(axis=1, ddof=1)
    assert np.mean(spread) == pytest.approx(np.sqrt(sleep_fit.scale), rel=0.05)
    # unconditional draws add the random effects' variance
    free = sleep_fit.simulated_residuals(n_sim=400, seed=5)
    assert np.mean(free.simulated.std(axis=1, ddof=1)) > 1.3 * np.mean(spread)


def test_outlier_test_counts_the_edges():
    data = mx.datasets.load("sleepstudy")
    data.loc[5, "Reaction"] += 400
    res = mx.mixedlm("Reaction ~ Days + (1 | Subject)", data).fit()
    sim = res.simulated_residuals(n_sim=99, seed=1)
    out = sim.test_outliers()
    assert sim.residuals.iloc[5] == 1.0
    u = sim.residuals.to_numpy()
    count = np.sum((u < 1 / 100) | (u > 1 - 1 / 100))
    assert out.statistic == count >= 1
    assert out.pvalue == pytest.approx(stats.binomtest(int(count), 180, 2 / 100).pvalue)


def test_gamma_is_continuous():
    quakes = mx.datasets.load("earthquake")
    res = mx.gamma_mixedglm("accel ~ np.log(distance) + Richter + (1 | Quake)",
                            quakes).fit_ml()
    sim = res.simulated_residuals(n_sim=30, seed=0)
    assert not sim.integer and sim.residuals.between(0, 1).all()


def test_simulation_pvalue():
    sims = np.arange(1, 101, dtype=float)
    assert simulation_pvalue(sims, 95.5) == pytest.approx(2 * 0.05)
    assert simulation_pvalue(sims, 95.5, "greater") == pytest.approx(0.05)
    assert simulation_pvalue(sims, 95.5, "less") == pytest.approx(0.95)
    assert simulation_pvalue(sims, 50.5) == 1.0
    with pytest.raises(ValueError, match="alternative"):
        simulation_pvalue(sims, 1.0, "both")


def test_bad_arguments(sleep_fit):
    with pytest.raises(ValueError, match="n_sim"):
        sleep_fit.simulated_residuals(n_sim=0)
    with pytest.raises(ValueError, match="n_sim"):
        sleep_fit.simulated_residuals(n_sim=1)
    sim = sleep_fit.simulated_residuals(n_sim=10, seed=0)
    with pytest.raises(ValueError, match="alternative"):
        sim.test_outliers(alternative="both")


def test_progress_bar_runs(sleep_fit, capsys):
    sim = sleep_fit.simulated_residuals(n_sim=120, seed=0, progress=True)
    assert sim.n_sim == 120
    assert "simulating" in capsys.readouterr().err
