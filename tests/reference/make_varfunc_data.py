"""Simulated data for the variance-function (``variance=``) reference tests.

Run from anywhere::

    python tests/reference/make_varfunc_data.py

Writes ``tests/reference/data/varfunc_panel.csv`` from ``np.random.RandomState(20250801)``
(its stream is stable across numpy versions), so the file is reproducible bit for bit. The
same CSV is fed to R by ``nlme_varfunc_reference.R``; the committed CSV is the reference.

One panel, one outcome per data-generating model (the values are below). 90 subjects
"s01".."s90" with planned visits t = 1..6, each missed with probability 0.15 (at least 3
kept); ``trt`` 0/1 per subject, per row ``x`` ~ N(0, 1), ``v`` ~ U(0.5, 4) (power and
constant-plus-power covariate), ``z`` ~ U(-1.5, 1.5) (exponential covariate) and ``g``
uniform over "A", "B", "C". The mean is ``1 + 0.4 t + 0.8 trt + 0.5 x``; ``u ~ N(0,
0.8^2)`` per subject, ``e`` standard normal per row unless said otherwise:

- ``y_pow``: mean + u + 1.1 v^0.6 e (varPower)
- ``y_exp``: mean + u + 1.1 exp(0.4 z) e (varExp)
- ``y_cp``: mean + u + 0.9 (0.5 + v^0.8) e (varConstPower)
- ``y_powg``: mean + u + 1.1 v^power[g] e, power = (0.3, 0.7, 1.0) for A, B, C
- ``y_ar1pow``: mean + u + 1.1 v^0.5 a, ``a`` AR(1) with rho 0.5 on the full grid t = 1..6
  (unit variance, simulated before the missed visits are dropped)
- ``y_csexp``: mean + 1.1 exp(0.3 z) c, ``c`` exchangeable with rho 0.4 within a subject,
  no u (the gls model)
- ``y_idpow``: mean + u + 1.1 ratio[g] v^0.5 e, ratio = (1, 1.5, 0.7) for A, B, C

Rows are sorted by subject, then t (nlme's normalized residuals need rows grouped by unit).
"""

import os

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20250801


def make_varfunc_panel(seed=SEED):
    rs = np.random.RandomState(seed)
    n_subj, times = 90, np.arange(1, 7)
    rows = []
    for s in range(n_subj):
        keep = rs.rand(len(times)) >= 0.15
        while keep.sum() < 3:
            keep = rs.rand(len(times)) >= 0.15
        trt = int(rs.rand() < 0.5)
        u = 0.8 * rs.normal()
        a = np.empty(len(times))  # AR(1), rho 0.5, unit variance, on the full grid
        a[0] = rs.normal()
        for k in range(1, len(times)):
            a[k] = 0.5 * a[k - 1] + np.sqrt(1 - 0.25) * rs.normal()
        c = np.sqrt(0.4) * rs.normal() + np.sqrt(0.6) * rs.normal(size=len(times))
        for k in np.flatnonzero(keep):
            rows.append(dict(subject=f"s{s + 1:02d}", t=int(times[k]), trt=trt,
                             x=rs.normal(), v=rs.uniform(0.5, 4.0), z=rs.uniform(-1.5, 1.5),
                             g="ABC"[rs.randint(3)], u=u, a=a[k], c=c[k],
                             e=rs.normal(size=5)))
    d = pd.DataFrame(rows)
    mean = 1 + 0.4 * d.t + 0.8 * d.trt + 0.5 * d.x
    e = np.vstack(d.pop("e").to_numpy())
    powg = d.g.map({"A": 0.3, "B": 0.7, "C": 1.0})
    ratio = d.g.map({"A": 1.0, "B": 1.5, "C": 0.7})
    d["y_pow"] = mean + d.u + 1.1 * d.v ** 0.6 * e[:, 0]
    d["y_exp"] = mean + d.u + 1.1 * np.exp(0.4 * d.z) * e[:, 1]
    d["y_cp"] = mean + d.u + 0.9 * (0.5 + d.v ** 0.8) * e[:, 2]
    d["y_powg"] = mean + d.u + 1.1 * d.v ** powg * e[:, 3]
    d["y_ar1pow"] = mean + d.u + 1.1 * d.v ** 0.5 * d.a
    d["y_csexp"] = mean + 1.1 * np.exp(0.3 * d.z) * d.c
    d["y_idpow"] = mean + d.u + 1.1 * ratio * d.v ** 0.5 * e[:, 4]
    return d.drop(columns=["u", "a", "c"])


def main():
    path = os.path.join(HERE, "data", "varfunc_panel.csv")
    d = make_varfunc_panel()
    d.to_csv(path, index=False)
    print(f"wrote {path}: {len(d)} rows, columns {list(d.columns)}")


if __name__ == "__main__":
    main()
