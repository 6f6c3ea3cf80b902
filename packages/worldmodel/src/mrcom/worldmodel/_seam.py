"""What every world model shares at the seam: the observation transforms, the FIFO context, the real
prefix an imagination starts from, the imagined branch, and the helpers that check and assemble them.

Step convention (docs/interfaces.md): step t is (o_t, a_t, r_t); a_t is chosen after seeing o_t, r_t is
its reward, then o_{t+1} is shown.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray


def symlog(x: Array) -> Array:
    """sign(x) * log(1 + |x|): the input/target normalization (stateless)."""
    return jnp.sign(x) * jnp.log1p(jnp.abs(x))


def symexp(x: Array) -> Array:
    """Inverse of `symlog`."""
    return jnp.sign(x) * jnp.expm1(jnp.abs(x))


class Context(NamedTuple):
    """A FIFO context of steps (o, a, r); `valid` is 1 for a filled slot, 0 for an empty one.

    Shapes (leading batch dims allowed): obs (..., n, O), action (..., n, A), reward (..., n),
    valid (..., n). The last m slots before a step form its context C_t. Slot j holds step j's
    own (o_j, a_j, r_j); the encoder reads r_j in token j+1 (see `ContextEncoder`).
    """

    obs: Array
    action: Array
    reward: Array
    valid: Array


def push(ctx: Context, obs: Array, action: Array, reward: Array) -> Context:
    """First in, first out: drop the oldest slot of a length-m context, append the step (o, a, r)."""
    roll = lambda x, new: jnp.concatenate([x[1:], new[None]], axis=0)
    return Context(
        roll(ctx.obs, obs),
        roll(ctx.action, action),
        roll(ctx.reward, jnp.asarray(reward, ctx.reward.dtype)),
        roll(ctx.valid, jnp.ones((), ctx.valid.dtype)),
    )


class OpenLoop(NamedTuple):
    """A policy that replays given actions (B, H, A): a_t = actions[:, t] (open-loop evaluation).

    Any `imagine` of the world-model registry accepts it in place of a callable policy.
    """

    actions: Array


def act_at(policy, t: Array, key: PRNGKeyArray, obs: Array) -> Array:
    """The action of `policy` at imagined step `t`: an `OpenLoop`'s t-th, or `policy(key, obs)`."""
    if isinstance(policy, OpenLoop):
        return policy.actions[:, t]
    return policy(key, obs)


class Prefix(NamedTuple):
    """Real steps to filter over: obs (B, W+1, O), action (B, W, A), reward (B, W)."""

    obs: Array
    action: Array
    reward: Array


def extend_context(context: Context, prefix: Prefix) -> Context:
    """The m context steps followed by the W prefix steps (m + W, .; one sequence): the steps before
    the last prefix observation, the prefix's valid."""
    w = prefix.action.shape[0]
    return Context(
        jnp.concatenate([context.obs, prefix.obs[:w]]),
        jnp.concatenate([context.action, prefix.action]),
        jnp.concatenate([context.reward, prefix.reward]),
        jnp.concatenate([context.valid, jnp.ones(w, context.valid.dtype)]),
    )


def prefix_upto(prefix: Prefix, t: int) -> Prefix:
    """The first t steps of a prefix and o_t (one sequence): obs (t+1, O), action (t, A), reward (t,)."""
    return Prefix(prefix.obs[: t + 1], prefix.action[:t], prefix.reward[:t])


class Imagined(NamedTuple):
    """An imagined branch: obs (B, H+1, O) (obs[:, 0] is the real start), action (B, H, A),
    reward (B, H) (r_t = R(s~_t, a_t, e_t)), latent (B, H+1, Z) (latent[:, 0] is the posterior)."""

    obs: Array
    action: Array
    reward: Array
    latent: Array


def branch_inputs(
    context_len: int, context: Context, prefix: Prefix, masks: tuple[Array, Array]
) -> tuple[Context, Prefix, Array, Array]:
    """`imagine`'s inputs as float32 arrays, checked: (context, prefix, obs_mask, act_mask).

    Raises:
        ValueError: prefix.obs is not (B, W+1, O), or context.obs is not (B, `context_len`, O).
    """
    obs_mask, act_mask = (jnp.asarray(x, jnp.float32) for x in masks)
    prefix = Prefix(*(jnp.asarray(x, jnp.float32) for x in prefix))
    context = Context(*(jnp.asarray(x, jnp.float32) for x in context))
    if prefix.obs.ndim != 3 or prefix.obs.shape[1] != prefix.action.shape[1] + 1:
        raise ValueError(f"prefix.obs.shape={prefix.obs.shape}: must be (B, W+1, O) with W = prefix.action W")
    if context.obs.shape[1] != context_len:
        raise ValueError(f"context.obs.shape={context.obs.shape}: must be (B, m={context_len}, O)")
    return context, prefix, obs_mask, act_mask


def stack_branch(
    obs0: Array, latent0: Array, obs: Array, action: Array, reward: Array, latent: Array
) -> Imagined:
    """An `Imagined` from the start (obs0 (B, O), latent0 (B, Z)) and the time-major outputs of the
    imagination scan (obs (H, B, O), action (H, B, A), reward (H, B), latent (H, B, Z))."""
    swap = lambda x: jnp.swapaxes(x, 0, 1)
    return Imagined(
        obs=jnp.concatenate([obs0[:, None], swap(obs)], axis=1),
        action=swap(action),
        reward=swap(reward),
        latent=jnp.concatenate([latent0[:, None], swap(latent)], axis=1),
    )
