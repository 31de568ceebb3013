"""Spatial / continuous-time, ARMA, Toeplitz and heterogeneous AR(1) residuals
(mixedext.structures.spatial, .arma, .toeplitz, .patterns, .pacf).

Kernels against a dense brute-force marginal likelihood (R built here from the
definitions); equalities between structures; reporting, simulation, prediction; bad
input. nlme comparisons are in test_structures2_reference.py.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.arima_process import arma_acf

import mixedext as mx
from mixedext.structures.pacf import pacf_to_autocorrelations, pacf_to_coefficients


def _panel(seed=0, n_sub=40, integer=False, coords=False):
    """Units of 2-8 rows at irregular times (or visits 0..7 with gaps) and 2-D points."""
    rs = np.random.RandomState(seed)
    rows = []
    for s in range(n_sub):
        n = rs.randint(2, 9)
        t = np.sort(rs.choice(8, n, replace=False)).astype(float) if integer else \
            np.round(np.sort(rs.uniform(0, 8, n)), 4)
        pts = np.round(rs.uniform(0, 5, (n, 2)), 4)
        for i in range(n):
            rows.append((f"s{s:02d}", t[i], pts[i, 0], pts[i, 1], rs.choice(["a", "b"]),
                         rs.normal()))
    d = pd.DataFrame(rows, columns=["subject", "t", "cx", "cy", "site", "x"])
    subj = d["subject"].str[1:].astype(int)
    # smooth within-subject noise: a random slope in t and in cx
    d["y"] = (1 + 0.3 * d.t + 0.5 * d.x + rs.normal(size=n_sub)[subj]
              + 0.4 * rs.normal(size=n_sub)[subj] * (d.t if not coords else d.cx)
              + rs.normal(size=len(d)))
    return d.sample(frac=1, random_state=seed).reset_index(drop=True)


def _f(kind, x):
    return {"exp": np.exp(-x), "gaus": np.exp(-x ** 2), "ratio": 1 / (1 + x ** 2),
            "lin": np.where(x < 1, 1 - x, 0.0),
            "spher": np.where(x < 1, 1 - 1.5 * x + 0.5 * x ** 3, 0.0)}[kind]


def _dense_r(d, unit_corr, sd=None):
    """Block-diagonal R over all rows from ``unit_corr(rows of one unit)``."""
    n = len(d)
    r = np.zeros((n, n))
    for _, idx in d.groupby("subject").indices.items():
        r[np.ix_(idx, idx)] = unit_corr(d.iloc[idx])
    if sd is not None:
        r *= np.outer(sd, sd)
    return r


def _dense_llf(d, r, tau2, sigma2, reml, formula_cols=("t", "x")):
    x = np.column_stack([np.ones(len(d))] + [d[c] for c in formula_cols])
    y = d.y.to_numpy()
    z = pd.get_dummies(d.subject).to_numpy(float)
    v = tau2 * z @ z.T + sigma2 * r
    vi = np.linalg.inv(v)
    xvx = x.T @ vi @ x
    beta = np.linalg.solve(xvx, x.T @ vi @ y)
    e = y - x @ beta
    ll = -0.5 * (np.linalg.slogdet(v)[1] + e @ vi @ e + len(y) * np.log(2 * np.pi))
    if reml:
        ll += -0.5 * np.linalg.slogdet(xvx)[1] + 0.5 * x.shape[1] * np.log(2 * np.pi)
    return ll, beta


def _spatial_corr(kind, rng, nug, cols):
    def unit(rows):
        p = rows[list(cols)].to_numpy(float)
        dist = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
        c = (1 - nug) * _f(kind, dist / rng)
        np.fill_diagonal(c, 1.0)
        return c
    return unit


def _lag_corr(acf):
    def unit(rows):
        t = rows["t"].to_numpy().astype(int)
        return np.asarray(acf)[np.abs(t[:, None] - t[None, :])]
    return unit


def _fit_reml(formula, d, reml, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mx.SingularFitWarning)
        return mx.mixedlm(formula, d, **kw).fit(reml=reml)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("kind, nugget, where, het", [
    ("exp", False, "time", False), ("exp", True, "time", True), ("gaus", True, "time", False),
    ("spher", False, "time", False), ("lin", True, "time", False),
    ("ratio", False, "time", True), ("exp", False, "coords", False),
    ("spher", True, "coords", True), ("gaus", False, "coords", False)])
def test_spatial_llf_equals_dense_marginal_likelihood(kind, nugget, where, het, reml):
    d = _panel(seed=1, coords=where == "coords")
    cols = ("t",) if where == "time" else ("cx", "cy")
    kw = dict(cov_struct=kind, nugget=nugget)
    kw.update(time="t" if where == "time" else None, coords=None if where == "time"
              else ["cx", "cy"])
    if het:
        kw["het_var"] = "site"
    res = _fit_reml("y ~ t + x + (1 | subject)", d, reml, **kw)
    p = res.cov_struct_params
    sd = d["site"].map({lev: p.get(f"sd_ratio[{lev}]", 1.0) for lev in "ab"}).to_numpy() \
        if het else None
    r = _dense_r(d, _spatial_corr(kind, p["range"], p.get("nugget", 0.0), cols), sd)
    tau2 = res.variance_components().variance.iloc[0]
    want, beta = _dense_llf(d, r, tau2, res.scale, reml)
    assert res.llf == pytest.approx(want, abs=1e-7)
    np.testing.assert_allclose(res.fe_params, beta, rtol=1e-6)
    assert res.df_modelwc == 3 + 1 + 1 + (2 if nugget else 1) + (1 if het else 0)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("kind, het", [("arma(1,1)", False), ("arma(2,1)", True),
                                       ("arma(0,2)", False), ("toeplitz", False),
                                       ("toeplitz", True)])
def test_lag_structures_llf_equal_dense_marginal_likelihood(kind, het, reml):
    d = _panel(seed=2, n_sub=60, integer=True)
    kw = dict(cov_struct=kind, time="t")
    if het:
        kw["het_var"] = "site"
    res = _fit_reml("y ~ t + x + (1 | subject)", d, reml, **kw)
    p = res.cov_struct_params
    if kind == "toeplitz":
        acf = np.r_[1.0, [p[f"rho{k}"] for k in range(1, 8)]]
        assert res.fit_state.structure.max_lag == 7
    else:
        phi = [v for k, v in p.items() if k.startswith("phi")]
        theta = [v for k, v in p.items() if k.startswith("theta")]
        acf = arma_acf(np.r_[1, -np.array(phi)], np.r_[1, np.array(theta)], lags=8)
    sd = d["site"].map({lev: p.get(f"sd_ratio[{lev}]", 1.0) for lev in "ab"}).to_numpy() \
        if het else None
    r = _dense_r(d, _lag_corr(acf), sd)
    tau2 = res.variance_components().variance.iloc[0]
    want, beta = _dense_llf(d, r, tau2, res.scale, reml)
    assert res.llf == pytest.approx(want, abs=1e-7)
    np.testing.assert_allclose(res.fe_params, beta, rtol=1e-6)


def test_pacf_maps():
    """PACF -> AR coefficients: stationary, and the AR's autocorrelations have those
    partial autocorrelations; PACF -> autocorrelations: a positive definite Toeplitz."""
    rs = np.random.RandomState(0)
    for k in range(1, 6):
        pacf = np.tanh(rs.normal(size=k))
        coef = pacf_to_coefficients(pacf)
        roots = np.roots(np.r_[-coef[::-1], 1.0])
        assert np.all(np.abs(roots) > 1)
        acf = arma_acf(np.r_[1, -coef], [1.0], lags=k + 1)
        np.testing.assert_allclose(pacf_to_autocorrelations(pacf), acf[1:], atol=1e-12)
        toeplitz = acf[np.abs(np.subtract.outer(np.arange(k + 1), np.arange(k + 1)))]
        assert np.linalg.eigvalsh(toeplitz).min() > 0


def test_exp_over_time_equals_car1_and_arma10_equals_ar1():
    """corExp over one time axis is corCAR1 with phi = exp(-1 / range) (the Markov path);
    the same model over coords=[t] (general path, a nugget of 0 held) agrees too. The
    residuals have an exponential correlation of range 1.5, so the range is inside its
    bounds (at range -> 0 both fits sit on the flat boundary of independence)."""
    d = _panel(seed=3)
    rs = np.random.RandomState(33)
    for _, idx in d.groupby("subject").indices.items():
        t = d["t"].to_numpy()[idx]
        corr = np.exp(-np.abs(t[:, None] - t[None, :]) / 1.5)
        d.loc[d.index[idx], "y"] += np.linalg.cholesky(corr) @ rs.normal(size=len(idx))
    formula = "y ~ t + x + (1 | subject)"
    exp = _fit_reml(formula, d, True, cov_struct="exp", time="t")
    car1 = _fit_reml(formula, d, True, cov_struct="car1", time="t")
    assert exp.fit_state.structure.markov
    assert exp.llf == pytest.approx(car1.llf, abs=1e-7)
    assert np.exp(-1 / exp.cov_struct_params["range"]) == pytest.approx(
        car1.cov_struct_params["phi"], rel=1e-5)
    dev = exp.fit_state.correlated_deviance()
    from mixedext.structures.spec import correlated_deviance

    gaus = mx.mixedlm(formula, d, cov_struct="gaus", time="t")
    other = correlated_deviance(gaus.residual_spec, gaus.random_terms, gaus.exog, gaus.endog)
    assert not other.structure.markov
    other.structure.f = lambda x: np.exp(-x)  # the general (Cholesky) path with exp's f
    x0 = np.r_[exp.fit_state.theta, exp.fit_state.eta]
    assert other(x0, True) == pytest.approx(dev(x0, True), abs=1e-8)
    d_int = _panel(seed=4, integer=True)
    ar1 = _fit_reml(formula, d_int, True, cov_struct="ar1", time="t")
    arma = _fit_reml(formula, d_int, True, cov_struct="arma(1,0)", time="t")
    assert arma.llf == pytest.approx(ar1.llf, abs=1e-7)
    assert arma.cov_struct_params["phi1"] == pytest.approx(ar1.cov_struct_params["rho"],
                                                           abs=1e-5)


def test_units_sharing_a_pattern_share_their_factor():
    """Balanced integer visits shifted per unit: one pattern per unit size."""
    d = _panel(seed=5, n_sub=50, integer=True)
    d["t"] = d["t"] + d["subject"].str[1:].astype(int) % 3  # shifts keep the pattern
    res = _fit_reml("y ~ t + x + (1 | subject)", d, True, cov_struct="toeplitz", time="t")
    struct = res.fit_state.structure
    n_patterns = sum(len(b.patterns) for b in struct.blocks)
    sizes = d.groupby("subject").size()
    assert n_patterns < d["subject"].nunique()
    assert sum(len(b.units) for b in struct.blocks) == len(sizes)


def test_reporting_residual_cov_summary_lrt_and_intervals():
    d = _panel(seed=6)
    formula = "y ~ t + x + (1 | subject)"
    exp = _fit_reml(formula, d, False, cov_struct="exp", time="t")
    nug = _fit_reml(formula, d, False, cov_struct="exp", time="t", nugget=True)
    assert list(nug.cov_struct_params.index) == ["range", "nugget"]
    with pytest.raises(ValueError, match="pass the positions"):
        nug.residual_cov()
    cov = nug.residual_cov(times=[0, 0.5, 2])
    p = nug.cov_struct_params
    assert cov.iloc[0, 0] == pytest.approx(nug.scale)
    assert cov.iloc[0, 2] == pytest.approx(nug.scale * (1 - p["nugget"]) * np.exp(-2 / p["range"]))
    text = nug.summary().as_text()
    assert "Residual structure: exp over 't'" in text and "nugget" in text
    out = nug.lrt(exp)
    assert out["df_diff"] == 1
    assert out["statistic"] == pytest.approx(2 * (nug.llf - exp.llf), abs=1e-9)
    assert nug.aic - exp.aic == pytest.approx(2 - 2 * (nug.llf - exp.llf))
    table = nug.conf_int_cov_struct()
    assert list(table.index) == ["range", "nugget"]
    assert (table["lower"] < table["estimate"]).all() and \
        (table["estimate"] < table["upper"]).all()
    # Wald interval symmetric on log(range) and logit(nugget)
    r = table.loc["range"]
    assert np.log(r["upper"]) - np.log(r["estimate"]) == pytest.approx(
        np.log(r["estimate"]) - np.log(r["lower"]), rel=1e-6)


def test_coords_residual_cov_labels_and_points():
    d = _panel(seed=7, coords=True)
    res = _fit_reml("y ~ x", d, True, groups="subject", re_formula="0", cov_struct="spher",
                    coords=["cx", "cy"])
    cov = res.residual_cov(times=[[0, 0], [1, 0], [0, 2]])
    assert list(cov.index) == ["(0, 0)", "(1, 0)", "(0, 2)"]
    rng = res.cov_struct_params["range"]
    x = 2 / rng
    want = res.scale * (1 - 1.5 * x + 0.5 * x ** 3) if x < 1 else 0.0
    assert cov.iloc[0, 2] == pytest.approx(want)
    assert "over 'cx, cy'" in res.summary().as_text()


def test_heterogeneous_ar1_residual_cov_has_each_times_variance():
    d = _panel(seed=8, n_sub=60, integer=True)
    res = _fit_reml("y ~ t + x + (1 | subject)", d, True, cov_struct="ar1", time="t",
                    het_var="t")
    cov = res.residual_cov()
    p = res.cov_struct_params
    sd = np.array([p[f"sd_ratio[{lev}]"] for lev in ["0.0", "1.0", "2.0", "3.0", "4.0",
                                                      "5.0", "6.0", "7.0"]])
    np.testing.assert_allclose(np.diag(cov), res.scale * sd ** 2, rtol=1e-12)
    assert cov.iloc[1, 3] == pytest.approx(res.scale * sd[1] * sd[3] * p["rho"] ** 2)


def test_simulation_follows_the_structure():
    """The empirical covariance of many simulated residual vectors of one unit is
    sigma^2 R of the fit (gls with a 2-D spherical correlation)."""
    d = _panel(seed=9, coords=True).sort_values(["subject"]).reset_index(drop=True)
    res = _fit_reml("y ~ x", d, True, groups="subject", re_formula="0", cov_struct="exp",
                    coords=["cx", "cy"])
    sims = res.simulate(4000, seed=3)
    rows = np.flatnonzero(d["subject"] == d["subject"].value_counts().idxmax())
    resid = sims[rows] - (np.asarray(res.model.exog) @ res.fe_params.to_numpy())[rows, None]
    want = res.residual_cov(times=d.loc[rows, ["cx", "cy"]].to_numpy()).to_numpy()
    np.testing.assert_allclose(np.cov(resid), want, atol=0.12 * res.scale)


def test_prediction_and_fitted_values():
    d = _panel(seed=10)
    res = _fit_reml("y ~ t + x + (1 | subject)", d, True, cov_struct="gaus", time="t",
                    nugget=True)
    x = np.column_stack([np.ones(len(d)), d.t, d.x])
    np.testing.assert_allclose(res.predict(d), x @ res.fe_params.to_numpy(), rtol=1e-12)
    blup = res.predict(d, which="conditional")
    np.testing.assert_allclose(blup, np.asarray(res.fittedvalues), rtol=1e-10)


def test_row_order_does_not_matter():
    d = _panel(seed=11, coords=True)
    kw = dict(cov_struct="exp", coords=["cx", "cy"], nugget=True)
    a = _fit_reml("y ~ t + x + (1 | subject)", d, True, **kw)
    b = _fit_reml("y ~ t + x + (1 | subject)", d.sort_values(["subject", "cx"]), True, **kw)
    assert a.llf == pytest.approx(b.llf, abs=1e-8)
    np.testing.assert_allclose(a.cov_struct_params, b.cov_struct_params, rtol=1e-5)


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(cov_struct="ar1", time="t", coords=["cx", "cy"]), ValueError, "coords="),
    (dict(cov_struct="ar1", time="t", nugget=True), ValueError, "nugget=True"),
    (dict(cov_struct="exp", time="t", coords=["cx"]), ValueError, "not both"),
    (dict(cov_struct="exp"), ValueError, "coords="),
    (dict(cov_struct="exp", coords=["cx", "site"]), TypeError, "coords column 'site'"),
    (dict(cov_struct="exp", coords=["cx", "nope"]), KeyError, "nope"),
    (dict(cov_struct="arma(1)", time="t"), ValueError, "arma\\(p,q\\)"),
    (dict(cov_struct="arma(0,0)", time="t"), ValueError, "p \\+ q"),
    (dict(cov_struct="arma(1,1)", time="cx"), ValueError, "integer times in 'cx'"),
    (dict(cov_struct="toeplitz", time="cx"), ValueError, "integer times"),
    (dict(cov_struct="sph", time="t"), ValueError, "cov_struct must be"),
    (dict(time="t", coords=["cx"]), ValueError, "coords="),
])
def test_bad_arguments(kwargs, err, match):
    d = _panel(seed=12, integer=True)
    with pytest.raises(err, match=match):
        mx.mixedlm("y ~ t + (1 | subject)", d, **kwargs)


def test_duplicate_points_named():
    d = _panel(seed=13, coords=True)
    d.loc[1, ["subject", "cx", "cy"]] = d.loc[0, ["subject", "cx", "cy"]].to_numpy()
    with pytest.raises(ValueError, match="duplicate points.*'cx', 'cy'"):
        mx.mixedlm("y ~ x + (1 | subject)", d, cov_struct="exp", coords=["cx", "cy"])


def test_toeplitz_lag_never_observed_named():
    d = _panel(seed=14, integer=True)
    d["t"] = d["t"] * 2  # only even lags
    with pytest.raises(ValueError, match="no unit has two times 1 apart in 't'"):
        mx.mixedlm("y ~ x + (1 | subject)", d, cov_struct="toeplitz", time="t")


def test_missing_coordinate_named():
    d = _panel(seed=15, coords=True)
    d.loc[3, "cy"] = np.nan
    with pytest.raises(mx.MissingDataError, match="'cy'"):
        mx.mixedlm("y ~ x + (1 | subject)", d, cov_struct="exp", coords=["cx", "cy"])


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(cov_struct="exp", coords=["cx", "nope"]), KeyError, "coords column 'nope'"),
    (dict(cov_struct="exp", coords=["cx", "site"]), TypeError, "coords column 'site'"),
    (dict(cov_struct="ar1", time="t", coords=["cx"]), ValueError, "spatial"),
    (dict(cov_struct="ar1", time="t", nugget=True), ValueError, "no nugget"),
    (dict(cov_struct="exp", time="t", variance="power(nope)"), KeyError, "'nope'"),
])
def test_dask_bad_arguments_named(kwargs, err, match):
    dd = pytest.importorskip("dask.dataframe")
    d = dd.from_pandas(_panel(seed=16, integer=True), npartitions=2)
    with pytest.raises(err, match=match):
        mx.mixedlm("y ~ t + (1 | subject)", d, **kwargs)


def test_dask_checks_that_need_all_units():
    """Checks over all units (a lag never observed, units of one row) hold on Dask, where
    each partition sees only some units, with the in-memory messages."""
    dd = pytest.importorskip("dask.dataframe")
    d = _panel(seed=14, integer=True)
    d["t"] = d["t"] * 2  # only even lags
    with pytest.raises(ValueError, match="no unit has two times 1 apart in 't'"):
        mx.mixedlm("y ~ x + (1 | subject)", dd.from_pandas(d, npartitions=3),
                   cov_struct="toeplitz", time="t")
    single = _panel(seed=15).groupby("subject").head(1)
    with pytest.raises(ValueError, match="every residual unit has a single row"):
        mx.mixedlm("y ~ x", dd.from_pandas(single, npartitions=3), groups="subject",
                   re_formula="0", cov_struct="exp", time="t")
