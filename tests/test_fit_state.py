"""A results object is a snapshot of its fit (mixedext._engine.state.FitState).

Refits by the other criterion, profiles, bootstraps, interrupts and pickling change no
earlier results object and leave the model fitting as before. Each check compares a
results object's answers with those of a fresh fit of a fresh model (exactly, or to
1e-10 where a quantity is recomputed by finite differences on the same numbers).
"""

import pickle

import numpy as np
import pandas as pd
import pytest

import mixedext as mx
from mixedext.inference import profile


def _data(seed=3, n_g=16, n_per=8):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_g), n_per)
    x = rng.normal(size=len(g))
    y = 1 + 0.5 * x + rng.normal(size=n_g)[g] + rng.normal(size=len(g))
    return pd.DataFrame(dict(y=y, x=x, g=g, t=np.tile(np.arange(n_per), n_g)))


KINDS = {
    "plain": dict(formula="y ~ x + (1 | g)"),
    "ar1": dict(formula="y ~ x + (1 | g)", cov_struct="ar1", time="t"),
}


def _model(kind):
    kw = dict(KINDS[kind])
    return mx.mixedlm(kw.pop("formula"), _data(), **kw)


def _answers(res):
    """What a user reads off a results object (methods that perturb deviances
    internally included)."""
    out = {
        "llf": res.llf,
        "fe": np.asarray(res.fe_params),
        "bse": np.asarray(res.bse_fe),
        "df_satt": res._ddf_table(np.eye(2), "satterthwaite")["df"].to_numpy(),
        "wald_lower": res.conf_int_vc("wald")["lower"].to_numpy(),
        "icc_lower": res.icc(ci=True)["lower"].to_numpy(),
        "re": res.random_effects["g"].to_numpy(),
        "re_se": res.random_effects_se["g"].to_numpy(),
    }
    if res.fit_state.has_structure:
        out["cov_struct"] = res.conf_int_cov_struct()["std_err"].to_numpy()
    return out


def _assert_same(got, want):
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-10, atol=1e-12,
                                   err_msg=key)


@pytest.fixture(scope="module", params=list(KINDS))
def fresh(request):
    """Answers of fresh REML and ML fits, each on a model of its own."""
    kind = request.param
    return kind, _answers(_model(kind).fit()), _answers(_model(kind).fit(reml=False))


@pytest.mark.parametrize("order", ["reml_first", "ml_first"])
def test_refit_by_the_other_criterion_changes_no_results(fresh, order):
    kind, want_reml, want_ml = fresh
    m = _model(kind)
    if order == "reml_first":
        r1, r2 = m.fit(), m.fit(reml=False)
    else:
        r2, r1 = m.fit(reml=False), m.fit()
    _assert_same(_answers(r1), want_reml)
    _assert_same(_answers(r2), want_ml)
    r1.conf_int_vc()  # a profile of r1 (an ML refit inside) leaves r2 alone
    r1.conf_int_fe()
    _assert_same(_answers(r2), want_ml)
    _assert_same(_answers(r1), want_reml)


class _Interrupt:
    """Replace ``owner.name`` by a version that raises KeyboardInterrupt on call ``at``."""

    def __init__(self, monkeypatch, owner, name, at=3):
        real = getattr(owner, name)
        self.calls = 0

        def interrupting(*args, **kwargs):
            self.calls += 1
            if self.calls == at:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, interrupting)


@pytest.mark.parametrize("what", ["bootstrap", "profile"])
def test_interrupted_bootstrap_or_profile_changes_nothing(fresh, what, monkeypatch):
    kind, want_reml, _ = fresh
    m = _model(kind)
    r1 = m.fit()
    with monkeypatch.context() as patch:
        if what == "bootstrap":
            target = "fit_correlated" if kind == "ar1" else "fit_profiled"
            spy = _Interrupt(patch, profile, target)
            with pytest.raises(KeyboardInterrupt):
                r1.conf_int_vc("bootstrap", n_boot=50, seed=1)
        else:
            spy = _Interrupt(patch, profile.NaturalParameters, "profile", at=5)
            with pytest.raises(KeyboardInterrupt):
                r1.conf_int_vc("profile")
        assert spy.calls >= 3
    _assert_same(_answers(r1), want_reml)
    _assert_same(_answers(m.fit()), want_reml)  # the model fits as before


def test_pickled_results_answer_the_same(fresh):
    kind, want_reml, _ = fresh
    res = _model(kind).fit()
    again = pickle.loads(pickle.dumps(res))
    _assert_same(_answers(again), want_reml)


def test_fit_state_is_read_only():
    res = _model("plain").fit()
    state = res.fit_state
    for arr in (state.theta, state.beta):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 0.0
    with pytest.raises(AttributeError):
        state.reml = False
    assert state.reml and not res.model.fit(reml=False).fit_state.reml and state.reml


def test_the_model_keeps_statsmodels_reml_attribute():
    """statsmodels sets ``model.reml`` in ``fit``; so does mixedext (its own results
    never read it)."""
    m = _model("plain")
    r1 = m.fit()
    m.fit(reml=False)
    assert m.reml is False and r1.method == "REML" and r1.fit_state.reml


def test_profile_is_computed_once_per_results(monkeypatch):
    """conf_int_vc and conf_int_fe share one ML refit; a second call recomputes
    nothing; the tables returned are copies."""
    res = _model("plain").fit()
    spy = _Interrupt(monkeypatch, profile, "refit", at=-1)
    first = res.conf_int_vc()
    res.conf_int_fe()
    first.loc[0, "lower"] = -99.0
    again = res.conf_int_vc()
    assert spy.calls == 1 and again.loc[0, "lower"] != -99.0
