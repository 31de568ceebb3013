"""Execute every tutorial notebook in ``notebooks/`` headless and fail on any cell error.

Each notebook runs in a fresh ``python3`` kernel (nbclient, 300 s per cell) with the
notebooks folder as working directory. The repository root is put first on the kernel's
``PYTHONPATH``, so the notebooks import this checkout of ``mixedext`` whether or not the
package is installed (when it is installed from the same checkout, both are the same code).
Notebooks added later are picked up automatically. The executed notebooks are not written
back: the committed outputs are refreshed by running the notebooks by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))

CELL_TIMEOUT = 300  # seconds per cell
KERNEL = "python3"


def _kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    parts = [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def test_notebooks_found():
    assert PATHS, f"no notebooks found in {NOTEBOOKS}"


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_runs(path: Path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL,
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    try:
        client.execute(env=_kernel_env())
    except CellExecutionError as err:
        pytest.fail(f"{path.name}: a cell raised an error\n{err}", pytrace=False)
    except CellTimeoutError as err:
        pytest.fail(f"{path.name}: a cell ran longer than {CELL_TIMEOUT} s\n{err}",
                    pytrace=False)
