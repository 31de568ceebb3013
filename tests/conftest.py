"""Shared fixtures: the R reference results and the exact CSVs fed to R."""

import json
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"


def load_reference(name: str) -> dict:
    """A JSON file written by an R script in tests/reference/."""
    return json.loads((REFERENCE / f"{name}.json").read_text())


def reference_data(case: dict) -> pd.DataFrame:
    """The CSV the R script read for ``case`` (grouping columns as R reads them)."""
    path = ROOT / case["data_file"] if "data_file" in case else None
    if path is None or not path.exists():
        name = case["data"]
        path = (ROOT / name) if name.endswith(".csv") else \
            ROOT / "mixedext" / "datasets" / "data" / f"{name}.csv"
    return pd.read_csv(path)


@pytest.fixture(scope="session")
def lmer_reference() -> dict:
    return load_reference("lmer_reference")


@pytest.fixture(scope="session")
def dask_cluster():
    """A ``dask.distributed`` cluster of 2 worker processes (one thread each), so every
    task, its arguments and its result cross a process boundary as on a real cluster;
    one per test session, shut down at its end. Yields a Client that is not the default
    scheduler: use ``with client.as_current():``."""
    import logging

    distributed = pytest.importorskip("distributed")
    # the p2p shuffle logs each shuffle's start and end at WARNING level
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       memory_limit="1GiB", dashboard_address=":0")
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close(timeout=30)
        cluster.close(timeout=30)


@pytest.fixture(params=["threads", "distributed"])
def dask_scheduler(request):
    """Run the test's Dask computations on the threaded scheduler, then on the
    2-process ``distributed`` cluster (:func:`dask_cluster`)."""
    import dask

    if request.param == "threads":
        with dask.config.set(scheduler="threads"):
            yield "threads"
        return
    client = request.getfixturevalue("dask_cluster")
    with client.as_current():
        yield "distributed"
