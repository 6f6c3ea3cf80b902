"""The on-device replay ring of the fused mjx loop, and the index draws it shares with the host loop."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ._buffer import EpisodeBuffer
from ._sac import Batch

__all__ = [
    "ReplayRing",
    "ring_init",
    "ring_add",
    "sample_indices",
    "ring_sample",
    "episode_batch",
    "explore_actions",
]


class ReplayRing(eqx.Module):
    """Ring buffer of flat transitions for B agents, on the device (slot i holds the i-th transition
    until it is overwritten, i.e. while fewer than `capacity` were added)."""

    obs: Float[Array, "B C O"]
    action: Float[Array, "B C A"]
    reward: Float[Array, "B C"]
    next_obs: Float[Array, "B C O"]
    ptr: Int[Array, ""]
    size: Int[Array, ""]


def ring_init(num_agents: int, capacity: int, obs_dim: int, act_dim: int) -> ReplayRing:
    """An empty ring of `capacity` transitions per agent.

    Arguments:
        num_agents: B.
        capacity: C transitions per agent (>= 1).
        obs_dim, act_dim: padded widths.

    Returns:
        A `ReplayRing` of zeros with size 0.
    """
    if isinstance(capacity, bool) or int(capacity) < 1:
        raise ValueError(f"capacity={capacity!r}: must be an integer >= 1")
    b, c = int(num_agents), int(capacity)
    return ReplayRing(
        obs=jnp.zeros((b, c, obs_dim), jnp.float32),
        action=jnp.zeros((b, c, act_dim), jnp.float32),
        reward=jnp.zeros((b, c), jnp.float32),
        next_obs=jnp.zeros((b, c, obs_dim), jnp.float32),
        ptr=jnp.zeros((), jnp.int32),
        size=jnp.zeros((), jnp.int32),
    )


def ring_add(
    ring: ReplayRing,
    obs: Float[Array, "B O"],
    action: Float[Array, "B A"],
    reward: Float[Array, " B"],
    next_obs: Float[Array, "B O"],
) -> ReplayRing:
    """Insert one transition per agent at the write pointer (overwriting the oldest when full)."""
    c = ring.reward.shape[1]
    put = lambda buf, x: jax.lax.dynamic_update_index_in_dim(buf, x.astype(buf.dtype), ring.ptr, axis=1)
    return ReplayRing(
        obs=put(ring.obs, obs),
        action=put(ring.action, action),
        reward=put(ring.reward, reward),
        next_obs=put(ring.next_obs, next_obs),
        ptr=(ring.ptr + 1) % c,
        size=jnp.minimum(ring.size + 1, c),
    )


def sample_indices(key: PRNGKeyArray, num_agents: int, shape: tuple[int, ...], size) -> Int[Array, "B ..."]:
    """Uniform transition indices in [0, size) per agent, shaped (B, *shape) (host and fused loops)."""
    return jax.random.randint(key, (num_agents, *shape), 0, size)


def ring_sample(ring: ReplayRing, key: PRNGKeyArray, shape: tuple[int, ...]) -> Batch:
    """Uniform transitions per agent, shaped (B, *shape, ...); the ring must not be empty."""
    b = ring.reward.shape[0]
    idx = sample_indices(key, b, shape, ring.size)
    ag = jnp.arange(b).reshape((b,) + (1,) * len(shape))
    return Batch(ring.obs[ag, idx], ring.action[ag, idx], ring.reward[ag, idx], ring.next_obs[ag, idx])


def episode_batch(buffer: EpisodeBuffer, idx: np.ndarray) -> Batch:
    """The transitions of a host `EpisodeBuffer` at flat indices `idx` (B, ...) (episode-major order)."""
    idx = np.asarray(idx)
    ep, t = np.divmod(idx, buffer.episode_length)
    b = buffer.num_agents
    ag = np.arange(b).reshape((b,) + (1,) * (idx.ndim - 1))
    parts = (
        buffer.obs[ag, ep, t],
        buffer.action[ag, ep, t],
        buffer.reward[ag, ep, t],
        buffer.obs[ag, ep, t + 1],
    )
    return Batch(*(jnp.asarray(x) for x in parts))


def explore_actions(key: PRNGKeyArray, act_mask: Float[Array, "B A"]) -> Float[Array, "B A"]:
    """Uniform random actions in [-1, 1] on the real action dimensions (before `learning_starts`)."""
    return jax.random.uniform(key, act_mask.shape, jnp.float32, -1.0, 1.0) * act_mask
