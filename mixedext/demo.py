"""``python -m mixedext demo``: the seed analyses on data shipped with the package.

1. Students in instructors in teaching methods (the seed notebook's simulation).
2. Calls answered by reps nested in call centers: statsmodels' ``vc_formula`` call that
   silently drops the center intercept, next to the nested model ``(1 | center/rep)``.
3. Classic checks against R: Pastes (nested) and sleepstudy (random slope).
"""

from __future__ import annotations

import time

import pandas as pd

from mixedext import datasets
from mixedext.models.linear import mixedlm

__all__ = ["run_demo"]


def _section(title: str) -> None:
    print(f"\n{'=' * 78}\n{title}\n{'=' * 78}")


def _timed(build):
    start = time.perf_counter()
    res = build()
    return res, time.perf_counter() - start


def run_demo() -> None:
    """Fit and print the seed analyses."""
    pd.set_option("display.width", 110)

    _section("1. 50,000 students, 50 instructors, 5 teaching methods (seed notebook)")
    students = datasets.students()
    res, secs = _timed(lambda: mixedlm("score ~ hs_gpa + C(method)", students,
                                       groups="instructor").fit())
    print(res.summary())
    print(f"fitted in {secs:.2f} s")

    _section("2. 695,205 calls, 193 reps nested in 10 call centers")
    calls = datasets.call_center()
    pitfall, secs0 = _timed(lambda: mixedlm("call_CSAT ~ reason + age", calls,
                                            groups="center_ID",
                                            vc_formula={"rep_ID": "0 + C(rep_ID)"}).fit())
    nested, secs1 = _timed(lambda: mixedlm("call_CSAT ~ reason + age + (1 | center_ID/rep_ID)",
                                           calls).fit())
    print("statsmodels-style call with vc_formula only (no center intercept):")
    print(pitfall.variance_components().to_string(index=False))
    print(f"  log-likelihood {pitfall.llf:.3f}  ({secs0:.2f} s)")
    print("\nnested model (1 | center_ID/rep_ID):")
    print(nested.variance_components().to_string(index=False))
    print(f"  log-likelihood {nested.llf:.3f}  ({secs1:.2f} s)")
    print(nested.fe_params.to_string())

    _section("3. Classic data sets (results agree with lme4; see tests/reference)")
    pastes = mixedlm("strength ~ 1 + (1 | batch/cask)", datasets.load("pastes")).fit()
    print("Pastes, strength ~ 1 + (1 | batch/cask):")
    print(pastes.variance_components().to_string(index=False))
    print(f"  REML log-likelihood {pastes.llf:.6f} (lme4: -123.495373)")
    sleep = mixedlm("Reaction ~ Days + (Days | Subject)", datasets.load("sleepstudy")).fit()
    print("\nsleepstudy, Reaction ~ Days + (Days | Subject):")
    print(sleep.summary())
