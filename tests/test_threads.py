"""mixedext._engine.threads: the engine's fits run on one BLAS thread below the size
where threads pay."""

import pytest
from threadpoolctl import threadpool_info

import mixedext as mx
from mixedext._engine import threads


def _blas_threads():
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_small_fits_use_one_blas_thread(monkeypatch):
    if not _blas_threads():
        pytest.skip("no BLAS library found by threadpoolctl")
    seen = []
    model = mx.mixedlm("diameter ~ 1 + (1 | plate) + (1 | sample)",
                       mx.datasets.load("penicillin"))
    dev = model.deviance_function
    real = type(dev).__call__

    def spy(self, theta, reml=True):
        seen.append(max(_blas_threads()))
        return real(self, theta, reml)

    monkeypatch.setattr(type(dev), "__call__", spy)
    model.fit()
    assert seen and set(seen) == {1}


def test_large_dense_blocks_keep_the_library_setting():
    before = _blas_threads()
    with threads.blas_threads_for(threads.THREADED_FROM):
        assert _blas_threads() == before
    with threads.blas_threads_for(10):
        assert all(n == 1 for n in _blas_threads())
    assert _blas_threads() == before


def test_glmm_fits_use_one_blas_thread(monkeypatch):
    if not _blas_threads():
        pytest.skip("no BLAS library found by threadpoolctl")
    from mixedext._engine.pirls import LaplaceDeviance

    seen = []
    real = LaplaceDeviance.pirls

    def spy(self, *args, **kwargs):
        seen.append(max(_blas_threads()))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(LaplaceDeviance, "pirls", spy)
    mx.binomial_mixedglm("incidence ~ period + (1 | herd)", mx.datasets.load("cbpp"),
                         trials="size").fit_ml()
    assert seen and set(seen) == {1}
