"""Each plot renders to PNG (Agg backend); matplotlib is imported only for plots."""

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import ROOT, load_reference, reference_data  # noqa: E402

import mixedext as mx  # noqa: E402

CASE = {c["case"]: c for c in load_reference("lmer_reference")["cases"] if c["reml"]}


@pytest.fixture(scope="module")
def unequal():
    case = CASE["ri_unequal"]
    return mx.mixedlm(case["formula"], reference_data(case)).fit()


@pytest.mark.parametrize("kind", ["caterpillar", "shrinkage", "funnel"])
def test_plot_renders(unequal, kind, tmp_path):
    ax = getattr(unequal, f"plot_{kind}")()
    assert isinstance(ax, matplotlib.axes.Axes)
    assert ax.collections or ax.lines
    path = tmp_path / f"{kind}.png"
    ax.figure.savefig(path, dpi=80)
    assert path.stat().st_size > 5000
    plt.close(ax.figure)


def test_caterpillar_draws_every_unit_and_flags(unequal):
    fig, ax = plt.subplots()
    out = unequal.plot_caterpillar(ax=ax)
    assert out is ax
    table = unequal.shrinkage()
    points = ax.collections[-1].get_offsets()
    assert len(points) == len(table)
    np.testing.assert_allclose(np.sort(points[:, 0]), np.sort(table["blup"]))
    plt.close(fig)


def test_caterpillar_with_slopes_gives_one_panel_per_term():
    data = mx.datasets.load("sleepstudy")
    res = mx.mixedlm("Reaction ~ Days + (Days | Subject)", data).fit()
    axes = res.plot_caterpillar()
    assert np.size(axes) == 2
    plt.close("all")


def test_matplotlib_not_imported_by_the_package():
    code = "import sys, mixedext; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_binomial_funnel_limits_on_the_logit_scale():
    from scipy.special import expit

    data = reference_data(
        next(c for c in load_reference("glmer_reference")["cases"]
             if c["case"] == "readmission_laplace"))
    res = mx.binomial_mixedglm("readmit ~ age + severity + teaching + (1 | unit)",
                               data).fit_ml()
    ax = res.plot_funnel()
    n_line, upper = ax.lines[0].get_data()
    p = np.mean(expit(np.asarray(res.model.exog) @ res.fe_params.to_numpy()))
    np.testing.assert_allclose(upper, 1.959963984540054 / np.sqrt(n_line * p * (1 - p)))
    plt.close(ax.figure)


@pytest.mark.parametrize("kind", ["caterpillar", "shrinkage", "funnel"])
def test_count_model_plots_render(kind, tmp_path):
    import pandas as pd

    data = pd.read_csv(ROOT / "tests/reference/data/poisson_nested.csv")
    res = mx.poisson_mixedglm("y ~ x + trt + (1 | a)", data, exposure="exposure").fit_ml()
    ax = getattr(res, f"plot_{kind}")()
    ax.figure.savefig(tmp_path / f"{kind}.png")
    assert (tmp_path / f"{kind}.png").stat().st_size > 0
    plt.close("all")
