"""Argument checks shared by the layers and the model builders: one rule, one wording."""
from __future__ import annotations

__all__ = ["check_int", "check_bool"]


def check_int(name: str, value: int, minimum: int = 1) -> int:
    """Return ``value`` if it is an int (bool is not) of at least ``minimum``.

    Raises TypeError for a non-int and ValueError below ``minimum``; the message names the
    argument and what it must be ("a positive int", "a non-negative int" or "an int >= N").
    """
    kind = {1: "a positive int", 0: "a non-negative int"}.get(minimum, f"an int >= {minimum}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be {kind}, got {value}")
    return value


def check_bool(name: str, value: bool) -> bool:
    """Return ``value`` if it is a bool, else raise a TypeError naming ``name``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value
