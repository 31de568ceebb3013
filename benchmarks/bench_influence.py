"""Group-deletion influence: every unit of a 50,000-row nested model refitted, against one fit.

    python benchmarks/bench_influence.py [--units N] [--rows-per-unit R] [--repeat K]

Case: ``y ~ x + (1 | a/b)``, ``--units`` a-units (default 1,000) with 5 b-units each and
``--rows-per-unit`` rows per a-unit (default 50: 50,000 rows), seeded
``np.random.RandomState``. In a fresh process with single-threaded BLAS, after a warm-up
(a fit and an ``influence()`` on a 10% sample, so lazy imports and caches count for
neither), it times

* **fit**: DataFrame -> results, ``mx.mixedlm("y ~ x + (1 | a/b)", data).fit()`` (best of
  ``--repeat``);
* **influence**: ``res.influence("a")``: one exact refit per a-unit (see
  ``mixedext.results.influence``: here all deletions together, as every term nests in
  ``a``, by ``mixedext._engine.batched_refits``; those it leaves to the optimiser from
  downdated cross-products), once;

and prints their ratio, the refits' mean time, how many deletions were refitted together
(with the evaluations of all deletions at once this took) and how many by the optimiser
(with their mean deviance evaluations), and the peak
resident memory of each step above the process' level before it (``VmHWM`` reset
through ``/proc/self/clear_refs`` where Linux allows it, else the ``ru_maxrss``
difference, marked ``*``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLAS_1 = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

WORKER = textwrap.dedent("""
    import json, resource, sys, time, warnings
    sys.path.insert(0, {root!r})
    warnings.simplefilter("ignore")
    import numpy as np, pandas as pd
    import mixedext as mx
    from mixedext._engine import fitting
    from mixedext.results import influence

    rs = np.random.RandomState(7)
    A, B, R = {units}, 5, {rows}
    a = np.repeat(np.arange(A), R)
    b = a * B + rs.randint(0, B, A * R)
    x = rs.normal(size=A * R)
    y = 1 + 0.5 * x + rs.normal(size=A)[a] + 0.6 * rs.normal(size=A * B)[b] + rs.normal(size=A * R)
    data = pd.DataFrame({{"a": a, "b": b % B, "x": x, "y": y}})

    def reset_peak():
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def peak_mb(exact, base):
        if exact:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM"):
                        hwm = int(line.split()[1]) / 1024
                    if line.startswith("VmRSS"):
                        pass
            return hwm - base
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base

    def rss_mb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def fit(frame):
        return mx.mixedlm("y ~ x + (1 | a/b)", frame).fit()

    warm = data[data["a"] < max(2, A // 10)]
    fit(warm).influence("a", progress=False)  # warm-up

    walls = []
    for _ in range({repeat}):
        exact = reset_peak(); base = rss_mb()
        start = time.perf_counter()
        res = fit(data)
        walls.append(time.perf_counter() - start)
        fit_peak = peak_mb(exact, base)
    # count the refits' deviance evaluations
    counts = []
    original = fitting.minimize_theta
    def counting(*args, **kwargs):
        out = original(*args, **kwargs)
        counts.append(out.nfev)
        return out
    fitting.minimize_theta = counting
    batches = []
    batched = influence.refits_together
    def recording(*args):
        out = batched(*args)
        batches.append(out)
        return out
    influence.refits_together = recording
    exact = reset_peak(); base = rss_mb()
    start = time.perf_counter()
    table = res.influence("a", progress=False)
    infl = time.perf_counter() - start
    infl_peak = peak_mb(exact, base)
    fitting.minimize_theta = original
    influence.refits_together = batched
    batch = batches[0]
    print(json.dumps({{"fit": min(walls), "fit_first": walls[0], "influence": infl,
                      "fit_peak_mb": fit_peak, "influence_peak_mb": infl_peak,
                      "exact_peak": exact, "rows": len(data), "units": A,
                      "refits": len(table), "converged": int(table["converged"].sum()),
                      "optimiser_refits": len(counts),
                      "evaluations": float(np.mean(counts)) if counts else 0.0,
                      "batched": 0 if batch is None else int(batch.accepted.sum()),
                      "batch_evaluations": 0 if batch is None else batch.evaluations,
                      "batch_error": 0.0 if batch is None else batch.max_error,
                      "fit_evaluations": res.fit_state.optim.nfev,
                      "max_cook": float(table["cooks_distance"].max())}}))
    """)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=1000, help="a-units (default 1,000)")
    parser.add_argument("--rows-per-unit", type=int, default=50, help="rows per a-unit")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many fits")
    args = parser.parse_args(argv)
    script = WORKER.format(root=str(ROOT), units=args.units, rows=args.rows_per_unit,
                           repeat=args.repeat)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env={**os.environ, **BLAS_1})
    r = json.loads(out.stdout.strip().splitlines()[-1])
    mark = "" if r["exact_peak"] else "*"
    print(f"y ~ x + (1 | a/b): {r['rows']:,} rows, {r['units']:,} a-units x 5 b-units")
    print(f"one fit (DataFrame -> results)   {r['fit']:8.3f} s  (first {r['fit_first']:.3f} s,"
          f" {r['fit_evaluations']} deviance evaluations)  peak {r['fit_peak_mb']:.1f} MB{mark}")
    print(f"influence('a'), {r['refits']:,} refits     {r['influence']:8.3f} s  "
          f"({1000 * r['influence'] / r['refits']:.2f} ms per refit, {r['converged']:,} "
          f"converged)  peak {r['influence_peak_mb']:.1f} MB{mark}")
    print(f"  refitted together: {r['batched']:,} ({r['batch_evaluations']} evaluations of "
          f"all deletions, interpolation error at the checks {r['batch_error']:.1e}); by the "
          f"optimiser: {r['optimiser_refits']:,} ({r['evaluations']:.1f} deviance evaluations "
          "each)")
    print(f"ratio influence / fit: {r['influence'] / r['fit']:.1f}   (max Cook's distance "
          f"{r['max_cook']:.4f}; BLAS single-threaded; cpu count {os.cpu_count()})")


if __name__ == "__main__":
    main()
