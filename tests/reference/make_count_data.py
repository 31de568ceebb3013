"""Simulated count, positive and weighted-Gaussian data for the count / Gamma GLMM and
weighted-LMM reference tests (``count_reference.R``).

Run from anywhere::

    python tests/reference/make_count_data.py

Writes CSV files into ``tests/reference/data/`` (next to this script).  Every data set
comes from its own ``np.random.RandomState(seed)`` (whose stream is stable across numpy
versions), so the files are reproducible bit for bit.  The same CSVs are fed to R by
``count_reference.R``; the committed CSVs are the reference, not this script's output on
some future platform.

Data sets (the data-generating values are in each function's docstring):

- ``poisson_nested.csv``  40 ``a`` x 5 ``b`` (labels 1..5 repeat within each ``a``) x 6
                           rows, covariate ``x``, two-level factor ``trt``, exposure,
                           prior weights ``w``; Poisson with ``offset(log(exposure))``
- ``nb_ri.csv``           60 units x 10 rows, negative binomial (NB2, size 2), random
                           intercept
- ``gamma_ri.csv``        50 units x 8 rows, Gamma (log link, shape 3), random intercept,
                           prior weights ``w``
- ``lmm_weighted.csv``    30 units of 6-14 rows, Gaussian with correlated random
                           intercept and slope, residual variance sigma^2 / w, offset ``o``

Every file is sorted by its cluster column(s).
"""

import os

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
from make_sim_data import write_csvs  # noqa: E402

SEED_POISSON_NESTED = 20240601
SEED_NB_RI = 20240602
SEED_GAMMA_RI = 20240603
SEED_LMM_WEIGHTED = 20240604


def make_poisson_nested(seed=SEED_POISSON_NESTED):
    """Poisson counts with exposure, nested random intercepts ``(1 | a/b)``.

    40 outer units ``a`` = "A01".."A40", each with 5 inner units ``b`` = 1..5 (the labels
    repeat across ``a``, so the model must be written ``(1 | a/b)``), 6 rows per ``b``
    (1200 rows). Row-level ``x`` ~ N(0, 1), ``trt`` = "ctl"/"trt" with P(trt) = 0.5,
    ``exposure`` ~ Uniform(0.5, 4) rounded to 3 decimals, prior weights ``w`` ~
    Uniform(0.5, 2) rounded to 2 decimals (not used in generating ``y``);
    y ~ Poisson(exposure * exp(0.2 + 0.4 x - 0.5 [trt == "trt"] + u_a + u_ab)),
    u_a ~ N(0, 0.5^2), u_ab ~ N(0, 0.3^2).
    """
    rs = np.random.RandomState(seed)
    n_a, n_b, n_r = 40, 5, 6
    u_a = rs.normal(0.0, 0.5, size=n_a)
    u_ab = rs.normal(0.0, 0.3, size=(n_a, n_b))
    n = n_a * n_b * n_r
    x = rs.normal(0.0, 1.0, size=n)
    trt = rs.uniform(size=n) < 0.5
    exposure = np.round(rs.uniform(0.5, 4.0, size=n), 3)
    w = np.round(rs.uniform(0.5, 2.0, size=n), 2)
    ia = np.repeat(np.arange(n_a), n_b * n_r)
    ib = np.tile(np.repeat(np.arange(n_b), n_r), n_a)
    eta = np.log(exposure) + 0.2 + 0.4 * x - 0.5 * trt + u_a[ia] + u_ab[ia, ib]
    y = rs.poisson(np.exp(eta))
    return pd.DataFrame({
        "a": [f"A{i + 1:02d}" for i in ia],
        "b": ib + 1,
        "x": x,
        "trt": np.where(trt, "trt", "ctl"),
        "exposure": exposure,
        "w": w,
        "y": y,
    })


def make_nb_ri(seed=SEED_NB_RI):
    """Negative binomial (NB2) counts with a random intercept.

    60 units "U01".."U60" x 10 rows (600 rows), x ~ N(0, 1);
    y ~ NB2(mean mu = exp(1.0 + 0.5 x + u), size 2), i.e. Var(y) = mu + mu^2 / 2,
    u ~ N(0, 0.6^2).  Drawn as numpy's negative_binomial(n = 2, p = 2 / (2 + mu)).
    """
    rs = np.random.RandomState(seed)
    n_u, n_r, size = 60, 10, 2.0
    u = rs.normal(0.0, 0.6, size=n_u)
    n = n_u * n_r
    x = rs.normal(0.0, 1.0, size=n)
    iu = np.repeat(np.arange(n_u), n_r)
    mu = np.exp(1.0 + 0.5 * x + u[iu])
    y = rs.negative_binomial(size, size / (size + mu))
    return pd.DataFrame({
        "unit": [f"U{i + 1:02d}" for i in iu],
        "x": x,
        "y": y,
    })


def make_gamma_ri(seed=SEED_GAMMA_RI):
    """Positive (Gamma, log link) responses with a random intercept.

    50 units "G01".."G50" x 8 rows (400 rows), x ~ N(0, 1), prior weights
    w ~ Uniform(0.5, 2) rounded to 2 decimals (not used in generating ``y``);
    y ~ Gamma(shape 3, scale mu / 3) (mean mu, CV 1/sqrt(3) = 0.577),
    mu = exp(1.0 + 0.3 x + u), u ~ N(0, 0.4^2).
    """
    rs = np.random.RandomState(seed)
    n_u, n_r, shape = 50, 8, 3.0
    u = rs.normal(0.0, 0.4, size=n_u)
    n = n_u * n_r
    x = rs.normal(0.0, 1.0, size=n)
    w = np.round(rs.uniform(0.5, 2.0, size=n), 2)
    iu = np.repeat(np.arange(n_u), n_r)
    mu = np.exp(1.0 + 0.3 * x + u[iu])
    y = rs.gamma(shape, mu / shape)
    return pd.DataFrame({
        "unit": [f"G{i + 1:02d}" for i in iu],
        "x": x,
        "w": w,
        "y": y,
    })


def make_lmm_weighted(seed=SEED_LMM_WEIGHTED):
    """Gaussian responses with prior weights and a correlated random intercept and slope.

    30 units "S01".."S30" of 6-14 rows each (sizes uniform on 6..14), x ~ N(0, 1),
    prior weights w = exp(Uniform(log 0.2, log 5)) rounded to 3 decimals (0.2-5),
    offset o ~ N(0, 0.5^2);
    y = 1.0 + 0.5 x + o + u0 + u1 x + e / sqrt(w), e ~ N(0, 1) (sigma = 1, so the residual
    variance of a row is 1 / w), (u0, u1) bivariate normal with SDs (0.8, 0.4) and
    correlation 0.3 (drawn as L z, L the Cholesky factor, z ~ N(0, I)).
    """
    rs = np.random.RandomState(seed)
    n_u = 30
    sizes = rs.randint(6, 15, size=n_u)
    sd = np.array([0.8, 0.4])
    corr = np.array([[1.0, 0.3], [0.3, 1.0]])
    L = np.linalg.cholesky(corr * np.outer(sd, sd))
    uu = rs.normal(0.0, 1.0, size=(n_u, 2)) @ L.T
    n = int(sizes.sum())
    iu = np.repeat(np.arange(n_u), sizes)
    x = rs.normal(0.0, 1.0, size=n)
    w = np.round(np.exp(rs.uniform(np.log(0.2), np.log(5.0), size=n)), 3)
    o = rs.normal(0.0, 0.5, size=n)
    e = rs.normal(0.0, 1.0, size=n)
    y = 1.0 + 0.5 * x + o + uu[iu, 0] + uu[iu, 1] * x + e / np.sqrt(w)
    return pd.DataFrame({
        "g": [f"S{i + 1:02d}" for i in iu],
        "x": x,
        "w": w,
        "o": o,
        "y": y,
    })


def main():
    write_csvs([("poisson_nested", make_poisson_nested),
                ("nb_ri", make_nb_ri),
                ("gamma_ri", make_gamma_ri),
                ("lmm_weighted", make_lmm_weighted)])


if __name__ == "__main__":
    main()
