"""mixedext.inference.kenward_roger: row blocks, limits and wiring (R agreement is in
test_inference_reference.py)."""

import numpy as np
import pytest

import mixedext as mx
from mixedext.inference import kenward_roger
from mixedext.inference.kenward_roger import KenwardRoger, row_blocks


def test_row_blocks_nested_and_crossed():
    pastes = mx.datasets.load("pastes")
    nested = mx.mixedlm("strength ~ 1 + (1 | batch/cask)", pastes)
    blocks = row_blocks(nested._terms, nested.nobs)
    assert len(blocks) == pastes["batch"].nunique()
    for rows in blocks:  # each block is one batch
        assert pastes["batch"].iloc[rows].nunique() == 1
    assert sorted(np.concatenate(blocks)) == list(range(len(pastes)))
    pen = mx.datasets.load("penicillin")
    crossed = mx.mixedlm("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)
    assert len(row_blocks(crossed._terms, crossed.nobs)) == 1


def test_unadjusted_covariance_equals_the_fit():
    d = mx.datasets.load("sleepstudy").iloc[::2]
    res = mx.mixedlm("Reaction ~ Days + (Days | Subject)", d).fit()
    kr = KenwardRoger(res)
    np.testing.assert_allclose(np.sqrt(np.diag(kr.vcov)), res.bse_fe, rtol=1e-8)


def test_summary_with_kenward_roger():
    d = mx.datasets.load("sleepstudy").iloc[::2]
    res = mx.mixedlm("Reaction ~ Days + (Days | Subject)", d).fit()
    text = res.summary(ddf="kenward-roger").as_text()
    assert "Kenward-Roger" in text
    se = KenwardRoger(res).t_table(np.eye(2))["se"]
    assert f"{se[1]:.3f}" in text


def test_limits(monkeypatch):
    d = mx.datasets.load("sleepstudy")
    ar = mx.mixedlm("Reaction ~ Days + (1 | Subject)", d, cov_struct="ar1",
                    time="Days").fit()
    with pytest.raises(NotImplementedError, match="residual structure"):
        ar.summary(ddf="kenward-roger")
    res = mx.mixedlm("Reaction ~ Days + (1 | Subject)", d).fit()
    with pytest.raises(ValueError, match="ddf must be"):
        res.anova(ddf="kr")
    pen = mx.datasets.load("penicillin")
    crossed = mx.mixedlm("diameter ~ 1 + (1 | plate) + (1 | sample)", pen).fit()
    monkeypatch.setattr(kenward_roger, "MAX_BLOCK_EFFECTS", 5)
    with pytest.raises(NotImplementedError, match="one here has 30 random effects"):
        crossed.summary(ddf="kenward-roger")


def test_rowless_dask_model_equals_in_memory():
    """One grouping factor: Kenward-Roger from the per-unit cross-products alone."""
    dd = pytest.importorskip("dask.dataframe")
    d = mx.datasets.load("sleepstudy").iloc[::2].reset_index(drop=True)
    d["Subject"] = d["Subject"].astype(str)
    formula = "Reaction ~ Days + (Days | Subject)"
    mem = mx.mixedlm(formula, d).fit()
    dsk = mx.mixedlm(formula, dd.from_pandas(d, npartitions=3)).fit()
    a = mem._ddf_table(np.eye(2), "kenward-roger")
    b = dsk._ddf_table(np.eye(2), "kenward-roger")
    np.testing.assert_allclose(b[["se", "df"]], a[["se", "df"]], rtol=1e-6)
