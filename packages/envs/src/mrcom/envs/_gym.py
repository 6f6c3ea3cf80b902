"""Gymnasium adapter: one scenario as a `gymnasium.Env` (unpadded spaces, native engine)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from ._layout import act_dim, obs_dim, pad_action, unpad_obs
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
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (n,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (m,), np.float32)
        self._started = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs = self._env.reset(int(self.np_random.integers(0, 2**31 - 1)))
        self._started = True
        return unpad_obs(self.scenario, obs[0]).copy(), {}

    def step(self, action):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(action, np.float32)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action.shape={a.shape}: must be {self.action_space.shape}")
        obs, reward, done, info = self._env.step(pad_action(self.scenario, a)[None])
        truncated = bool(done[0])
        if truncated:  # return the episode's last observation, not the auto-reset one
            obs = info["final_obs"]
            self._started = False
        out = {"speed": float(info["speed"][0])}
        return unpad_obs(self.scenario, obs[0]).copy(), float(reward[0]), False, truncated, out
