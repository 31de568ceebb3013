"""Bad input gets a clear error naming the column or argument at fault."""

import numpy as np
import pandas as pd
import pytest

import mixedext as mx
from mixedext.formula.terms import FormulaError


@pytest.fixture()
def sleep():
    return mx.datasets.load("sleepstudy").assign(Subject=lambda d: d.Subject.astype(str))


def test_missing_groups_column(sleep):
    with pytest.raises(KeyError, match="'Patient'"):
        mx.mixedlm("Reaction ~ Days", sleep, groups="Patient")


def test_missing_grouping_column_in_term(sleep):
    with pytest.raises(KeyError, match="'Patient'"):
        mx.mixedlm("Reaction ~ Days + (1 | Patient)", sleep)


@pytest.mark.parametrize("missing", ["raise", "none"])
def test_nan_outcome_names_the_column(sleep, missing):
    sleep.loc[3, "Reaction"] = np.nan
    with pytest.raises(mx.MissingDataError, match="'Reaction'"):
        mx.mixedlm("Reaction ~ Days", sleep, groups="Subject", missing=missing)


def test_nan_dropped_on_request(sleep):
    sleep.loc[[3, 40], "Reaction"] = np.nan
    res = mx.mixedlm("Reaction ~ Days", sleep, groups="Subject", missing="drop").fit()
    assert res.nobs == len(sleep) - 2


def test_nan_in_grouping_column(sleep):
    sleep.loc[5, "Subject"] = None
    with pytest.raises(mx.MissingDataError, match="'Subject'"):
        mx.mixedlm("Reaction ~ Days + (1 | Subject)", sleep)


def test_infinite_covariate(sleep):
    sleep["Days"] = sleep["Days"].astype(float)
    sleep.loc[0, "Days"] = np.inf
    with pytest.raises(mx.MissingDataError, match="'Days'.*infinite"):
        mx.mixedlm("Reaction ~ Days", sleep, groups="Subject")


def test_no_grouping_at_all(sleep):
    with pytest.raises(ValueError, match="groups"):
        mx.mixedlm("Reaction ~ Days", sleep)


@pytest.mark.parametrize("formula, match", [
    ("Reaction ~ Days + (1 | )", "terms | grouping"),
    ("Reaction ~ Days + (Days || )", "terms | grouping"),
    ("Reaction ~ Days + (1 | Subject", "unbalanced"),
])
def test_unparseable_terms(sleep, formula, match):
    with pytest.raises(FormulaError, match=match):
        mx.mixedlm(formula, sleep)


def test_both_styles_rejected(sleep):
    with pytest.raises(ValueError, match="either"):
        mx.mixedlm("Reaction ~ Days + (1 | Subject)", sleep, groups="Subject",
                   re_formula="1 + Days")


def test_collinear_fixed_effects(sleep):
    sleep["Days2"] = 2 * sleep["Days"]
    with pytest.raises(ValueError, match="not identified"):
        mx.mixedlm("Reaction ~ Days + Days2 + (1 | Subject)", sleep).fit()


def test_singular_fit_is_an_answer():
    data = mx.datasets.load("dyestuff2")
    with pytest.warns(mx.SingularFitWarning, match="'Batch'"):
        res = mx.mixedlm("Yield ~ 1 + (1 | Batch)", data).fit()
    assert res.singular
    assert res.variance_components().variance.iloc[0] == pytest.approx(0, abs=1e-8)
    assert np.isfinite(res.bse["Intercept"])


def test_single_level_grouping(sleep):
    sleep["one"] = "a"
    with pytest.raises(ValueError, match="'one' has a single unit"):
        mx.mixedlm("Reaction ~ Days + (1 | one)", sleep).fit()


def test_fewer_observations_than_parameters(sleep):
    small = pd.concat([sleep[sleep.Subject == "308"].head(3),
                       sleep[sleep.Subject == "309"].head(2)])  # 5 rows, 6 parameters
    with pytest.raises(ValueError, match="observations for .* parameters"):
        mx.mixedlm("Reaction ~ Days + (Days | Subject)", small).fit()


def test_non_numeric_outcome(sleep):
    sleep["label"] = np.where(sleep.Reaction > 300, "high", "low")
    with pytest.raises(TypeError, match="outcome 'label' must be numeric"):
        mx.mixedlm("label ~ Days + (1 | Subject)", sleep)
