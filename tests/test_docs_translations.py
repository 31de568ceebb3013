"""The translation tables of the docs ("coming from statsmodels", "coming from lme4 /
nlme") show calls that work.

Each page's first ``python`` code block makes the objects the table rows use; every code
span in a table's ``mixedext`` column is then evaluated against them and must run
without an error (and without a warning turned into one). The pages are the source: a
row added to a table is checked without changing this test.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = ["from_statsmodels.md", "from_lme4.md"]
CELL = re.compile(r"(?<!\\)\|")
CODE = re.compile(r"`([^`]+)`")


def setup_code(text: str) -> str:
    """The page's first ``python`` fenced block."""
    match = re.search(r"```python\n(.*?)```", text, re.S)
    assert match, "the page has no python block making the objects of its tables"
    return match.group(1)


def table_calls(text: str) -> list[str]:
    """The code spans of the ``mixedext`` column of every table of a page."""
    calls, column = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            column = None
            continue
        cells = [c.strip() for c in CELL.split(line.strip())[1:-1]]
        if column is None:
            column = cells.index("mixedext") if "mixedext" in cells else -1
            continue
        if column < 0 or set("".join(cells)) <= set("-:"):
            continue
        calls.extend(c.replace("\\|", "|") for c in CODE.findall(cells[column]))
    return calls


def page_cases():
    for page in PAGES:
        text = (DOCS / page).read_text()
        for call in table_calls(text):
            yield pytest.param(page, call, id=f"{page}:{call[:60]}")


@pytest.fixture(scope="module")
def namespaces():
    made = {}
    for page in PAGES:
        namespace: dict = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(setup_code((DOCS / page).read_text()), namespace)
        made[page] = namespace
    return made


def test_tables_found():
    for page in PAGES:
        assert len(table_calls((DOCS / page).read_text())) >= 20, page


@pytest.mark.parametrize(("page", "call"), list(page_cases()))
def test_translated_call_runs(namespaces, page, call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a singular fit's warning is not the point
        value = eval(call, dict(namespaces[page]))
    assert value is not None, call
