"""The replay ring of the interaction loop (both backends) and of MBPO's model data: a JAX pytree.

The real ring of a run holds every step (capacity = the schedule's E*L slots), so slot e*L + t is step
t of episode e: the episode layout that the dataset shards, MBPO's branch points and the imagination
actor-critic's starts read.
"""

from __future__ import annotations

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from mrcom.worldmodel import FAST_COMPILE_OPTIONS

from ._sac import Transitions

__all__ = [
    "ReplayRing",
    "ring_init",
    "ring_add",
    "ring_add_many",
    "ring_sample",
    "obs_at",
    "Episodes",
    "ring_episodes",
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
    return _zeros(int(num_agents), int(capacity), int(obs_dim), int(act_dim))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3), compiler_options=FAST_COMPILE_OPTIONS)
def _zeros(b: int, c: int, obs_dim: int, act_dim: int) -> ReplayRing:
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


def ring_add_many(ring: ReplayRing, batch: Transitions) -> ReplayRing:
    """Append (B, n, ...) transitions per agent at the pointer, overwriting the oldest (n <= capacity)."""
    c, n = ring.reward.shape[1], batch.reward.shape[1]
    if n > c:
        raise ValueError(f"ring_add_many: {n} transitions, more than the capacity {c}")
    idx = (ring.ptr + jnp.arange(n)) % c
    put = lambda buf, x: buf.at[:, idx].set(x.astype(buf.dtype))
    return ReplayRing(
        obs=put(ring.obs, batch.obs),
        action=put(ring.action, batch.action),
        reward=put(ring.reward, batch.reward),
        next_obs=put(ring.next_obs, batch.next_obs),
        ptr=(ring.ptr + n) % c,
        size=jnp.minimum(ring.size + n, c),
    )


def ring_sample(ring: ReplayRing, key: PRNGKeyArray, shape: tuple[int, ...]) -> Transitions:
    """Uniform transitions per agent, shaped (B, *shape, ...); the ring must not be empty."""
    b = ring.reward.shape[0]
    idx = jax.random.randint(key, (b, *shape), 0, ring.size)
    ag = jnp.arange(b).reshape((b,) + (1,) * len(shape))
    return Transitions(ring.obs[ag, idx], ring.action[ag, idx], ring.reward[ag, idx], ring.next_obs[ag, idx])


def obs_at(ring: ReplayRing, ag, e, t, length: int):
    """obs of step t in [0, L] of episode e of a ring in episode layout (slot e*L + t is step t of
    episode e): slot e*L's obs at t = 0, else slot e*L + t - 1's next_obs (the final obs at t = L; the
    running episode's newest obs is not yet an `obs` slot)."""
    first = t == 0
    x = ring.obs[ag, e * length]
    nx = ring.next_obs[ag, e * length + jnp.maximum(t - 1, 0)]
    return jnp.where(first[..., None], x, nx)


@dataclasses.dataclass
class Episodes:
    """Real experience as whole episodes (numpy): obs (B, E, L+1, O), action (B, E, L, A), reward (B, E, L);
    `size` steps per agent were taken (slots past it are zeros)."""

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    size: int


def ring_episodes(ring: ReplayRing, length: int) -> Episodes:
    """The episodes of a ring in episode layout (capacity E*L, never wrapped), on the host."""
    b, c = ring.reward.shape
    e = c // length
    shape = lambda x: np.asarray(x).reshape(b, e, length, *x.shape[2:])
    obs = np.asarray(_episode_obs(ring, length))
    return Episodes(obs, shape(ring.action), shape(ring.reward), int(ring.size))


@functools.partial(jax.jit, static_argnums=1, compiler_options=FAST_COMPILE_OPTIONS)
def _episode_obs(ring: ReplayRing, length: int) -> Array:
    b, c = ring.reward.shape
    ag = jnp.arange(b)[:, None, None]
    ee, tt = jnp.arange(c // length)[None, :, None], jnp.arange(length + 1)[None, None, :]
    return obs_at(ring, ag, ee, tt, length)


def explore_actions(key: PRNGKeyArray, act_mask: Float[Array, "B A"]) -> Float[Array, "B A"]:
    """Uniform random actions in [-1, 1] on the real action dimensions (before `learning_starts`)."""
    return jax.random.uniform(key, act_mask.shape, jnp.float32, -1.0, 1.0) * act_mask
