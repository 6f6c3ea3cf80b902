"""Meta-episodes, the sequence-length curriculum and the loss-step subsample.

A meta-episode is `K` consecutive episodes of one scenario (in the order of `MultiScenarioData`)
joined into one sequence: every episode but the last drops its final observation, so the last
action of an episode leads into the first observation of the next, the convention of the FIFO
context everywhere else (`make_source`, the MBPO harness). Sequences are always taken from the
meta-episode's start, `n` transitions long (`n` + 1 observations).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._data import MultiScenarioData


class MetaSource(NamedTuple):
    """Device-side episodes and the meta-episodes built from them.

    obs (E, L+1, O), action (E, L, A), reward (E, L), scenario_id (E,), obs_mask (S, O),
    act_mask (S, A); meta (M, K) int32: the episode indices of each meta-episode, in order.
    """

    obs: Array
    action: Array
    reward: Array
    scenario_id: Array
    obs_mask: Array
    act_mask: Array
    meta: Array

    @property
    def meta_length(self) -> int:
        """T: transitions in a whole meta-episode (K * L)."""
        return int(self.meta.shape[1] * self.action.shape[1])


class MetaBatch(NamedTuple):
    """The first n transitions of B meta-episodes: obs (B, n+1, O), action (B, n, A), reward (B, n),
    obs_mask (B, O), act_mask (B, A)."""

    obs: Array
    action: Array
    reward: Array
    obs_mask: Array
    act_mask: Array


def meta_episode_index(scenario_id: np.ndarray, episodes: int) -> np.ndarray:
    """Every run of `episodes` consecutive episodes of one scenario (overlapping), (M, K) int32.

    Raises:
        ValueError: a scenario present in the data has fewer than `episodes` episodes.
    """
    sid = np.asarray(scenario_id)
    rows = []
    for s in np.unique(sid):
        idx = np.flatnonzero(sid == s)
        if idx.size < episodes:
            raise ValueError(
                f"meta_episodes={episodes}: must be <= the episodes of every scenario "
                f"(scenario {int(s)} has {idx.size})"
            )
        rows += [idx[i : i + episodes] for i in range(idx.size - episodes + 1)]
    return np.asarray(rows, np.int32).reshape(-1, episodes)


def make_meta_source(data: MultiScenarioData, episodes: int) -> MetaSource:
    """`data` on the device with its meta-episodes of `episodes` consecutive episodes each."""
    d = data.validate()
    put = jnp.asarray
    return MetaSource(
        put(d.obs),
        put(d.action),
        put(d.reward),
        put(d.scenario_id),
        put(d.obs_mask),
        put(d.act_mask),
        put(meta_episode_index(d.scenario_id, episodes)),
    )


def meta_sequence(src: MetaSource, index: Int[Array, ""], length: int) -> MetaBatch:
    """The first `length` transitions of meta-episode `index` (unbatched `MetaBatch`)."""
    ep = src.meta[index]  # (K,)
    k, steps = ep.shape[0], src.action.shape[1]
    obs = src.obs[ep]  # (K, L+1, O)
    obs = jnp.concatenate([obs[:, :steps].reshape(k * steps, -1), obs[-1, steps:]])
    sid = src.scenario_id[ep[0]]
    return MetaBatch(
        obs=obs[: length + 1],
        action=src.action[ep].reshape(k * steps, -1)[:length],
        reward=src.reward[ep].reshape(k * steps)[:length],
        obs_mask=src.obs_mask[sid],
        act_mask=src.act_mask[sid],
    )


def sample_meta_batch(src: MetaSource, key: PRNGKeyArray, batch_size: int, length: int) -> MetaBatch:
    """`batch_size` meta-episodes drawn uniformly, each from its start, `length` transitions long."""
    index = jax.random.randint(key, (batch_size,), 0, src.meta.shape[0])
    return jax.vmap(meta_sequence, (None, 0, None))(src, index, length)


def curriculum_length(step, seq_len: int, total: int, ramp_steps: int):
    """The sequence length (transitions) trained at `step`: `seq_len` at step 0, growing linearly
    to `total` (the whole meta-episode) at `ramp_steps` and staying there:
    seq_len + floor((total - seq_len) * min(step, ramp_steps) / ramp_steps), in integer arithmetic.

    Works on Python ints (host) and on traced int arrays (inside the jitted step), with equal results.
    """
    if ramp_steps <= 0 or seq_len >= total:
        return jnp.full_like(step, total) if isinstance(step, jax.Array) else total
    done = jnp.minimum(step, ramp_steps) if isinstance(step, jax.Array) else min(step, ramp_steps)
    return seq_len + (total - seq_len) * done // ramp_steps


def length_buckets(seq_len: int, total: int) -> tuple[int, ...]:
    """The static sequence lengths a jitted chunk runs over: seq_len * 2^k below `total`, then `total`.

    The curriculum's exact length is applied inside a bucket by the loss-step subsample, so the
    number of compiled programs grows with log(total / seq_len), not with the number of lengths.
    """
    out, n = [], seq_len
    while n < total:
        out.append(n)
        n *= 2
    return tuple(out) + (total,)


def bucket_for(length: int, seq_len: int, total: int) -> int:
    """The smallest bucket of `length_buckets` that holds `length` transitions."""
    return next(b for b in length_buckets(seq_len, total) if b >= length)


def subsample_steps(
    key: PRNGKeyArray, length: Int[Array, ""], size: int, count: int
) -> tuple[Int[Array, " N"], Float[Array, " N"]]:
    """`count` distinct positions drawn uniformly from 0 .. `length` (of `size` >= length + 1 slots).

    Returns:
        (indices (N,), weights (N,)) with N = min(count, size): weight 1 for a drawn position,
        0 for a filler (when fewer than N positions are valid, every valid one is drawn once).
    """
    n = min(count, size)
    pos = jnp.arange(size)
    u = jnp.where(pos <= length, jax.random.uniform(key, (size,)), 2.0)
    index = jnp.argsort(u)[:n]
    return index, (index <= length).astype(jnp.float32)
