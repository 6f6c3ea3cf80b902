"""`make`: build a batched environment on one of the engines; `normalized_return`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._scenario import Scenario

__all__ = ["ENGINES", "make", "normalized_return"]

ENGINES: tuple[str, ...] = ("native", "mjx")


def make(scenarios: Sequence[Scenario], engine: str = "native", episode_length: int = 1000, **kw: Any):
    """Batched environment, one env per scenario.

    Arguments:
        scenarios: the scenarios (any mix of robots, scales, targets and observation functions).
        engine: "native" (C MuJoCo on CPU) or "mjx" (MJX under jit, CPU or GPU).
        episode_length: control steps per episode (fixed; the paper uses 1000).
        **kw: engine options (native: ``nthread``).

    Returns:
        A VecEnv (`NativeVecEnv` or `MjxVecEnv`) with ``reset(seed)`` and ``step(action)``.
    """
    if engine == "native":
        from ._native import NativeVecEnv

        return NativeVecEnv(scenarios, episode_length=episode_length, **kw)
    if engine == "mjx":
        from ._mjx import MjxVecEnv

        return MjxVecEnv(scenarios, episode_length=episode_length, **kw)
    raise ValueError(f"engine={engine!r}: must be one of {ENGINES}")


def normalized_return(episode_return: float, episode_length: int) -> float:
    """Paper metric: ``100 * episode_return / episode_length``, in [0, 100] since each reward is in [0, 1]."""
    if isinstance(episode_length, bool) or not episode_length or episode_length < 1:
        raise ValueError(f"episode_length={episode_length!r}: must be >= 1")
    if not math.isfinite(float(episode_return)):
        raise ValueError(f"episode_return={episode_return!r}: must be finite")
    return 100.0 * float(episode_return) / float(episode_length)
