"""Helpers of the structures whose correlation is a function of the rows' positions
(mixedext.structures.patterns)."""

import numpy as np
import pytest

from mixedext.structures.patterns import within_unit_distances
from mixedext.structures.spatial import pairwise_distances


@pytest.mark.parametrize("dims", [1, 2])
def test_pair_distances_are_every_pair_of_a_unit_once(dims):
    """Units of 1-8 rows in shuffled order: the distances of all pairs within units,
    each once (compared as sorted arrays with the dense computation), over times and
    over 2-D points."""
    rs = np.random.RandomState(4)
    for _ in range(20):
        sizes = rs.randint(1, 9, rs.randint(1, 30))
        codes = np.repeat(np.arange(len(sizes)), sizes)
        points = rs.uniform(0, 10, (len(codes), dims))
        perm = rs.permutation(len(codes))
        want = [pairwise_distances(points[codes == u])[np.triu_indices(k, 1)]
                for u, k in enumerate(sizes)]
        got = within_unit_distances(codes[perm], points[perm] if dims > 1 else
                                    points[perm, 0])
        np.testing.assert_allclose(np.sort(got), np.sort(np.concatenate(want)),
                                   rtol=1e-12)
