"""Gymnasium adapter: one scenario as a `gymnasium.Env` (unpadded spaces, native engine)."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from ._common import check_action
from ._layout import ACT_DIM, act_dim, obs_dim
from ._native import NativeVecEnv
from ._scenario import Scenario

__all__ = ["GymEnv"]


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
