"""Gymnasium adapter: one scenario as a `gymnasium.Env` (unpadded spaces, native engine).

Importing `mrcom.envs` registers one Gymnasium id per robot (`GYM_IDS`)::

    import gymnasium as gym
    import mrcom.envs

    gym.register_envs(mrcom.envs)  # a no-op that marks the import as used
    env = gym.make("mrcom/Hopper-v0", target_speed=0.5, length_scale=1.2, obs_fn="add_g")

or, without importing it yourself, ``gym.make("mrcom.envs:mrcom/Hopper-v0", ...)`` (Gymnasium imports the
module before the "``:``"). The keyword arguments are the `Scenario` fields other than ``robot`` (the id
names it) plus ``episode_length``; see `make_gym_env` for the defaults. Gymnasium >= 1.0 no longer loads
the "gymnasium.envs" entry-point plugins of older releases, so registration happens on import.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import gymnasium as gym
import numpy as np

from ._common import check_action
from ._layout import ACT_DIM, act_dim, obs_dim
from ._native import NativeVecEnv
from ._robots import ROBOTS
from ._scenario import Scenario, default_scenario

__all__ = ["GYM_IDS", "GymEnv", "make_gym_env", "register_gym_envs"]

GYM_IDS: dict[str, str] = {robot: f"mrcom/{robot.capitalize()}-v0" for robot in ROBOTS}
"""Gymnasium id of each robot: ``{"hopper": "mrcom/Hopper-v0", ...}``."""


class GymEnv(gym.Env):
    """One `Scenario` as a Gymnasium environment.

    Observations and actions are the scenario's own (unpadded) widths, float32; actions in [-1, 1].
    Episodes end by truncation after ``episode_length`` steps (``terminated`` is always False: the paper's
    episodes have a fixed length). ``reset(seed=None)`` continues the env's own seeded generator.

    Arguments:
        scenario: the scenario.
        episode_length: control steps per episode.
    """

    metadata = {"render_modes": []}

    def __init__(self, scenario: Scenario, episode_length: int = 1000):
        if not isinstance(scenario, Scenario):
            raise ValueError(f"scenario={scenario!r}: must be a mrcom.envs.Scenario")
        self.scenario = scenario
        self.episode_length = int(episode_length)
        self._env = NativeVecEnv([scenario], episode_length=episode_length, nthread=0)
        n, m = obs_dim(scenario), act_dim(scenario)
        self._n, self._m = n, m
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (n,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (m,), np.float32)
        self._started = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs = self._env.reset(int(self.np_random.integers(0, 2**31 - 1)))
        self._started = True
        return obs[0, : self._n].copy(), {}

    def step(self, action):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(action, np.float32)
        if a.shape != (self._m,):
            raise ValueError(f"action.shape={a.shape}: must be {self.action_space.shape}")
        if not math.isfinite(sum(a.tolist())):  # NaN/inf: let the engine's check name the entry
            padded = np.zeros((1, ACT_DIM))
            padded[0, : self._m] = a
            check_action(padded, 1)
        # the single-env step of the engine, without building its (1,)-shaped batch outputs
        obs, final_obs, reward, truncated, speed, _, _, _ = self._env._advance_one(a)
        if truncated:  # return the episode's last observation, not the auto-reset one
            obs = final_obs
            self._started = False
        reward = float(np.float32(reward))  # the engine's float32 reward, as a float
        return obs[0, : self._n].copy(), reward, False, truncated, {"speed": speed}


_ENTRY_POINT = f"{__name__}:make_gym_env"
_DEFAULT_EPISODE_LENGTH = 1000


def make_gym_env(robot: str, episode_length: int = _DEFAULT_EPISODE_LENGTH, **fields: Any) -> GymEnv:
    """The creator behind the registered ids: a `GymEnv` of ``robot`` with the given `Scenario` fields.

    Unspecified fields keep `default_scenario` (``robot``): default dynamics (``length_scale`` =
    ``size_scale`` = 1), ``target_speed`` = 0.5 * ``V_MAX[robot]`` (the paper's fixed target),
    ``obs_fn="identity"``, ``obs_noise=DEFAULT_OBS_NOISE``, ``seed=0``; ``episode_length`` is 1000.

    Arguments:
        robot: one of ``ROBOTS`` (the registered id sets it).
        episode_length: control steps per episode (the env truncates itself; no TimeLimit is needed).
        **fields: `Scenario` fields: length_scale, size_scale, target_speed, obs_fn, obs_noise, seed.

    Raises:
        ValueError: an unknown keyword (naming it and the allowed ones) or an invalid field value.
    """
    allowed = [f.name for f in dataclasses.fields(Scenario) if f.name != "robot"]
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ValueError(
            f"{GYM_IDS.get(robot, robot)}: unknown keyword(s) {unknown}; allowed are "
            f"{sorted([*allowed, 'episode_length'])}"
        )
    scenario = dataclasses.replace(default_scenario(robot), **fields)
    return GymEnv(scenario, episode_length=episode_length)


def register_gym_envs() -> None:
    """Register `GYM_IDS` with Gymnasium; idempotent (ids already registered by this module are kept)."""
    for robot, env_id in GYM_IDS.items():
        spec = gym.registry.get(env_id)
        if spec is not None and spec.entry_point == _ENTRY_POINT and spec.kwargs == {"robot": robot}:
            continue
        gym.register(id=env_id, entry_point=_ENTRY_POINT, kwargs={"robot": robot})
