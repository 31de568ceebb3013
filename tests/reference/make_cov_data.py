"""Simulated data for the residual-covariance (``cov_struct=``, ``het_var=``) reference tests.

Run from anywhere::

    python tests/reference/make_cov_data.py

Writes CSV files into ``tests/reference/data/`` (next to this script), each from its own
``np.random.RandomState(seed)`` (whose stream is stable across numpy versions), so the
files are reproducible bit for bit.  The same CSVs are fed to R by ``nlme_reference.R``;
the committed CSVs are the reference, not this script's output on some future platform.

Data sets (the data-generating values are in each function's docstring):

- ``panel_ar1.csv``   random intercept + AR(1) errors over integer times with gaps (rows shuffled)
- ``panel_car1.csv``  random intercept + continuous-time AR(1) errors at real-valued times
- ``panel_un.csv``    unstructured covariance over 4 visits (variance per visit), no random effect
- ``panel_cs.csv``    exchangeable (compound-symmetry) errors, no random effect
- ``hetvar.csv``      random intercept + a residual variance per level of ``site``
- ``ovary_visits.csv`` nlme's Ovary (``mixedext/datasets/data/ovary.csv``) with ``visit`` =
  1..n, the position of the row within its Mare (the data are in Time order within Mare), which
  is what nlme's ``corAR1()`` without a time covariate uses.
"""

import os

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
from make_sim_data import write_csvs  # noqa: E402

OUTDIR = os.path.join(HERE, "data")
REPO = os.path.dirname(os.path.dirname(HERE))
OVARY_CSV = os.path.join(REPO, "mixedext", "datasets", "data", "ovary.csv")

SEED_PANEL_AR1 = 20240401
SEED_PANEL_CAR1 = 20240402
SEED_PANEL_UN = 20240403
SEED_PANEL_CS = 20240404
SEED_HETVAR = 20240405


def make_panel_ar1(seed=SEED_PANEL_AR1):
    """Random intercept + discrete-time AR(1) errors, integer times with gaps.

    150 subjects "s001".."s150"; planned visits t = 0..7; each visit is missed independently
    with probability 0.2 (the missingness pattern is redrawn until a subject keeps at least
    3 visits).  ``trt`` is 0/1 per subject (a random half of the subjects are treated), ``x``
    is N(0, 1) per row.

    y = 1 + 0.5 t + 0.8 trt + 0.3 x + u + e,  u ~ N(0, 1.0^2) per subject,

    e an AR(1) process on the full grid t = 0..7 with rho = 0.6 and marginal sd 1.2
    (e_0 ~ N(0, 1.2^2), e_t = 0.6 e_{t-1} + N(0, 0.96^2), 0.96 = 1.2 sqrt(1 - 0.6^2)),
    simulated before the missed visits are dropped: exactly nlme's
    ``corAR1(form = ~ t | subject)`` with gaps, corr(e_s, e_t) = 0.6^|s - t|.
    Rows are shuffled (not sorted by subject or time).
    """
    rs = np.random.RandomState(seed)
    n_subj, times = 150, np.arange(8)
    rho, sd_e, sd_u = 0.6, 1.2, 1.0
    sd_innov = sd_e * np.sqrt(1.0 - rho ** 2)
    trt = np.zeros(n_subj, dtype=int)
    trt[rs.permutation(n_subj)[: n_subj // 2]] = 1
    rows = []
    for i in range(n_subj):
        keep = rs.uniform(size=len(times)) >= 0.2
        while keep.sum() < 3:
            keep = rs.uniform(size=len(times)) >= 0.2
        u = rs.normal(0.0, sd_u)
        e = np.empty(len(times))
        e[0] = rs.normal(0.0, sd_e)
        for k in range(1, len(times)):
            e[k] = rho * e[k - 1] + rs.normal(0.0, sd_innov)
        x = rs.normal(0.0, 1.0, size=len(times))
        y = 1.0 + 0.5 * times + 0.8 * trt[i] + 0.3 * x + u + e
        for k in np.flatnonzero(keep):
            rows.append((f"s{i + 1:03d}", int(times[k]), int(trt[i]), x[k], y[k]))
    df = pd.DataFrame(rows, columns=["subject", "t", "trt", "x", "y"])
    df = df.iloc[rs.permutation(len(df))].reset_index(drop=True)
    return df


def make_panel_car1(seed=SEED_PANEL_CAR1):
    """Random intercept + continuous-time AR(1) errors at irregular real-valued times.

    120 subjects "s001".."s120", 4-9 visits each (uniform on 4..9) at times drawn
    uniform on [0, 10] and sorted (no ties within a subject; checked).
    y = 2 + 0.3 time + u + e,  u ~ N(0, 0.8^2) per subject,
    e a continuous-time AR(1) with corr(e_j, e_k) = 0.7^|time_j - time_k| and sd 1.0
    (e_1 ~ N(0, 1), e_k = a e_{k-1} + sqrt(1 - a^2) N(0, 1), a = 0.7^(time_k - time_{k-1})):
    nlme's ``corCAR1(form = ~ time | subject)`` with phi = 0.7.
    Rows sorted by subject, then time.
    """
    rs = np.random.RandomState(seed)
    n_subj, phi, sd_e, sd_u = 120, 0.7, 1.0, 0.8
    rows = []
    for i in range(n_subj):
        m = rs.randint(4, 10)
        tm = np.sort(rs.uniform(0.0, 10.0, size=m))
        assert np.all(np.diff(tm) > 0)
        u = rs.normal(0.0, sd_u)
        e = np.empty(m)
        e[0] = rs.normal(0.0, sd_e)
        for k in range(1, m):
            a = phi ** (tm[k] - tm[k - 1])
            e[k] = a * e[k - 1] + np.sqrt(1.0 - a * a) * rs.normal(0.0, sd_e)
        y = 2.0 + 0.3 * tm + u + e
        for k in range(m):
            rows.append((f"s{i + 1:03d}", tm[k], y[k]))
    return pd.DataFrame(rows, columns=["subject", "time", "y"])


UN_SD = np.array([1.0, 1.3, 1.6, 2.0])
UN_CORR = np.array([[1.00, 0.60, 0.40, 0.30],
                    [0.60, 1.00, 0.60, 0.45],
                    [0.40, 0.60, 1.00, 0.65],
                    [0.30, 0.45, 0.65, 1.00]])


def make_panel_un(seed=SEED_PANEL_UN):
    """Unstructured residual covariance over 4 planned visits, no random effect.

    200 subjects "s001".."s200"; visits t = 1, 2, 3, 4; each visit missed independently
    with probability 0.1 (redrawn until a subject keeps at least 2 visits); ``grp`` 0/1 per
    subject (a random half).  y = 10 + 1.5 t + 2 grp + e, e ~ MVN(0, D C D) over the 4 visits
    with D = diag(1.0, 1.3, 1.6, 2.0) and correlation matrix C =
    [[1, .6, .4, .3], [.6, 1, .6, .45], [.4, .6, 1, .65], [.3, .45, .65, 1]]
    (e drawn for all 4 visits, then missed visits dropped): nlme's
    ``gls(correlation = corSymm(form = ~ t | subject), weights = varIdent(form = ~ 1 | t))``.
    Rows sorted by subject, then t.
    """
    rs = np.random.RandomState(seed)
    n_subj, times = 200, np.arange(1, 5)
    cov = UN_CORR * np.outer(UN_SD, UN_SD)
    chol = np.linalg.cholesky(cov)
    grp = np.zeros(n_subj, dtype=int)
    grp[rs.permutation(n_subj)[: n_subj // 2]] = 1
    rows = []
    for i in range(n_subj):
        keep = rs.uniform(size=4) >= 0.1
        while keep.sum() < 2:
            keep = rs.uniform(size=4) >= 0.1
        e = chol.dot(rs.normal(0.0, 1.0, size=4))
        y = 10.0 + 1.5 * times + 2.0 * grp[i] + e
        for k in np.flatnonzero(keep):
            rows.append((f"s{i + 1:03d}", int(times[k]), int(grp[i]), y[k]))
    return pd.DataFrame(rows, columns=["subject", "t", "grp", "y"])


def make_panel_cs(seed=SEED_PANEL_CS):
    """Exchangeable (compound-symmetry) errors, no random effect.

    100 subjects "s001".."s100" x 5 visits t = 1..5 (complete).  y = 3 + 0.2 t + e,
    e ~ MVN with sd 1.5 and every within-subject correlation 0.4
    (e = 1.5 (sqrt(0.4) z_subject + sqrt(0.6) z_row)): nlme's
    ``gls(correlation = corCompSymm(form = ~ 1 | subject))``.  Rows sorted by subject, then t.
    """
    rs = np.random.RandomState(seed)
    n_subj, times, sd, r = 100, np.arange(1, 6), 1.5, 0.4
    rows = []
    for i in range(n_subj):
        e = sd * (np.sqrt(r) * rs.normal() + np.sqrt(1.0 - r) * rs.normal(size=len(times)))
        y = 3.0 + 0.2 * times + e
        for k in range(len(times)):
            rows.append((f"s{i + 1:03d}", int(times[k]), y[k]))
    return pd.DataFrame(rows, columns=["subject", "t", "y"])


def make_hetvar(seed=SEED_HETVAR):
    """Random intercept + residual variance per level of a row-level factor ``site``.

    30 clusters "c01".."c30" of 10 rows each (300 rows); ``site`` drawn per row uniformly
    from "A", "B", "C" (so sites vary within clusters); ``x`` ~ N(0, 1) per row.
    y = 1 + 0.5 x + u + e, u ~ N(0, 0.7^2) per cluster, e ~ N(0, s^2) with s = 1, 2, 0.5 for
    sites A, B, C: nlme's ``varIdent(form = ~ 1 | site)`` with ratios B/A = 2, C/A = 0.5.
    Rows sorted by cluster.
    """
    rs = np.random.RandomState(seed)
    n_clus, m, sd_u = 30, 10, 0.7
    sd_site = {"A": 1.0, "B": 2.0, "C": 0.5}
    labels = np.array(["A", "B", "C"])
    rows = []
    for j in range(n_clus):
        u = rs.normal(0.0, sd_u)
        site = labels[rs.randint(0, 3, size=m)]
        x = rs.normal(0.0, 1.0, size=m)
        e = rs.normal(0.0, 1.0, size=m) * np.array([sd_site[s] for s in site])
        y = 1.0 + 0.5 * x + u + e
        for k in range(m):
            rows.append((f"c{j + 1:02d}", site[k], x[k], y[k]))
    return pd.DataFrame(rows, columns=["cluster", "site", "x", "y"])


def make_ovary_visits(path=OVARY_CSV):
    """nlme's Ovary with ``visit`` = 1..n within Mare (rows kept in the package CSV's order).

    The package CSV (written by ``export_datasets.R`` from ``nlme::Ovary``) is in Time order
    within Mare; ``visit`` is the row's position inside its Mare, i.e. the implicit position
    nlme's ``corAR1()`` / ``corAR1(form = ~ 1 | Mare)`` uses on ``nlme::Ovary``.
    """
    ov = pd.read_csv(path)
    assert list(ov.columns) == ["Mare", "Time", "follicles"]
    # each Mare's rows are contiguous and in increasing Time
    starts = ov["Mare"].ne(ov["Mare"].shift()).cumsum()
    assert starts.max() == ov["Mare"].nunique()
    assert (ov.groupby("Mare")["Time"].diff().dropna() > 0).all()
    ov["visit"] = ov.groupby("Mare").cumcount() + 1
    return ov


def main():
    write_csvs([("panel_ar1", make_panel_ar1),
                ("panel_car1", make_panel_car1),
                ("panel_un", make_panel_un),
                ("panel_cs", make_panel_cs),
                ("hetvar", make_hetvar),
                ("ovary_visits", make_ovary_visits)])


if __name__ == "__main__":
    main()
