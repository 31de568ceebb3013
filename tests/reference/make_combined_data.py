"""Simulated data for the reference tests of correlations combined with variance functions.

Run from anywhere::

    python tests/reference/make_combined_data.py

Writes CSV files into ``tests/reference/data/``, each from its own
``np.random.RandomState(seed)`` (stable across numpy versions);
``nlme_combined_reference.R`` fits them. Times, coordinates and covariates are rounded
so that R and Python read the same numbers. Rows are sorted by unit, then position.

- ``combined_irregular.csv``: 70 subjects, 4-9 visits at irregular times in (0, 10);
  ``x`` ~ N(0, 1), ``v`` ~ U(0.5, 4), ``g`` uniform over "A", "B", "C"; random
  intercept SD 0.8; mean ``1 + 0.3 time + 0.5 x``.
  ``y_exppow``: errors ``v^0.5 u``, ``u`` exponentially correlated with range 2
  (corExp + varPower); ``y_nugid``: errors ``ratio[g] (sqrt(0.8) u + sqrt(0.2) e)``,
  ``u`` with range 1.5, ``e`` white (a nugget of 0.2), ratio = (1, 1.6, 0.7) for A, B, C
  (corExp with a nugget + varIdent).
- ``combined_plots.csv``: 45 fields of 6-12 points at uniform coordinates ``(cx, cy)``
  in a 10 x 10 square; ``x`` ~ N(0, 1), ``z`` ~ U(-1.5, 1.5); ``y``: ``2 + 0.4 x`` plus
  errors ``exp(0.35 z) u``, ``u`` with Gaussian correlation ``exp(-(d / 3)^2)`` (corGaus
  + varExp, no field effect: the gls model), ``y_ri`` the same plus a field intercept of
  SD 0.6.
- ``combined_visits.csv``: 90 subjects at visits 1..6, each missing with probability
  0.15 (gaps); ``x``, ``v``, ``g`` as above; mean ``1 + 0.2 visit + 0.5 x``.
  ``y_armapow``: random intercept SD 0.8 plus ``v^0.5 a``, ``a`` ARMA(1, 1) (phi 0.6,
  theta 0.3, unit variance); ``y_toepid``: ``ratio[g] b``, ``b`` with lag correlations
  (0.6, 0.45, 0.3, 0.2, 0.1), no random intercept (Toeplitz + varIdent, the gls model).
"""

import os

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
from make_sim_data import write_csvs  # noqa: E402

SEED_IRREGULAR = 20251201
SEED_PLOTS = 20251202
SEED_VISITS = 20251203
RATIO = {"A": 1.0, "B": 1.6, "C": 0.7}


def _correlated(rs, corr):
    return np.linalg.cholesky(corr) @ rs.normal(size=len(corr))


def make_combined_irregular():
    """See the module docstring."""
    rs = np.random.RandomState(SEED_IRREGULAR)
    rows = []
    for s in range(70):
        n = rs.randint(4, 10)
        t = np.round(np.sort(rs.uniform(0, 10, n)), 3)
        while len(np.unique(t)) < n:
            t = np.round(np.sort(rs.uniform(0, 10, n)), 3)
        d = np.abs(t[:, None] - t[None, :])
        u2 = _correlated(rs, np.exp(-d / 2.0))
        u15 = _correlated(rs, np.exp(-d / 1.5))
        white = rs.normal(size=n)
        b = 0.8 * rs.normal()
        x = np.round(rs.normal(size=n), 4)
        v = np.round(rs.uniform(0.5, 4.0, n), 4)
        g = np.array(list("ABC"))[rs.randint(3, size=n)]
        mean = 1.0 + 0.3 * t + 0.5 * x + b
        ratio = np.array([RATIO[k] for k in g])
        y_exppow = mean + np.sqrt(v) * u2
        y_nugid = mean + ratio * (np.sqrt(0.8) * u15 + np.sqrt(0.2) * white)
        for i in range(n):
            rows.append((f"s{s:02d}", t[i], x[i], v[i], g[i], y_exppow[i], y_nugid[i]))
    return pd.DataFrame(rows, columns=["subject", "time", "x", "v", "g", "y_exppow",
                                       "y_nugid"])


def make_combined_plots():
    """See the module docstring."""
    rs = np.random.RandomState(SEED_PLOTS)
    rows = []
    for f in range(45):
        n = rs.randint(6, 13)
        pts = np.round(rs.uniform(0, 10, (n, 2)), 3)
        d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
        corr = np.exp(-(d / 3.0) ** 2) + 1e-8 * np.eye(n)
        u = _correlated(rs, corr)
        b = 0.6 * rs.normal()
        x = np.round(rs.normal(size=n), 4)
        z = np.round(rs.uniform(-1.5, 1.5, n), 4)
        y = 2.0 + 0.4 * x + np.exp(0.35 * z) * u
        for i in range(n):
            rows.append((f"f{f:02d}", pts[i, 0], pts[i, 1], x[i], z[i], y[i], y[i] + b))
    return pd.DataFrame(rows, columns=["field", "cx", "cy", "x", "z", "y", "y_ri"])


def make_combined_visits():
    """See the module docstring."""
    rs = np.random.RandomState(SEED_VISITS)
    phi, theta = 0.6, 0.3
    lags = np.array([1.0, 0.6, 0.45, 0.3, 0.2, 0.1])
    toeplitz = lags[np.abs(np.subtract.outer(np.arange(6), np.arange(6)))]
    rows = []
    for s in range(90):
        a = rs.normal(size=60)
        e = np.zeros(60)
        for k in range(1, 60):  # burn-in of 54 steps
            e[k] = phi * e[k - 1] + a[k] + theta * a[k - 1]
        arma = e[-6:] / np.sqrt((1 + 2 * phi * theta + theta ** 2) / (1 - phi ** 2))
        toep = _correlated(rs, toeplitz)
        b = 0.8 * rs.normal()
        for visit in range(1, 7):
            x = round(rs.normal(), 4)
            v = round(rs.uniform(0.5, 4.0), 4)
            g = "ABC"[rs.randint(3)]
            if rs.rand() < 0.15:
                continue
            mean = 1.0 + 0.2 * visit + 0.5 * x
            rows.append((f"s{s:02d}", visit, x, v, g,
                         mean + b + np.sqrt(v) * arma[visit - 1],
                         mean + RATIO[g] * toep[visit - 1]))
    return pd.DataFrame(rows, columns=["subject", "visit", "x", "v", "g", "y_armapow",
                                       "y_toepid"])


def main():
    write_csvs([("combined_irregular", make_combined_irregular),
                ("combined_plots", make_combined_plots),
                ("combined_visits", make_combined_visits)], os.path.join(HERE, "data"))


if __name__ == "__main__":
    main()
