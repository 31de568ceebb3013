"""Fits on data larger than one wants in memory, through Dask.

    python benchmarks/bench_dask.py [--rows 50_000_000] [--files 50] [--dir /tmp/mx_big]
                                    [--scheduler threads|cluster] [--worker-memory 4GiB]
                                    [--in-memory] [--model nested|corexp]

Writes a generated data set to Parquet in ``--files`` pieces, one piece in memory at a
time, then fits it with ``mixedext.mixedlm(formula, dask.dataframe.read_parquet(...))``:

* ``--model nested`` (default): ``y ~ x + reason + (1 | center/rep)``, 500 centers x 40
  reps, reduced to per-unit cross-products;
* ``--model corexp``: subjects x 8 visits at irregular times, ``y ~ t + x + (1 |
  subject)`` with ``cov_struct="exp", time="t", variance="power(v)"``: no per-unit
  statistics of fixed size, so the partitions keep their units' rows and are evaluated
  at every step of the fit (``mixedext.models.dask_rows``).

on

* ``--scheduler threads`` (default): Dask's threaded scheduler, 2 threads in this
  process; the peak resident memory reported is this process' (driver and workers);
* ``--scheduler cluster``: a ``dask.distributed`` ``LocalCluster`` of 2 worker processes
  (one thread each, ``--worker-memory`` each), so every task and every partition's
  statistics are pickled and cross a process boundary as on a real cluster; reports the
  driver's peak resident memory and each worker's.

Reports the wall time of each stage. ``--in-memory`` also reads all rows into pandas and
fits them the usual way, for comparison (memory permitting). This is a benchmark
script, not part of the test suite.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write(directory: Path, rows: int, files: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    rs = np.random.RandomState(7)
    centers, reps = 500, 40
    u_center = rs.normal(size=centers) * 0.5
    u_rep = rs.normal(size=(centers, reps)) * 1.0
    per = rows // files
    for i in range(files):
        c = rs.randint(0, centers, per)
        r = rs.randint(0, reps, per)
        x = rs.normal(size=per)
        reason = rs.rand(per) < 0.4
        y = 2 + 0.5 * x + 0.2 * reason + u_center[c] + u_rep[c, r] + rs.normal(size=per)
        pd.DataFrame({"center": c, "rep": r, "x": x,
                      "reason": np.where(reason, "property", "payment"), "y": y}).to_parquet(
            directory / f"part{i:03d}.parquet", index=False)


def write_visits(directory: Path, rows: int, files: int) -> None:
    """Subjects x 8 visits at irregular times (uniform on (0, 10)), exponentially
    correlated residuals (range 2) with SD ``v ** 0.3``, a random intercept."""
    directory.mkdir(parents=True, exist_ok=True)
    rs = np.random.RandomState(8)
    visits = 8
    per = rows // files // visits  # subjects per file
    for i in range(files):
        t = np.sort(rs.uniform(0, 10, (per, visits)), axis=1)
        e = np.zeros((per, visits))
        e[:, 0] = rs.normal(size=per)
        for k in range(1, visits):
            a = np.exp(-(t[:, k] - t[:, k - 1]) / 2.0)
            e[:, k] = a * e[:, k - 1] + np.sqrt(1 - a ** 2) * rs.normal(size=per)
        v = rs.uniform(0.5, 3.0, (per, visits))
        x = rs.normal(size=(per, visits))
        u = rs.normal(size=(per, 1))
        y = 1 + 0.3 * t + 0.5 * x + u + e * v ** 0.3
        subject = np.repeat(np.arange(i * per, (i + 1) * per), visits)
        pd.DataFrame({"subject": subject, "t": t.ravel(), "x": x.ravel(), "v": v.ravel(),
                      "y": y.ravel()}).to_parquet(directory / f"part{i:03d}.parquet",
                                                  index=False)


MODELS = {  # --model -> (writer, formula, keyword arguments)
    "nested": (write, "y ~ x + reason + (1 | center/rep)", {}),
    "corexp": (write_visits, "y ~ t + x + (1 | subject)",
               {"cov_struct": "exp", "time": "t", "variance": "power(v)"}),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--dir", default="/tmp/mx_big")
    parser.add_argument("--scheduler", choices=["threads", "cluster"], default="threads")
    parser.add_argument("--worker-memory", default="4GiB")
    parser.add_argument("--in-memory", action="store_true")
    parser.add_argument("--model", choices=list(MODELS), default="nested")
    args = parser.parse_args(argv)
    import dask
    import dask.dataframe as dd

    import mixedext as mx

    directory = Path(args.dir)
    start = time.perf_counter()
    writer, formula, kwargs = MODELS[args.model]
    if not any(directory.glob("*.parquet")):
        writer(directory, args.rows, args.files)
    print(f"data: {args.rows:,} rows in {args.files} Parquet files "
          f"({time.perf_counter() - start:.1f} s); {formula} {kwargs}")
    base = peak_mb()
    if args.scheduler == "cluster":
        from distributed import Client, LocalCluster

        start = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               memory_limit=args.worker_memory, dashboard_address=":0")
        client = Client(cluster)
        print(f"cluster: 2 worker processes x 1 thread, {args.worker_memory} each "
              f"(started in {time.perf_counter() - start:.1f} s)")
        context = client.as_current()
    else:
        context = dask.config.set(scheduler="threads", num_workers=2)
    start = time.perf_counter()
    with context:
        ddf = dd.read_parquet(str(directory))
        res = mx.mixedlm(formula, ddf, **kwargs).fit()
    wall = time.perf_counter() - start
    print(f"dask fit ({args.scheduler}): {wall:.1f} s, peak RSS of this process "
          f"{peak_mb():.0f} MB (before: {base:.0f} MB)")
    if args.scheduler == "cluster":
        workers = client.run(peak_mb)
        print("peak RSS of the workers: " + ", ".join(f"{mb:.0f} MB"
                                                      for mb in workers.values()))
        client.close()
        cluster.close()
    print(res.variance_components().to_string(index=False))
    print(res.fe_params.to_string())
    if kwargs:
        print(res.cov_struct_params.to_string())
    print(f"llf {res.llf:.4f}, nobs {res.nobs:,}")
    if args.in_memory:
        start = time.perf_counter()
        frame = pd.read_parquet(str(directory))
        mem = mx.mixedlm(formula, frame, **kwargs).fit()
        print(f"in-memory fit: {time.perf_counter() - start:.1f} s, peak RSS "
              f"{peak_mb():.0f} MB, llf {mem.llf:.4f} (difference {mem.llf - res.llf:.2e})")


if __name__ == "__main__":
    main()
