"""Coverage of the bootstrap ICC interval (seeded simulation; slow).

30 clusters x 20 observations, true ICC 0.2, 200 data sets, 199 bootstrap refits each:
the 95% percentile interval must cover the truth in 90% to 99% of the data sets.
"""

import numpy as np
import pandas as pd
import pytest

import mixedext as mx


@pytest.mark.slow
def test_bootstrap_icc_coverage():
    rs = np.random.RandomState(20261125)
    truth, covered = 0.2, 0
    cluster = np.repeat(np.arange(30), 20)
    for _ in range(200):
        y = rs.normal(size=30)[cluster] * np.sqrt(truth) + rs.normal(size=600) * np.sqrt(
            1 - truth)
        data = pd.DataFrame({"y": y, "g": cluster})
        res = mx.mixedlm("y ~ 1 + (1 | g)", data).fit()
        table = res.icc(ci=True, method="bootstrap", n_boot=199,
                        seed=int(rs.randint(2**31)), progress=False)
        covered += table["lower"].iloc[0] <= truth <= table["upper"].iloc[0]
    coverage = covered / 200
    assert 0.90 <= coverage <= 0.99, coverage
