"""BLAS threads for the engine's dense work.

The factorisations are many small or medium dense operations; with several BLAS threads
per operation a loaded machine oversubscribes its cores and a fit can run many times
slower than on one thread (a 2,000 x 300 crossed fit: 23 s instead of 0.47 s). The
engine therefore runs on one BLAS thread unless the dense block is large enough for the
threads to pay (:data:`THREADED_FROM` columns), through threadpoolctl.
"""

from __future__ import annotations

from contextlib import nullcontext

from threadpoolctl import threadpool_limits

__all__ = ["THREADED_FROM", "blas_threads_for"]

THREADED_FROM = 2000  # dense tail columns from which BLAS may use all its threads


def blas_threads_for(dense_size: int):
    """A context: one BLAS thread below :data:`THREADED_FROM` dense columns, the BLAS
    library's own setting from there on."""
    if dense_size >= THREADED_FROM:
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
