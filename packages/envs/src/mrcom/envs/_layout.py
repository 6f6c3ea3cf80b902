"""The unified padded observation and action layout shared by every robot and observation function.

Layout of a padded observation (width ``OBS_DIM``)::

    [ base observation (n) | Add-D noise dims (k, Add-D only) | zeros ... ]

- base observation: ``qpos[1:]`` then ``qvel`` of the robot (Gymnasium's layout without clipping),
  ``n`` = 11 (hopper) or 17 (walker, cheetah); Add-G / Msk-R / Msk-F act on these ``n`` values.
- Add-D appends ``k = extra_dims(n) = round(0.1 n)`` (at least 1) pure-noise dimensions right after them.
- padding is always 0; ``obs_mask`` is 1 on the ``n`` (+ ``k``) real dimensions, 0 on the padding.

A padded action has width ``ACT_DIM``; the robot's actuators take the first ``act_dim`` entries
(gym/brax actuator order) and the padding is ignored (``act_mask`` = 0 there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._robots import ROBOTS
from ._scenario import Scenario

if TYPE_CHECKING:  # jaxtyping shapes document the signatures; not a runtime dependency
    from jaxtyping import Float

__all__ = [
    "BASE_OBS_DIM",
    "BASE_ACT_DIM",
    "OBS_DIM",
    "ACT_DIM",
    "extra_dims",
    "obs_dim",
    "act_dim",
    "obs_mask",
    "act_mask",
    "pad_obs",
    "unpad_obs",
    "pad_action",
    "unpad_action",
]

BASE_OBS_DIM: dict[str, int] = {"hopper": 11, "walker": 17, "cheetah": 17}
BASE_ACT_DIM: dict[str, int] = {"hopper": 3, "walker": 6, "cheetah": 6}


def extra_dims(n: int) -> int:
    """Number of Add-D noise dimensions (and of Msk-R / Msk-F masked dimensions) for ``n`` base dims."""
    return max(1, int(np.floor(0.1 * n + 0.5)))


OBS_DIM: int = max(BASE_OBS_DIM[r] + extra_dims(BASE_OBS_DIM[r]) for r in ROBOTS)
ACT_DIM: int = max(BASE_ACT_DIM.values())


def obs_dim(scenario: Scenario) -> int:
    """Unpadded observation width of ``scenario`` (Add-D dimensions included)."""
    n = BASE_OBS_DIM[scenario.robot]
    return n + extra_dims(n) if scenario.obs_fn == "add_d" else n


def act_dim(scenario: Scenario) -> int:
    """Unpadded action width of ``scenario``."""
    return BASE_ACT_DIM[scenario.robot]


def obs_mask(scenario: Scenario) -> Float[np.ndarray, " OBS_DIM"]:
    """float32 mask, 1 on the real observation dimensions of ``scenario``."""
    m = np.zeros(OBS_DIM, np.float32)
    m[: obs_dim(scenario)] = 1.0
    return m


def act_mask(scenario: Scenario) -> Float[np.ndarray, " ACT_DIM"]:
    """float32 mask, 1 on the real action dimensions of ``scenario``."""
    m = np.zeros(ACT_DIM, np.float32)
    m[: act_dim(scenario)] = 1.0
    return m


def _pad(x: np.ndarray, n: int, width: int, field: str) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if x.ndim < 1 or x.shape[-1] != n:
        raise ValueError(f"{field}.shape={x.shape}: last axis must be {n} for this scenario")
    out = np.zeros(x.shape[:-1] + (width,), np.float32)
    out[..., :n] = x
    return out


def _unpad(x: np.ndarray, n: int, width: int, field: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] != width:
        raise ValueError(f"{field}.shape={x.shape}: last axis must be {width}")
    return x[..., :n]


def pad_obs(scenario: Scenario, obs: Float[np.ndarray, "*batch n"]) -> Float[np.ndarray, "*batch OBS_DIM"]:
    """Zero-pad an unpadded observation of ``scenario`` to ``OBS_DIM``."""
    return _pad(obs, obs_dim(scenario), OBS_DIM, "obs")


def unpad_obs(scenario: Scenario, obs: Float[np.ndarray, "*batch OBS_DIM"]) -> Float[np.ndarray, "*batch n"]:
    """Drop the padding of a padded observation of ``scenario``."""
    return _unpad(obs, obs_dim(scenario), OBS_DIM, "obs")


def pad_action(
    scenario: Scenario, action: Float[np.ndarray, "*batch n"]
) -> Float[np.ndarray, "*batch ACT_DIM"]:
    """Zero-pad an unpadded action of ``scenario`` to ``ACT_DIM``."""
    return _pad(action, act_dim(scenario), ACT_DIM, "action")


def unpad_action(
    scenario: Scenario, action: Float[np.ndarray, "*batch ACT_DIM"]
) -> Float[np.ndarray, "*batch n"]:
    """Drop the padding of a padded action of ``scenario``."""
    return _unpad(action, act_dim(scenario), ACT_DIM, "action")
