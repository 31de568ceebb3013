"""numpydoc validation of every public name (``mixedext._public.public_names``).

Checks: numpydoc's full set (``numpydoc.validate``) except

* GL01, GL02 -- where the opening and closing quotes sit (layout, not content);
* ES01 -- an extended summary: a one-line summary is enough for a property;
* SA01 -- a See Also section;
* EX01 -- an Examples section, required only for the entry points a user starts from
  (:data:`NEED_EXAMPLES`); examples run as doctests (``tests/test_doctests.py``).

Members inherited unchanged from statsmodels are statsmodels' and not listed.
``tests/docstrings_pending.txt`` lists the names whose docstrings do not pass yet (one
per line): the test fails for a failing name not listed, and for a listed name that now
passes (remove it from the file), so the list can only shrink.
"""

from __future__ import annotations

from pathlib import Path

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

from mixedext._public import public_names  # noqa: E402

IGNORED = {"GL01", "GL02", "ES01", "SA01", "EX01"}
NEED_EXAMPLES = {
    "mixedext.mixedlm", "mixedext.binomial_mixedglm", "mixedext.poisson_mixedglm",
    "mixedext.negbin_mixedglm", "mixedext.gamma_mixedglm", "mixedext.meta_analysis",
    "mixedext.design_effect", "mixedext.clusters_needed", "mixedext.lrt",
    "mixedext.datasets.load", "mixedext.MixedLMResults.conf_int_vc",
    "mixedext.MixedLMResults.icc", "mixedext.MixedLMResults.predict",
}
PENDING_FILE = Path(__file__).with_name("docstrings_pending.txt")
PENDING = {line.strip() for line in PENDING_FILE.read_text().splitlines()
           if line.strip() and not line.startswith("#")}
NAMES = public_names()


def docstring_errors(name: str) -> list[str]:
    """numpydoc's errors for ``name`` under this project's check set."""
    result = numpydoc_validate.validate(name)
    ignored = IGNORED - {"EX01"} if name in NEED_EXAMPLES else IGNORED
    return [f"{code}: {message}" for code, message in result["errors"]
            if code not in ignored]


def test_public_names_listed():
    assert len(NAMES) >= 300, len(NAMES)
    assert NEED_EXAMPLES <= set(NAMES)
    assert PENDING <= set(NAMES), sorted(PENDING - set(NAMES))


@pytest.mark.parametrize("name", NAMES)
def test_docstring(name):
    errors = docstring_errors(name)
    if name in PENDING:
        assert errors, f"{name} passes now: remove it from {PENDING_FILE.name}"
        pytest.xfail(f"pending docstring: {errors[0]}")
    assert not errors, "\n".join(errors)
