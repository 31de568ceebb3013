"""Shims for older versions of statsmodels and pandas.

Each shim uses the newer library's own code when it is there and a copy of its behaviour
otherwise, so results are the same on old and new versions.

* :func:`advance_eval_env` -- ``statsmodels.formula.formulatools.advance_eval_env`` is new
  in statsmodels 0.15. On 0.14 this module's copy does the same (patsy is 0.14's only
  formula engine). Can go once statsmodels >= 0.15 is required.
* :func:`get_formula_spec` / :func:`set_formula_spec` -- a formula model's design
  information is ``model.data.model_spec`` from statsmodels 0.15 on, a patsy
  ``DesignInfo`` at ``model.data.design_info`` in 0.14 (each version's pickling
  rebuilds the attribute it knows). Can go once statsmodels >= 0.15 is required.
* :func:`design_from_spec` -- the fixed-effect design of new data from that spec: 0.15's
  ``FormulaManager.get_matrices`` (patsy or formulaic), ``patsy.dmatrix`` on 0.14 (what
  0.15 does with patsy). Can go once statsmodels >= 0.15 is required.
* ``cache_readonly`` -- statsmodels' cached-property decorator lives in
  ``statsmodels.tools._decorators`` from 0.15 on, ``statsmodels.tools.decorators`` in 0.14
  (pandas' ``cache_readonly``, of which 0.15's is a copy). Can go once statsmodels >= 0.15
  is required.
* :func:`warn_unused_fit_kwargs` -- statsmodels 0.15 warns once with a FutureWarning
  about ``MixedLM.fit`` keywords it does not use, 0.14 with a UserWarning per keyword;
  mixedext says what the installed statsmodels says. Can go with statsmodels 0.14.
* :data:`VC_FORMAT_WARNING` -- the category of statsmodels' warning about the deprecated
  dict-of-dicts ``exog_vc`` format (FutureWarning from 0.15, UserWarning in 0.14).
* :func:`frame_map` -- ``DataFrame.map`` is new in pandas 2.1 (before: ``applymap``, which
  2.1 deprecates). Can go once pandas >= 2.1 is required.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import patsy
from patsy import EvalEnvironment

__all__ = ["advance_eval_env", "cache_readonly", "get_formula_spec", "set_formula_spec",
           "design_from_spec", "frame_map", "patsy_formulas", "warn_unused_fit_kwargs",
           "with_names", "VC_FORMAT_WARNING"]

try:  # statsmodels >= 0.15
    from statsmodels.formula._manager import FormulaManager
except ImportError:  # statsmodels 0.14
    FormulaManager = None

try:  # statsmodels >= 0.15
    from statsmodels.tools._decorators import cache_readonly
except ImportError:  # statsmodels 0.14
    from statsmodels.tools.decorators import cache_readonly

try:  # statsmodels >= 0.15
    from statsmodels.formula.formulatools import advance_eval_env
except ImportError:  # statsmodels 0.14

    def advance_eval_env(kwargs):
        """Adjust ``from_formula`` keyword arguments in place for the formula's eval
        environment being passed down once more on the stack (statsmodels 0.15's
        ``advance_eval_env``)."""
        eval_env = kwargs.get("eval_env", None)
        if eval_env is None:
            kwargs["eval_env"] = 2
        elif eval_env == -1:
            kwargs["eval_env"] = EvalEnvironment({})


_SPEC_ATTRIBUTE = "design_info" if FormulaManager is None else "model_spec"
VC_FORMAT_WARNING = UserWarning if FormulaManager is None else FutureWarning


def with_names(env, names: dict):
    """The formula environment ``env`` (a patsy ``EvalEnvironment``) with ``names`` added
    where it has none of its own, in the form statsmodels takes: the environment itself
    before 0.15, a dict of variables from 0.15 on (which deprecates environments)."""
    if FormulaManager is None:
        return env.with_outer_namespace(names)
    merged = dict(names)
    for namespace in reversed(env._namespaces):  # innermost last: it wins
        merged.update(namespace)
    return merged


def patsy_formulas() -> bool:
    """Whether statsmodels builds formula designs with patsy (always before 0.15; in
    0.15 unless formulaic is chosen)."""
    if FormulaManager is None:
        return True
    return getattr(FormulaManager(), "_using_patsy", False)


def get_formula_spec(data):
    """The formula's design information held by a model's ``data`` (or None)."""
    return getattr(data, _SPEC_ATTRIBUTE, None)


def set_formula_spec(data, spec) -> None:
    """Store ``spec`` where this statsmodels version keeps (and re-pickles) it."""
    setattr(data, _SPEC_ATTRIBUTE, spec)


def design_from_spec(spec, frame: pd.DataFrame) -> np.ndarray:
    """The design matrix of the rows of ``frame`` for a formula's design information."""
    if FormulaManager is not None:
        return np.asarray(FormulaManager().get_matrices(spec, frame, pandas=False), float)

    return np.asarray(patsy.dmatrix(spec, frame, return_type="matrix"), float)


def frame_map(frame: pd.DataFrame, func) -> pd.DataFrame:
    """``frame.map(func)``: ``func`` applied to each element."""
    if hasattr(pd.DataFrame, "map"):
        return frame.map(func)
    return frame.applymap(func)


def warn_unused_fit_kwargs(names, stacklevel: int = 3) -> None:
    """statsmodels' warning about ``MixedLM.fit`` keywords it does not use."""
    names = sorted(names)
    if FormulaManager is not None:  # statsmodels >= 0.15
        ending = "s" if len(names) > 1 else ""
        warnings.warn(f"Argument{ending} {', '.join(names)} not used by MixedLM.fit. Future "
                      "versions will raise on these arguments.", FutureWarning,
                      stacklevel=stacklevel)
        return
    for name in names:
        warnings.warn(f"Argument {name} not used by MixedLM.fit", stacklevel=stacklevel)
