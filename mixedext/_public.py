"""The public API, listed once: what the API reference documents and what the docstring
test validates.

Public are the names in the ``__all__`` of the packages a user imports
(:data:`PUBLIC_MODULES`), the classes that public methods return
(:data:`RETURNED_CLASSES`), and of each public class the methods and properties that
mixedext defines (members inherited unchanged from statsmodels are statsmodels' to
document). Constants (data, not code) are left out.

Names: a *public name* is a dotted path as a user writes it, ``"mixedext.mixedlm"``,
``"mixedext.MixedLMResults.icc"``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from functools import cached_property
from types import ModuleType

__all__ = ["PUBLIC_MODULES", "RETURNED_CLASSES", "public_objects", "public_members",
           "public_names"]

PUBLIC_MODULES = ("mixedext", "mixedext.datasets", "mixedext.families",
                  "mixedext.structures", "mixedext.meta", "mixedext.inference")

# classes users get back from public methods (not importable from the top level);
# each is "module:class" and is documented under the module's path
RETURNED_CLASSES = (
    "mixedext.results.glmm:MixedGLMResults",
    "mixedext.results.binomial:BinomialMixedResults",
    "mixedext.models.counts:NegativeBinomialMixedResults",
    "mixedext.models.counts:GammaMixedResults",
    "mixedext.results.simulated:SimulatedResiduals",
    "mixedext.results.simulated:SimulationTest",
    "mixedext.results.gee:GEEComparison",
)


def _is_member(value: object) -> bool:
    """Whether a class attribute is code a user calls or reads (not a constant)."""
    if isinstance(value, (staticmethod, classmethod)):
        return getattr(value.__func__, "__name__", "") != "<lambda>"  # a lambda: a hook
    if isinstance(value, (property, cached_property)):
        return True
    # statsmodels' cache_readonly (pandas' CachedProperty)
    return inspect.isfunction(value) or type(value).__name__ == "CachedProperty"


def public_members(cls: type) -> list[str]:
    """The public methods and properties that mixedext defines on a class.

    Parameters
    ----------
    cls : type
        A public class.

    Returns
    -------
    list of str
        Member names, sorted: each is defined (or overridden) by a class of mixedext in
        ``cls``'s method resolution order, does not start with an underscore and is a
        method, class or static method, or property.
    """
    names = set()
    for name in dir(cls):
        if name.startswith("_"):
            continue
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or not owner.__module__.startswith("mixedext"):
            continue
        if _is_member(vars(owner)[name]):
            names.add(name)
    return sorted(names)


def _module_objects(module: ModuleType) -> Iterator[tuple[str, object]]:
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            continue
        if inspect.isclass(obj) or callable(obj):
            yield f"{module.__name__}.{name}", obj


def public_objects() -> dict[str, object]:
    """Every public function and class, by the path a user writes.

    Returns
    -------
    dict of str to object
        ``{"mixedext.mixedlm": <function>, ...}``, each object once (under the first
        public module that exports it, in :data:`PUBLIC_MODULES` order, then the returned
        classes under their own modules).
    """
    seen: dict[int, str] = {}
    objects: dict[str, object] = {}
    for module_name in PUBLIC_MODULES:
        for path, obj in _module_objects(importlib.import_module(module_name)):
            if id(obj) not in seen:
                seen[id(obj)] = path
                objects[path] = obj
    for spec in RETURNED_CLASSES:
        module_name, cls_name = spec.split(":")
        obj = getattr(importlib.import_module(module_name), cls_name)
        if id(obj) not in seen:
            seen[id(obj)] = f"{module_name}.{cls_name}"
            objects[f"{module_name}.{cls_name}"] = obj
    return objects


def public_names() -> list[str]:
    """Every public name: functions, classes and the mixedext members of each class.

    Returns
    -------
    list of str
        Dotted paths, ``"mixedext.MixedLMResults.icc"``; a member shared by several
        classes through a mixedext base class is listed under each.
    """
    names = []
    for path, obj in public_objects().items():
        names.append(path)
        if inspect.isclass(obj):
            names.extend(f"{path}.{member}" for member in public_members(obj))
    return names
