"""Write the random-slope data sets with a correlation estimate near +-1 (the profile
edge cases of tests/test_profile.py) for ``profile_edges_reference.R``."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from test_profile import _slope_data  # noqa: E402

CASES = [(4, 0.97), (11, 0.97), (8, -0.995)]

if __name__ == "__main__":
    for seed, rho in CASES:
        _slope_data(seed, rho).to_csv(ROOT / "tests" / "reference" / "data" /
                                      f"slope_corr_{seed}.csv", index=False,
                                      float_format="%.17g")
