"""mixedext.families: each family's row quantities against scipy / statsmodels."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from mixedext.families import FAMILIES, Binomial


@pytest.fixture
def binomial_rows():
    rng = np.random.default_rng(1)
    m = rng.integers(1, 12, size=200).astype(float)
    eta = rng.normal(scale=2.0, size=200)
    y = rng.binomial(m.astype(int), 1 / (1 + np.exp(-eta))).astype(float)
    return Binomial(y, m), y, m, eta


def test_registry_names_each_family():
    assert FAMILIES["binomial"] is Binomial


def test_binomial_loglik_equals_scipy(binomial_rows):
    fam, y, m, eta = binomial_rows
    want = stats.binom.logpmf(y, m, 1 / (1 + np.exp(-eta)))
    np.testing.assert_allclose(fam.loglik_rows(eta), want, rtol=1e-10, atol=1e-10)
    const = fam.loglik_rows(eta) - fam.loglik_rows(eta, constant=False)
    np.testing.assert_allclose(const, fam.loglik_rows(eta + 1.0) - fam.loglik_rows(
        eta + 1.0, constant=False), rtol=1e-12)  # free of eta


def test_binomial_working_weights_are_fisher_information(binomial_rows):
    """w = (dE[y]/deta)^2 / Var(y) and the residual (y - E[y]) / (dE[y]/deta), by
    differences of the mean and the score of loglik_rows."""
    fam, y, m, eta = binomial_rows
    w, resid = fam.working(eta)
    h = 1e-4  # truncation ~1e-8, rounding up to ~1e-6 of the second difference
    score = (fam.loglik_rows(eta + h) - fam.loglik_rows(eta - h)) / (2 * h)
    info = -(fam.loglik_rows(eta + h) - 2 * fam.loglik_rows(eta) + fam.loglik_rows(eta - h)) \
        / h ** 2
    np.testing.assert_allclose(w, info, rtol=1e-5, atol=5e-6)
    np.testing.assert_allclose(resid * w, score, rtol=1e-6, atol=1e-8)


def test_binomial_deviance_residuals_equal_statsmodels(binomial_rows):
    fam, y, m, eta = binomial_rows
    mu = fam.mean(eta)
    want = sm.families.Binomial().resid_dev(y / m, mu, var_weights=m)
    np.testing.assert_allclose(fam.deviance_residuals(eta), want, rtol=1e-8, atol=1e-10)


# -- every family: the row quantities against scipy's densities and statsmodels' GLMs --
def _rows(name, n=300):
    """``(family, eta, scipy logpdf of y, statsmodels family)`` on random rows with prior
    weights (all 1 for the binomial, whose trials play that part)."""
    rng = np.random.default_rng(7)
    eta = rng.normal(0.5, 1.0, n)
    w = np.ones(n) if name == "binomial" else rng.uniform(0.3, 3.0, n)
    mu = np.exp(eta)
    if name == "binomial":
        m = rng.integers(1, 9, n).astype(float)
        p = 1 / (1 + np.exp(-eta))
        y = rng.binomial(m.astype(int), p).astype(float)
        return (FAMILIES[name](y, m, w), eta, stats.binom.logpmf(y, m, p),
                sm.families.Binomial(), y / m, p, m)
    if name == "poisson":
        y = rng.poisson(mu).astype(float)
        return (FAMILIES[name](y, weights=w), eta, stats.poisson.logpmf(y, mu),
                sm.families.Poisson(), y, mu, w)
    if name == "negbin":
        th = 2.5
        y = rng.negative_binomial(th, th / (th + mu)).astype(float)
        return (FAMILIES[name](y, weights=w, dispersion=th), eta,
                stats.nbinom.logpmf(y, th, th / (th + mu)),
                sm.families.NegativeBinomial(alpha=1 / th), y, mu, w)
    nu = 3.0
    y = rng.gamma(nu, mu / nu)
    return (FAMILIES[name](y, weights=w, dispersion=nu), eta,
            stats.gamma.logpdf(y, nu, scale=mu / nu),
            sm.families.Gamma(link=sm.families.links.Log()), y, mu, w)


NAMES = ["binomial", "poisson", "negbin", "gamma"]


@pytest.mark.parametrize("name", NAMES)
def test_loglik_rows_are_the_weighted_density(name):
    fam, eta, logpdf, *_ = _rows(name)
    np.testing.assert_allclose(fam.loglik_rows(eta), fam.weights * logpdf, rtol=1e-10,
                               atol=1e-10)
    const = fam.loglik_rows(eta) - fam.loglik_rows(eta, constant=False)
    np.testing.assert_allclose(const, fam.loglik_rows(eta + 0.7) - fam.loglik_rows(
        eta + 0.7, constant=False), rtol=1e-10, atol=1e-10)  # free of eta


@pytest.mark.parametrize("name", NAMES)
def test_score_hessian_and_fisher_weights(name):
    """``w * resid`` is the score, ``hessian_weights`` minus the second derivative of
    ``loglik_rows`` (both by differences), and the Fisher weights are the Hessian
    weights at ``y = E[y]``."""
    fam, eta, *_ = _rows(name)
    h = 1e-4
    lp, l0, lm = (fam.loglik_rows(eta + d) for d in (h, 0.0, -h))
    w, resid = fam.working(eta)
    np.testing.assert_allclose(resid * w, (lp - lm) / (2 * h), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fam.hessian_weights(eta), -(lp - 2 * l0 + lm) / h ** 2,
                               rtol=1e-5, atol=1e-5)
    at_mean = type(fam)(fam.trials * fam.mean(eta), fam.trials, fam.weights, fam.dispersion)
    np.testing.assert_allclose(at_mean.hessian_weights(eta), w, rtol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_deviance_and_pearson_residuals_equal_statsmodels(name):
    fam, eta, _, glm, y, mu, w = _rows(name)
    scale = 1.0 if fam.n_dispersion == 0 or name == "negbin" else 1 / fam.dispersion
    np.testing.assert_allclose(fam.deviance_residuals(eta), glm.resid_dev(y, mu, var_weights=w),
                               rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fam.pearson_residuals(eta),
                               np.sqrt(w) * (y - mu) / np.sqrt(glm.variance(mu) * scale),
                               rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_samples_have_the_family_mean_and_variance(name):
    fam, eta, *_ = _rows(name, n=4)
    rng = np.random.default_rng(3)
    draws = np.array([fam.sample(eta, rng) for _ in range(40_000)])
    mu = fam.mean(eta)
    np.testing.assert_allclose(draws.mean(axis=0), fam.trials * mu, rtol=0.03)
    np.testing.assert_allclose(draws.var(axis=0), fam.trials * fam.variance(mu), rtol=0.06)


def test_with_dispersion_leaves_the_family_unchanged():
    fam = FAMILIES["negbin"](np.arange(5.0), dispersion=2.0)
    other = fam.with_dispersion(7.0)
    assert fam.dispersion == 2.0 and other.dispersion == 7.0


def test_count_and_positive_outcomes_are_checked():
    with pytest.raises(ValueError, match=r"outcome 'y' must hold counts.*-1, 2.5"):
        FAMILIES["poisson"].check_outcome(np.array([0, -1, 2.5, 3]), "y")
    with pytest.raises(ValueError, match="outcome 'cost' must be positive"):
        FAMILIES["gamma"].check_outcome(np.array([1.0, 0.0]), "cost")


@pytest.mark.parametrize("name", ["poisson", "negbin"])
def test_latent_variance_of_a_log_link_needs_the_null_intercept(name):
    family = FAMILIES[name](np.array([0.0, 2.0, 5.0]), dispersion=2.0)
    with pytest.raises(ValueError, match="eta_null"):
        family.latent_variance(None)
    assert family.latent_variance(0.0) > 0


def test_family_methods_document_their_formula():
    # the subclasses' methods carry Family's sections and their own Notes
    for cls in FAMILIES.values():
        for method in ("mean", "variance", "working", "loglik_rows"):
            doc = getattr(cls, method).__doc__
            assert "Parameters\n" in doc and "Returns\n" in doc and "Notes\n" in doc, \
                (cls.__name__, method)
