"""Variance functions (mixedext.structures.variance: ``variance=``).

Against a dense brute-force marginal likelihood ``y ~ N(X beta, tau^2 ZZ' + sigma^2 S C
S)`` (every function, per level of a factor, combined with each correlation structure:
AR(1), CAR(1), exchangeable, unstructured, spatial over time and over 2-D points, with
and without a nugget, ARMA and Toeplitz); the varIdent paths against each other; bad
input; residuals, covariance, prediction and simulation of a variance-function fit.
nlme's fits: test_nlme_varfunc_reference.py and test_nlme_combined_reference.py.
"""

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.arima_process import arma_acf
from test_covstruct import _dense_llf  # y ~ N(X beta, tau2 ZZ' + sigma2 R), X = [1, t, x]

import mixedext as mx


def _panel(seed=0, n_sub=30, n_t=6, missing=0.2):
    rs = np.random.RandomState(seed)
    rows = []
    for s in range(n_sub):
        for t in range(n_t):
            if rs.rand() < missing:
                continue
            rows.append((f"s{s:02d}", t, rs.choice(["a", "b", "c"]), rs.choice(["p", "q"]),
                         rs.normal(), rs.uniform(0.5, 3.0), rs.uniform(-1.5, 1.5)))
    d = pd.DataFrame(rows, columns=["subject", "t", "site", "arm", "x", "v", "z"])
    subj = d["subject"].str[1:].astype(int).to_numpy()
    d["y"] = (1 + 0.3 * d.t + 0.5 * d.x + 0.7 * rs.normal(size=n_sub)[subj]
              + d.v ** 0.6 * np.exp(0.2 * d.z) * rs.normal(size=len(d)))
    return d.sample(frac=1, random_state=seed).reset_index(drop=True)


def _sd(d, params, variance):
    """Each row's SD factor from the natural parameters (written out per function)."""
    s = np.ones(len(d))
    for part in variance.split("*"):
        name, arg = part.strip()[:-1].split("(")
        cov, _, fac = (a.strip() for a in arg.partition("|"))

        def p(base, i, fac=fac):
            return params[base] if not fac else params[f"{base}[{d[fac].iloc[i]}]"]

        v = d[cov].to_numpy() if name != "ident" else None
        for i in range(len(d)):
            if name == "power":
                s[i] *= abs(v[i]) ** p("power", i)
            elif name == "exp":
                s[i] *= np.exp(p("expon", i) * v[i])
            elif name == "constpower":
                s[i] *= p("const", i) + abs(v[i]) ** p("power", i)
            elif name == "ident":
                s[i] *= params[f"sd_ratio[{d[cov].iloc[i]}]"]
    return s


def _with_coords(d, seed=11):
    """``d`` with 2-D points ``cx``, ``cy`` per row (a stream of their own)."""
    rs = np.random.RandomState(seed)
    return d.assign(cx=np.round(rs.uniform(0, 5, len(d)), 4),
                    cy=np.round(rs.uniform(0, 5, len(d)), 4))


_SPATIAL = {"exp": lambda x: np.exp(-x), "gaus": lambda x: np.exp(-x ** 2),
            "spher": lambda x: np.where(x < 1, 1 - 1.5 * x + 0.5 * x ** 3, 0.0),
            "ratio": lambda x: 1 / (1 + x ** 2)}


def _lag_acf(struct, params, max_lag):
    """Autocorrelations at lags 0..max_lag of ARMA(p, q), or of Toeplitz at its lags
    (from the parameters' names)."""
    if struct == "toeplitz":  # lags up to the longest span within a unit
        return np.r_[1.0, [params[f"rho{k}"] for k in range(1, 1 + sum(
            n.startswith("rho") for n in params))]]
    phi = [params[n] for n in sorted(params) if n.startswith("phi")]
    theta = [params[n] for n in sorted(params) if n.startswith("theta")]
    return arma_acf(np.r_[1.0, -np.asarray(phi)], np.r_[1.0, theta], lags=max_lag + 1)


def _corr(d, struct, params):
    n = len(d)
    c = np.zeros((n, n))
    t = d["t"].to_numpy(dtype=float)
    kind = None if struct is None else struct.split()[0]
    for _, idx in d.groupby("subject").indices.items():
        ti = t[idx]
        if struct in ("ar1", "car1"):
            block = params.get("rho", params.get("phi")) ** np.abs(ti[:, None] - ti[None, :])
        elif struct == "exchangeable":
            block = np.full((len(idx), len(idx)), params["rho"])
            np.fill_diagonal(block, 1.0)
        elif struct == "unstructured":
            block = np.eye(len(idx))
            for a in range(len(idx)):
                for b in range(a):
                    lo, hi = sorted((ti[a], ti[b]))
                    block[a, b] = block[b, a] = params[f"corr[{lo:g},{hi:g}]"]
            block *= np.outer(*(2 * [[params[f"sd_ratio[{x:g}]"] for x in ti]]))
        elif kind in _SPATIAL:  # over t, or over (cx, cy) with "coords"
            pts = d[["cx", "cy"]].to_numpy()[idx] if "coords" in struct else ti[:, None]
            dist = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
            block = (1 - params.get("nugget", 0.0)) * _SPATIAL[kind](dist / params["range"])
            np.fill_diagonal(block, 1.0)
        elif kind in ("arma(1,1)", "toeplitz"):
            lag = np.abs(ti[:, None] - ti[None, :]).astype(int)
            block = _lag_acf(kind, params, int(t.max() - t.min()))[lag]
        else:
            block = np.eye(len(idx))
        c[np.ix_(idx, idx)] = block
    return c


def _with_correlated_errors(d, struct, seed=12):
    """``d`` with ``y`` plus errors of SD ``2 v^0.6 exp(0.2 z)`` (twice those of
    ``_panel``) correlated as ``exp(-dist / 2)`` within a subject (over ``t``, or ``(cx,
    cy)`` for a "coords" structure), so that the correlation parameters are inside their
    range."""
    rs = np.random.RandomState(seed)
    cols = ["cx", "cy"] if "coords" in struct else ["t"]
    y = d["y"].to_numpy().copy()
    for _, idx in d.groupby("subject").indices.items():
        pts = d[cols].to_numpy(float)[idx]
        dist = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
        y[idx] += np.linalg.cholesky(np.exp(-dist / 2)) @ rs.normal(size=len(idx))
    sd = 2.0 * d.v.to_numpy() ** 0.6 * np.exp(0.2 * d.z.to_numpy())
    return d.assign(y=d["y"] + (y - d["y"].to_numpy()) * sd)


def _structure_kw(struct):
    """``mixedlm`` arguments of a CASES structure: "kind [coords] [nugget]"."""
    if struct is None:
        return {}
    kind, *flags = struct.split()
    kw = dict(cov_struct=kind, nugget=True) if "nugget" in flags else dict(cov_struct=kind)
    return kw | (dict(coords=["cx", "cy"]) if "coords" in flags else dict(time="t"))


def _het(d, params, het_var):
    return np.ones(len(d)) if het_var is None else \
        d[het_var].map(lambda lev: params[f"sd_ratio[{lev}]"]).to_numpy()


CASES = [  # (random intercept?, cov_struct, variance, het_var)
    (True, None, "power(v)", None),
    (True, None, "exp(z)", None),
    (True, None, "constpower(v)", None),
    (True, None, "power(v | site)", None),
    (True, None, "constpower(v | arm)", None),
    (True, None, "exp(z | site)", None),
    (True, None, "ident(site) * power(v)", None),
    (True, None, "power(v) * exp(z)", None),
    (True, "ar1", "power(v)", None),
    (True, "ar1", "exp(z)", "site"),
    (True, "car1", "constpower(v)", None),
    (False, "exchangeable", "exp(z)", None),
    (False, "unstructured", "power(v)", None),
    (False, None, "power(v | site)", None),
    (False, "ar1", "ident(site) * power(v)", None),
    (True, "exp", "power(v)", None),  # corExp over time: the Markov path
    (True, "exp", "exp(z)", "site"),
    (False, "exp nugget", "power(v | site)", None),
    (True, "gaus coords", "exp(z)", None),
    (False, "spher coords nugget", "power(v)", None),
    (False, "ratio", "constpower(v)", None),
    (True, "arma(1,1)", "power(v)", None),
    (False, "toeplitz", "ident(site) * power(v)", None),
]
# a natural parameter moved outside its range (a nugget below 0) has no likelihood
_VALID = {"nugget": lambda v: 0 <= v < 1}


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("ri, struct, variance, het_var", CASES)
def test_llf_equals_dense_marginal_likelihood(ri, struct, variance, het_var, reml):
    d = _panel(seed=1, n_sub=25 if struct == "unstructured" else 30, n_t=4 if struct ==
               "unstructured" else 6, missing=0.1 if struct == "unstructured" else 0.2)
    if struct == "car1":
        d["t"] = d["t"] + np.random.RandomState(2).uniform(0, 0.5, len(d))
    if struct is not None and "coords" in struct:
        d = _with_coords(d)
    if struct is not None and struct.split()[0] in (*_SPATIAL, "arma(1,1)", "toeplitz"):
        d = _with_correlated_errors(d, struct)
    kw = dict(variance=variance, het_var=het_var) | _structure_kw(struct)
    formula = "y ~ t + x + (1 | subject)" if ri else "y ~ t + x"
    if not ri:
        kw.update(groups="subject", re_formula="0")
    res = mx.mixedlm(formula, d, **kw).fit(reml=reml)
    params = res.cov_struct_params.to_dict()
    het_name = het_var or ("site" if variance.startswith("ident(site)") else None)
    s = _sd(d, params, variance.replace("ident(site) * ", "")) * _het(d, params, het_name)
    r = _corr(d, struct, params) * np.outer(s, s)
    tau2 = res.variance_components().variance.iloc[0] if ri else 0.0
    want, beta = _dense_llf(d, r, tau2, res.scale, reml)
    assert res.llf == pytest.approx(want, abs=1e-7)
    np.testing.assert_allclose(res.fe_params, beta, rtol=1e-6)
    # the optimum: the dense likelihood is no higher a little away from it
    for name in [n for n in params if not n.startswith(("sd_ratio", "corr"))]:
        for step in (-1e-3, 1e-3):
            moved = dict(params, **{name: params[name] * (1 + step) + step})
            if not _VALID.get(name, lambda v: True)(moved[name]):
                continue
            s2 = _sd(d, moved, variance.replace("ident(site) * ", "")) * _het(d, moved,
                                                                                 het_name)
            r2 = _corr(d, struct, moved) * np.outer(s2, s2)
            # sigma^2 and tau^2 held: a lower bound of the profiled likelihood there
            assert _dense_llf(d, r2, tau2, res.scale, reml)[0] <= want + 1e-9


@pytest.mark.parametrize("formula, kw", [
    ("y ~ t + x + (1 | subject)", {}),
    ("y ~ t + x + (1 | subject)", dict(cov_struct="ar1", time="t")),
    ("y ~ t + x", dict(groups="subject", re_formula="0", cov_struct="exchangeable")),
])
def test_ident_spelling_equals_het_var(formula, kw):
    """variance="ident(g)" is het_var="g" (the structure's O(units) path), also in a
    product with another function."""
    d = _panel(seed=3)
    a = mx.mixedlm(formula, d, het_var="site", **kw).fit()
    b = mx.mixedlm(formula, d, variance="ident(site)", **kw).fit()
    assert b.llf == a.llf
    pd.testing.assert_series_equal(a.cov_struct_params, b.cov_struct_params)
    assert b.fit_state.residual_spec.het_name == "site"
    assert not b.fit_state.residual_spec.variance
    c = mx.mixedlm(formula, d, het_var="site", variance="power(v)", **kw).fit()
    e = mx.mixedlm(formula, d, variance="ident(site) * power(v)", **kw).fit()
    assert e.llf == c.llf


def test_row_wise_ident_equals_the_structures_het():
    """A second ident factor takes the row-wise path (variance.ident.Ident): swapping
    which factor is the structure's het leaves the model, and the fit, unchanged."""
    d = _panel(seed=4)
    a = mx.mixedlm("y ~ t + x + (1 | subject)", d, het_var="site", variance="ident(arm)")
    b = mx.mixedlm("y ~ t + x + (1 | subject)", d, het_var="arm", variance="ident(site)")
    assert [f.kind for f in a.residual_spec.variance] == ["ident"]
    ra, rb = a.fit(), b.fit()
    assert ra.llf == pytest.approx(rb.llf, abs=1e-8)
    pd.testing.assert_series_equal(ra.cov_struct_params.sort_index(),
                                   rb.cov_struct_params.sort_index(), rtol=1e-5)


def test_ident_with_unstructured_takes_the_row_wise_path():
    """'unstructured' has its own variance per time (no het): ident(g) is row-wise there."""
    d = _panel(seed=5, n_sub=40, n_t=4, missing=0.1)
    with pytest.raises(ValueError, match="already has a variance per time"):
        mx.mixedlm("y ~ t + x", d, groups="subject", re_formula="0",
                   cov_struct="unstructured", time="t", het_var="arm")
    res = mx.mixedlm("y ~ t + x", d, groups="subject", re_formula="0",
                     cov_struct="unstructured", time="t", variance="ident(arm)").fit()
    params = res.cov_struct_params.to_dict()
    s = d["arm"].map(lambda a: params[f"sd_ratio[{a}]"]).to_numpy()
    r = _corr(d, "unstructured", params) * np.outer(s, s)
    assert res.llf == pytest.approx(_dense_llf(d, r, 0.0, res.scale, True)[0], abs=1e-7)


@pytest.mark.parametrize("kw", [
    dict(cov_struct="ar1", time="t", variance="power(v | site)"),
    dict(cov_struct="exp", time="t", variance="power(v)"),  # the Markov path
    dict(cov_struct="exp", coords=["cx", "cy"], variance="exp(z)"),
    dict(cov_struct="spher", coords=["cx", "cy"], nugget=True, variance="power(v | site)"),
], ids=["ar1", "exp-time", "exp-coords", "spher-coords-nugget"])
def test_row_order_does_not_matter(kw):
    """Shuffled rows (``_panel``'s) and rows sorted by unit then position fit the same
    model: the variance functions' SDs follow their rows through the structure's
    reordering (by unit and time; by unit alone for the points of coords=)."""
    d = _with_coords(_panel(seed=6))
    if kw["cov_struct"] != "ar1":  # a correlation inside its range
        d = _with_correlated_errors(d, "coords" if "coords" in kw else "time")
    a = mx.mixedlm("y ~ t + x + (1 | subject)", d, **kw).fit()
    b = mx.mixedlm("y ~ t + x + (1 | subject)", d.sort_values(["subject", "t"]), **kw).fit()
    assert a.llf == pytest.approx(b.llf, abs=1e-8)
    pd.testing.assert_series_equal(a.cov_struct_params, b.cov_struct_params, rtol=1e-5)
    # normalized residuals whiten in the data's row order within a unit (as nlme's):
    # each subject's sum of squares, r' R^-1 r, does not depend on it
    ssq = [res.resid_normalized.pow(2).groupby(d["subject"]).sum() for res in (a, b)]
    pd.testing.assert_series_equal(ssq[0], ssq[1], rtol=1e-4)
    # one unit's S C S, row by row (labels: the data's index)
    cov_a, cov_b = a.residual_cov(unit="s03"), b.residual_cov(unit="s03")
    assert list(cov_a.index) == list(cov_b.index)
    np.testing.assert_allclose(cov_a.to_numpy(), cov_b.to_numpy(), rtol=1e-5)


@pytest.mark.parametrize("variance, err, match", [
    ("power(w)", KeyError, "variance='power\\(w\\)': column 'w'"),
    ("power(v | w)", KeyError, "column 'w'"),
    ("power(site)", TypeError, "covariate column 'site' must be numeric"),
    ("square(v)", ValueError, "unknown variance function 'square'"),
    ("power v", ValueError, "cannot read 'power v'"),
    ("power(v | site | arm)", ValueError, "more than one '\\|'"),
    ("power()", NotImplementedError, "fitted values.*varPower"),
    ("exp(fitted(.))", NotImplementedError, "fitted values.*varExp"),
    ("ident(x0)", ValueError, "single level"),
    ("power(v0)", ValueError, "column 'v0' is 0 in row 3"),
    ("power(v) * power(v)", ValueError, "share parameter name.*'power'"),
    (3, TypeError, "variance must be a string"),
])
def test_bad_variance_named(variance, err, match):
    d = _panel(seed=7)
    d["x0"] = "one"
    d["v0"] = d["v"].where(d.index != 3, 0.0)
    with pytest.raises(err, match=match):
        mx.mixedlm("y ~ t + x + (1 | subject)", d, variance=variance)


def test_het_var_and_ident_of_the_same_column_refused():
    with pytest.raises(ValueError, match="both give an SD per level of 'site'"):
        mx.mixedlm("y ~ t + x + (1 | subject)", _panel(seed=8), het_var="site",
                   variance="ident(site)")


def test_missing_covariate_dropped_or_named():
    d = _panel(seed=9)
    d.loc[5, "v"] = np.nan
    with pytest.raises(mx.MissingDataError, match="'v'"):
        mx.mixedlm("y ~ t + x + (1 | subject)", d, variance="power(v)")
    res = mx.mixedlm("y ~ t + x + (1 | subject)", d, variance="power(v)",
                     missing="drop").fit()
    ref = mx.mixedlm("y ~ t + x + (1 | subject)", d.drop(index=5),
                     variance="power(v)").fit()
    assert res.nobs == len(d) - 1 and res.llf == pytest.approx(ref.llf, abs=1e-10)


def test_residuals_covariance_and_summary():
    d = _panel(seed=10)
    res = mx.mixedlm("y ~ t + x + (1 | subject)", d, cov_struct="ar1", time="t",
                     variance="power(v)").fit()
    p = res.cov_struct_params
    s = np.abs(d["v"].to_numpy()) ** p["power"]
    r = np.asarray(res.model.endog) - np.asarray(res.fittedvalues)
    np.testing.assert_allclose(res.resid_pearson, r / (np.sqrt(res.scale) * s))
    # normalized residuals whiten R = S C S within each subject
    norm = res.resid_normalized.to_numpy()
    for _, idx in list(d.groupby("subject").indices.items())[:10]:
        t = d["t"].to_numpy()[idx]
        cov = p["rho"] ** np.abs(t[:, None] - t[None, :]) * np.outer(s[idx], s[idx])
        e = r[idx] / np.sqrt(res.scale)
        assert norm[idx] @ norm[idx] == pytest.approx(e @ np.linalg.solve(cov, e), rel=1e-9)
    # residual_cov over one subject's rows, in time order
    rows = np.flatnonzero(d["subject"] == "s03")
    rows = rows[np.argsort(d["t"].to_numpy()[rows])]
    cov = res.residual_cov(unit="s03")
    assert list(cov.index) == list(d.index[rows])
    t = d["t"].to_numpy()[rows]
    want = res.scale * p["rho"] ** np.abs(t[:, None] - t[None, :]) * np.outer(s[rows],
                                                                               s[rows])
    np.testing.assert_allclose(cov.to_numpy(), want)
    with pytest.raises(ValueError, match="pass unit="):
        res.residual_cov()
    with pytest.raises(KeyError, match="'nobody' is not a residual unit"):
        res.residual_cov(unit="nobody")
    text = res.summary().as_text()
    assert "Residual structure: ar1 over 't', variance power(v)" in text
    assert "power" in text and "rho" in text
    assert res.df_modelwc == 3 + 1 + 1 + 1 + 1


def test_lrt_and_information_criteria_count_the_variance_parameters():
    d = _panel(seed=11)
    full = mx.mixedlm("y ~ t + x + (1 | subject)", d, variance="power(v | arm) * exp(z)").fit(
        reml=False)
    null = mx.mixedlm("y ~ t + x + (1 | subject)", d).fit(reml=False)
    out = full.lrt(null)
    assert out["df_diff"] == 3
    assert out["statistic"] == pytest.approx(2 * (full.llf - null.llf), abs=1e-9)
    assert full.aic == pytest.approx(-2 * full.llf + 2 * (3 + 1 + 1 + 3))


def test_boundary_of_bounded_variance_parameters_only():
    """const (log scale) far out is a boundary (constpower turns into power); power and
    expon have no bounds, so no value of theirs is one."""
    d = _panel(seed=11)
    model = mx.mixedlm("y ~ t + x + (1 | subject)", d, cov_struct="ar1", time="t",
                       variance="constpower(v) * exp(z)")
    from mixedext.structures.spec import correlated_deviance

    struct = correlated_deviance(model.residual_spec, model.random_terms, model.exog,
                                 model.endog).structure
    assert list(struct.natural(struct.start())) == ["rho", "const", "power", "expon"]
    assert struct.boundary_names([0.1, -20.0, 30.0, -40.0]) == ["const"]
    assert struct.boundary_names([16.0, 0.0, 0.0, 0.0]) == ["rho"]
    assert struct.unbounded("power") and not struct.unbounded("const")
    assert not struct.unbounded("rho")


def test_prediction_intervals_use_each_rows_sd():
    d = _panel(seed=12)
    res = mx.mixedlm("y ~ t + x + (1 | subject)", d, variance="power(v | arm)",
                     het_var="site").fit()
    p = res.cov_struct_params
    new = d.iloc[:6].copy()
    new["v"] = [0.5, 1.0, 2.0, 3.0, 1.5, 2.5]
    table = res.get_prediction(new)
    s = (new["site"].map(lambda g: p[f"sd_ratio[{g}]"])
         * new["v"] ** new["arm"].map(lambda a: p[f"power[{a}]"])).to_numpy()
    tau2 = res.variance_components().variance.iloc[0]
    var_obs = table["mean_se"] ** 2 + tau2 + res.scale * s ** 2
    q = 1.959963984540054
    np.testing.assert_allclose(table["obs_ci_upper"] - table["mean"], q * np.sqrt(var_obs),
                               rtol=1e-9)
    fitted_rows = res.get_prediction()  # the fitted rows: their own SDs
    sf = (d["site"].map(lambda g: p[f"sd_ratio[{g}]"])
          * d["v"] ** d["arm"].map(lambda a: p[f"power[{a}]"])).to_numpy()
    np.testing.assert_allclose(fitted_rows["obs_ci_upper"] - fitted_rows["mean"],
                               q * np.sqrt(fitted_rows["mean_se"] ** 2 + tau2
                                           + res.scale * sf ** 2), rtol=1e-9)
    with pytest.raises(ValueError, match="column 'arm' of the new data has level"):
        res.get_prediction(new.assign(arm="r"))
    with pytest.raises(KeyError, match="variance column 'v'"):
        res.get_prediction(new.drop(columns="v"))


def test_simulated_residual_variance_follows_the_rows_sd():
    """Var(y_i) over draws = tau^2 + sigma^2 s_i^2, s_i = exp(expon z_i): 4000 draws, the
    sample variances within 5 standard errors (sqrt(2 / 4000) relative)."""
    d = _panel(seed=13)
    res = mx.mixedlm("y ~ t + x + (1 | subject)", d, cov_struct="ar1", time="t",
                     variance="exp(z)").fit()
    sims = res.simulate(4000, seed=1)
    tau2 = res.variance_components().variance.iloc[0]
    s = np.exp(res.cov_struct_params["expon"] * d["z"].to_numpy())
    want = tau2 + res.scale * s ** 2
    got = sims.var(axis=1, ddof=1)
    assert np.all(np.abs(got / want - 1) < 5 * np.sqrt(2 / 4000))
    # the fitted power: refits of the simulated data scatter around it
    assert np.corrcoef(got, s ** 2)[0, 1] > 0.99


def test_results_are_a_snapshot_of_their_fit():
    d = _panel(seed=14)
    model = mx.mixedlm("y ~ t + x + (1 | subject)", d, variance="power(v)")
    a = model.fit()
    before = a.cov_struct_params.copy(), a.resid_normalized.copy()
    model.fit(reml=False)
    pd.testing.assert_series_equal(a.cov_struct_params, before[0])
    pd.testing.assert_series_equal(a.resid_normalized, before[1])


@pytest.mark.parametrize("variance", ["ident(site)", "power(v)", "ident(site) * power(v)"])
def test_on_dask_equal_to_in_memory(variance):
    """On Dask, variance="ident(g)" is het_var= (statistics per unit and level); other
    variance functions are evaluated by the partitions (models.dask_rows): the fits are
    the in-memory ones."""
    dd = pytest.importorskip("dask.dataframe")
    d = _panel(seed=15)
    mem = mx.mixedlm("y ~ t + x + (1 | subject)", d, variance=variance).fit()
    dsk = mx.mixedlm("y ~ t + x + (1 | subject)", dd.from_pandas(d, npartitions=3),
                     variance=variance).fit()
    assert dsk.llf == pytest.approx(mem.llf, abs=1e-8)
    pd.testing.assert_series_equal(dsk.cov_struct_params, mem.cov_struct_params, rtol=1e-6)
    assert dsk.model.residual_spec.variance_spelling == \
        mem.model.residual_spec.variance_spelling


def test_pickled_results_answer_the_same():
    import pickle

    d = _panel(seed=16)
    res = mx.mixedlm("y ~ t + x + (1 | subject)", d, cov_struct="ar1", time="t",
                     variance="constpower(v)").fit()
    again = pickle.loads(pickle.dumps(res))
    assert again.llf == res.llf
    pd.testing.assert_series_equal(again.cov_struct_params, res.cov_struct_params)
    pd.testing.assert_series_equal(again.resid_normalized, res.resid_normalized)
    pd.testing.assert_frame_equal(again.residual_cov(unit="s01"), res.residual_cov(unit="s01"))
    pd.testing.assert_frame_equal(again.conf_int_cov_struct(), res.conf_int_cov_struct())


def test_bootstrap_refits_equal_full_refits():
    """Each parametric-bootstrap refit (simulated from the fit, variance function
    included) equals fitting the model anew to that simulated response."""
    from mixedext.inference.profile import bootstrap_refits

    d = _panel(seed=17, n_sub=40)
    formula, kw = "y ~ t + x + (1 | subject)", dict(cov_struct="ar1", time="t",
                                                    variance="power(v)")
    res = mx.mixedlm(formula, d, **kw).fit()
    for (theta, sigma2, beta), y in zip(bootstrap_refits(res, 2, seed=4),
                                        res.simulate(2, seed=4).T):
        again = mx.mixedlm(formula, d.assign(y=y), **kw).fit()
        np.testing.assert_allclose(theta, again.theta, rtol=1e-4)
        assert sigma2 == pytest.approx(again.scale, rel=1e-5)
        np.testing.assert_allclose(beta, again.fe_params, rtol=1e-5)


def test_refusals_name_the_variance_function():
    d = _panel(seed=18).assign(w=1.0)
    with pytest.raises(NotImplementedError, match="cov_struct/het_var/variance"):
        mx.mixedlm("y ~ t + x + (1 | subject)", d, variance="power(v)", weights="w")
    with pytest.raises(ValueError, match="unit= needs a residual structure"):
        mx.mixedlm("y ~ t + x + (1 | subject)", d).fit().residual_cov(unit="s01")


@pytest.mark.parametrize("variance, struct", [("power(v)", "ar1"), ("exp(z | site)", None)])
def test_influence_refits_are_fits_without_the_unit(variance, struct):
    d = _panel(seed=19, n_sub=16)
    kw = dict(variance=variance) | (dict(cov_struct=struct, time="t") if struct else {})
    res = mx.mixedlm("y ~ t + x + (1 | subject)", d, **kw).fit()
    table = res.influence(progress=False)
    assert len(table) == 16 and table["llf"].notna().all()
    for unit in table["cooks_distance"].nlargest(2).index:
        sub = mx.mixedlm("y ~ t + x + (1 | subject)", d[d.subject != unit], **kw).fit()
        row = table.loc[unit]
        assert row["llf"] == pytest.approx(sub.llf, abs=1e-8)
        np.testing.assert_allclose(
            row[[f"dfbetas_{n}" for n in res.fe_params.index]].to_numpy(dtype=float),
            ((sub.fe_params - res.fe_params) / sub.bse[res.fe_params.index]).to_numpy(),
            rtol=1e-6, atol=1e-9)
        for name in res.cov_struct_params.index:
            assert row[f"delta_{name}"] == pytest.approx(
                sub.cov_struct_params[name] - res.cov_struct_params[name], abs=1e-5)


@pytest.mark.parametrize("cov_struct", [None, "ar1"])
def test_grams_at_the_start_use_the_rows_sds_there(cov_struct):
    """The first evaluation scales the rows by their SDs at the start, which need not be
    1: constpower's ``s = const + |v|^power`` is 2 at ``const = 1, power = 0``."""
    from mixedext.structures.spec import correlated_deviance

    d = _panel(seed=21)
    kw = {} if cov_struct is None else {"cov_struct": cov_struct, "time": "t"}
    model = mx.mixedlm("y ~ t + x + (1 | subject)", d, variance="constpower(v)", **kw)
    plain = mx.mixedlm("y ~ t + x + (1 | subject)", d, **kw)
    struct = correlated_deviance(model.residual_spec, model._terms, model.exog,
                                 model.endog).structure
    eta = struct.start()
    g, logdet = struct.grams(eta)
    if cov_struct is None:  # W = [X, y] (the intercept is X's)
        logdet0 = 0.0
        w = np.column_stack([model.exog, model.endog])
        np.testing.assert_allclose(g.total, w.T @ w / 4.0, rtol=1e-12)
    else:
        inner = correlated_deviance(plain.residual_spec, plain._terms, plain.exog,
                                    plain.endog).structure
        g0, logdet0 = inner.grams(eta[:inner.n_eta])
        np.testing.assert_allclose(g.total, g0.total / 4.0, rtol=1e-12)
    assert logdet == pytest.approx(logdet0 + 2.0 * len(d) * np.log(2.0), rel=1e-12)
