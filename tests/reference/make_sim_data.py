"""Simulated data sets for the mixedext reference tests.

Run from anywhere::

    python tests/reference/make_sim_data.py

Writes CSV files into ``tests/reference/data/`` (next to this script).  Every data set
comes from its own ``np.random.RandomState(seed)`` (whose stream is stable across numpy
versions), so the files are reproducible bit for bit.  The same CSVs are fed to R by
``lmer_reference.R``; the committed CSVs are the reference, not this script's output on
some future platform.
"""

import os

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
OUTDIR = os.path.join(HERE, "data")

SEED_NESTED3 = 20240301
SEED_RI_UNEQUAL = 20240302
SEED_CROSSED = 20240303
SEED_NESTED_UNITS = 20240304


def make_nested3(seed=SEED_NESTED3):
    """Three nested levels a/b/c with labels repeating across outer units.

    15 units of ``a``; 3-6 ``b`` per ``a`` (numbered 1..k inside each a); 2-5 ``c`` per
    ``b`` (numbered 1..k inside each b); 2-8 rows per ``c``.
    y = 2 + 0.5 x + u_a + u_ab + u_abc + e, SDs 1.0, 0.7, 0.5, residual 1.0.
    The model must be written ``(1 | a/b/c)``.
    """
    rs = np.random.RandomState(seed)
    rows = []
    for a in range(1, 16):
        u_a = rs.normal(0.0, 1.0)
        for b in range(1, rs.randint(3, 7) + 1):
            u_ab = rs.normal(0.0, 0.7)
            for c in range(1, rs.randint(2, 6) + 1):
                u_abc = rs.normal(0.0, 0.5)
                m = rs.randint(2, 9)
                x = rs.normal(0.0, 1.0, size=m)
                e = rs.normal(0.0, 1.0, size=m)
                y = 2.0 + 0.5 * x + u_a + u_ab + u_abc + e
                for xi, yi in zip(x, y):
                    rows.append((a, b, c, xi, yi))
    return pd.DataFrame(rows, columns=["a", "b", "c", "x", "y"])


def make_ri_unequal(seed=SEED_RI_UNEQUAL):
    """Random intercept with very unequal unit sizes (2 to 200 rows).

    60 units "u01".."u60"; y = 1 + 0.3 x + u + e, sd_u = 0.6, sd_e = 1.5.
    """
    rs = np.random.RandomState(seed)
    sizes = rs.choice([2, 3, 5, 10, 25, 50, 100, 200], 60)
    assert sizes.min() == 2 and sizes.max() == 200
    u = rs.normal(0.0, 0.6, size=60)
    unit = np.repeat([f"u{i + 1:02d}" for i in range(60)], sizes)
    uu = np.repeat(u, sizes)
    n = int(sizes.sum())
    x = rs.normal(0.0, 1.0, size=n)
    e = rs.normal(0.0, 1.5, size=n)
    y = 1.0 + 0.3 * x + uu + e
    return pd.DataFrame({"unit": unit, "x": x, "y": y})


def make_crossed_sim(seed=SEED_CROSSED):
    """Crossed random intercepts: 40 items x 25 subjects, each subject sees 60% of items.

    y = 0.5 + 1.0 x + u_item (sd 0.8) + u_subj (sd 0.5) + e (sd 1).
    """
    rs = np.random.RandomState(seed)
    n_item, n_subj = 40, 25
    u_item = rs.normal(0.0, 0.8, size=n_item)
    u_subj = rs.normal(0.0, 0.5, size=n_subj)
    k = int(round(0.6 * n_item))
    item_idx, subj_idx = [], []
    for s in range(n_subj):
        seen = np.sort(rs.choice(n_item, k, replace=False))
        item_idx.extend(seen)
        subj_idx.extend([s] * k)
    item_idx = np.asarray(item_idx)
    subj_idx = np.asarray(subj_idx)
    n = len(item_idx)
    x = rs.normal(0.0, 1.0, size=n)
    e = rs.normal(0.0, 1.0, size=n)
    y = 0.5 + 1.0 * x + u_item[item_idx] + u_subj[subj_idx] + e
    return pd.DataFrame({
        "item": [f"i{i + 1:02d}" for i in item_idx],
        "subj": [f"s{s + 1:02d}" for s in subj_idx],
        "x": x,
        "y": y,
    })


def make_nested_units(seed=SEED_NESTED_UNITS):
    """Many outer units with nested inner units and a random slope (for group deletion).

    60 units of ``a`` ("a01".."a60"), 4 ``b`` per ``a`` (numbered 1..4 inside each a), 5
    rows per ``b``. y = 1 + 0.5 x + u_a + v_a x + u_ab + e, SDs 1.0 (u_a), 0.7 (v_a),
    0.6 (u_ab), residual 1.0.
    """
    rs = np.random.RandomState(seed)
    n_a, n_b, rows = 60, 4, 5
    a = np.repeat(np.arange(n_a), n_b * rows)
    b = np.tile(np.repeat(np.arange(n_b), rows), n_a)
    x = rs.normal(0.0, 1.0, size=len(a))
    u_a, v_a = rs.normal(0.0, 1.0, size=n_a), rs.normal(0.0, 0.7, size=n_a)
    u_ab = rs.normal(0.0, 0.6, size=n_a * n_b)
    y = 1.0 + 0.5 * x + u_a[a] + v_a[a] * x + u_ab[a * n_b + b] + rs.normal(size=len(a))
    return pd.DataFrame({"a": [f"a{i + 1:02d}" for i in a], "b": b + 1, "x": x, "y": y})


def write_csvs(makers, outdir=OUTDIR):
    """Write each ``(name, make)`` data set to ``outdir/name.csv``."""
    os.makedirs(outdir, exist_ok=True)
    for name, fn in makers:
        df = fn()
        path = os.path.join(outdir, name + ".csv")
        # pandas writes floats with repr(), i.e. full round-trip precision
        df.to_csv(path, index=False)
        print(f"wrote {path}: {len(df)} rows, columns {list(df.columns)}")


def main():
    write_csvs([("nested3", make_nested3),
                ("ri_unequal", make_ri_unequal),
                ("crossed_sim", make_crossed_sim),
                ("nested_units", make_nested_units)])


if __name__ == "__main__":
    main()
