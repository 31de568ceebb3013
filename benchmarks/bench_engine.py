"""Time mixedext against plain statsmodels (and lme4, and the Rust ``mixedlm``) in one run.

Usage (from the repository root)::

    python benchmarks/bench_engine.py                 # default run, ~2.5 minutes on 2 cores
    python benchmarks/bench_engine.py --quick         # smaller cases b-d, ~1.5 minutes
    python benchmarks/bench_engine.py --skip-statsmodels --skip-r
    python benchmarks/bench_engine.py --cases a,d --sizes 10000 100000 1000000
    python benchmarks/bench_engine.py --full          # case b: statsmodels at 100,000 groups too
    python benchmarks/bench_engine.py --blas-threads 0  # keep the environment's BLAS threads
    python benchmarks/bench_engine.py --json out.json # also write the raw results
    python benchmarks/bench_engine.py --busy 1 --blas-threads 0  # beside a CPU-bound process

Every fit runs in a fresh Python (or R) process, started by this script, with
single-threaded BLAS by default (``--blas-threads``; see benchmarks/README.md for why):

* **wall s**: DataFrame -> results, i.e. model construction + fit (``mx.mixedlm(...).fit()``,
  ``smf.mixedlm(...).fit()``, ``lmer(...)``, ``mixedlm.lmer(...)``). Data generation,
  imports and a warm-up fit of the same model on a small data set (so that one-time costs:
  lazy imports, R's S4 method caching, are not counted for any tool) come before.
  Quick fits are repeated in the same process (up to ``--repeat`` times, default 3, while
  they add up to less than 3 s) and the fastest is reported. **cpu s** is the CPU time
  of that fit (all threads: user + system).
* **peak MB**: the increase of the process' peak resident set (``VmHWM``) during the timed
  fit over its resident set just before it. The peak is reset just before the fit by
  writing ``5`` to ``/proc/self/clear_refs`` (Linux), so transient memory of the data
  generation does not hide the fit's; where that is not possible the difference of
  ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is reported instead (marked ``*``).
  For R the same procedure is applied to the R process.
* **llf**: the (REML) log-likelihood each tool reports.
* **ratio**: wall time / mixedext's wall time on the same data.

Cases (REML throughout):

a. the nested call-center model ``call_CSAT ~ reason + age + (1 | center_ID/rep_ID)``
   (``mx.datasets.call_center()``, 695,205 rows, 10 centers, 193 reps); statsmodels with
   the equivalent ``groups="center_ID", re_formula="1", vc_formula={"rep_ID": "0 + C(rep_ID)"}``.
b. a random intercept ``y ~ x + (1 | g)`` with 100,000 groups of unequal size (geometric,
   mean 5: ~500,000 rows); statsmodels (``groups="g"``) takes ~100 s there, so by default
   it is timed at 10,000 groups and its time at 100,000 extrapolated linearly in the
   number of groups (``--full`` times it at 100,000 too).
c. crossed ``y ~ x + (1 | item) + (1 | subj)``, 2,000 items x 300 subjects, each pair
   observed with probability 0.1 (~60,000 rows). statsmodels can fit crossed factors only
   as variance components of one all-encompassing group (``groups=np.ones(n)``,
   ``re_formula="0"``, ``vc_formula={"item": "0 + C(item)", "subj": "0 + C(subj)"}``),
   with dense matrices over all units; that is timed only on a 200 x 50 version
   (~1,000 rows; already 400 x 60 takes ~18 s).
d. per-evaluation cost vs rows: ``y ~ x + (1 | g)`` with 1,000 groups at 10^4, 10^5 and
   10^6 rows (``--sizes``): mixedext's total fit time, number of deviance evaluations
   (rows of ``res.optim_history``) and the mean time of one evaluation of
   ``res.model.deviance_function(theta, True)`` at the optimum (200 calls in 5 batches,
   the fastest batch's mean).
e. lme4's InstEval (``mx.datasets.load("insteval")``, 73,421 ratings, 2,972 students x
   1,128 instructors): ``y ~ service + (1 | s) + (1 | d)`` and ``+ (1 | dept)`` (three
   crossed factors); statsmodels not run (see case c).
g. case b's data with ``C(x2)`` of an int column (5 levels): ``y ~ x + C(x2) + (1 | g)``
   (the Rust ``mixedlm`` cannot parse ``C()``: it gets the same factor as strings).
f. ``mx.datasets.ratings()``: 1,000,209 ratings by 6,040 users of 3,706 items (the shape
   of MovieLens-1M, heavy-tailed activity), ``rating ~ 1 + (1 | user) + (1 | item)``; not
   in the default ``--cases``; lme4 and the Rust ``mixedlm`` with ``--full``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULT_MARK = "BENCH_RESULT "
REPEAT_BUDGET_S = 3.0  # fits are repeated (best of --repeat) only while they add up to less

# --------------------------------------------------------------------------------------
# data (deterministic: one np.random.RandomState per data set)
# --------------------------------------------------------------------------------------


def data_call_center(**_):
    sys.path.insert(0, str(ROOT))
    import mixedext as mx

    return mx.datasets.call_center()


def data_random_intercept(n_groups: int, seed: int = 20240611, mean_size: float = 5.0,
                          n_rows: int | None = None):
    """``y = 1 + 0.5 x + b_g + e``, ``b_g ~ N(0, 0.6^2)``, ``e ~ N(0, 1)``.

    Without ``n_rows``: group sizes geometric with mean ``mean_size`` (1, 2, ... rows,
    very unequal). With ``n_rows``: rows assigned to groups uniformly at random.
    """
    rs = np.random.RandomState(seed)
    if n_rows is None:
        sizes = rs.geometric(1.0 / mean_size, size=n_groups)
        g = np.repeat(np.arange(n_groups), sizes)
    else:
        g = np.sort(rs.randint(n_groups, size=n_rows))
    n = len(g)
    x = rs.randn(n)
    b = 0.6 * rs.randn(n_groups)
    y = 1.0 + 0.5 * x + b[g] + rs.randn(n)
    return pd.DataFrame({"y": y, "x": x, "g": g})


def data_crossed(n_items: int, n_subj: int, p: float = 0.1, seed: int = 20240612):
    """``y = 1 + 0.3 x + a_item + c_subj + e``; each (item, subj) pair observed with
    probability ``p``; SDs 0.7 (item), 0.5 (subject), 1 (residual)."""
    rs = np.random.RandomState(seed)
    item, subj = np.nonzero(rs.rand(n_items, n_subj) < p)
    n = len(item)
    x = rs.randn(n)
    y = (1.0 + 0.3 * x + 0.7 * rs.randn(n_items)[item] + 0.5 * rs.randn(n_subj)[subj]
         + rs.randn(n))
    return pd.DataFrame({"y": y, "x": x, "item": item, "subj": subj})


def data_insteval(**_):
    sys.path.insert(0, str(ROOT))
    import mixedext as mx

    return mx.datasets.load("insteval")


def data_random_intercept_factor(n_groups: int = 100_000):
    """Case b's data with ``x2``, an int column of 5 levels used as ``C(x2)`` (and the same
    as strings, ``x2s``, for tools that cannot parse ``C()``); ``y`` gains ``0.2 x2``."""
    d = data_random_intercept(n_groups)
    rs = np.random.RandomState(7)
    d["x2"] = rs.randint(0, 5, len(d))
    d["x2s"] = "L" + d["x2"].astype(str)
    d["y"] = d["y"] + 0.2 * d["x2"]
    return d


def data_ratings(**_):
    sys.path.insert(0, str(ROOT))
    import mixedext as mx

    return mx.datasets.ratings()


DATA = {"ri_factor": data_random_intercept_factor, "ratings": data_ratings, "call_center": data_call_center, "ri": data_random_intercept,
        "crossed": data_crossed, "insteval": data_insteval, "insteval3": data_insteval}

# model of each data set, per tool
MODELS = {
    "call_center": dict(
        formula="call_CSAT ~ reason + age + (1 | center_ID/rep_ID)",
        fixed="call_CSAT ~ reason + age",
        sm=dict(groups="center_ID", re_formula="1", vc_formula={"rep_ID": "0 + C(rep_ID)"}),
        factors=["center_ID", "rep_ID", "reason"]),
    "ri": dict(
        formula="y ~ x + (1 | g)", fixed="y ~ x", sm=dict(groups="g"), factors=["g"]),
    "crossed": dict(
        formula="y ~ x + (1 | item) + (1 | subj)", fixed="y ~ x",
        sm=dict(groups="__ones__", re_formula="0",
                vc_formula={"item": "0 + C(item)", "subj": "0 + C(subj)"}),
        factors=["item", "subj"]),
    "ri_factor": dict(
        formula="y ~ x + C(x2) + (1 | g)", rust_formula="y ~ x + x2s + (1 | g)",
        fixed="y ~ x + C(x2)", sm=dict(groups="g"), factors=["g"]),
    "ratings": dict(
        formula="rating ~ 1 + (1 | user) + (1 | item)", fixed="rating ~ 1",
        factors=["user", "item"]),
    "insteval": dict(
        formula="y ~ service + (1 | s) + (1 | d)", fixed="y ~ service",
        factors=["s", "d", "service"]),
    "insteval3": dict(
        formula="y ~ service + (1 | s) + (1 | d) + (1 | dept)", fixed="y ~ service",
        factors=["s", "d", "service", "dept"]),
}


def warmup_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A random 10% of the rows (at most 3,000, at least 100) for the warm-up fit."""
    n = min(len(df), max(100, min(3000, len(df) // 10)))
    return df.sample(n=n, random_state=0).sort_index().reset_index(drop=True)


# --------------------------------------------------------------------------------------
# worker: one fit in this (fresh) process
# --------------------------------------------------------------------------------------


def _proc_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak resident-set increase over a block (MB); see the module docstring."""

    def __enter__(self):
        import gc
        import resource

        gc.collect()
        self.method = "rusage"
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            self.method = "VmHWM"
        except OSError:
            pass
        self.rss0 = _proc_kb("VmRSS") if self.method == "VmHWM" else None
        self.maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc):
        import resource

        if self.method == "VmHWM":
            self.mb = (_proc_kb("VmHWM") - self.rss0) / 1024.0
        else:
            self.mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.maxrss0) / 1024.0
        return False


def _fit_callable(tool: str, dataset: str, df: pd.DataFrame):
    """A function DataFrame -> (results, llf) for ``tool``."""
    spec = MODELS[dataset]
    if tool == "mixedext":
        import mixedext as mx

        def fit(d):
            res = mx.mixedlm(spec["formula"], d).fit(reml=True)
            return res, float(res.llf)
    elif tool == "mixedext-dropin":
        import mixedext as mx

        def fit(d):
            kw = _sm_kwargs(spec, d)
            res = mx.mixedlm(spec["fixed"], d, **kw).fit(reml=True)
            return res, float(res.llf)
    elif tool == "statsmodels":
        import statsmodels.formula.api as smf

        def fit(d):
            kw = _sm_kwargs(spec, d)
            res = smf.mixedlm(spec["fixed"], d, **kw).fit(reml=True)
            return res, float(res.llf)
    elif tool == "mixedlm (Rust)":
        import mixedlm

        def fit(d):
            res = mixedlm.lmer(spec.get("rust_formula", spec["formula"]), d, REML=True)
            return res, float(res.logLik().value)
    else:
        raise ValueError(tool)
    return fit


def _sm_kwargs(spec, d):
    kw = dict(spec["sm"])
    if kw.get("groups") == "__ones__":
        kw["groups"] = np.ones(len(d))
    return kw


def worker(job: dict) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    sys.path.insert(0, str(ROOT))
    tool, dataset = job["tool"], job["dataset"]
    df = DATA[dataset](**job.get("params", {}))
    fit = _fit_callable(tool, dataset, df)
    fit(warmup_frame(df))  # one-time costs (lazy imports, caches) outside the timing
    walls, cpus, peaks = [], [], []
    while True:  # repeat quick fits (best of `repeat`), each with its own peak memory
        res = None
        with PeakMemory() as mem:
            c0, t0 = time.process_time(), time.perf_counter()
            res, llf = fit(df)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        peaks.append(mem.mb)
        if len(walls) >= job.get("repeat", 1) or sum(walls) > REPEAT_BUDGET_S:
            break
    best = int(np.argmin(walls))
    out = dict(wall=walls[best], cpu=cpus[best], walls=walls, peak_mb=max(peaks),
               mem_method=mem.method, llf=llf, nobs=len(df))
    if job.get("eval_timing"):
        dev = res.model.deviance_function
        theta = res.fit_state.theta
        dev(theta, True)
        k = int(job["eval_timing"])
        batches = []  # 5 batches of k/5 calls: the fastest batch's mean (robust to noise)
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(max(1, k // 5)):
                dev(theta, True)
            batches.append((time.perf_counter() - t0) / max(1, k // 5) * 1e3)
        out["eval_ms"] = min(batches)
        out["eval_ms_batches"] = batches
        out["n_evals"] = len(res.optim_history)
    return out


# --------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
for (f in strsplit(args[3], ",")[[1]]) d[[f]] <- factor(d[[f]])
form <- as.formula(args[2])
set.seed(0)
w <- d[sort(sample(nrow(d), min(nrow(d), max(100, min(3000, nrow(d) %/% 10))))), , drop = FALSE]
invisible(suppressWarnings(suppressMessages(lmer(form, data = w, REML = TRUE))))
invisible(gc())
kb <- function(f) {
  s <- grep(paste0("^", f, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(strsplit(trimws(sub("^[^:]*:", "", s)), " +")[[1]][1])
}
walls <- cpus <- peaks <- numeric(0)
repeat {
  ok <- tryCatch({writeLines("5", "/proc/self/clear_refs"); TRUE}, error = function(e) FALSE)
  rss0 <- kb("VmRSS")
  tm <- system.time(m <- suppressWarnings(suppressMessages(lmer(form, data = d, REML = TRUE))))
  walls <- c(walls, tm[["elapsed"]])
  cpus <- c(cpus, tm[["user.self"]] + tm[["sys.self"]])
  peaks <- c(peaks, if (ok) (kb("VmHWM") - rss0) / 1024 else NA)
  if (length(walls) >= as.integer(args[4]) || sum(walls) > as.numeric(args[5])) break
  rm(m); invisible(gc())
}
b <- which.min(walls)
cat(sprintf(paste0('BENCH_RESULT {"wall": %.6f, "cpu": %.6f, "walls": [%s], "peak_mb": %s, ',
                   '"mem_method": "%s", "llf": %.10f, "nobs": %d}\n'),
            walls[b], cpus[b], paste(sprintf("%.6f", walls), collapse = ", "),
            if (all(is.na(peaks))) "null" else sprintf("%.3f", max(peaks, na.rm = TRUE)),
            if (ok) "VmHWM" else "none", as.numeric(logLik(m)), nrow(d)))
"""


def run_subprocess(cmd: list[str], timeout: float) -> dict:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}


def run_python(job: dict, timeout: float) -> dict:
    return run_subprocess([sys.executable, __file__, "--worker", json.dumps(job)], timeout)


class Driver:
    def __init__(self, args):
        self.args = args
        self.rows: list[dict] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="mixedext-bench-"))
        self.rscript = None if args.skip_r else shutil.which("Rscript")
        self.has_lme4 = False
        self.versions = []
        if self.rscript:
            chk = subprocess.run(
                [self.rscript, "-e", "if (requireNamespace('lme4', quietly = TRUE)) "
                 "cat(R.version$major, '.', R.version$minor, ' ', "
                 "as.character(packageVersion('lme4')), sep = '')"],
                capture_output=True, text=True)
            self.has_lme4 = chk.returncode == 0 and chk.stdout.strip() != ""
            if self.has_lme4:
                r_v, lme4_v = chk.stdout.split()
                self.versions.append(f"R {r_v}, lme4 {lme4_v}")
        self.has_mixedlm = False
        if not args.skip_mixedlm:
            chk = subprocess.run(
                [sys.executable, "-c", "import importlib.metadata as m, mixedlm; "
                 "print(m.version('mixedlm'))"], capture_output=True, text=True)
            self.has_mixedlm = chk.returncode == 0
            if self.has_mixedlm:
                self.versions.append(f"mixedlm {chk.stdout.strip()}")
        self.notes: list[str] = []
        if not args.skip_r and not self.has_lme4:
            self.notes.append("lme4 skipped: Rscript or the lme4 package not found")
        if not args.skip_mixedlm and not self.has_mixedlm:
            self.notes.append("mixedlm (Rust) skipped: `import mixedlm` failed "
                              "(try `pip install mixedlm`)")

    def log(self, msg):
        print(msg, file=sys.stderr, flush=True)

    def add(self, case, tool, result, note="", base=None):
        row = dict(case=case, tool=tool, note=note, **result)
        self.rows.append(row)
        if "error" in result:
            self.log(f"  {case:<28} {tool:<22} ERROR {result['error']}")
        else:
            self.log(f"  {case:<28} {tool:<22} {result['wall']:9.3f} s  "
                     f"{result.get('peak_mb') or float('nan'):8.1f} MB  "
                     f"llf {result['llf']:.6f} {note}")
        return row

    def py(self, case, tool, dataset, params, note="", timeout=1800.0, **extra):
        job = dict(tool=tool, dataset=dataset, params=params, repeat=self.args.repeat,
                   **extra)
        return self.add(case, tool, run_python(job, timeout), note)

    def r(self, case, dataset, params, note="", timeout=1800.0):
        if not self.has_lme4:
            return None
        csv = self.tmp / f"{dataset}-{abs(hash(json.dumps(params, sort_keys=True)))}.csv"
        if not csv.exists():
            DATA[dataset](**params).to_csv(csv, index=False)
        script = self.tmp / "lmer_bench.R"
        script.write_text(R_SCRIPT)
        spec = MODELS[dataset]
        cmd = [self.rscript, str(script), str(csv), spec["formula"], ",".join(spec["factors"]),
               str(self.args.repeat), str(REPEAT_BUDGET_S)]
        return self.add(case, "lme4 (default)", run_subprocess(cmd, timeout), note)

    def mixedlm(self, case, dataset, params, note=""):
        if self.has_mixedlm:
            self.py(case, "mixedlm (Rust)", dataset, params, note)

    # -- cases ---------------------------------------------------------------------------
    def case_a(self):
        self.log("case a: nested call-center model (695,205 rows)")
        case = "a call center (695,205 rows)"
        self.py(case, "mixedext", "call_center", {})
        self.py(case, "mixedext-dropin", "call_center", {},
                note="statsmodels-style call")
        if not self.args.skip_statsmodels:
            self.py(case, "statsmodels", "call_center", {})
        self.r(case, "call_center", {})
        self.mixedlm(case, "call_center", {})

    def case_b(self):
        big = 10_000 if self.args.quick else 100_000
        small = 1_000 if self.args.quick else 10_000
        self.log(f"case b: random intercept, {big:,} groups")
        case_big = f"b RI {big:,} groups"
        row = self.py(case_big, "mixedext", "ri", {"n_groups": big})
        case_big = f"b RI {big:,} groups ({row.get('nobs', 0):,} rows)"
        row["case"] = case_big
        self.r(case_big, "ri", {"n_groups": big})
        self.mixedlm(case_big, "ri", {"n_groups": big})
        if self.args.skip_statsmodels:
            return
        if self.args.full:
            self.py(case_big, "statsmodels", "ri", {"n_groups": big})
        case_small = None
        sm_small = None
        if small != big:
            mx_small = self.py(f"b RI {small:,} groups", "mixedext", "ri",
                               {"n_groups": small})
            case_small = f"b RI {small:,} groups ({mx_small.get('nobs', 0):,} rows)"
            mx_small["case"] = case_small
            sm_small = self.py(case_small, "statsmodels", "ri", {"n_groups": small})
        if not self.args.full and sm_small is not None and "error" not in sm_small:
            factor = big / small
            est = dict(wall=sm_small["wall"] * factor, cpu=None, peak_mb=None, llf=float("nan"),
                       mem_method="", nobs=None)
            self.add(case_big, "statsmodels (extrap.)", est,
                     note=f"x{factor:g} from {small:,} groups (linear in groups)")
            self.notes.append(
                f"case b: statsmodels at {big:,} groups is NOT measured: its time at "
                f"{small:,} groups x {factor:g} (linear in the number of groups; "
                "--full measures it)")

    def case_c(self):
        ni, ns = (500, 100) if self.args.quick else (2000, 300)
        self.log(f"case c: crossed {ni} x {ns}")
        params = {"n_items": ni, "n_subj": ns}
        row = self.py("c crossed", "mixedext", "crossed", params)
        case = f"c crossed {ni}x{ns} ({row.get('nobs', 0):,} rows)"
        row["case"] = case
        self.r(case, "crossed", params)
        self.mixedlm(case, "crossed", params)
        if self.args.skip_statsmodels:
            return
        small = {"n_items": 200, "n_subj": 50}
        row = self.py("c crossed small", "mixedext", "crossed", small)
        case_s = f"c crossed 200x50 ({row.get('nobs', 0):,} rows)"
        row["case"] = case_s
        self.py(case_s, "statsmodels", "crossed", small,
                note="one group, 2 vc (dense)")
        self.notes.append("case c: statsmodels is timed only on the 200 x 50 version "
                          "(crossed factors as variance components of a single group)")

    def case_d(self):
        sizes = self.args.sizes or ([10_000, 100_000] if self.args.quick
                                    else [10_000, 100_000, 1_000_000])
        self.log(f"case d: per-evaluation cost, 1,000 groups, rows {sizes}")
        for n in sizes:
            case = f"d RI 1,000 groups, {n:,} rows"
            self.py(case, "mixedext", "ri", {"n_groups": 1000, "n_rows": n},
                    eval_timing=200)

    def case_e(self):
        self.log("case e: InstEval, crossed students x instructors (73,421 rows)")
        for dataset, label in (("insteval", "e InstEval (1|s)+(1|d)"),
                               ("insteval3", "e InstEval +(1|dept)")):
            self.py(label, "mixedext", dataset, {})
            self.r(label, dataset, {})
            self.mixedlm(label, dataset, {})
        self.notes.append("case e: statsmodels is not run (crossed factors only as dense "
                          "variance components of one group: see case c)")

    def case_g(self):
        self.log("case g: random intercept, 100,000 groups, with C(x2) of an int column")
        row = self.py("g RI + C(x2)", "mixedext", "ri_factor", {})
        case = f"g RI + C(x2) ({row.get('nobs', 0):,} rows)"
        row["case"] = case
        self.mixedlm(case, "ri_factor", {}, note="x2 as strings (it cannot parse C())")

    def case_f(self):
        self.log("case f: MovieLens-1M-shaped ratings, 6,040 users x 3,706 items")
        label = "f ratings 6,040 x 3,706 (1,000,209)"
        self.py(label, "mixedext", "ratings", {}, timeout=900.0)
        if self.args.full:
            self.r(label, "ratings", {}, timeout=7200.0)
            self.mixedlm(label, "ratings", {})
            return
        self.notes.append("case f: lme4 and the Rust mixedlm only with --full (each takes "
                          "many minutes); lme4's row is its stored reference fit")
        path = ROOT / "tests" / "reference" / "ratings_reference.json"
        if path.exists():  # tests/reference/ratings_reference.R, tight controls
            ref = json.loads(path.read_text())["cases"][0]
            seconds = min(ref["optimizer_seconds"].values())
            self.add(label, "lme4 (stored, tight)",
                     dict(wall=seconds, cpu=None, peak_mb=None, llf=ref["logLik"],
                          mem_method="", nobs=ref["nobs"]),
                     note="tests/reference/ratings_reference.json (another run, another "
                          "load: not a timing of this run)")

    # -- output --------------------------------------------------------------------------
    def table(self) -> str:
        lines = []
        hdr = f"| {'case':<38} | {'tool':<22} | {'wall s':>9} | {'cpu s':>8} | " \
              f"{'peak MB':>8} | {'llf':>18} | {'ratio':>7} | note"
        lines.append(hdr)
        lines.append("|" + "|".join("-" * (len(c) + 0) for c in hdr.split("|")[1:-1]) +
                     "|------")
        base = {}
        for r in self.rows:
            if r["tool"] == "mixedext" and "error" not in r:
                base.setdefault(r["case"], r["wall"])
        for r in self.rows:
            if "error" in r:
                lines.append(f"| {r['case']:<38} | {r['tool']:<22} | {'-':>9} | {'-':>8} | "
                             f"{'-':>8} | {'-':>18} | {'-':>7} | {r['error']}")
                continue
            b = base.get(r["case"])
            ratio = f"{r['wall'] / b:7.1f}" if b else f"{'-':>7}"
            mb = r.get("peak_mb")
            mb = f"{mb:8.1f}" if mb is not None else f"{'-':>8}"
            if r.get("mem_method") == "rusage":
                mb += "*"
            llf = r.get("llf")
            llf = f"{llf:18.6f}" if llf is not None and np.isfinite(llf) else f"{'-':>18}"
            cpu = r.get("cpu")
            cpu = f"{cpu:8.3f}" if cpu is not None else f"{'-':>8}"
            note = r["note"]
            if len(r.get("walls", [])) > 1:
                note = (note + "; " if note else "") + f"best of {len(r['walls'])}"
            lines.append(f"| {r['case']:<38} | {r['tool']:<22} | {r['wall']:9.3f} | {cpu} | "
                         f"{mb} | {llf} | {ratio} | {note}")
        return "\n".join(lines)

    def eval_table(self) -> str:
        rows = [r for r in self.rows if "eval_ms" in r]
        if not rows:
            return ""
        lines = ["| rows | fit wall s | evaluations | ms / evaluation | "
                 "fit time - evaluations (set-up) s | peak MB |",
                 "|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            setup = r["wall"] - r["n_evals"] * r["eval_ms"] / 1e3
            lines.append(f"| {r['nobs']:,} | {r['wall']:.3f} | {r['n_evals']} | "
                         f"{r['eval_ms']:.3f} | {setup:.3f} | {r['peak_mb']:.1f} |")
        return "\n".join(lines)


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Fraction of all CPUs busy (from /proc/stat) over ``seconds``, before any fit."""
    def read():
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle
    try:
        t0, i0 = read()
        time.sleep(seconds)
        t1, i1 = read()
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return None
    return 1.0 - (i1 - i0) / max(t1 - t0, 1)


def machine_line(busy: float | None) -> str:
    try:
        import statsmodels

        import mixedext  # noqa: F401
        sm_v = statsmodels.__version__
    except Exception:  # pragma: no cover
        sm_v = "?"
    load = ("idle" if busy is None or busy < 0.05 else f"{busy:.0%} busy before the run")
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return (f"{date.today().isoformat()}, mixedext {commit or '?'}, {platform.system()} "
            f"{platform.machine()}, {os.cpu_count()} cores ({load}), Python "
            f"{platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
            f"statsmodels {sm_v}, OPENBLAS_NUM_THREADS={blas}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller cases b-d (~1.5 minutes)")
    p.add_argument("--full", action="store_true",
                   help="case b: time statsmodels at 100,000 groups too (~100 s more)")
    p.add_argument("--skip-statsmodels", action="store_true")
    p.add_argument("--skip-r", action="store_true", help="do not run lme4")
    p.add_argument("--skip-mixedlm", action="store_true", help="do not run the Rust mixedlm")
    p.add_argument("--cases", default="a,b,c,d,e,g",
                   help="comma-separated subset of a,b,c,d,e,f,g")
    p.add_argument("--sizes", type=int, nargs="+",
                   help="case d: numbers of rows (default 10^4 10^5 10^6)")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS for every "
                        "fit (Python and R); default 1 (R's reference BLAS is single-threaded "
                        "too); 0 keeps the environment's setting")
    p.add_argument("--repeat", type=int, default=3,
                   help=f"repeat fits that take less than {REPEAT_BUDGET_S:g} s in all (same "
                        "process, after the first) and report the fastest; default 3")
    p.add_argument("--busy", type=int, default=0, metavar="N",
                   help="run N CPU-bound processes beside the fits (a loaded machine)")
    p.add_argument("--json", help="also write the raw results to this JSON file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        out = worker(json.loads(args.worker))
        print(RESULT_MARK + json.dumps(out), flush=True)
        return

    if args.blas_threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.blas_threads)  # inherited by the subprocesses
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
               for _ in range(args.busy)]
    try:
        _run(args)
    finally:
        for proc in burners:
            proc.kill()


def _run(args):
    busy = cpu_busy()
    if busy is not None and busy > 0.25:
        print(f"warning: other processes keep {busy:.0%} of the CPUs busy: timings (above all "
              "of multi-threaded BLAS) will be slow and noisy", file=sys.stderr)
    sys.path.insert(0, str(ROOT))
    drv = Driver(args)
    t0 = time.perf_counter()
    machine = machine_line(busy)
    if args.busy:
        machine += f", {args.busy} CPU-bound process(es) running beside the fits"
    if drv.versions:
        machine += ", " + ", ".join(drv.versions)
    print(f"# mixedext benchmark: {machine}", flush=True)
    for c in args.cases.split(","):
        getattr(drv, f"case_{c.strip()}")()
    print()
    print(drv.table())
    ev = drv.eval_table()
    if ev:
        print("\ncase d: mixedext per-evaluation cost (random intercept, 1,000 groups)\n")
        print(ev)
    mem_note = ("peak MB: increase of the peak resident set (VmHWM, reset via "
                "/proc/self/clear_refs) during the timed fit over the resident set before it"
                "; * = ru_maxrss difference instead")
    print()
    for note in [mem_note, "wall s: model construction + fit, DataFrame in memory, after a "
                 "warm-up fit on 10% of the rows (100 to 3,000); each tool and case in a "
                 f"fresh process; fits are repeated there (up to --repeat={args.repeat} "
                 f"times while they add up to less than {REPEAT_BUDGET_S:g} s) and the "
                 "fastest is reported; cpu s: CPU time of that fit, all threads",
                 "ratio: wall s / mixedext's wall s on the same data",
                 "lme4 (default): lmer() with lme4's default control, timed with "
                 "system.time in Rscript; data read from a CSV written beforehand",
                 *drv.notes]:
        print(textwrap.fill(note, 100, initial_indent="* ", subsequent_indent="  "))
    print(f"\ntotal benchmark time {time.perf_counter() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(machine=machine, rows=drv.rows,
                                                   notes=drv.notes), indent=1))
    shutil.rmtree(drv.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
