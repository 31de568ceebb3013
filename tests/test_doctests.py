"""The Examples sections of the package's docstrings run as doctests.

Every module of ``mixedext`` is imported and its docstrings' examples are run with
:mod:`doctest` (``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``); a module without examples
passes trivially. Examples are kept small and fast (the shipped data sets).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import pytest

import mixedext

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(mixedext.__path__, prefix="mixedext.")
    if name != "mixedext.__main__"
) + ["mixedext"]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_examples_found():
    finder = doctest.DocTestFinder()
    n = sum(len(t.examples) for name in MODULES
            for t in finder.find(importlib.import_module(name)))
    assert n >= 10, f"only {n} doctest examples in the package"


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a singular fit's warning is not the point
        for test in finder.find(module, name):
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
