"""Conditional vs marginal effects (mixedext.results.gee)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from conftest import ROOT  # noqa: E402
from scipy.special import expit, logit  # noqa: E402

import mixedext as mx  # noqa: E402
from mixedext.results.gee import ATTENUATION_C  # noqa: E402


@pytest.fixture(scope="module")
def logistic_fit():
    data = pd.read_csv(ROOT / "tests/reference/data/clearance.csv")
    return mx.binomial_mixedglm("cleared ~ trt + visit + (1 | patient)", data).fit_ml()


@pytest.fixture(scope="module")
def comparison(logistic_fit):
    return logistic_fit.compare_gee()


def test_logistic_conditional_further_from_one(comparison):
    tab = comparison.table
    for name in ("trt", "visit"):
        cond, marg = tab.loc[name, "conditional"], tab.loc[name, "marginal_gee"]
        assert abs(cond) > abs(marg) > 0 and np.sign(cond) == np.sign(marg)
        assert abs(tab.loc[name, "conditional"]) > abs(tab.loc[name, "marginal_implied"])
    odds = comparison.table  # on the odds-ratio scale the same ordering around 1
    assert abs(np.log(np.exp(odds.loc["trt", "conditional"]))) > abs(
        odds.loc["trt", "marginal_gee"])


def test_implied_marginal_closer_to_gee_than_conditional(comparison):
    tab = comparison.table
    for name in ("trt", "visit"):
        gee = tab.loc[name, "marginal_gee"]
        assert abs(tab.loc[name, "marginal_implied"] - gee) < abs(
            tab.loc[name, "conditional"] - gee)


def test_marginal_implied_equals_monte_carlo(logistic_fit, comparison):
    """Brute force: 10^6 draws of the random intercept per distinct covariate row."""
    model = logistic_fit.model
    x = np.asarray(model.exog)
    beta = logistic_fit.fe_params.to_numpy()
    tau = np.sqrt(logistic_fit.variance_components().variance.iloc[0])
    rows, inverse = np.unique(x, axis=0, return_inverse=True)
    draws = np.random.RandomState(42).normal(size=1_000_000) * tau
    pbar_rows = np.array([expit(r @ beta + draws).mean() for r in rows])
    pbar = pbar_rows[inverse.reshape(-1)]
    mc = np.linalg.lstsq(x, logit(pbar), rcond=None)[0]
    # Monte-Carlo SE of a mean of expit over 10^6 draws is < 5e-4 / 1000 on each row
    np.testing.assert_allclose(comparison.table["marginal_implied"], mc, atol=2e-3)


def test_attenuation_approximation(logistic_fit, comparison):
    tau2 = logistic_fit.variance_components().variance.iloc[0]
    cond = comparison.table["conditional"]
    np.testing.assert_allclose(comparison.table["attenuation_approx"],
                               cond / np.sqrt(1 + ATTENUATION_C ** 2 * tau2))
    assert ATTENUATION_C == pytest.approx(0.5881, abs=1e-4)


def test_linear_model_effects_coincide():
    data = mx.datasets.load("ovary")
    res = mx.mixedlm("follicles ~ np.sin(2 * np.pi * Time) + np.cos(2 * np.pi * Time)"
                     " + (1 | Mare)", data).fit()
    tab = res.compare_gee().table
    np.testing.assert_array_equal(tab["conditional"], tab["marginal_implied"])
    # the GEE estimate lies within two standard errors of the mixed-model estimate
    assert np.all(np.abs(tab["marginal_gee"] - tab["conditional"])
                  < 2 * tab["conditional_se"])


def test_odds_ratios_and_plot(logistic_fit):
    comp = logistic_fit.compare_gee(exp=True)
    assert np.all(comp.table["conditional"] > 0)
    assert comp.table.loc["trt", "conditional"] > comp.table.loc["trt", "marginal_gee"] > 1
    ax = comp.plot()
    assert ax.get_xlabel() == "odds ratio"
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="alpha"):
        comp.plot(alpha=0)


def test_bad_working_structure(logistic_fit):
    with pytest.raises(ValueError, match="cov_struct must be one of"):
        logistic_fit.compare_gee("unstructured")


# -- against geepack (tests/reference/geepack_reference.json): 1e-3 relative -------------
GEEPACK = {c["case"]: c for c in __import__("conftest").load_reference("geepack_reference")[
    "cases"]}
GEE_CASES = {
    "readmission": ("readmission.csv", "readmit ~ age + severity + teaching + (1 | unit)"),
    "clearance": ("clearance.csv", "cleared ~ trt + visit + (1 | patient)"),
}


@pytest.mark.parametrize("case", ["readmission_exchangeable", "readmission_independence",
                                  "clearance_exchangeable", "clearance_independence"])
def test_gee_matches_geepack(case):
    name, structure = case.split("_", 1)
    file, formula = GEE_CASES[name]
    data = pd.read_csv(ROOT / "tests/reference/data" / file)
    comp = mx.binomial_mixedglm(formula, data).fit_ml().compare_gee(structure)
    ref = GEEPACK[case]
    np.testing.assert_allclose(comp.table["marginal_gee"], list(ref["coef"].values()),
                               rtol=1e-3)
    np.testing.assert_allclose(comp.table["marginal_gee_se"],
                               list(ref["robust_se"].values()), rtol=1e-3)
    if ref["alpha"] is not None:
        alpha = comp.gee_results.model.cov_struct.dep_params
        assert alpha == pytest.approx(ref["alpha"], rel=1e-2)


def test_linear_gee_matches_geepack_ovary():
    data = mx.datasets.load("ovary")
    res = mx.mixedlm("follicles ~ np.sin(2 * np.pi * Time) + np.cos(2 * np.pi * Time)"
                     " + (1 | Mare)", data).fit()
    comp = res.compare_gee()
    ref = GEEPACK["ovary_exchangeable"]
    np.testing.assert_allclose(comp.table["marginal_gee"], list(ref["coef"].values()),
                               rtol=1e-3)
    np.testing.assert_allclose(comp.table["marginal_gee_se"],
                               list(ref["robust_se"].values()), rtol=1e-3)


def test_poisson_gee_with_exposure_matches_geepack():
    """The GEE of a Poisson GLMM: the same family, the offset log(exposure); for a log link
    and random intercepts the implied marginal coefficients move only the intercept, by
    sigma^2 / 2 (exp(eta + b) averages to exp(eta + sigma^2 / 2))."""
    data = pd.read_csv(ROOT / "tests/reference/data/poisson_nested.csv")
    res = mx.poisson_mixedglm("y ~ x + trt + (1 | a)", data, exposure="exposure").fit_ml()
    comp = res.compare_gee()
    ref = GEEPACK["poisson_exchangeable"]
    order = ["Intercept", "x", "trt[T.trt]"]
    np.testing.assert_allclose(comp.table.loc[order, "marginal_gee"],
                               list(ref["coef"].values()), rtol=1e-3)
    np.testing.assert_allclose(comp.table.loc[order, "marginal_gee_se"],
                               list(ref["robust_se"].values()), rtol=1e-3)
    table = comp.table
    shift = res.variance_components()["variance"].iloc[0] / 2
    assert table.loc["Intercept", "marginal_implied"] == pytest.approx(
        table.loc["Intercept", "conditional"] + shift, rel=1e-6)
    np.testing.assert_allclose(table.loc[["x", "trt[T.trt]"], "marginal_implied"],
                               table.loc[["x", "trt[T.trt]"], "conditional"], rtol=1e-6)
    np.testing.assert_allclose(table["attenuation_approx"], table["marginal_implied"],
                               rtol=1e-6)
