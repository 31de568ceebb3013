"""Sphinx configuration of mixedext's documentation.

Build (warnings are errors, as in CI)::

    pip install -e ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

The API reference (``docs/api/``) is written at build time from
:mod:`mixedext._public`, the list the docstring test validates, so every public name has
a page and none is listed by hand. The tutorials are the notebooks of ``notebooks/``
(copied to ``docs/tutorials/notebooks/``), rendered with the outputs they were committed
with (the test suite executes them).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS))

from api_pages import write_api_pages  # noqa: E402

import mixedext  # noqa: E402

project = "mixedext"
author = "the mixedext developers"
copyright = "the mixedext developers"
release = mixedext.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
templates_path: list[str] = []

# autodoc / numpydoc: members are listed by the generated pages, not by numpydoc
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types
autodoc_member_order = "bysource"
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False

# myst-nb: render the committed outputs, never execute at build time
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = f"mixedext {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []


def _copy_notebooks() -> None:
    target = DOCS / "tutorials" / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.ipynb"):
        old.unlink()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        shutil.copy2(path, target / path.name)


def _setup_pages(app) -> None:
    _copy_notebooks()
    write_api_pages(DOCS / "api")


def setup(app):
    app.connect("builder-inited", _setup_pages)
    return {"parallel_read_safe": True}

