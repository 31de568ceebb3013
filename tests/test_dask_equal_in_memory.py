"""Dask fits equal to in-memory fits (mixedext.models.dask), for every residual structure
and every spelling of the random effects, on the threaded scheduler and on a
2-process ``distributed`` cluster (the ``dask_scheduler`` fixture of conftest.py).

A structure that runs on Dask is tested here by adding its case to ``STRUCTURE_CASES``.
The rows are shuffled before they are split into partitions, so a unit's rows lie in
several partitions (the structures that need whole units shuffle them back).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

import mixedext as mx

dd = pytest.importorskip("dask.dataframe")

DATA = ROOT / "tests" / "reference" / "data"


def _load(file: str) -> pd.DataFrame:
    """A reference CSV with its rows shuffled and ``block``: the subjects in blocks of 10
    (an outer grouping level for nested spellings)."""
    data = pd.read_csv(DATA / file)
    unit = data.columns[0]
    rank = pd.factorize(data[unit], sort=True)[0]
    data["block"] = np.char.add("b", (rank // 10).astype(str))
    return data.sample(frac=1, random_state=11).reset_index(drop=True)


@dataclass
class StructureCase:
    """A residual structure on one data set: ``fixed`` formula, residual units ``unit``,
    the structure's arguments, and the spellings of the random effects to test."""

    id: str
    file: str
    fixed: str
    unit: str
    kwargs: dict
    spellings: tuple = ("lme4", "groups", "gls", "nested")
    prepare: object = None  # adds columns to the data
    slope: str = "t"  # the covariate of the random-slope spellings
    rtol: float = 1e-5  # of the parameters and SEs (assert_same_fit)


def _early(data):
    data["early"] = np.where(data["t"] <= 2, "early", "late")
    return data


STRUCTURE_CASES = [
    StructureCase("ar1", "panel_ar1.csv", "y ~ t + trt + x", "subject",
                  {"cov_struct": "ar1", "time": "t"}),
    StructureCase("ar1+het_var", "panel_ar1.csv", "y ~ t + trt + x", "subject",
                  {"cov_struct": "ar1", "time": "t", "het_var": "trt"},
                  spellings=("lme4", "gls")),
    StructureCase("car1", "panel_car1.csv", "y ~ time", "subject",
                  {"cov_struct": "car1", "time": "time"}),
    StructureCase("ar1 at real times", "panel_car1.csv", "y ~ time", "subject",
                  {"cov_struct": "ar1", "time": "time"}, spellings=("lme4", "gls")),
    # a random intercept of the residual units would duplicate compound symmetry
    StructureCase("exchangeable", "panel_cs.csv", "y ~ t", "subject",
                  {"cov_struct": "exchangeable"}, spellings=("gls", "lme4 slope",
                                                             "groups slope")),
    StructureCase("exchangeable+het_var", "panel_cs.csv", "y ~ t", "subject",
                  {"cov_struct": "exchangeable", "het_var": "early", "time": "t"},
                  spellings=("gls",), prepare=_early),
    StructureCase("unstructured", "panel_un.csv", "y ~ t + grp", "subject",
                  {"cov_struct": "unstructured", "time": "t"}),
    StructureCase("het_var", "hetvar.csv", "y ~ x", "cluster", {"het_var": "site"}),
    # structures without statistics of fixed size, and variance functions: the partitions
    # keep their units' kernels (mixedext.models.dask_rows)
    StructureCase("exp", "panel_irregular.csv", "y ~ time + x", "subject",
                  {"cov_struct": "exp", "time": "time"}, spellings=("lme4", "gls")),
    StructureCase("gaus+nugget", "panel_irregular.csv", "y ~ time + x", "subject",
                  {"cov_struct": "gaus", "time": "time", "nugget": True},
                  spellings=("gls", "nested")),
    # corLin's deviance has kinks where a distance equals the range: the optimiser stops
    # ~1e-5 (relative) from the optimum in theta, at a point the rounding of the sums
    # decides; the log-likelihood agrees to 1e-9
    StructureCase("lin", "panel_irregular.csv", "y ~ time + x", "subject",
                  {"cov_struct": "lin", "time": "time"}, spellings=("lme4",), rtol=1e-4),
    StructureCase("ratio 2-d", "spatial_plots.csv", "y ~ x", "field",
                  {"cov_struct": "ratio", "coords": ["cx", "cy"]}, spellings=("gls",)),
    StructureCase("spher+nugget 2-d", "spatial_plots.csv", "y ~ x", "field",
                  {"cov_struct": "spher", "coords": ["cx", "cy"], "nugget": True},
                  spellings=("lme4",)),
    StructureCase("arma(1,1)", "panel_visits.csv", "y ~ visit + x", "subject",
                  {"cov_struct": "arma(1,1)", "time": "visit"}, spellings=("lme4", "groups")),
    StructureCase("toeplitz", "panel_visits.csv", "y ~ visit + x", "subject",
                  {"cov_struct": "toeplitz", "time": "visit"}, spellings=("gls",)),
    StructureCase("power", "varfunc_panel.csv", "y_pow ~ t + x", "subject",
                  {"variance": "power(v)"}, spellings=("lme4", "gls")),
    StructureCase("exp(z)", "varfunc_panel.csv", "y_exp ~ t + x", "subject",
                  {"variance": "exp(z)"}, spellings=("lme4",)),
    StructureCase("constpower", "varfunc_panel.csv", "y_cp ~ t + x", "subject",
                  {"variance": "constpower(v)"}, spellings=("gls",)),
    StructureCase("power per level", "varfunc_panel.csv", "y_powg ~ t + x", "subject",
                  {"variance": "power(v | g)"}, spellings=("lme4",)),
    StructureCase("ident * power", "varfunc_panel.csv", "y_idpow ~ t + x", "subject",
                  {"variance": "ident(g) * power(v)"}, spellings=("lme4",)),
    StructureCase("ar1+power", "varfunc_panel.csv", "y_ar1pow ~ t + x", "subject",
                  {"cov_struct": "ar1", "time": "t", "variance": "power(v)"},
                  spellings=("lme4",)),
    StructureCase("exchangeable+exp(z)", "varfunc_panel.csv", "y_csexp ~ t + x", "subject",
                  {"cov_struct": "exchangeable", "variance": "exp(z)"}, spellings=("gls",)),
    StructureCase("unstructured+power", "varfunc_panel.csv", "y_pow ~ t + x", "subject",
                  {"cov_struct": "unstructured", "time": "t", "variance": "power(v)"},
                  spellings=("gls",)),
    StructureCase("exp+power", "combined_irregular.csv", "y_exppow ~ time + x", "subject",
                  {"cov_struct": "exp", "time": "time", "variance": "power(v)"},
                  spellings=("lme4",)),
    StructureCase("exp+nugget+ident", "combined_irregular.csv", "y_nugid ~ time + x",
                  "subject", {"cov_struct": "exp", "time": "time", "nugget": True,
                              "variance": "ident(g)"}, spellings=("gls",)),
    StructureCase("gaus 2-d+exp(z)", "combined_plots.csv", "y_ri ~ x", "field",
                  {"cov_struct": "gaus", "coords": ["cx", "cy"], "variance": "exp(z)"},
                  spellings=("lme4",)),
    StructureCase("arma(1,1)+power", "combined_visits.csv", "y_armapow ~ visit + x",
                  "subject", {"cov_struct": "arma(1,1)", "time": "visit",
                              "variance": "power(v)"}, spellings=("gls",)),
    StructureCase("arma(1,1)+het_var", "combined_visits.csv", "y_toepid ~ visit + x",
                  "subject", {"cov_struct": "arma(1,1)", "time": "visit", "het_var": "g"},
                  spellings=("lme4",)),
    StructureCase("toeplitz+ident", "combined_visits.csv", "y_toepid ~ visit + x",
                  "subject", {"cov_struct": "toeplitz", "time": "visit",
                              "variance": "ident(g)"}, spellings=("gls",)),
]


def _spelling(case: StructureCase, spelling: str) -> tuple[str, dict]:
    """The formula and keyword arguments of ``case`` in ``spelling``."""
    u = case.unit
    if spelling == "lme4":
        return f"{case.fixed} + (1 | {u})", {}
    if spelling == "groups":
        return case.fixed, {"groups": u, "re_formula": "1"}
    if spelling == "lme4 slope":
        return f"{case.fixed} + (0 + {case.slope} | {u})", {}
    if spelling == "groups slope":
        return case.fixed, {"groups": u, "re_formula": f"0 + {case.slope}"}
    if spelling == "gls":
        return case.fixed, {"groups": u, "re_formula": "0"}
    if spelling == "nested":  # random intercepts of blocks and of units within blocks
        return case.fixed, {"groups": "block", "vc_formula": {u: f"0 + C({u})"}}
    raise ValueError(spelling)


def _fit_both(formula, data, npartitions=4, reml=True, **kwargs):
    mem = mx.mixedlm(formula, data, **kwargs).fit(reml=reml)
    dsk = mx.mixedlm(formula, dd.from_pandas(data, npartitions=npartitions),
                     **kwargs).fit(reml=reml)
    return mem, dsk


def assert_same_fit(dsk, mem, rtol=1e-5) -> None:
    """The Dask fit equals the in-memory one: llf to 1e-8 (relative), the fixed effects,
    to 1e-6, their SEs and every parameter (with the same names) to ``rtol`` (the
    variance parameters agree to the optimiser's tolerance), the residual structure's
    parameters and covariance."""
    assert not dsk.model.has_rows
    assert dsk.nobs == mem.nobs
    assert dsk.llf == pytest.approx(mem.llf, rel=1e-8)
    pd.testing.assert_series_equal(dsk.fe_params, mem.fe_params, rtol=max(1e-6, rtol / 10))
    pd.testing.assert_series_equal(dsk.bse_fe, mem.bse_fe, rtol=rtol)
    pd.testing.assert_series_equal(dsk.params, mem.params, rtol=rtol, atol=1e-9)
    pd.testing.assert_series_equal(dsk.cov_struct_params, mem.cov_struct_params, rtol=rtol,
                                   atol=1e-6)
    pd.testing.assert_frame_equal(dsk.variance_components(), mem.variance_components(),
                                  rtol=rtol)
    spec = mem.model.residual_spec
    if spec is None or spec.variance or spec.times is None:
        return
    if not spec.continuous:
        pd.testing.assert_frame_equal(dsk.residual_cov(), mem.residual_cov(), rtol=1e-5)
        return
    times = [0.0, 0.5, 2.0] if spec.times.ndim == 1 else [[0.0, 0.0], [0.5, 0.0], [1.0, 1.0]]
    pd.testing.assert_frame_equal(dsk.residual_cov(times=times),
                                  mem.residual_cov(times=times), rtol=rtol)


def _structure_params():
    for case in STRUCTURE_CASES:
        for spelling in case.spellings:
            yield pytest.param(case, spelling, id=f"{case.id}-{spelling}")


@pytest.mark.parametrize("case, spelling", list(_structure_params()))
def test_structure_on_dask_equals_in_memory(case, spelling, dask_scheduler):
    data = _load(case.file)
    if case.prepare is not None:
        data = case.prepare(data)
    formula, kwargs = _spelling(case, spelling)
    mem, dsk = _fit_both(formula, data, **kwargs, **case.kwargs)
    assert dsk.model.residual_spec.kind == mem.model.residual_spec.kind
    assert_same_fit(dsk, mem, case.rtol)


@pytest.mark.parametrize("formula, dataset, kwargs", [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy", {}),
    ("Reaction ~ Days", "sleepstudy", {"groups": "Subject", "re_formula": "1 + Days"}),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin", {}),
    ("strength ~ 1 + (1 | batch/cask)", "pastes", {}),
    ("strength ~ 1", "pastes", {"groups": "batch", "vc_formula": {"cask": "0 + C(cask)"}}),
    ("strength ~ 1", "pastes", {"groups": "batch", "nested": "cask"}),
])
@pytest.mark.parametrize("reml", [True, False])
def test_plain_models_on_dask_equal_in_memory(formula, dataset, kwargs, reml,
                                              dask_scheduler):
    data = mx.datasets.load(dataset)
    for col in data.select_dtypes("category"):
        data[col] = data[col].astype(str)  # Dask partitions keep plain strings
    data = data.sample(frac=1, random_state=3).reset_index(drop=True)
    mem, dsk = _fit_both(formula, data, reml=reml, **kwargs)
    assert_same_fit(dsk, mem)


@pytest.mark.parametrize("formula, file, het", [
    ("y ~ x + (1 + x | cluster)", "hetvar.csv", "site"),
    ("y ~ x + (1 | a/b)", "nested3.csv", "sign"),
])
def test_het_var_with_slopes_and_nesting_on_dask(formula, file, het, dask_scheduler):
    """varIdent on Dask: per (unit, level) outer products summed over any partitions."""
    data = pd.read_csv(DATA / file).sample(frac=1, random_state=5)
    data["sign"] = np.where(data["x"] > 0, "pos", "neg")
    mem, dsk = _fit_both(formula, data, het_var=het)
    assert_same_fit(dsk, mem)


def test_statsmodels_random_effects_on_dask():
    """groups= with a vc_formula: statsmodels' {group: Series} random effects, without
    rows."""
    data = mx.datasets.load("pastes").astype({"batch": str, "cask": str})
    kwargs = {"groups": "batch", "vc_formula": {"cask": "0 + C(cask)"}}
    mem, dsk = _fit_both("strength ~ 1", data, **kwargs)
    assert list(dsk.random_effects) == list(mem.random_effects)
    for group, effects in mem.random_effects.items():
        pd.testing.assert_series_equal(dsk.random_effects[group], effects, rtol=1e-5)
    assert dsk.model.n_groups == mem.model.n_groups == 10


def test_fit_by_rows_pickles_without_its_partitions():
    """A fit whose partitions keep their rows (models.dask_rows) pickles what its results
    store; evaluating its deviance again then says why it cannot."""
    import pickle

    data = _load("panel_irregular.csv")
    dsk = mx.mixedlm("y ~ time + x + (1 | subject)", dd.from_pandas(data, npartitions=3),
                     cov_struct="exp", time="time").fit()
    again = pickle.loads(pickle.dumps(dsk))
    assert again.llf == dsk.llf
    pd.testing.assert_series_equal(again.cov_struct_params, dsk.cov_struct_params)
    pd.testing.assert_frame_equal(again.residual_cov(times=[0, 1]),
                                  dsk.residual_cov(times=[0, 1]))
    with pytest.raises(RuntimeError, match="unpickled"):
        again.model.fit()


def test_numeric_column_in_c_with_levels_beyond_the_first_rows():
    """The design is built from the first rows; a numeric column in ``C()`` takes its
    levels from all rows (the first 1,500 rows here have dose 0 only)."""
    rs = np.random.RandomState(0)
    n = 3000
    data = pd.DataFrame({"g": np.repeat(np.arange(100), 30), "x": rs.normal(size=n),
                         "dose": np.r_[np.zeros(1500, int), rs.randint(0, 3, 1500)]})
    data["y"] = (data.x + 0.5 * data.dose + rs.normal(size=100)[data.g]
                 + rs.normal(size=n))
    mem, dsk = _fit_both("y ~ x + C(dose) + (1 | g)", data, npartitions=3)
    assert "C(dose)[T.2]" in dsk.fe_params.index
    assert_same_fit(dsk, mem)
