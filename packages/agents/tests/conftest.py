"""Shared fixtures: a tiny numpy batched task with the VecEnv interface of mrcom.envs."""

import numpy as np
import pytest


class ToyVecEnv:
    """B point masses; agent b controls act_dims[b] of 3 padded force dims and is rewarded for holding x = 1.

    Observation (padded to 6): per controlled dim (x, v); reward exp(-2 (x - 1)^2) averaged over the
    real dims, in [0, 1]; fixed episode length, auto-reset like mrcom.envs' native VecEnv.
    """

    OBS, ACT = 6, 3

    def __init__(self, act_dims, episode_length=40):
        self.act_dims = list(act_dims)
        self.num_envs = len(self.act_dims)
        self.episode_length = episode_length
        self.act_mask = np.zeros((self.num_envs, self.ACT), np.float32)
        self.obs_mask = np.zeros((self.num_envs, self.OBS), np.float32)
        for b, d in enumerate(self.act_dims):
            self.act_mask[b, :d] = 1
            self.obs_mask[b, : 2 * d] = 1

    def _obs(self):
        o = np.zeros((self.num_envs, self.OBS), np.float32)
        o[:, 0::2] = self.x
        o[:, 1::2] = self.v
        return o * self.obs_mask

    def _reset_state(self):
        self.x = self.rng.uniform(-1.5, 1.5, (self.num_envs, self.ACT)) * self.act_mask
        self.v = np.zeros_like(self.x)
        self.t = 0
        self.ret = np.zeros(self.num_envs)

    def reset(self, seed):
        self.rng = np.random.default_rng(seed)
        self._reset_state()
        return self._obs()

    def step(self, action):
        a = np.clip(action, -1, 1) * self.act_mask
        self.v = 0.8 * self.v + 0.2 * a
        self.x = self.x + 0.2 * self.v
        err = np.exp(-2.0 * (self.x - 1.0) ** 2) * self.act_mask
        reward = (err.sum(1) / self.act_mask.sum(1)).astype(np.float32)
        self.ret += reward
        self.t += 1
        obs = self._obs()
        done = np.full(self.num_envs, self.t == self.episode_length)
        info = {"final_obs": obs.copy(), "episode_return": self.ret.copy()}
        if self.t == self.episode_length:
            self._reset_state()
            obs = self._obs()
        return obs, reward, done, info


@pytest.fixture
def toy_env():
    return ToyVecEnv
