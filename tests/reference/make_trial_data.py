"""Simulated multi-centre trial for the marginal-means references (``emmeans_reference.R``).

Run from anywhere::

    python tests/reference/make_trial_data.py

Writes ``tests/reference/data/trial.csv`` (next to this script) from its own
``np.random.RandomState(SEED)`` (a stream stable across numpy versions). The committed CSV
is the reference R reads; this script documents how it was made.

Design (``make_trial``): 20 centres ``C01``..``C20`` with 5-14 patients each (unequal),
patients ``P001``.. numbered across centres (unique labels), each randomised to ``arm``
``placebo`` / ``low`` / ``high`` (probabilities 0.4 / 0.3 / 0.3, so arms are unbalanced),
``sex`` ``F`` with probability 0.65 (else ``M``), ``baseline`` ~ N(50, 10^2) rounded to
0.1. Visits ``V1``..``V4``; each patient misses a visit with probability 0.12, and drops
out after V2 or V3 with probability 0.08 each (unbalanced, missing visits). Outcomes:

    y  = 40 + 0.5 (baseline - 50) + 1.5 [M] + visit_v + arm_a,v + u_c + u_p + e,
    visit_v  = 0, -1, -2, -3 (V1..V4),
    arm_a,v  = 0 (placebo); -0.5 v' (low), -1.2 v' (high), v' = 0..3 the visit index,
    u_c ~ N(0, 3^2) per centre, u_p ~ N(0, 4^2) per patient, e ~ N(0, 3^2);

    yb ~ Bernoulli(expit(-0.4 + 0.5 [low] + 0.9 [high] - 0.15 v' + w_c)), w_c ~ N(0, 0.6^2),

``yb`` a 0/1 column for ``binomial_mixedglm("yb ~ arm + visit + (1 | centre)")``. Rows are
sorted by centre, patient and visit.
"""

import os

import numpy as np
import pandas as pd
from scipy.special import expit

HERE = os.path.dirname(os.path.abspath(__file__))
OUTDIR = os.path.join(HERE, "data")
SEED = 20250622

ARMS = ["placebo", "low", "high"]
ARM_SLOPE = {"placebo": 0.0, "low": -0.5, "high": -1.2}
ARM_LOGIT = {"placebo": 0.0, "low": 0.5, "high": 0.9}
VISITS = ["V1", "V2", "V3", "V4"]


def make_trial(seed: int = SEED) -> pd.DataFrame:
    """The trial described in the module docstring."""
    rs = np.random.RandomState(seed)
    rows = []
    patient = 0
    for c in range(20):
        u_c = rs.normal(0.0, 3.0)
        w_c = rs.normal(0.0, 0.6)
        for _ in range(rs.randint(5, 15)):
            patient += 1
            arm = ARMS[rs.choice(3, p=[0.4, 0.3, 0.3])]
            sex = "F" if rs.uniform() < 0.65 else "M"
            baseline = round(rs.normal(50.0, 10.0), 1)
            u_p = rs.normal(0.0, 4.0)
            last = 4
            r = rs.uniform()
            if r < 0.08:
                last = 2
            elif r < 0.16:
                last = 3
            for v in range(4):
                e = rs.normal(0.0, 3.0)
                yb = int(rs.uniform() < expit(-0.4 + ARM_LOGIT[arm] - 0.15 * v + w_c))
                if v >= last or (v > 0 and rs.uniform() < 0.12):
                    continue
                y = (40.0 + 0.5 * (baseline - 50.0) + 1.5 * (sex == "M") - v
                     + ARM_SLOPE[arm] * v + u_c + u_p + e)
                rows.append((f"C{c + 1:02d}", f"P{patient:03d}", arm, VISITS[v], sex,
                             baseline, y, yb))
    return pd.DataFrame(rows, columns=["centre", "patient", "arm", "visit", "sex",
                                       "baseline", "y", "yb"])


def main():
    os.makedirs(OUTDIR, exist_ok=True)
    frame = make_trial()
    path = os.path.join(OUTDIR, "trial.csv")
    frame.to_csv(path, index=False)  # floats as repr(): full round-trip precision
    print(f"wrote {path}: {len(frame)} rows, {frame['patient'].nunique()} patients")


if __name__ == "__main__":
    main()
