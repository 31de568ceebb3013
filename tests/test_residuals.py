"""Pearson and normalized residuals (results.resid_pearson / resid_normalized) against
nlme's resid(type = "pearson" / "normalized") (tests/reference/normalized_reference.json).

Tolerance: 1e-4 absolute (the residuals are on the scale of sigma; the fits agree with
nlme's to ~1e-6, the unstructured ones to ~1e-5).
"""

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, load_reference
from test_nlme_reference import CALLS as NLME_CALLS

import mixedext as mx

CASES = load_reference("normalized_reference")["cases"]

# the nlme_reference models, fitted as test_nlme_reference fits them, and lme without
# a residual structure
CALLS = {**NLME_CALLS, "sleepstudy_lme": ("Reaction ~ Days + (Days | Subject)", {})}


@pytest.fixture(scope="module", params=CASES, ids=lambda c: c["case"])
def fitted(request):
    case = request.param
    data = pd.read_csv(ROOT / case["data_file"])
    formula, kw = CALLS[case["case"]]
    res = mx.mixedlm(formula, data, **kw).fit(reml=case["method"] == "REML")
    assert res.llf == pytest.approx(case["logLik"], abs=1e-4)
    return case, data, res


@pytest.mark.parametrize("kind", ["normalized", "pearson", "response"])
def test_against_nlme(fitted, kind):
    case, _, res = fitted
    got = {"normalized": res.resid_normalized, "pearson": res.resid_pearson,
           "response": pd.Series(np.asarray(res.resid))}[kind].to_numpy()
    np.testing.assert_allclose(got[case["row"]], case[kind], rtol=0, atol=1e-4)


def test_aligned_with_the_data_rows(fitted):
    _, data, res = fitted
    for series in (res.resid_normalized, res.resid_pearson):
        assert isinstance(series, pd.Series)
        pd.testing.assert_index_equal(series.index, data.index)


def test_normalized_whitens_the_structure(fitted):
    """Within each unit, normalized residuals times the unit's Cholesky-type factor give
    back the Pearson-scale residuals: ``T_u S_u^-1 r_u / sigma`` with ``T_u' T_u =
    C_u^-1`` (checked through the covariance: ``r' R^-1 r = ||normalized||^2``)."""
    case, _, res = fitted
    state = res.fit_state
    r = (np.asarray(res.model.endog) - np.asarray(res.fittedvalues)) / np.sqrt(res.scale)
    norm = res.resid_normalized.to_numpy()
    if not state.has_structure:
        np.testing.assert_allclose(norm, res.resid_pearson.to_numpy())
        return
    spec = state.residual_spec
    params = res.cov_struct_params.to_dict()
    times = spec.times if spec.times is not None else np.zeros(len(r))
    het = None if spec.het is None else np.asarray(spec.het[1], dtype=object)[spec.het[0]]
    for u in range(min(spec.n_units, 15)):
        rows = np.flatnonzero(spec.codes == u)
        cov = state.structure.within_unit_cov(times[rows], params,
                                              None if het is None else het[rows])
        quad = r[rows] @ np.linalg.solve(cov, r[rows])
        assert norm[rows] @ norm[rows] == pytest.approx(quad, rel=1e-9)


def test_weights_scale_pearson_residuals():
    rs = np.random.RandomState(4)
    data = pd.DataFrame({"g": np.repeat(np.arange(15), 6), "x": rs.normal(size=90),
                         "w": rs.uniform(0.5, 3, 90)})
    data["y"] = data["x"] + rs.normal(size=15)[data["g"]] + rs.normal(size=90) / np.sqrt(
        data["w"])
    res = mx.mixedlm("y ~ x + (1 | g)", data, weights="w").fit()
    r = np.asarray(res.model.endog) - np.asarray(res.fittedvalues)
    np.testing.assert_allclose(res.resid_pearson, r * np.sqrt(data["w"]) / np.sqrt(res.scale))
    np.testing.assert_allclose(res.resid_normalized, res.resid_pearson)


def test_statsmodels_fit_refused():
    data = mx.datasets.load("sleepstudy")
    res = mx.mixedlm("Reaction ~ Days", data, groups="Subject").fit(method="lbfgs")
    with pytest.raises(NotImplementedError, match="engine"):
        _ = res.resid_normalized
