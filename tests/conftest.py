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
