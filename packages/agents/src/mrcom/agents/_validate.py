"""Small validators that raise ValueError naming the field, the value and what is allowed."""

from __future__ import annotations

from collections.abc import Iterable


def check_positive(name: str, value) -> None:
    if not value > 0:
        raise ValueError(f"{name}={value!r}: must be > 0")


def check_int(name: str, value, lo: int, *, lo_open: bool = False) -> None:
    """An integer (not a bool) >= lo, or > lo with `lo_open`."""
    if isinstance(value, bool) or not isinstance(value, int) or not (value > lo if lo_open else value >= lo):
        raise ValueError(f"{name}={value!r}: must be an integer {'>' if lo_open else '>='} {lo}")


def check_range(name: str, value, lo, hi, *, lo_open: bool = False, hi_open: bool = False) -> None:
    ok_lo = value > lo if lo_open else value >= lo
    ok_hi = value < hi if hi_open else value <= hi
    if not (ok_lo and ok_hi):
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        raise ValueError(f"{name}={value!r}: must be in {left}{lo}, {hi}{right}")


def check_choice(name: str, value, allowed: Iterable) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r}: must be one of {allowed}")
