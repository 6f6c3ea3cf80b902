"""Process-wide hooks through which a sweep trial watches the Sacred run it is part of.

A trial process (``sweeps._trial``) registers hooks here before it starts its one Sacred run; the
experiment's commands call them. Plain ``python -m sweeps.run`` registers none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MetricHook = Callable[[str, float, int], None]
StartHook = Callable[[Any], None]

metric_hooks: list[MetricHook] = []  # called as hook(name, value, step) after each logged metric; may raise
start_hooks: list[StartHook] = []  # called as hook(run) when a command starts, before any work


def clear() -> None:
    """Remove every registered hook."""
    metric_hooks.clear()
    start_hooks.clear()
