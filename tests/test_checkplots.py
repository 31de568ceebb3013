"""Model-checking plots render (Agg) and draw what they say: residuals vs fitted, QQ
plots of residuals and random effects, the simulated residuals' two panels."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import mixedext as mx  # noqa: E402
from mixedext.results.checkplots import binned_quantiles  # noqa: E402


@pytest.fixture(scope="module")
def sleep_fit():
    return mx.mixedlm("Reaction ~ Days + (Days | Subject)", mx.datasets.load("sleepstudy")).fit()


@pytest.fixture(scope="module")
def cbpp_fit():
    return mx.binomial_mixedglm("incidence ~ period + (1 | herd)", mx.datasets.load("cbpp"),
                                trials="size").fit_ml()


def _saved(fig, tmp_path, name):
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return path.stat().st_size


@pytest.mark.parametrize("kind", ["pearson", "normalized", "response"])
def test_plot_residuals(sleep_fit, kind, tmp_path):
    ax = sleep_fit.plot_residuals(kind=kind)
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 0], sleep_fit.fittedvalues)
    assert kind in ax.get_ylabel()
    assert _saved(ax.figure, tmp_path, kind) > 3000


def test_plot_residuals_bad_kind(sleep_fit):
    with pytest.raises(ValueError, match="kind"):
        sleep_fit.plot_residuals(kind="deviance")


def test_plot_qq_residuals_and_each_random_effect(sleep_fit, tmp_path):
    axes = sleep_fit.plot_qq()
    assert len(axes) == 3  # residuals, Subject: Intercept, Subject: Days
    assert [ax.get_title() for ax in axes[1:]] == ["Subject: Intercept", "Subject: Days"]
    assert len(axes[1].collections[0].get_offsets()) == 18
    assert _saved(axes[0].figure, tmp_path, "qq") > 3000


def test_plot_qq_needs_enough_axes(sleep_fit):
    _, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="3 axes"):
        sleep_fit.plot_qq(axes=axes)
    plt.close("all")


def test_glmm_plots(cbpp_fit, tmp_path):
    ax = cbpp_fit.plot_residuals()
    assert len(ax.collections[0].get_offsets()) == 56
    axes = cbpp_fit.plot_qq()
    assert len(axes) == 2
    sim = cbpp_fit.simulated_residuals(n_sim=50, seed=1)
    panels = sim.plot()
    assert len(panels) == 2
    assert "KS p" in panels[0].get_title()
    assert _saved(panels[0].figure, tmp_path, "sim") > 3000
    ax = cbpp_fit.plot_influence()
    assert len(ax.collections) >= 2 and ax.get_xlabel() == "unit of herd"
    plt.close("all")


def test_simulated_plot_quantile_lines(sleep_fit):
    sim = sleep_fit.simulated_residuals(n_sim=60, seed=2)
    _, axes = plt.subplots(1, 2)
    out = sim.plot(axes=axes)
    assert list(out) == list(axes)
    # three binned quantile curves and three reference lines on the second panel
    assert len(axes[1].lines) == 6
    plt.close("all")


def test_binned_quantiles():
    x = np.arange(100, dtype=float)
    y = np.tile(np.arange(10, dtype=float), 10)
    centres, values = binned_quantiles(x, y, quantiles=(0.5,), bins=10)
    np.testing.assert_allclose(centres, np.arange(4.5, 100, 10))
    np.testing.assert_allclose(values[0], 4.5)
