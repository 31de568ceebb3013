"""Write the API reference pages from :mod:`mixedext._public`.

One page per public module (its docstring, a table of its functions and classes, the
functions in full) and one page per class (its docstring, a table of the members mixedext
defines, each member in full). Called by ``conf.py`` at every build; the pages are not
committed (``docs/api/`` is generated).
"""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path

from mixedext._public import PUBLIC_MODULES, public_members, public_objects

GROUP_TITLES = {
    "mixedext": "Models, results and planning (``mixedext``)",
    "mixedext.datasets": "Data sets (``mixedext.datasets``)",
    "mixedext.families": "GLMM families (``mixedext.families``)",
    "mixedext.structures": "Residual covariance structures (``mixedext.structures``)",
    "mixedext.meta": "Meta-analysis (``mixedext.meta``)",
    "mixedext.inference": "Inference (``mixedext.inference``)",
    "mixedext.results": "Results objects returned by methods",
}


def _heading(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}\n"


def _group(path: str) -> str:
    """The public module a path belongs to (returned classes: ``mixedext.results``)."""
    module = path.rsplit(".", 1)[0]
    return module if module in PUBLIC_MODULES else "mixedext.results"


def _member_directive(cls: type, name: str) -> str:
    owner = next(k for k in cls.__mro__ if name in vars(k))
    value = vars(owner)[name]
    if isinstance(value, property) or type(value).__name__ in ("cached_property",
                                                                "CachedProperty"):
        return "autoproperty"
    return "automethod"


def _class_page(path: str, cls: type) -> str:
    module, name = path.rsplit(".", 1)
    members = public_members(cls)
    lines = [_heading(name, "="), f".. currentmodule:: {module}\n",
             f".. autoclass:: {name}\n"]
    bases = [b for b in cls.__mro__[1:] if not b.__module__.startswith("mixedext")
             and b is not object]
    if bases:
        first = bases[0]
        lines.append(f"Also has every member of ``{first.__module__}.{first.__qualname__}`` "
                     "that is not listed here (documented by that package).\n")
    if members:
        lines.append(".. rubric:: Members\n")
        lines.append(".. autosummary::\n")
        lines.extend(f"   ~{name}.{m}" for m in members)
        lines.append("")
        for m in members:
            lines.append(f".. {_member_directive(cls, m)}:: {name}.{m}\n")
    return "\n".join(lines)


def _module_page(module: str, items: list[tuple[str, object]]) -> str:
    functions = [(p, o) for p, o in items if not inspect.isclass(o)]
    classes = [(p, o) for p, o in items if inspect.isclass(o)]
    lines = [_heading(GROUP_TITLES[module], "=")]
    if module != "mixedext.results":
        lines.append(f".. automodule:: {module}\n   :no-members:\n")
        # short names: the module is the current one
        short = len(module) + 1
    else:
        short = 0
    if classes:
        lines.append(".. rubric:: Classes\n")
        lines.append(".. autosummary::\n")
        lines.extend(f"   {p[short:]}" for p, _ in classes)
        lines.append("")
        lines.append(".. toctree::\n   :hidden:\n")
        lines.extend(f"   {p}" for p, _ in classes)
        lines.append("")
    if functions:
        lines.append(".. rubric:: Functions\n")
        lines.append(".. autosummary::\n")
        lines.extend(f"   {p[short:]}" for p, _ in functions)
        lines.append("")
        for p, _ in functions:
            lines.append(f".. autofunction:: {p[short:]}\n")
    return "\n".join(lines)


def write_api_pages(target: Path) -> list[Path]:
    """Write ``index.rst``, one page per public module and one per public class.

    Parameters
    ----------
    target : Path
        The folder of the pages (emptied first).

    Returns
    -------
    list of Path
        The pages written.
    """
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    groups: dict[str, list[tuple[str, object]]] = {}
    for path, obj in public_objects().items():
        groups.setdefault(_group(path), []).append((path, obj))
    written = []
    order = [m for m in (*PUBLIC_MODULES, "mixedext.results") if m in groups]
    for module in order:
        page = target / f"{module}.rst"
        page.write_text(_module_page(module, groups[module]))
        written.append(page)
        for path, obj in groups[module]:
            if inspect.isclass(obj):
                cls_page = target / f"{path}.rst"
                cls_page.write_text(_class_page(path, obj))
                written.append(cls_page)
    index = [_heading("API reference", "="),
             "Every public function, class and method of mixedext. Results classes are "
             "subclasses of statsmodels' where noted; their inherited members are "
             "documented by statsmodels.\n",
             ".. toctree::\n   :maxdepth: 2\n"]
    index.extend(f"   {m}" for m in order)
    (target / "index.rst").write_text("\n".join(index) + "\n")
    written.append(target / "index.rst")
    return written
