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
