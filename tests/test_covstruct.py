"""Residual covariance structures (mixedext.structures: the registered kernels and spec.py).

Kernels against a dense brute-force marginal likelihood; bad input; invariances.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as sla

import mixedext as mx


def _panel(seed=0, n_sub=30, n_t=6, missing=0.2, real_times=False):
    rs = np.random.RandomState(seed)
    rows = []
    for s in range(n_sub):
        times = np.sort(rs.uniform(0, 8, n_t)) if real_times else np.arange(n_t)
        for t in times:
            if rs.rand() < missing:
                continue
            rows.append((f"s{s:02d}", t, rs.choice(["a", "b", "c"]), rs.normal()))
    d = pd.DataFrame(rows, columns=["subject", "t", "site", "x"])
    d["y"] = 1 + 0.3 * d.t + 0.5 * d.x + rs.normal(size=len(d)) * 1.3
    return d.sample(frac=1, random_state=seed).reset_index(drop=True)


def _dense_r(d, struct, params):
    """R over all rows (block-diagonal by subject) from the natural parameters."""
    n = len(d)
    r = np.zeros((n, n))
    delta = np.ones(n)
    if "het" in params:
        delta = d["site"].map(params["het"]).to_numpy()
    for _, idx in d.groupby("subject").indices.items():
        t = d["t"].to_numpy()[idx]
        if struct in ("ar1", "car1"):
            c = params["rho"] ** np.abs(t[:, None] - t[None, :])
        elif struct == "exchangeable":
            c = np.full((len(idx), len(idx)), params["rho"]) + (1 - params["rho"]) * np.eye(
                len(idx))
        elif struct == "unstructured":
            c = params["cov"][np.ix_(t.astype(int), t.astype(int))]
        else:
            c = np.eye(len(idx))
        r[np.ix_(idx, idx)] = c * np.outer(delta[idx], delta[idx])
    return r


def _dense_llf(d, r, tau2, sigma2, reml):
    """Log-likelihood and GLS fixed effects of y ~ N(X beta, tau2 Z Z' + sigma2 R)."""
    x = np.column_stack([np.ones(len(d)), d.t, d.x])
    y = d.y.to_numpy()
    z = pd.get_dummies(d.subject).to_numpy(float)
    v = tau2 * z @ z.T + sigma2 * r
    vi = np.linalg.inv(v)
    beta = np.linalg.solve(x.T @ vi @ x, x.T @ vi @ y)
    res = y - x @ beta
    ll = -0.5 * (np.linalg.slogdet(v)[1] + res @ vi @ res + len(y) * np.log(2 * np.pi))
    if reml:
        ll += -0.5 * np.linalg.slogdet(x.T @ vi @ x)[1] + 0.5 * 3 * np.log(2 * np.pi)
    return ll, beta


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("struct, het", [("ar1", False), ("ar1", True), ("car1", False),
                                         ("car1", True),
                                         ("exchangeable", False), ("exchangeable", True),
                                         ("independence", True)])
def test_llf_equals_dense_marginal_likelihood(struct, het, reml):
    d = _panel(real_times=struct == "car1")
    kw = dict(cov_struct=struct, time="t") if struct != "independence" else {}
    if het:
        kw["het_var"] = "site"
    res = mx.mixedlm("y ~ t + x + (1 | subject)", d, **kw).fit(reml=reml)
    params = res.cov_struct_params.to_dict()
    nat = {"rho": params.get("rho", params.get("phi"))}
    if het:
        nat["het"] = {lev: params.get(f"sd_ratio[{lev}]", 1.0) for lev in "abc"}
    r = _dense_r(d, struct, nat)
    tau2 = res.variance_components().variance.iloc[0]
    want, beta = _dense_llf(d, r, tau2, res.scale, reml)
    assert res.llf == pytest.approx(want, abs=1e-7)
    np.testing.assert_allclose(res.fe_params, beta, rtol=1e-7)


@pytest.mark.parametrize("reml", [True, False])
def test_unstructured_llf_equals_dense(reml):
    d = _panel(n_sub=60, n_t=4, missing=0.15)
    res = mx.mixedlm("y ~ t + x", d, groups="subject", re_formula="0",
                     cov_struct="unstructured", time="t").fit(reml=reml)
    cov = res.residual_cov().to_numpy() / res.scale
    r = _dense_r(d, "unstructured", {"cov": cov})
    x = np.column_stack([np.ones(len(d)), d.t, d.x])
    y = d.y.to_numpy()
    v = res.scale * r
    vi = np.linalg.inv(v)
    beta = np.linalg.solve(x.T @ vi @ x, x.T @ vi @ y)
    e = y - x @ beta
    ll = -0.5 * (np.linalg.slogdet(v)[1] + e @ vi @ e + len(y) * np.log(2 * np.pi))
    if reml:
        ll += -0.5 * np.linalg.slogdet(x.T @ vi @ x)[1] + 1.5 * np.log(2 * np.pi)
    assert res.llf == pytest.approx(ll, abs=1e-7)
    np.testing.assert_allclose(res.fe_params, beta, rtol=1e-6)
    assert np.allclose(np.diag(np.linalg.cholesky(cov)) > 0, True)


def test_exchangeable_gls_equals_random_intercept():
    d = _panel(seed=3, missing=0.0)
    cs = mx.mixedlm("y ~ t + x", d, groups="subject", re_formula="0",
                    cov_struct="exchangeable").fit()
    ri = mx.mixedlm("y ~ t + x + (1 | subject)", d).fit()
    if ri.variance_components().variance.iloc[0] > 1e-8:  # CS with rho >= 0 is the RI model
        assert cs.llf == pytest.approx(ri.llf, abs=1e-6)


def test_row_order_does_not_matter():
    d = _panel(seed=4)
    a = mx.mixedlm("y ~ t + x + (1 | subject)", d, cov_struct="ar1", time="t").fit()
    b = mx.mixedlm("y ~ t + x + (1 | subject)", d.sort_values(["subject", "t"]),
                   cov_struct="ar1", time="t").fit()
    assert a.llf == pytest.approx(b.llf, abs=1e-8)
    assert a.cov_struct_params["rho"] == pytest.approx(b.cov_struct_params["rho"], abs=1e-6)
    fa = pd.Series(np.asarray(a.fittedvalues), index=d.index)
    order = d.sort_values(["subject", "t"]).index
    np.testing.assert_allclose(fa.loc[order], np.asarray(b.fittedvalues), atol=1e-6)


def test_ar1_residual_cov_and_params():
    d = _panel(seed=5)
    res = mx.mixedlm("y ~ t + x + (1 | subject)", d, cov_struct="ar1", time="t").fit()
    rho = res.cov_struct_params["rho"]
    cov = res.residual_cov()
    assert list(cov.index) == [str(t) for t in range(6)]
    assert cov.iloc[0, 2] == pytest.approx(res.scale * rho ** 2)
    assert res.df_modelwc == 3 + 1 + 1 + 1


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(cov_struct="ar1"), ValueError, "time="),
    (dict(cov_struct="ar2", time="t"), ValueError, "cov_struct must be"),
    (dict(cov_struct="ar1", time="site"), TypeError, "'site' must be numeric"),
    (dict(cov_struct="ar1", time="when"), KeyError, "'when'"),
])
def test_bad_arguments(kwargs, err, match):
    d = _panel(seed=6)
    with pytest.raises(err, match=match):
        mx.mixedlm("y ~ t + (1 | subject)", d, **kwargs)


def test_duplicate_times_named():
    d = _panel(seed=7)
    d = pd.concat([d, d.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match="duplicate times.*'t'"):
        mx.mixedlm("y ~ t + (1 | subject)", d, cov_struct="ar1", time="t")


def test_no_grouping_for_cov_struct():
    d = _panel(seed=8)
    with pytest.raises(ValueError, match="groups"):
        mx.mixedlm("y ~ t", d, cov_struct="ar1", time="t")


def test_unstructured_too_many_times():
    d = _panel(seed=9, n_t=30, missing=0.0)
    with pytest.raises(ValueError, match="too many"):
        mx.mixedlm("y ~ t", d, groups="subject", re_formula="0", cov_struct="unstructured",
                   time="t")


def test_missing_time_value_named():
    d = _panel(seed=10)
    d.loc[2, "t"] = np.nan
    with pytest.raises(mx.MissingDataError, match="'t'"):
        mx.mixedlm("y ~ x + (1 | subject)", d, cov_struct="ar1", time="t")


def test_dense_r_helper_is_correlation():
    d = _panel(seed=11)
    r = _dense_r(d, "ar1", {"rho": 0.5})
    assert np.allclose(np.diag(r), 1) and np.all(sla.eigvalsh(r) > 0)


def test_summary_shows_structure_and_lrt_compares_structures():
    d = _panel(seed=12)
    ar1 = mx.mixedlm("y ~ t + x + (1 | subject)", d, cov_struct="ar1", time="t").fit()
    ind = mx.mixedlm("y ~ t + x + (1 | subject)", d).fit()
    text = ar1.summary().as_text()
    assert "Residual structure: ar1 over 't'" in text and "rho" in text
    out = ar1.lrt(ind)
    assert out["df_diff"] == 1 and out["distribution"] == "chi2(1)"
    assert out["statistic"] == pytest.approx(2 * (ar1.llf - ind.llf), abs=1e-9)
    assert "ICC: level" in text


def test_summary_of_gls_type_model_has_no_icc_block():
    d = _panel(seed=12)
    gls = mx.mixedlm("y ~ t + x", d, groups="subject", re_formula="0", cov_struct="ar1",
                     time="t").fit()
    text = gls.summary().as_text()
    assert "Residual structure: ar1 over 't'" in text and "ICC" not in text


def _dense_z_lambda(model, theta):
    """``Z Lambda`` over all rows, from the model's terms (dense)."""
    from mixedext._engine.factor import lambda_blocks

    blocks = []
    for term, lam in zip(model._terms, lambda_blocks(np.asarray(theta), model._terms)):
        z = np.ones((model.nobs, 1)) if term.z is None else np.asarray(term.z)
        zfull = np.zeros((model.nobs, term.n_units * term.q))
        for a in range(term.q):
            zfull[np.arange(model.nobs), term.codes * term.q + a] = z[:, a]
        blocks.append(zfull @ np.kron(np.eye(term.n_units), lam))
    return np.hstack(blocks)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("formula", ["y ~ t + x + (1 | site/subject)",
                                     "y ~ t + x + (1 + t | subject)",
                                     "y ~ t + x + (1 | site) + (1 | subject)"])
def test_several_random_terms_with_ar1_equal_dense_likelihood(formula, reml):
    """Several terms (blocks between terms, per-unit sums to the outer level) and q = 2."""
    d = _panel(seed=13, n_sub=40)
    d["site"] = d["subject"].map(lambda s: "s" + str(int(s[1:]) % 5))
    rs = np.random.RandomState(13)
    subj = d["subject"].str[1:].astype(int).to_numpy()
    d["y"] += (rs.normal(size=5)[subj % 5] + rs.normal(size=40)[subj]
               + 0.3 * rs.normal(size=40)[subj] * d["t"])
    model = mx.mixedlm(formula, d, cov_struct="ar1", time="t")
    res = model.fit(reml=reml)
    zl = _dense_z_lambda(model, res.theta)
    r = _dense_r(d, "ar1", {"rho": res.cov_struct_params["rho"]})
    v = res.scale * (zl @ zl.T + r)
    x = np.asarray(model.exog)
    y = np.asarray(model.endog)
    vi = np.linalg.inv(v)
    beta = np.linalg.solve(x.T @ vi @ x, x.T @ vi @ y)
    e = y - x @ beta
    ll = -0.5 * (np.linalg.slogdet(v)[1] + e @ vi @ e + len(y) * np.log(2 * np.pi))
    if reml:
        ll += -0.5 * np.linalg.slogdet(x.T @ vi @ x)[1] + 0.5 * x.shape[1] * np.log(2 * np.pi)
    assert res.llf == pytest.approx(ll, abs=1e-7)
    np.testing.assert_allclose(res.fe_params, beta, rtol=1e-7)


def _dense_profiled_reml_deviance(x, y, vrel):
    """REML deviance profiled over sigma^2 for Var(y) = sigma^2 vrel."""
    n, p = x.shape
    vi = np.linalg.inv(vrel)
    xvx = x.T @ vi @ x
    beta = np.linalg.solve(xvx, x.T @ vi @ y)
    e = y - x @ beta
    r2 = e @ vi @ e
    return (np.linalg.slogdet(vrel)[1] + np.linalg.slogdet(xvx)[1]
            + (n - p) * (1 + np.log(2 * np.pi * r2 / (n - p))))


@pytest.mark.parametrize("theta", [0.0, 0.8])
def test_unstructured_with_random_intercept_equals_dense_deviance(theta):
    """Per-unit Gram rows of the random-effect columns under an unstructured R, at a point
    away from the optimum (the model itself is not identified: UN contains CS)."""
    d = _panel(seed=14, n_sub=50, n_t=4, missing=0.15)
    model = mx.mixedlm("y ~ t + x + (1 | subject)", d, cov_struct="unstructured", time="t")
    from mixedext.structures.spec import correlated_deviance

    dev = correlated_deviance(model._residual_spec, model._terms, model.exog, model.endog)
    eta = np.random.RandomState(14).normal(scale=0.4, size=dev.structure.n_eta)
    got = dev(np.r_[theta, eta], True)
    corr, sd = dev.structure._corr_sd(eta)
    cov = corr * np.outer(sd, sd)
    zl = _dense_z_lambda(model, [theta])
    vrel = zl @ zl.T + _dense_r(d, "unstructured", {"cov": cov})
    want = _dense_profiled_reml_deviance(np.asarray(model.exog), np.asarray(model.endog), vrel)
    assert got == pytest.approx(want, abs=1e-8)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("struct", ["ar1", "car1", "exchangeable"])
def test_structure_se_is_profile_curvature(struct, reml):
    """The SE of the structure's parameter (unbounded scale) from the joint Hessian equals
    sqrt(2 / p''(eta)), p the deviance profiled over theta, by an independent route."""
    from scipy.optimize import minimize_scalar

    d = _panel(seed=15, n_sub=60, real_times=struct == "car1").sort_values(["subject", "t"])
    rs = np.random.RandomState(15)
    e, prev = np.empty(len(d)), {}
    for i, (s, t) in enumerate(zip(d["subject"], d["t"])):  # AR(1) errors, phi = 0.6
        a = 0.6 ** (t - prev[s][0]) if s in prev else 0.0
        e[i] = a * prev[s][1] + np.sqrt(1 - a ** 2) * rs.normal() if s in prev else rs.normal()
        prev[s] = (t, e[i])
    d["y"] = (1 + 0.3 * d["t"] + 0.5 * d["x"] + 1.5 * e
              + rs.normal(size=60)[d["subject"].str[1:].astype(int)])  # no white noise
    formula = "y ~ t + x + (1 | subject)" if struct != "exchangeable" else "y ~ t + x"
    kw = dict(cov_struct=struct, time="t")
    if struct == "exchangeable":
        kw = dict(cov_struct=struct, groups="subject", re_formula="0")
    res = mx.mixedlm(formula, d, **kw).fit(reml=reml)
    dev = res.fit_state.correlated_deviance()
    eta0 = res.fit_state.eta[0]

    def profile(e):
        if struct == "exchangeable":
            return dev(np.array([e]), reml)
        return minimize_scalar(lambda th: dev(np.array([abs(th), e]), reml),
                               bracket=(0.3, 1.0), tol=1e-12).fun

    h = 1e-3
    curv = (profile(eta0 + h) - 2 * profile(eta0) + profile(eta0 - h)) / h ** 2
    table = res.conf_int_cov_struct()
    name = table.index[0]
    link, inv = dev.structure.link(name)
    # d(link)/d(eta): the structures' own scales are affine in the link scales
    slope = (link(dev.structure.natural([eta0 + 1e-6])[name])
             - link(dev.structure.natural([eta0 - 1e-6])[name])) / 2e-6
    half = (link(table.loc[name, "upper"]) - link(table.loc[name, "lower"])) / (2 * 1.959964)
    # both sides are central differences with steps ~1e-3 (truncation ~1e-6); across
    # numpy/BLAS builds they move by up to ~1e-5 relative: tolerance 1e-4
    assert half == pytest.approx(abs(slope) * np.sqrt(2 / curv), rel=1e-4)
    # the delta-method SE on the natural scale
    deriv = (inv(link(table.loc[name, "estimate"]) + 1e-6)
             - inv(link(table.loc[name, "estimate"]) - 1e-6)) / 2e-6
    assert table.loc[name, "std_err"] == pytest.approx(half * deriv, rel=1e-5)


def test_conf_int_cov_struct_needs_a_structure():
    res = mx.mixedlm("y ~ t + x + (1 | subject)", _panel(seed=16)).fit()
    with pytest.raises(ValueError, match="no residual structure"):
        res.conf_int_cov_struct()
    with pytest.raises(ValueError, match="alpha"):
        res.conf_int_cov_struct(alpha=1.5)


def test_structure_interval_on_the_boundary_is_nan():
    """Independent residuals fitted with continuous-time AR(1): phi goes to 0."""
    d = _panel(seed=15, n_sub=60, real_times=True)
    with pytest.warns(mx.SingularFitWarning, match=r"residual-structure.*phi = 0"):
        res = mx.mixedlm("y ~ t + x", d, groups="subject", re_formula="0",
                         cov_struct="car1", time="t").fit()
    table = res.conf_int_cov_struct()
    assert table.loc["phi", "estimate"] < 1e-6
    assert table.loc["phi", ["std_err", "lower", "upper"]].isna().all()


def test_bootstrap_refits_with_a_residual_structure_equal_full_refits():
    """Each bootstrap refit equals fitting the model anew to that simulated response."""
    from mixedext.inference.profile import bootstrap_refits

    d = _panel(seed=17, n_sub=40)
    d["y"] += np.random.RandomState(17).normal(size=40)[d["subject"].str[1:].astype(int)]
    formula, kw = "y ~ t + x + (1 | subject)", dict(cov_struct="ar1", time="t")
    res = mx.mixedlm(formula, d, **kw).fit()
    refits = bootstrap_refits(res, 3, seed=4)
    sims = res.simulate(3, seed=4)
    for (theta, sigma2, beta), y in zip(refits, sims.T):
        again = mx.mixedlm(formula, d.assign(y=y), **kw).fit()
        np.testing.assert_allclose(theta, again.theta, rtol=1e-4)
        assert sigma2 == pytest.approx(again.scale, rel=1e-5)
        np.testing.assert_allclose(beta, again.fe_params, rtol=1e-5)
    table = res.conf_int_vc("bootstrap", n_boot=40, seed=1)
    assert ((table["lower"] <= table["estimate"]) & (table["estimate"] <= table["upper"])).all()


def _ml_deviance(dev, theta, sigma, eta):
    """ML deviance (not profiled in sigma) of a model with a residual structure."""
    if not dev.set_eta(np.atleast_1d(eta)):
        return np.inf
    f = dev.inner.factor(np.atleast_1d(theta))
    r2 = f.lxx[-1, -1] ** 2
    n = dev.inner.n
    return f.logdet + n * np.log(2 * np.pi * sigma ** 2) + r2 / sigma ** 2 + dev.logdet_r


def test_profile_intervals_with_ar1_profile_rho_along():
    """At each endpoint of the SD intervals the ML deviance, minimised over everything else
    (rho included) by Nelder-Mead in another parametrisation, is chi2_1(0.95) above its
    minimum."""
    from scipy.optimize import minimize
    from scipy.stats import chi2

    d = _panel(seed=5, n_sub=60)
    d["y"] += np.random.RandomState(1).normal(size=60)[d["subject"].str[1:].astype(int)]
    model = mx.mixedlm("y ~ t + x + (1 | subject)", d, cov_struct="ar1", time="t")
    res = model.fit()
    table = res.conf_int_vc("profile")
    ml = model.fit(reml=False)
    dev = ml.fit_state.correlated_deviance()
    d_hat = _ml_deviance(dev, ml.theta.iloc[0], np.sqrt(ml.scale), ml.fit_state.eta)
    target = chi2.ppf(0.95, 1)
    for side in ("lower", "upper"):
        tau = table.loc[0, side]  # subject SD held at tau: free log sigma and eta
        best = minimize(lambda v, tau=tau: _ml_deviance(dev, tau / np.exp(v[0]), np.exp(v[0]),
                                                        v[1]),
                        [np.log(np.sqrt(ml.scale)), ml.fit_state.eta[0]],
                        method="Nelder-Mead", options=dict(xatol=1e-9, fatol=1e-11))
        assert best.fun - d_hat == pytest.approx(target, abs=2e-3)
        sigma = table.loc[1, side]  # residual SD held: free theta and eta
        best = minimize(lambda v, sigma=sigma: _ml_deviance(dev, abs(v[0]), sigma, v[1]),
                        [ml.theta.iloc[0], ml.fit_state.eta[0]],
                        method="Nelder-Mead", options=dict(xatol=1e-9, fatol=1e-11))
        assert best.fun - d_hat == pytest.approx(target, abs=2e-3)


@pytest.mark.parametrize("struct", [None, "ar1"])
def test_variance_standard_errors_equal_dense_information(struct):
    """bse_re (labelled) = SE of the variances from the observed information of the dense
    REML likelihood in (tau^2, sigma^2[, rho]) -- rho's uncertainty included."""
    d = _panel(seed=5, n_sub=60)
    d["y"] += np.random.RandomState(1).normal(size=60)[d["subject"].str[1:].astype(int)]
    kw = {} if struct is None else dict(cov_struct="ar1", time="t")
    res = mx.mixedlm("y ~ t + x + (1 | subject)", d, **kw).fit()
    x = np.column_stack([np.ones(len(d)), d.t, d.x])
    y = d.y.to_numpy()
    z = pd.get_dummies(d.subject).to_numpy(float)

    def neg_llf(v):
        rho = np.tanh(v[2]) if struct else 0.0
        r = _dense_r(d, "ar1", {"rho": rho})
        vm = v[0] * z @ z.T + v[1] * r
        vi = np.linalg.inv(vm)
        xvx = x.T @ vi @ x
        e = y - x @ np.linalg.solve(xvx, x.T @ vi @ y)
        return 0.5 * (np.linalg.slogdet(vm)[1] + e @ vi @ e + np.linalg.slogdet(xvx)[1])

    tau2 = res.variance_components().variance.iloc[0]
    v0 = np.array([tau2, res.scale] + ([res.fit_state.eta[0]] if struct else []))
    from mixedext._engine.differences import central_hessian

    cov = np.linalg.inv(central_hessian(neg_llf, v0, 1e-3 * np.maximum(np.abs(v0), 0.1)))
    bse = res.bse_re
    assert list(bse.index) == ["subject Var"]
    assert bse.iloc[0] == pytest.approx(np.sqrt(cov[0, 0]), rel=2e-3)


def test_satterthwaite_with_ar1_equals_dense_computation():
    """df = 2 (l'Cl)^2 / (g' A g) over v = (tau^2, sigma^2, atanh rho), C(v) = (X'V^-1X)^-1,
    A = 2 H^-1 of the dense REML deviance: rho's uncertainty included."""
    from mixedext._engine.differences import central_hessian

    d = _panel(seed=5, n_sub=60)
    d["y"] += np.random.RandomState(1).normal(size=60)[d["subject"].str[1:].astype(int)]
    res = mx.mixedlm("y ~ t + x + (1 | subject)", d, cov_struct="ar1", time="t").fit()
    x = np.column_stack([np.ones(len(d)), d.t, d.x])
    y = d.y.to_numpy()
    z = pd.get_dummies(d.subject).to_numpy(float)

    def v_of(v):
        return v[0] * z @ z.T + v[1] * _dense_r(d, "ar1", {"rho": np.tanh(v[2])})

    def deviance(v):
        vi = np.linalg.inv(v_of(v))
        xvx = x.T @ vi @ x
        e = y - x @ np.linalg.solve(xvx, x.T @ vi @ y)
        return np.linalg.slogdet(v_of(v))[1] + e @ vi @ e + np.linalg.slogdet(xvx)[1]

    def vcov(v):
        return np.linalg.inv(x.T @ np.linalg.inv(v_of(v)) @ x)

    v0 = np.array([res.variance_components().variance.iloc[0], res.scale,
                   res.fit_state.eta[0]])
    h = 1e-4 * np.maximum(np.abs(v0), 0.1)
    a = 2 * np.linalg.inv(central_hessian(deviance, v0, h))
    table = res._ddf_table(np.eye(3), "satterthwaite")
    for j in range(3):
        grad = np.array([(vcov(v0 + h[i] * np.eye(3)[i])[j, j]
                          - vcov(v0 - h[i] * np.eye(3)[i])[j, j]) / (2 * h[i])
                         for i in range(3)])
        want = 2 * vcov(v0)[j, j] ** 2 / (grad @ a @ grad)
        assert table["df"].iloc[j] == pytest.approx(want, rel=1e-3)
