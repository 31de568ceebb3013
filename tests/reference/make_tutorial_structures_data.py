"""Write the simulated data of ``notebooks/11_residual_structures.ipynb`` as CSV for
``tutorial_structures_reference.R``.

The notebook's cells tagged ``reference-data`` simulate them (seeded
``np.random.RandomState``); this script executes exactly those cells and writes

- ``data/tutorial_assay.csv`` (the notebook's ``assay``: 30 calibration runs on two
  analyzers, 8 concentrations in duplicate, 480 rows; SD ``sigma * ratio[analyzer] *
  (const + conc^power)``),
- ``data/tutorial_plots.csv`` (the notebook's ``plots``: 40 fields of 14 plots at points
  ``(x, y)``, 560 rows; spherical correlation with a nugget).

Run from the repository root: ``python tests/reference/make_tutorial_structures_data.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE.parents[1] / "notebooks" / "11_residual_structures.ipynb"
TAG = "reference-data"
OUTPUTS = {"assay": "tutorial_assay.csv", "plots": "tutorial_plots.csv"}


def notebook_data(path: Path = NOTEBOOK) -> dict:
    """The data frames the notebook's ``reference-data`` cells define, by name."""
    cells = json.loads(path.read_text())["cells"]
    namespace: dict = {}
    for cell in cells:
        if TAG in cell.get("metadata", {}).get("tags", []):
            exec("".join(cell["source"]), namespace)  # noqa: S102 - the project's own notebook
    missing = set(OUTPUTS) - set(namespace)
    if missing:
        raise RuntimeError(f"{path.name}: no {TAG!r} cell defines {sorted(missing)}")
    return {name: namespace[name] for name in OUTPUTS}


def main() -> None:
    for name, frame in notebook_data().items():
        out = HERE / "data" / OUTPUTS[name]
        frame.to_csv(out, index=False)
        print(f"wrote {out} ({len(frame)} rows)")


if __name__ == "__main__":
    main()
