"""Simulated data for the spatial / ARMA / Toeplitz / heterogeneous-AR(1) reference tests.

Run from anywhere::

    python tests/reference/make_structures2_data.py

Writes CSV files into ``tests/reference/data/``, each from its own
``np.random.RandomState(seed)``; ``nlme_structures2_reference.R`` fits them. Times and
coordinates are rounded to 3 decimals so that R and Python read the same numbers.

- ``panel_irregular.csv``: 60 subjects, 4-9 visits at irregular times in (0, 10); random
  intercept SD 0.8; errors ``1.2 (sqrt(0.85) u + sqrt(0.15) v)``, ``u`` exponentially
  correlated with range 2 (``exp(-d / 2)``), ``v`` white noise (a nugget of 0.15).
- ``spatial_plots.csv``: 40 fields of 6-12 points at uniform coordinates ``(cx, cy)`` in
  a 10 x 10 square; field intercept SD 0.7; errors SD 1 with spherical correlation,
  range 4, nugget 0.2.
- ``panel_visits.csv``: 80 subjects at visits 1..6, each visit missing with probability
  0.15 (gaps); random intercept SD 0.8; ``y``: ARMA(1, 1) errors (phi 0.6, theta 0.3,
  marginal SD 1); ``y_het``: AR(1) errors (rho 0.5) with SD ``0.6 + 0.2 visit``.
"""

import os

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
from make_sim_data import write_csvs  # noqa: E402

SEED_IRREGULAR = 20250701
SEED_SPATIAL = 20250702
SEED_VISITS = 20250703


def _correlated(rs, corr):
    return np.linalg.cholesky(corr) @ rs.normal(size=len(corr))


def make_panel_irregular():
    """See the module docstring."""
    rs = np.random.RandomState(SEED_IRREGULAR)
    rows = []
    for s in range(60):
        n = rs.randint(4, 10)
        t = np.round(np.sort(rs.uniform(0, 10, n)), 3)
        while len(np.unique(t)) < n:
            t = np.round(np.sort(rs.uniform(0, 10, n)), 3)
        d = np.abs(t[:, None] - t[None, :])
        e = 1.2 * (np.sqrt(0.85) * _correlated(rs, np.exp(-d / 2.0))
                   + np.sqrt(0.15) * rs.normal(size=n))
        b = 0.8 * rs.normal()
        x = np.round(rs.normal(size=n), 4)
        for i in range(n):
            rows.append((f"s{s:02d}", t[i], x[i], 1.0 + 0.3 * t[i] + 0.5 * x[i] + b + e[i]))
    return pd.DataFrame(rows, columns=["subject", "time", "x", "y"])


def make_spatial_plots():
    """See the module docstring."""
    rs = np.random.RandomState(SEED_SPATIAL)
    rows = []
    for f in range(40):
        n = rs.randint(6, 13)
        pts = np.round(rs.uniform(0, 10, (n, 2)), 3)
        d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
        x = d / 4.0
        sph = np.where(x < 1, 1 - 1.5 * x + 0.5 * x ** 3, 0.0)
        corr = 0.8 * sph  # (1 - nugget) f(d / range) off the diagonal, nugget 0.2
        corr[np.diag_indices(n)] = 1.0
        e = _correlated(rs, corr)
        b = 0.7 * rs.normal()
        x_cov = np.round(rs.normal(size=n), 4)
        for i in range(n):
            rows.append((f"f{f:02d}", pts[i, 0], pts[i, 1], x_cov[i],
                         2.0 + 0.4 * x_cov[i] + b + e[i]))
    return pd.DataFrame(rows, columns=["field", "cx", "cy", "x", "y"])


def make_panel_visits():
    """See the module docstring."""
    rs = np.random.RandomState(SEED_VISITS)
    phi, theta = 0.6, 0.3
    rows = []
    for s in range(80):
        a = rs.normal(size=60)
        e = np.zeros(60)
        for k in range(1, 60):  # burn-in of 54 steps
            e[k] = phi * e[k - 1] + a[k] + theta * a[k - 1]
        arma = e[-6:] / np.sqrt((1 + 2 * phi * theta + theta ** 2) / (1 - phi ** 2))
        ar = np.zeros(6)
        ar[0] = rs.normal()
        for k in range(1, 6):
            ar[k] = 0.5 * ar[k - 1] + np.sqrt(1 - 0.25) * rs.normal()
        b = 0.8 * rs.normal()
        for v in range(1, 7):
            x = round(rs.normal(), 4)
            if rs.rand() < 0.15:
                continue
            rows.append((f"s{s:02d}", v, x, 1.0 + 0.2 * v + 0.5 * x + b + arma[v - 1],
                         1.0 + 0.2 * v + 0.5 * x + b + (0.6 + 0.2 * v) * ar[v - 1]))
    return pd.DataFrame(rows, columns=["subject", "visit", "x", "y", "y_het"])


def main():
    write_csvs([("panel_irregular", make_panel_irregular),
                ("spatial_plots", make_spatial_plots),
                ("panel_visits", make_panel_visits)], os.path.join(HERE, "data"))


if __name__ == "__main__":
    main()
