"""mixedext.structures.markov: the whitened Gram matrices equal W_u' R_u^-1 W_u."""

import numpy as np
import pytest

from mixedext.structures.markov import MarkovRows


def _rows(seed=0, n_units=7):
    """Units of 1-6 rows, the rows shuffled (so MarkovRows sorts them), real times."""
    rs = np.random.RandomState(seed)
    sizes = rs.randint(1, 7, n_units)
    codes = np.repeat(np.arange(n_units), sizes)
    times = np.concatenate([np.sort(rs.uniform(0, 10, s)) for s in sizes])
    w = rs.normal(size=(len(codes), 4))
    levels = rs.randint(0, 2, len(codes))
    perm = rs.permutation(len(codes))
    return codes[perm], times[perm], w[perm], levels[perm]


def _dense(codes, times, w, levels, rng, deltas, cols):
    """Per unit ``W_u' R_u^-1 W_u`` and ``log|R_u|`` from the full matrices,
    ``R_u = D exp(-|t_i - t_j| / rng) D`` with ``D`` the rows' SD ratios."""
    grams, logdet = [], 0.0
    for u in range(codes.max() + 1):
        on = codes == u
        t, wu = times[on], w[on]
        d = np.ones(on.sum()) if deltas is None else deltas[levels[on]]
        r = np.exp(-np.abs(t[:, None] - t[None, :]) / rng) * np.outer(d, d)
        grams.append(wu.T @ np.linalg.solve(r, wu))
        logdet += np.linalg.slogdet(r)[1]
    grams = np.array(grams)
    return grams[:, cols], grams.sum(axis=0), logdet


def _correlations(markov, rng):
    return np.exp(markov.gaps * (-1.0 / rng))


@pytest.mark.parametrize("with_levels", [False, True])
def test_grams_equal_the_dense_computation(with_levels):
    """Rows for two columns, the total and log|R| within 1e-10 of the dense
    computation, at several ranges, with and without SD ratios per level."""
    codes, times, w, levels = _rows()
    cols = np.array([0, 2])
    markov = MarkovRows(codes, codes.max() + 1, w, times, cols,
                        levels if with_levels else None)
    deltas = np.array([1.0, 1.7]) if with_levels else None
    for rng in (0.3, 2.0, 25.0):
        g, logdet = markov.grams(_correlations(markov, rng), deltas)
        rows, total, want_logdet = _dense(codes, times, w, levels, rng, deltas, cols)
        np.testing.assert_allclose(g.rows, rows, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(g.total, total, rtol=1e-10, atol=1e-10)
        assert logdet == pytest.approx(want_logdet, rel=1e-10, abs=1e-10)


def test_results_are_not_overwritten_by_later_calls():
    """The work arrays are reused between calls; the Gram matrices returned are not."""
    codes, times, w, levels = _rows(seed=1)
    markov = MarkovRows(codes, codes.max() + 1, w, times, np.array([0]))
    first, _ = markov.grams(_correlations(markov, 1.0))
    rows, total = first.rows.copy(), first.total.copy()
    markov.grams(_correlations(markov, 5.0))
    np.testing.assert_array_equal(first.rows, rows)
    np.testing.assert_array_equal(first.total, total)
    again, _ = markov.grams(_correlations(markov, 1.0))
    np.testing.assert_array_equal(again.rows, rows)


@pytest.mark.parametrize("bad", [1.0, -1.0, np.nan])
def test_a_correlation_of_one_or_nan_is_not_positive_definite(bad):
    codes, times, w, _ = _rows(seed=2)
    markov = MarkovRows(codes, codes.max() + 1, w, times, np.array([0]))
    a = _correlations(markov, 1.0)
    a[np.flatnonzero(a > 0)[0]] = bad
    assert markov.grams(a) == (None, np.inf)


def test_exp_gaps_are_the_correlations_and_long_ranges_keep_log_r_exact():
    """``exp_gaps`` is ``exp(scale * gap)`` (0 for first rows); at a range far above the
    gaps (every ``1 - a^2`` small, their products over groups of 16 far below 1) log|R|
    still equals the dense one."""
    codes, times, w, _ = _rows(seed=3, n_units=40)
    markov = MarkovRows(codes, codes.max() + 1, w, times, np.array([0]))
    a = markov.exp_gaps(-1.0 / 3.0)
    np.testing.assert_array_equal(a, np.exp(markov.gaps * (-1.0 / 3.0)))
    assert np.all(a[np.isinf(markov.gaps)] == 0.0)
    g, logdet = markov.grams(markov.exp_gaps(-1.0 / 500.0))
    _, total, want = _dense(codes, times, w, np.zeros(len(codes), dtype=int), 500.0, None,
                            np.array([0]))
    assert logdet < -100  # many small factors
    assert logdet == pytest.approx(want, rel=1e-9)
    np.testing.assert_allclose(g.total, total, rtol=1e-7)



def test_pickled_rows_whiten_as_the_original():
    """The whitening writes its coefficients into its sparse matrix in place: a copy
    pickled to another process (a Dask worker) must write into its own."""
    import pickle

    rs = np.random.RandomState(7)
    sizes = rs.randint(1, 7, 25)
    codes = np.repeat(np.arange(len(sizes)), sizes)
    times = np.concatenate([np.sort(rs.uniform(0, 10, k)) for k in sizes])
    rows = MarkovRows(codes, len(sizes), rs.normal(size=(len(codes), 3)), times,
                      np.array([0]))
    copy = pickle.loads(pickle.dumps(rows))
    for scale in (-0.5, -2.0):
        g, logdet = rows.grams(rows.exp_gaps(scale).copy())
        g2, logdet2 = copy.grams(copy.exp_gaps(scale).copy())
        np.testing.assert_allclose(g2.total, g.total, rtol=1e-13)
        np.testing.assert_allclose(g2.rows, g.rows, rtol=1e-13)
        assert logdet2 == pytest.approx(logdet, rel=1e-13)
