"""Marginal means and contrasts against R's emmeans (tests/reference/emmeans_reference.json).

Every expected number comes from the JSON (``emmeans_reference.R``, data
``tests/reference/data/trial.csv``). Tolerances, relative:

* linear mixed model (lmer REML, lmerTest / pbkrtest df): means 1e-6, SEs 1e-4, df 1e-3
  (Satterthwaite and Kenward-Roger), intervals 1e-5, contrast estimates 1e-6 (plus 1e-6
  absolute), t 1e-4, p-values (Tukey, dunnettx, Holm, ...) 1e-3 (on the log scale, so tiny
  ones count relatively). Observed: means 2e-9, SEs 2e-7, df 3e-5, p 3e-5.
* binomial GLMM (glmer Laplace): means on the response scale, link-scale means and odds
  ratios 1e-4 (the fit agrees with glmer to ~1e-5); SEs, z and intervals 2e-3, p-values 1e-3:
  glmer's SEs come from a finite-difference Hessian of the Laplace deviance, and lme4's,
  numDeriv's (``fixef_se_numderiv``) and mixedext's differ among themselves by up to 1.6e-3.
"""

import re
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from conftest import ROOT, load_reference  # noqa: E402

import mixedext as mx  # noqa: E402
from mixedext.inference.contrasts import contrast_matrix  # noqa: E402
from mixedext.inference.marginal import _fitted_rows, _formula_variables  # noqa: E402

REF = load_reference("emmeans_reference")
DATA = pd.read_csv(ROOT / REF["meta"]["data_file"])
MEANS = [c for c in REF["cases"] if c["kind"] == "means"]
CONTRASTS = [c for c in REF["cases"] if c["kind"] == "contrasts"]
CASE = {c["name"]: c for c in REF["cases"]}
TOL = {  # (estimate, se, df, interval or statistic, p-value)
    "lmm": dict(est=1e-6, se=1e-4, df=1e-3, ci=1e-5, stat=1e-4, p=1e-3),
    "glmm": dict(est=1e-4, se=2e-3, df=0, ci=2e-3, stat=2e-3, p=1e-3),
}
_FITS = {}


def _fit(name, formula=None):
    key = (name, formula)
    if key not in _FITS:
        formula = formula or REF["models"][name]["python_formula"]
        if name == "glmm":
            _FITS[key] = mx.binomial_mixedglm(formula, DATA).fit_ml()
        else:
            _FITS[key] = mx.mixedlm(formula, DATA).fit()
    return _FITS[key]


def _tol(case):
    return TOL["glmm" if case["model"] == "glmm" else "lmm"]


def _df(values):
    return np.array([float(v) for v in values])


def _close_p(got, want, rtol):
    np.testing.assert_allclose(np.log(got), np.log(np.asarray(want, float)), atol=rtol)


def _index_tuples(frame):
    return [i if isinstance(i, tuple) else (i,) for i in frame.index]


def _means(res, py, **extra):
    args = dict(by=py["by"], at=py["at"], ddf=py["ddf"], weights=py["weights"],
                alpha=py["alpha"], type=py["type"])
    args.update(extra)
    return res.marginal_means(py["specs"], **args)


def _assert_means(got, case):
    tol, rows = _tol(case), case["rows"]
    assert _index_tuples(got) == [tuple(r["levels"].values()) for r in rows]
    np.testing.assert_allclose(got["mean"], [r["estimate"] for r in rows], rtol=tol["est"])
    np.testing.assert_allclose(got["se"], [r["se"] for r in rows], rtol=tol["se"])
    np.testing.assert_allclose(got["df"], _df(r["df"] for r in rows), rtol=tol["df"])
    for col in ("lower", "upper"):
        np.testing.assert_allclose(got[col], [r[col] for r in rows], rtol=tol["ci"])


@pytest.mark.parametrize("name", ["lmm", "lmm_sum", "glmm"])
def test_fit_matches_r(name):
    """The fits agree with R's before the means are compared (the coefficients sorted:
    patsy puts ``baseline`` after the interaction)."""
    model = REF["models"][name]
    res = _fit(name)
    rtol = 1e-5 if name == "glmm" else 1e-7
    assert res.llf == pytest.approx(model["llf"], rel=rtol)
    np.testing.assert_allclose(np.sort(res.fe_params), np.sort(model["fixef"]),
                               rtol=100 * rtol)


@pytest.mark.parametrize("case", MEANS, ids=lambda c: c["name"])
def test_means_match_emmeans(case):
    got = _means(_fit(case["model"]), case["python"])
    _assert_means(got, case)
    averaged = [m for m in case["messages"] if m.startswith("Results are averaged")]
    assert [n for n in got.attrs["notes"] if n.startswith("Results are averaged")] == averaged
    interaction = any("involvement in interactions" in m for m in case["messages"])
    assert any("involvement in interactions" in n for n in got.attrs["notes"]) == interaction


def _adjust_used(case):
    for m in case["messages"]:
        hit = re.match(r"P value adjustment: (\w+) method", m)
        if hit:
            return hit[1]
    return "none"


def _contrasts(res, py, **extra):
    args = dict(method=py["method"], adjust=py["adjust"], by=py["by"], at=py["at"],
                ddf=py["ddf"], type=py["type"])
    if py["ref"] is not None:
        args["ref"] = py["ref"]
    args.update(extra)
    return res.contrasts(py["specs"], **args)


def _assert_contrasts(got, case):
    tol, rows = _tol(case), case["rows"]
    assert _index_tuples(got) == [(r["contrast"], *(r["by"] or {}).values()) for r in rows]
    stat = "z" if case["stat_column"] == "z.ratio" else "t"
    assert list(got.columns) == ["estimate", "se", "df", stat, "pvalue"]
    np.testing.assert_allclose(got["estimate"], [r["estimate"] for r in rows], rtol=tol["est"],
                               atol=tol["est"])
    np.testing.assert_allclose(got["se"], [r["se"] for r in rows], rtol=tol["se"])
    np.testing.assert_allclose(got["df"], _df(r["df"] for r in rows), rtol=tol["df"])
    np.testing.assert_allclose(got[stat], [r["stat"] for r in rows], rtol=tol["stat"])
    _close_p(got["pvalue"], [r["p_value"] for r in rows], tol["p"])
    assert got.attrs["adjust"] == _adjust_used(case)


@pytest.mark.parametrize("case", CONTRASTS, ids=lambda c: c["name"])
def test_contrasts_match_emmeans(case):
    _assert_contrasts(_contrasts(_fit(case["model"]), case["python"]), case)


def test_unadjusted_pvalues_match_emmeans():
    case = CASE["pairs_arm_by_visit_tukey"]
    got = _contrasts(_fit("lmm"), case["python"], adjust="none")
    _close_p(got["pvalue"], [r["p_unadjusted"] for r in case["rows"]], 1e-3)


def test_odds_ratios_are_exp_of_link_contrasts():
    ratio = _contrasts(_fit("glmm"), CASE["glmm_pairs_arm_odds_ratios"]["python"])
    assert ratio.attrs["type"] == "ratio"
    link = _contrasts(_fit("glmm"), CASE["glmm_pairs_arm_link"]["python"])
    ratio, link = ratio.to_numpy(), link.to_numpy()
    np.testing.assert_allclose(ratio[:, 0], np.exp(link[:, 0]), rtol=1e-12)
    np.testing.assert_allclose(ratio[:, 1], ratio[:, 0] * link[:, 1], rtol=1e-12)
    np.testing.assert_array_equal(ratio[:, 3:], link[:, 3:])


def test_trt_vs_ctrl_ref_by_index_equals_by_label():
    case = CASE["trt_vs_ctrl_arm_dunnettx"]
    _assert_contrasts(_contrasts(_fit("lmm"), case["python"], ref=2), case)


# -- coding invariance -------------------------------------------------------------------
@pytest.mark.parametrize("formula", [
    "y ~ arm * visit + sex + baseline + (1 | centre/patient)",
    "y ~ C(arm, Treatment(reference='placebo')) * C(visit, Poly) + C(sex, Sum) + baseline"
    " + (1 | centre/patient)",
    "y ~ C(arm, Helmert) * C(visit, Diff) + C(sex, Treatment('M')) + baseline"
    " + (1 | centre/patient)",
])
def test_means_do_not_depend_on_the_coding(formula):
    """Any coding gives the sum-coded R model's means (emmeans: the same for lmm and
    lmm_sum), and its pairwise comparisons."""
    res = _fit("lmm", formula)
    case = CASE["sum_arm_by_visit_satterthwaite"]
    _assert_means(_means(res, case["python"]), case)
    case = CASE["sum_pairs_arm_by_visit_tukey"]
    _assert_contrasts(_contrasts(res, case["python"]), case)


def test_r_means_agree_across_codings():
    for a, b in [("arm_by_visit_satterthwaite", "sum_arm_by_visit_satterthwaite"),
                 ("arm_kenward_roger", "sum_arm_kenward_roger")]:
        np.testing.assert_allclose([r["estimate"] for r in CASE[a]["rows"]],
                                   [r["estimate"] for r in CASE[b]["rows"]], rtol=1e-8)


def test_numeric_levels_are_labelled_with_their_name():
    """emmeans labels numeric levels ``visit2``: a factor of integers, and a covariate
    with ``at`` values."""
    data = DATA.assign(week=DATA["visit"].str[1].astype(int))
    res = mx.mixedlm("y ~ arm * C(week) + sex + baseline + (1 | centre/patient)", data).fit()
    got = res.contrasts("arm", by="week")
    assert list(got.index.get_level_values("week")[:3]) == [1, 1, 1]
    poly = res.contrasts("week", method="pairwise", by="arm")
    assert poly.index[0] == ("week1 - week2", "high")
    cov = _fit("lmm").contrasts("baseline", at={"baseline": [40, 60.5]})
    assert list(cov.index) == ["baseline40 - baseline60.5"]
    assert cov["estimate"].iloc[0] == pytest.approx(
        -20.5 * _fit("lmm").fe_params["baseline"], rel=1e-12)


def test_poly_coefficients_are_emmeans():
    coef, names, _ = contrast_matrix("poly", ["V1", "V2", "V3", "V4"])
    np.testing.assert_array_equal(coef, [[-3, -1, 1, 3], [1, -1, -1, 1], [-1, 3, -3, 1]])
    assert names == ["linear", "quadratic", "cubic"]


def test_residual_and_asymptotic_df():
    res = _fit("lmm")
    resid = res.marginal_means("arm", ddf="residual")
    assert (resid["df"] == res.nobs - len(res.fe_params)).all()
    asym = res.contrasts("arm", ddf="asymptotic")
    assert "z" in asym.columns and np.isinf(asym["df"]).all()
    # type="response" on a linear model is the identity
    pd.testing.assert_frame_equal(res.marginal_means("arm", type="response"),
                                  res.marginal_means("arm"), check_like=True)


def test_binomial_rows_from_the_design():
    """A binomial model keeps no data frame: the fitted rows' factor levels and covariates
    come back from its design (for covariate means and proportional weights)."""
    res = mx.binomial_mixedglm("yb ~ arm + visit + baseline + (1 | centre)", DATA).fit_ml()
    spec = res.model.design_info
    variables, _, by_code = _formula_variables(spec, None)
    rows = _fitted_rows(res, list(variables), spec, by_code)
    for col in ("arm", "visit"):
        assert list(rows[col]) == list(DATA[col])
    np.testing.assert_allclose(rows["baseline"], DATA["baseline"], rtol=1e-15)
    mm = res.marginal_means("arm", at={"baseline": float(DATA["baseline"].mean())})
    pd.testing.assert_frame_equal(mm, res.marginal_means("arm"))


# -- bad input ---------------------------------------------------------------------------
BAD_MEANS = [
    (dict(specs="dose"), r"specs: 'dose' is not a variable.*arm, visit, sex"),
    (dict(specs="arm", by="region"), r"by: 'region' is not a variable"),
    (dict(specs="baseline"), r"specs: 'baseline' is a numeric covariate.*at="),
    (dict(specs="arm", by="arm"), r"by: 'arm' also in specs"),
    (dict(specs="arm", ddf="kr"), r"ddf must be one of"),
    (dict(specs="arm", type="probability"), r"type must be one of"),
    (dict(specs="arm", weights="cells"), r"weights must be one of"),
    (dict(specs="arm", alpha=1.0), r"alpha must be"),
    (dict(specs="arm", alpha=0), r"alpha must be"),
    (dict(specs="arm", at={"sex": "X"}), r"at: factor 'sex' has no level 'X'"),
    (dict(specs="arm", at={"age": 3}), r"at: 'age' not in the fixed-effect formula"),
    (dict(specs="arm", at={"baseline": "high"}), r"at: numeric covariate 'baseline'"),
    (dict(specs="arm", at={"visit": []}), r"at: give factor 'visit' at least one level"),
    (dict(specs=["arm", "arm"]), r"specs names a variable twice"),
]


@pytest.mark.parametrize("kwargs,match", BAD_MEANS, ids=lambda v: str(v)[:40])
def test_bad_marginal_means_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _fit("lmm").marginal_means(**kwargs)


BAD_CONTRASTS = [
    (dict(method="allpairs"), r"method must be one of"),
    (dict(adjust="tukey-kramer"), r"adjust must be one of"),
    (dict(method="trt.vs.ctrl", ref=3), r"ref=3 is out of range"),
    (dict(method="trt.vs.ctrl", ref="control"), r"ref must be an index"),
    (dict(method={"a": [1, -1]}), r"method: each contrast needs 3 coefficients"),
]


@pytest.mark.parametrize("kwargs,match", BAD_CONTRASTS, ids=lambda v: str(v)[:40])
def test_bad_contrast_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _fit("lmm").contrasts("arm", **kwargs)


def test_specs_and_at_types():
    with pytest.raises(TypeError, match="specs must be a variable name"):
        _fit("lmm").marginal_means(3)
    with pytest.raises(TypeError, match="at must be a dict"):
        _fit("lmm").marginal_means("arm", at=[("sex", "F")])


def test_glmm_refuses_a_df_method():
    with pytest.raises(ValueError, match=r"ddf='kenward-roger' is for linear mixed models"):
        _fit("glmm").marginal_means("arm", ddf="kenward-roger")


def test_tukey_outside_pairwise_becomes_sidak():
    with pytest.warns(UserWarning, match="'sidak' is used"):
        got = _fit("lmm").contrasts("arm", method="trt.vs.ctrl", adjust="tukey", ref=2)
    assert got.attrs["adjust"] == "sidak"


def test_non_contrast_stays_on_link_scale():
    with pytest.warns(UserWarning, match="stay on the link scale"):
        got = _fit("glmm").contrasts("arm", method={"high": [1, 0, 0]}, type="response")
    assert got.attrs["type"] == "response"
    link = _fit("glmm").marginal_means("arm")
    assert got["estimate"].iloc[0] == pytest.approx(link["mean"].iloc[0], rel=1e-12)


def test_model_without_formula():
    X = np.column_stack([np.ones(len(DATA)), DATA["baseline"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mx.MixedLM(DATA["y"].to_numpy(), X, groups=DATA["centre"]).fit()
    with pytest.raises(NotImplementedError, match="model built from a formula"):
        res.marginal_means("arm")


# -- plot --------------------------------------------------------------------------------
@pytest.mark.parametrize("by", [None, "visit"])
def test_plot_marginal_means(by, tmp_path):
    ax = _fit("lmm").plot_marginal_means("arm", by=by, ddf="kenward-roger")
    assert isinstance(ax, matplotlib.axes.Axes)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["high", "low", "placebo"]
    assert len(ax.containers) == (1 if by is None else 4)
    path = tmp_path / "means.png"
    ax.figure.savefig(path, dpi=60)
    assert path.stat().st_size > 3000
    plt.close(ax.figure)
