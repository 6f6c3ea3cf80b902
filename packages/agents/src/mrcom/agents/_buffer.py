"""Replay buffers as numpy arrays with a leading agent axis.

`EpisodeBuffer` keeps real experience as whole fixed-length episodes, so the same arrays serve SAC
(uniform transitions), the dataset shards of the collection phase (every transition kept, in the
episode layout the world model trains on) and the context/prefix windows of the adaptation phase.
`TransitionBuffer` is a ring of flat transitions for world-model rollouts (MBPO's model buffer).
Observations and actions are padded, so one code path serves every robot.
"""

from __future__ import annotations

import numpy as np

from ._sac import Batch


class EpisodeBuffer:
    """Fixed-length episodes for B agents stepped in lockstep.

    Arguments:
        num_agents: B.
        max_episodes: capacity in episodes per agent.
        episode_length: L.
        obs_dim, act_dim: padded widths.
    """

    def __init__(self, num_agents: int, max_episodes: int, episode_length: int, obs_dim: int, act_dim: int):
        self.num_agents = num_agents
        self.max_episodes = max_episodes
        self.episode_length = episode_length
        self.obs = np.zeros((num_agents, max_episodes, episode_length + 1, obs_dim), np.float32)
        self.action = np.zeros((num_agents, max_episodes, episode_length, act_dim), np.float32)
        self.reward = np.zeros((num_agents, max_episodes, episode_length), np.float32)
        self.episode = 0  # index of the episode being written
        self.t = 0  # steps written into it

    @property
    def size(self) -> int:
        """Transitions stored per agent."""
        return self.episode * self.episode_length + self.t

    @property
    def num_complete(self) -> int:
        """Completed episodes per agent."""
        return self.episode

    def start(self, obs: np.ndarray) -> None:
        """Write the first observation (B, O) of the current episode."""
        if self.episode >= self.max_episodes:
            raise ValueError(f"EpisodeBuffer: capacity max_episodes={self.max_episodes} exceeded")
        self.obs[:, self.episode, 0] = obs

    def add(self, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray) -> bool:
        """Append one step for every agent; returns True when the episode just ended.

        Arguments:
            action: (B, A) padded actions taken.
            reward: (B,) rewards received.
            next_obs: (B, O) the observation after the step (the *final* one when the episode ends).
        """
        e, t = self.episode, self.t
        self.action[:, e, t] = action
        self.reward[:, e, t] = reward
        self.obs[:, e, t + 1] = next_obs
        self.t += 1
        if self.t == self.episode_length:
            self.episode += 1
            self.t = 0
            return True
        return False

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> Batch:
        """Uniform transitions per agent, shaped (B, *shape, ...)."""
        if self.size == 0:
            raise ValueError("EpisodeBuffer.sample: buffer is empty")
        b = self.num_agents
        idx = rng.integers(0, self.size, size=(b, *shape))
        ep, t = np.divmod(idx, self.episode_length)
        ag = np.arange(b).reshape((b,) + (1,) * len(shape))
        return Batch(
            obs=self.obs[ag, ep, t],
            action=self.action[ag, ep, t],
            reward=self.reward[ag, ep, t],
            next_obs=self.obs[ag, ep, t + 1],
        )


class TransitionBuffer:
    """Ring buffer of flat transitions (B, capacity, ...) for model-generated data."""

    def __init__(self, num_agents: int, capacity: int, obs_dim: int, act_dim: int):
        self.num_agents = num_agents
        self.capacity = capacity
        self.obs = np.zeros((num_agents, capacity, obs_dim), np.float32)
        self.action = np.zeros((num_agents, capacity, act_dim), np.float32)
        self.reward = np.zeros((num_agents, capacity), np.float32)
        self.next_obs = np.zeros((num_agents, capacity, obs_dim), np.float32)
        self.ptr = 0
        self.size = 0

    def add(self, batch: Batch) -> None:
        """Append (B, n, ...) transitions per agent, overwriting the oldest ones."""
        n = batch.reward.shape[1]
        if n > self.capacity:
            batch = Batch(*(np.asarray(x)[:, -self.capacity :] for x in batch))
            n = self.capacity
        idx = (self.ptr + np.arange(n)) % self.capacity
        self.obs[:, idx] = batch.obs
        self.action[:, idx] = batch.action
        self.reward[:, idx] = batch.reward
        self.next_obs[:, idx] = batch.next_obs
        self.ptr = int((self.ptr + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> Batch:
        """Uniform transitions per agent, shaped (B, *shape, ...)."""
        if self.size == 0:
            raise ValueError("TransitionBuffer.sample: buffer is empty")
        b = self.num_agents
        idx = rng.integers(0, self.size, size=(b, *shape))
        ag = np.arange(b).reshape((b,) + (1,) * len(shape))
        return Batch(self.obs[ag, idx], self.action[ag, idx], self.reward[ag, idx], self.next_obs[ag, idx])
