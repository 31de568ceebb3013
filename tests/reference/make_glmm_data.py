"""Simulated binary-outcome data for the GLMM (``binomial_mixedglm``) and GEE reference tests.

Run from anywhere::

    python tests/reference/make_glmm_data.py

Writes CSV files into ``tests/reference/data/`` (next to this script).  Every data set
comes from its own ``np.random.RandomState(seed)`` (whose stream is stable across numpy
versions), so the files are reproducible bit for bit.  The same CSVs are fed to R by
``glmer_reference.R`` and ``geepack_reference.R``; the committed CSVs are the reference,
not this script's output on some future platform.

Data sets (the data-generating values are in each function's docstring):

- ``readmission.csv``   patients in 80 hospital units of very unequal size (5 to 500),
                         random unit intercept, latent-scale ICC ~ 0.058
- ``clearance.csv``     300 patients x 4 visits, patient-level treatment, large random
                         patient intercept (sd 1.5)
- ``nested_binary.csv`` patients in wards in 12 hospitals (``(1 | hospital/ward)``; ward
                         labels 1..k repeat across hospitals)
- ``slope_binary.csv``  150 subjects x 6 times, correlated random intercept and slope

Every file is sorted by its cluster column(s) (what geepack requires) and, within a
cluster, by time where there is one.
"""

import os

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
from make_sim_data import write_csvs  # noqa: E402

OUTDIR = os.path.join(HERE, "data")

SEED_READMISSION = 20240501
SEED_CLEARANCE = 20240502
SEED_NESTED_BINARY = 20240503
SEED_SLOPE_BINARY = 20240504


def expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_readmission(seed=SEED_READMISSION):
    """Readmission of patients clustered in hospital units of very unequal size.

    80 units "U01".."U80"; unit sizes drawn from [5, 10, 25, 50, 100, 250, 500] (so several
    units have only 5-25 patients); unit-level ``teaching`` ~ Bernoulli(0.4); patient-level
    ``age`` ~ N(0, 1) (standardised) and ``severity`` ~ Bernoulli(0.3);
    readmit ~ Bernoulli(expit(-1.6 + 0.4 age + 0.8 severity - 0.3 teaching + u_unit)),
    u_unit ~ N(0, 0.45^2)  (latent-scale ICC 0.2025 / (0.2025 + pi^2/3) = 0.058).
    """
    rs = np.random.RandomState(seed)
    n_unit = 80
    sizes = rs.choice([5, 10, 25, 50, 100, 250, 500], n_unit)
    teaching = (rs.uniform(size=n_unit) < 0.4).astype(int)
    u = rs.normal(0.0, 0.45, size=n_unit)
    n = int(sizes.sum())
    age = rs.normal(0.0, 1.0, size=n)
    severity = (rs.uniform(size=n) < 0.3).astype(int)
    teach_i = np.repeat(teaching, sizes)
    eta = -1.6 + 0.4 * age + 0.8 * severity - 0.3 * teach_i + np.repeat(u, sizes)
    readmit = (rs.uniform(size=n) < expit(eta)).astype(int)
    df = pd.DataFrame({
        "unit": np.repeat([f"U{i + 1:02d}" for i in range(n_unit)], sizes),
        "age": age,
        "severity": severity,
        "teaching": teach_i,
        "readmit": readmit,
    })
    # the point of the data set: a spread of cluster sizes including small units
    assert sizes.min() == 5 and sizes.max() == 500
    assert ((sizes >= 5) & (sizes <= 25)).sum() >= 10
    return df


def make_clearance(seed=SEED_CLEARANCE):
    """Infection clearance measured at 4 visits per patient.

    300 patients "P001".."P300", patient-level ``trt`` ~ Bernoulli(0.5), ``visit`` = 0..3;
    cleared ~ Bernoulli(expit(-0.5 + 1.0 trt + 0.3 visit + u_patient)), u ~ N(0, 1.5^2).
    """
    rs = np.random.RandomState(seed)
    n_pat, n_vis = 300, 4
    trt = (rs.uniform(size=n_pat) < 0.5).astype(int)
    u = rs.normal(0.0, 1.5, size=n_pat)
    visit = np.tile(np.arange(n_vis), n_pat)
    trt_i = np.repeat(trt, n_vis)
    eta = -0.5 + 1.0 * trt_i + 0.3 * visit + np.repeat(u, n_vis)
    cleared = (rs.uniform(size=n_pat * n_vis) < expit(eta)).astype(int)
    return pd.DataFrame({
        "patient": np.repeat([f"P{i + 1:03d}" for i in range(n_pat)], n_vis),
        "trt": trt_i,
        "visit": visit,
        "cleared": cleared,
    })


def make_nested_binary(seed=SEED_NESTED_BINARY):
    """Patients in wards in hospitals, binary outcome.

    12 hospitals "H1".."H12"; 3-6 wards per hospital labelled 1..k *within* each hospital
    (labels repeat across hospitals, so the model must be written ``(1 | hospital/ward)``);
    15-40 patients per ward; x ~ N(0, 1);
    y ~ Bernoulli(expit(-0.5 + 0.6 x + u_h + u_hw)), u_h ~ N(0, 0.6^2), u_hw ~ N(0, 0.4^2).
    """
    rs = np.random.RandomState(seed)
    rows = []
    for h in range(1, 13):
        u_h = rs.normal(0.0, 0.6)
        for w in range(1, rs.randint(3, 7) + 1):
            u_hw = rs.normal(0.0, 0.4)
            m = rs.randint(15, 41)
            x = rs.normal(0.0, 1.0, size=m)
            y = (rs.uniform(size=m) < expit(-0.5 + 0.6 * x + u_h + u_hw)).astype(int)
            for xi, yi in zip(x, y):
                rows.append((f"H{h}", w, xi, int(yi)))
    return pd.DataFrame(rows, columns=["hospital", "ward", "x", "y"])


def make_slope_binary(seed=SEED_SLOPE_BINARY):
    """Binary outcome with a correlated random intercept and slope over time.

    150 subjects "S001".."S150" x 6 times t = 0..5;
    y ~ Bernoulli(expit(-1 + 0.3 t + u0 + u1 t)), (u0, u1) bivariate normal with SDs
    (1.0, 0.25) and correlation 0.3 (drawn as L z, L the Cholesky factor, z ~ N(0, I)).
    """
    rs = np.random.RandomState(seed)
    n_subj, n_t = 150, 6
    sd = np.array([1.0, 0.25])
    corr = np.array([[1.0, 0.3], [0.3, 1.0]])
    L = np.linalg.cholesky(corr * np.outer(sd, sd))
    z = rs.normal(0.0, 1.0, size=(n_subj, 2))
    uu = z @ L.T
    t = np.tile(np.arange(n_t), n_subj)
    u0 = np.repeat(uu[:, 0], n_t)
    u1 = np.repeat(uu[:, 1], n_t)
    y = (rs.uniform(size=n_subj * n_t) < expit(-1.0 + 0.3 * t + u0 + u1 * t)).astype(int)
    return pd.DataFrame({
        "subject": np.repeat([f"S{i + 1:03d}" for i in range(n_subj)], n_t),
        "t": t,
        "y": y,
    })


def main():
    write_csvs([("readmission", make_readmission),
                ("clearance", make_clearance),
                ("nested_binary", make_nested_binary),
                ("slope_binary", make_slope_binary)])


if __name__ == "__main__":
    main()
