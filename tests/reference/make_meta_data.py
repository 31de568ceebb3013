"""Simulated study-level data for the meta-analysis reference (``metafor_reference.R``).

Run from anywhere::

    python tests/reference/make_meta_data.py

Writes ``tests/reference/data/meta_sim.csv``: 30 studies ``S01``..``S30`` from one
``np.random.RandomState(SEED)`` (its stream is stable across numpy versions), so the file is
reproducible bit for bit; the committed CSV is the reference, fed as it is to R.

Per study: ``n`` ~ U{20, ..., 300} (the study's size), the sampling variance
``vi = 4 / n + U(0, 0.004)`` (rounded to 6 decimals; about that of a standardised mean
difference of two groups of n / 2), a moderator ``dose`` ~ U(0, 2) (2 decimals) and a
study ``design`` drawn from ``cohort``, ``rct``, ``registry``. Two outcomes, both with
**no** between-study variance (tau^2 = 0) given the true model, rounded to 4 decimals:

- ``yi = 0.1 + 0.4 dose + e_i``, ``e_i ~ N(0, vi)``: without moderators the dose effect
  shows up as heterogeneity (DerSimonian-Laird tau^2 0.080, Q = 113 on 29 df); with
  ``mods = ~ dose`` (and ``~ dose + design``) the residual heterogeneity is nil and every
  estimator (REML, ML, DL, PM) puts tau^2 on the boundary 0;
- ``yi_homog = 0.3 + e_i`` (new draws): homogeneous studies, tau^2 = 0 without moderators
  (Q = 24.9 on 29 df), the Q-profile interval of tau^2 starting at 0.

The script checks these boundary properties (the score of the (restricted) likelihood and
the DL / PM estimating equation at tau^2 = 0) before writing.
"""

import os

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data", "meta_sim.csv")
SEED = 20250602
K = 30


def make_meta_sim(seed=SEED, k=K) -> pd.DataFrame:
    """The simulated studies (see the module docstring)."""
    rs = np.random.RandomState(seed)
    n = rs.randint(20, 301, size=k)
    vi = np.round(4.0 / n + rs.uniform(0, 0.004, size=k), 6)
    dose = np.round(rs.uniform(0, 2, size=k), 2)
    design = rs.choice(["cohort", "rct", "registry"], size=k)
    yi = np.round(0.1 + 0.4 * dose + rs.normal(0, np.sqrt(vi)), 4)
    yi_homog = np.round(0.3 + rs.normal(0, np.sqrt(vi)), 4)
    return pd.DataFrame({"study": [f"S{i + 1:02d}" for i in range(k)], "n": n, "dose": dose,
                         "design": design, "yi": yi, "vi": vi, "yi_homog": yi_homog})


def _at_zero(y, v, X):
    """Q, k - p, and the DL / REML / ML estimating functions at tau^2 = 0 (each is <= 0
    exactly when its estimator is 0, for these unimodal likelihoods)."""
    w = 1 / v
    A = X.T @ (w[:, None] * X)
    r = y - X @ np.linalg.solve(A, X.T @ (w * y))
    k, p = X.shape
    trace_p = w.sum() - np.trace(np.linalg.solve(A, X.T @ (w[:, None] ** 2 * X)))
    q = float((w * r * r).sum())
    return q, k - p, (q - (k - p)) / trace_p, (w ** 2 * r ** 2).sum() - trace_p, \
        (w ** 2 * r ** 2).sum() - w.sum()


def check(df: pd.DataFrame) -> None:
    one = np.ones((len(df), 1))
    dose = np.column_stack([one, df["dose"]])
    design = np.column_stack([dose, df["design"] == "rct", df["design"] == "registry"])
    v = df["vi"].to_numpy()
    q, _, dl, reml, ml = _at_zero(df["yi"].to_numpy(), v, one)
    assert dl > 0 and reml > 0 and ml > 0, "yi without moderators should be heterogeneous"
    for X, y in [(dose, "yi"), (design.astype(float), "yi"), (one, "yi_homog")]:
        q, df_q, dl, reml, ml = _at_zero(df[y].to_numpy(), v, X)
        assert q < df_q and dl < 0 and reml < 0 and ml < 0, f"tau^2 should be 0 for {y}"


if __name__ == "__main__":
    data = make_meta_sim()
    check(data)
    data.to_csv(OUT, index=False)  # shortest round-trip decimals
    print(f"wrote {OUT}: {len(data)} studies")
