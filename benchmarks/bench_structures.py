"""Residual AR(1), binomial and Poisson GLMMs: mixedext against plain statsmodels and R in one run.

    python benchmarks/bench_structures.py [--quick] [--skip-r] [--repeat N] [--cases exp,...]

Cases (each tool in a fresh process with single-threaded BLAS; wall time of DataFrame ->
results with the packages imported and a warm-up fit on 10% of the rows done first, as
R's timing excludes loading the library; the best of ``--repeat`` fits (default 3, while
they take under 3 s in all) and the first of them; peak resident memory of the first fit
above the process' baseline after the data are built):

* ``ar1``: 20,000 subjects x 8 visits, ``y ~ t + x + (1 | subject)`` with AR(1) residuals
  (mixedext ``cov_struct="ar1"``) against the same model without AR(1) (mixedext and
  statsmodels, which has no residual correlation) and nlme's
  ``lme(..., correlation = corAR1(form = ~ t | subject))``;
* ``exp``: 20,000 subjects x 8 visits at irregular times (uniform on (0, 10)),
  ``y ~ t + x + (1 | subject)`` with exponentially correlated residuals (range 2;
  mixedext ``cov_struct="exp", time="t"``, nlme's ``corExp(form = ~ t | subject)``)
  against the same model without it, and as ``cov_struct="car1"`` (``phi = exp(-1 /
  range)``, the same model);
* ``glmm``: 2,000 units x 50 patients, ``y ~ x + (1 | unit)`` logistic, mixedext
  ``fit_ml()`` (Laplace) against ``lme4::glmer`` (nAGQ = 1, default control).
  statsmodels has no maximum-likelihood fit for this model; its
  ``BinomialBayesMixedGLM.fit_vb`` ran for more than 13 minutes on this case without
  finishing and is left out;
* ``poisson``: 2,000 units x 50 rows, ``y ~ x + C(arm) + (1 | unit)`` with
  ``exposure`` (a string column ``arm``), mixedext ``poisson_mixedglm(...,
  exposure="exposure").fit_ml()`` against ``glmer(y ~ x + arm + offset(log(exposure)) +
  (1 | unit), family = poisson)``. statsmodels' ``PoissonBayesMixedGLM`` is variational
  Bayes only and takes no offset, so it is not a peer.

``--quick`` shrinks every case to a quarter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DATA = {
    "ar1": textwrap.dedent("""
        import numpy as np, pandas as pd
        rs = np.random.RandomState(1)
        S, T = {n_units}, 8
        subj = np.repeat(np.arange(S), T); t = np.tile(np.arange(T), S)
        e = np.zeros((S, T)); e[:, 0] = rs.normal(size=S)
        for k in range(1, T):
            e[:, k] = 0.6 * e[:, k - 1] + rs.normal(size=S) * np.sqrt(1 - 0.36)
        x = rs.normal(size=S * T)
        data = pd.DataFrame({{"subject": subj, "t": t, "x": x,
                             "y": 1 + 0.3 * t + 0.5 * x + rs.normal(size=S)[subj] + e.ravel()}})
        """),
    "exp": textwrap.dedent("""
        import numpy as np, pandas as pd
        rs = np.random.RandomState(4)
        S, T = {n_units}, 8
        subj = np.repeat(np.arange(S), T)
        t = np.sort(rs.uniform(0, 10, (S, T)), axis=1)
        gap = np.diff(t, axis=1)
        e = np.zeros((S, T)); e[:, 0] = rs.normal(size=S)
        for k in range(1, T):  # exp(-d / 2) correlation: Markov in the gaps
            a = np.exp(-gap[:, k - 1] / 2.0)
            e[:, k] = a * e[:, k - 1] + np.sqrt(1 - a ** 2) * rs.normal(size=S)
        x = rs.normal(size=S * T)
        data = pd.DataFrame({{"subject": subj, "t": t.ravel(), "x": x,
                             "y": 1 + 0.3 * t.ravel() + 0.5 * x + rs.normal(size=S)[subj]
                                  + e.ravel()}})
        """),
    "glmm": textwrap.dedent("""
        import numpy as np, pandas as pd
        rs = np.random.RandomState(2)
        U, P = {n_units}, 50
        unit = np.repeat(np.arange(U), P); x = rs.normal(size=U * P)
        eta = -1 + 0.5 * x + rs.normal(size=U)[unit] * 0.7
        data = pd.DataFrame({{"unit": unit, "x": x,
                             "y": (rs.rand(U * P) < 1 / (1 + np.exp(-eta))).astype(int)}})
        """),
    "poisson": textwrap.dedent("""
        import numpy as np, pandas as pd
        rs = np.random.RandomState(3)
        U, P = {n_units}, 50
        unit = np.repeat(np.arange(U), P); x = rs.normal(size=U * P)
        arm = np.where(rs.rand(U * P) < 0.5, "treated", "control")
        exposure = rs.uniform(0.5, 3.0, U * P)
        eta = 0.3 + 0.4 * x - 0.5 * (arm == "treated") + rs.normal(size=U)[unit] * 0.5
        data = pd.DataFrame({{"unit": unit, "x": x, "arm": arm, "exposure": exposure,
                             "y": rs.poisson(exposure * np.exp(eta))}})
        """),
}

FITS = {
    ("ar1", "mixedext AR(1)"): 'import mixedext as mx\nres = mx.mixedlm("y ~ t + x + (1 | subject)", data, cov_struct="ar1", time="t").fit()\nllf = res.llf',
    ("ar1", "mixedext no AR(1)"): 'import mixedext as mx\nres = mx.mixedlm("y ~ t + x + (1 | subject)", data).fit()\nllf = res.llf',
    ("ar1", "statsmodels no AR(1)"): 'import statsmodels.formula.api as smf\nres = smf.mixedlm("y ~ t + x", data, groups="subject").fit()\nllf = res.llf',
    ("exp", "mixedext corExp"): 'import mixedext as mx\nres = mx.mixedlm("y ~ t + x + (1 | subject)", data, cov_struct="exp", time="t").fit()\nllf = res.llf',
    ("exp", "mixedext no corExp"): 'import mixedext as mx\nres = mx.mixedlm("y ~ t + x + (1 | subject)", data).fit()\nllf = res.llf',
    ("exp", "mixedext car1"): 'import mixedext as mx\nres = mx.mixedlm("y ~ t + x + (1 | subject)", data, cov_struct="car1", time="t").fit()\nllf = res.llf',
    ("glmm", "mixedext fit_ml"): 'import mixedext as mx\nres = mx.binomial_mixedglm("y ~ x + (1 | unit)", data).fit_ml()\nllf = res.llf',
    ("poisson", "mixedext fit_ml"): 'import mixedext as mx\nres = mx.poisson_mixedglm("y ~ x + C(arm) + (1 | unit)", data, exposure="exposure").fit_ml()\nllf = res.llf',
}

R_FITS = {
    "ar1": ('library(nlme)', 'm <- lme(y ~ t + x, random = ~ 1 | subject, '
            'correlation = corAR1(form = ~ t | subject), data = d)', 'nlme lme corAR1'),
    "exp": ('library(nlme)', 'm <- lme(y ~ t + x, random = ~ 1 | subject, '
            'correlation = corExp(form = ~ t | subject), data = d)', 'nlme lme corExp'),
    "glmm": ('library(lme4)', 'm <- glmer(y ~ x + (1 | unit), data = d, family = binomial)',
             'lme4 glmer'),
    "poisson": ('library(lme4)', 'm <- glmer(y ~ x + arm + offset(log(exposure)) + (1 | unit), '
                'data = d, family = poisson)', 'lme4 glmer'),
}

WORKER = textwrap.dedent("""
    import json, resource, sys, time, warnings
    sys.path.insert(0, {root!r})
    warnings.simplefilter("ignore")
    {data}
    {imports}

    def run_fit(data):
        {fit}
        return llf

    run_fit(data.sample(frac=0.1, random_state=0))  # warm-up: lazy imports, caches
    walls = []
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    while True:  # best of `repeat` while the fits add up to less than 3 s
        start = time.perf_counter()
        llf = run_fit(data)
        walls.append(time.perf_counter() - start)
        if len(walls) == 1:
            peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
        if len(walls) >= {repeat} or sum(walls) > 3.0:
            break
    print(json.dumps({{"wall": min(walls), "first": walls[0], "n": len(walls),
                      "peak_mb": peak, "llf": llf}}))
    """)

WRITER = textwrap.dedent("""
    {data}
    data.to_csv({csv!r}, index=False)
    """)

BLAS_1 = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_python(case, code, n_units, repeat):
    lines = code.splitlines()
    imports = "\n".join(line for line in lines if line.startswith(("import", "from")))
    fit = "\n    ".join(line for line in lines if not line.startswith(("import", "from")))
    script = WORKER.format(root=str(ROOT), data=DATA[case].format(n_units=n_units),
                           imports=imports, fit=fit, repeat=repeat)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env={**os.environ, **BLAS_1})
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_r(case, n_units, workdir):
    lib, fit, _ = R_FITS[case]
    csv = Path(workdir) / f"{case}.csv"
    script = WRITER.format(data=DATA[case].format(n_units=n_units), csv=str(csv))
    subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    r = textwrap.dedent(f"""
        suppressMessages({lib})
        d <- read.csv("{csv}")
        d[[if ("subject" %in% names(d)) "subject" else "unit"]] <-
            factor(d[[if ("subject" %in% names(d)) "subject" else "unit"]])
        gc(reset = TRUE)
        tm <- system.time({fit})[["elapsed"]]
        mem <- sum(gc()[, 6])
        cat(sprintf('{{"wall": %.6f, "peak_mb": %.1f, "llf": %.6f}}\\n', tm, mem,
                    as.numeric(logLik(m))))
        """)
    out = subprocess.run(["Rscript", "-e", r], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-r", action="store_true")
    parser.add_argument("--repeat", type=int, default=3,
                        help="best of this many fits per tool (while under 3 s in all)")
    parser.add_argument("--cases", default="ar1,exp,glmm,poisson",
                        help="comma-separated cases to run")
    args = parser.parse_args(argv)
    sizes = {"ar1": 20_000, "exp": 20_000, "glmm": 2_000, "poisson": 2_000}
    sizes = {k: v for k, v in sizes.items() if k in args.cases.split(",")}
    if args.quick:
        sizes = {k: v // 4 for k, v in sizes.items()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case, n_units in sizes.items():
            results = {}
            for (c, tool), code in FITS.items():
                if c == case:
                    results[tool] = run_python(case, code, n_units, args.repeat)
            if not args.skip_r and shutil.which("Rscript"):
                try:
                    results[R_FITS[case][2]] = run_r(case, n_units, tmp)
                except subprocess.CalledProcessError as err:
                    print(f"R skipped for {case}: {err.stderr[-300:]}")
            ref = results[next(t for t in results if t.startswith("mixedext"))]["wall"]
            for tool, r in results.items():
                rows.append((case, n_units, tool, r["wall"], r.get("first", r["wall"]),
                             r.get("n", 1), r["peak_mb"], r["llf"], r["wall"] / ref))
    print(f"{'case':7} {'units':>7} {'tool':24} {'wall s':>8} {'first s':>8} {'of':>3} "
          f"{'peak MB':>8} {'llf':>14} {'ratio':>7}")
    for case, n, tool, wall, first, reps, peak, llf, ratio in rows:
        print(f"{case:7} {n:7d} {tool:24} {wall:8.3f} {first:8.3f} {reps:3d} {peak:8.1f} "
              f"{llf:14.3f} {ratio:7.2f}")
    walls = {(case, tool): wall for case, _, tool, wall, *_ in rows}
    if ("ar1", "mixedext no AR(1)") in walls:
        print(f"AR(1) fit / same model without AR(1): "
              f"{walls['ar1', 'mixedext AR(1)'] / walls['ar1', 'mixedext no AR(1)']:.2f}")
    if ("exp", "mixedext no corExp") in walls:
        print(f"corExp fit / same model without it: "
              f"{walls['exp', 'mixedext corExp'] / walls['exp', 'mixedext no corExp']:.2f}; "
              f"car1 (the same model) / without it: "
              f"{walls['exp', 'mixedext car1'] / walls['exp', 'mixedext no corExp']:.2f}")
    print("(wall = best of 'of' fits after a warm-up fit on 10% of the rows; first = the first "
          f"of them; R: one fit; BLAS single-threaded; cpu count {os.cpu_count()})")


if __name__ == "__main__":
    main()
