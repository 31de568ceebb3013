"""Re-execute the tutorial notebooks in place (outputs are committed).

    python notebooks/execute.py [notebook ...]

Runs each notebook headless from this folder with the repository root on PYTHONPATH.
"""

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def main(paths):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE.parent), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    for path in paths or sorted(HERE.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(HERE)}}).execute(env=env)
        nbformat.write(nb, path)
        print(f"executed {Path(path).name}")


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]])
