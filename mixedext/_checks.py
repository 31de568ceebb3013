"""Checks of the arguments of results methods (errors name the argument)."""

from __future__ import annotations

import numbers

__all__ = ["check_alpha", "check_count"]


def check_alpha(alpha: object) -> float:
    """``alpha`` of a ``1 - alpha`` interval: a number strictly between 0 and 1."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or \
            not 0 < float(alpha) < 1:
        raise ValueError(f"alpha must be a number between 0 and 1 (exclusive), got {alpha!r}")
    return float(alpha)


def check_count(name: str, value: object) -> int:
    """A positive whole number of draws, refits or nodes."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not float(value).is_integer() or float(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(float(value))
