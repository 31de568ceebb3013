"""Write ``mixedext.datasets.call_center()`` to a CSV for ``lmer_callcenter.R``.

Usage (from the repository root)::

    python tests/reference/write_callcenter_csv.py [PATH]      # default /tmp/callcenter.csv

The file (695,205 rows, ~30 MB) is *not* committed: the data are regenerated exactly by
the seeded simulation. Floats are written with ``repr`` precision (shortest string that
round-trips, up to 17 significant digits), so R reads the same doubles (to the last
bit where R's parser is correctly rounded, otherwise within one unit in the last place).

Prints the file's sha256 and a cheap fingerprint of the data (row count, sums of
``call_CSAT``, ``age`` and ``M6Spend``, number of ``reason == "property"``), which the
R script recomputes from the CSV and stores in ``lmer_callcenter.json``;
``tests/test_call_center.py`` checks the regenerated data against it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run from a clone without installing
    sys.path.insert(0, str(ROOT))

import mixedext as mx  # noqa: E402

DEFAULT_PATH = "/tmp/callcenter.csv"


def fingerprint(df: pd.DataFrame) -> dict:
    """Row count and column sums identifying the simulated data."""
    return {
        "nrow": int(len(df)),
        "sum_call_CSAT": float(df["call_CSAT"].sum()),
        "sum_age": int(df["age"].sum()),
        "sum_M6Spend": float(df["M6Spend"].sum()),
        "n_property": int((df["reason"] == "property").sum()),
        "n_reps": int(df["rep_ID"].nunique()),
        "n_centers": int(df["center_ID"].nunique()),
    }


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv: list[str]) -> None:
    path = Path(argv[1] if len(argv) > 1 else DEFAULT_PATH)
    df = mx.datasets.call_center()
    # float_format=None: pandas writes repr(float), the shortest round-tripping string
    df.to_csv(path, index=False, lineterminator="\n")
    info = {"path": str(path), "sha256": sha256(path), **fingerprint(df)}
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main(sys.argv)
