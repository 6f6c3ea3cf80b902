"""Multi-scenario sequence data and the window sampler (jit-able, keyed)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from ._seam import Context


class MultiScenarioData(NamedTuple):
    """Episodes from many scenarios, padded to common widths (numpy arrays).

    obs (E, L+1, O) float32; action (E, L, A); reward (E, L); scenario_id (E,) int32 in [0, S);
    obs_mask (S, O), act_mask (S, A) (1 = real dimension); expert prompt per scenario:
    prompt_obs (S, P+1, O), prompt_action (S, P, A), prompt_reward (S, P) with P >= m.
    """

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    scenario_id: np.ndarray
    obs_mask: np.ndarray
    act_mask: np.ndarray
    prompt_obs: np.ndarray
    prompt_action: np.ndarray
    prompt_reward: np.ndarray

    @property
    def num_scenarios(self) -> int:
        return int(self.obs_mask.shape[0])

    @property
    def episode_length(self) -> int:
        return int(self.action.shape[1])

    def validate(self, context_len: int | None = None, seq_len: int | None = None) -> MultiScenarioData:
        """Check shapes, dtypes and ranges; return the data as float32/int32 arrays."""
        dtype = lambda name: np.int32 if name == "scenario_id" else np.float32
        d = MultiScenarioData(*(np.asarray(x, dtype(n)) for n, x in self._asdict().items()))
        if d.obs.ndim != 3:
            raise ValueError(f"obs.shape={d.obs.shape}: must be (E, L+1, O)")
        e, l1, o = d.obs.shape
        a = d.action.shape[-1] if d.action.ndim == 3 else -1
        s = d.obs_mask.shape[0] if d.obs_mask.ndim == 2 else -1
        expect = {
            "action": (e, l1 - 1, a),
            "reward": (e, l1 - 1),
            "scenario_id": (e,),
            "obs_mask": (s, o),
            "act_mask": (s, a),
        }
        for name, shape in expect.items():
            if getattr(d, name).shape != shape:
                raise ValueError(f"{name}.shape={getattr(d, name).shape}: must be {shape}")
        if l1 < 2:
            raise ValueError(f"obs.shape={d.obs.shape}: episodes need at least one step")
        p = d.prompt_action.shape[1] if d.prompt_action.ndim == 3 else -1
        for name, shape in {
            "prompt_obs": (s, p + 1, o),
            "prompt_action": (s, p, a),
            "prompt_reward": (s, p),
        }.items():
            if getattr(d, name).shape != shape:
                raise ValueError(f"{name}.shape={getattr(d, name).shape}: must be {shape}")
        if e and (d.scenario_id.min() < 0 or d.scenario_id.max() >= s):
            lo, hi = d.scenario_id.min(), d.scenario_id.max()
            raise ValueError(f"scenario_id in [{lo}, {hi}]: must be in [0, {s})")
        if context_len is not None and p < context_len:
            raise ValueError(f"prompt length P={p}: must be >= context_len={context_len}")
        if seq_len is not None and seq_len > l1 - 1:
            raise ValueError(f"seq_len={seq_len}: must be <= episode length {l1 - 1}")
        for name, x in d._asdict().items():
            if not np.all(np.isfinite(x)):
                raise ValueError(f"{name}: must be finite (found NaN or inf)")
        return d


def observation_moments(data: MultiScenarioData) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension (mean, variance) of the observations, over the real dims of every episode.

    Each episode's real dims come from its scenario's `obs_mask`; a dimension no scenario has gets
    mean 0 and variance 0. Returns two (O,) float64 arrays.
    """
    d = data.validate()
    m = d.obs_mask[d.scenario_id][:, None, :] * np.ones_like(d.obs)
    count = np.maximum(m.sum((0, 1)), 1.0)
    mean = (d.obs * m).sum((0, 1)) / count
    var = (((d.obs - mean) ** 2) * m).sum((0, 1)) / count
    return mean, var


def observation_stats(data: MultiScenarioData, min_std: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per dimension for `ObsNorm` (std floored at `min_std`; 1 on dims without data)."""
    mean, var = observation_moments(data)
    present = data.validate().obs_mask.max(0) > 0
    std = np.where(present, np.maximum(np.sqrt(var), min_std), 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


class Batch(NamedTuple):
    """A batch of length-T windows with their m-step context prefix.

    ctx: Context with (B, m+T, .) arrays (steps t-m .. t+T-1 of each window; prompt-filled
    before the episode start); obs (B, T+1, O); action (B, T, A); reward (B, T);
    scenario_id (B,); obs_mask (B, O); act_mask (B, A).
    """

    ctx: Context
    obs: Array
    action: Array
    reward: Array
    scenario_id: Array
    obs_mask: Array
    act_mask: Array


class SequenceSource(NamedTuple):
    """Device-side copy of a dataset: each episode prefixed by the last m steps of its prompt."""

    ctx: Context  # (E, m + L, .)
    obs: Array  # (E, L+1, O)
    action: Array
    reward: Array
    scenario_id: Array
    obs_mask: Array  # (S, O)
    act_mask: Array  # (S, A)


def make_source(data: MultiScenarioData, context_len: int) -> SequenceSource:
    """Prefix every episode with the last `context_len` prompt steps of its scenario (FIFO fill)."""
    d = data.validate(context_len=context_len)
    m, sid = context_len, d.scenario_id
    p = d.prompt_action.shape[1]
    pre = lambda x: x[sid, p - m : p]
    ctx = Context(
        obs=np.concatenate([pre(d.prompt_obs), d.obs[:, :-1]], axis=1),
        action=np.concatenate([pre(d.prompt_action), d.action], axis=1),
        reward=np.concatenate([pre(d.prompt_reward), d.reward], axis=1),
        valid=np.ones(d.action.shape[:2][:1] + (m + d.action.shape[1],), np.float32),
    )
    return SequenceSource(
        Context(*(jnp.asarray(x) for x in ctx)),
        jnp.asarray(d.obs),
        jnp.asarray(d.action),
        jnp.asarray(d.reward),
        jnp.asarray(sid),
        jnp.asarray(d.obs_mask),
        jnp.asarray(d.act_mask),
    )


def window(src: SequenceSource, episode: Array, start: Array, seq_len: int, context_len: int) -> Batch:
    """One window of `seq_len` steps from `episode` at `start` (unbatched Batch)."""
    t, m = seq_len, context_len
    cut = lambda x, n: jax.lax.dynamic_slice_in_dim(x[episode], start, n, axis=0)
    return Batch(
        ctx=Context(*(cut(x, m + t) for x in src.ctx)),
        obs=cut(src.obs, t + 1),
        action=cut(src.action, t),
        reward=cut(src.reward, t),
        scenario_id=src.scenario_id[episode],
        obs_mask=src.obs_mask[src.scenario_id[episode]],
        act_mask=src.act_mask[src.scenario_id[episode]],
    )


def sample_batch(
    src: SequenceSource, key: PRNGKeyArray, batch_size: int, seq_len: int, context_len: int
) -> Batch:
    """Uniform episodes and uniform window starts in [0, L - seq_len]."""
    ke, ks = jax.random.split(key)
    num_episodes, length = src.action.shape[0], src.action.shape[1]
    episodes = jax.random.randint(ke, (batch_size,), 0, num_episodes)
    starts = jax.random.randint(ks, (batch_size,), 0, length - seq_len + 1)
    return jax.vmap(window, (None, 0, 0, None, None))(src, episodes, starts, seq_len, context_len)
