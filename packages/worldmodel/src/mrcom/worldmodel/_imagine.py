"""Imagination: filter the posterior over a real prefix, then roll the prior forward.

Generated steps (o, a, r) are pushed into the FIFO context exactly as real steps would be, so the
model keeps conditioning on the last m steps of the branch (eq. 4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._model import Context, Latent, MrCoM, observe, prior_step, push, split_latent


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


def filter_prefix(
    model: MrCoM,
    context: Context,
    prefix: Prefix,
    obs_mask: Float[Array, " O"],
    act_mask: Float[Array, " A"],
    key: PRNGKeyArray,
) -> tuple[Latent, Context]:
    """Posterior latent at the last prefix observation and the FIFO context of that step (one sequence).

    Arguments:
        context: the m steps before the prefix (m, .). prefix: obs (W+1, O), action (W, A), reward (W,).

    Returns:
        (s~_W split into (u, d, h), context of step W: the last m of context + prefix steps).
    """
    m, w = model.spec.context_len, prefix.action.shape[0]
    ext = Context(
        jnp.concatenate([context.obs, prefix.obs[:w]]),
        jnp.concatenate([context.action, prefix.action]),
        jnp.concatenate([context.reward, prefix.reward]),
        jnp.concatenate([context.valid, jnp.ones(w, context.valid.dtype)]),
    )
    seq = observe(model, ext, prefix.obs, prefix.action, obs_mask, act_mask, key)
    return split_latent(model, seq.latent[-1]), Context(*(x[w : w + m] for x in ext))


def rollout(
    model: MrCoM,
    fifo: Context,
    state: Latent,
    obs: Float[Array, "B O"],
    obs_mask: Float[Array, "B O"],
    act_mask: Float[Array, "B A"],
    act: Callable[[Array, PRNGKeyArray, Array], Array],
    horizon: int,
    key: PRNGKeyArray,
    sample: bool = True,
) -> Imagined:
    """Roll the prior `horizon` steps from batched latents `state` at observations `obs`.

    `act(t, key, obs (B, O)) -> action (B, A)` chooses a_t; each step predicts r_t = R(s~_t, a_t, e_t),
    pushes (o_t, a_t, r_t) into the FIFO and predicts s^_{t+1}, o^_{t+1}.
    """
    batch = obs.shape[0]
    over_b = lambda f, *axes: jax.vmap(f, axes)

    def step(carry, inputs):
        t, k = inputs
        state, fifo, o = carry
        ka, km = jax.random.split(k)
        a = act(t, ka, o) * act_mask
        e = over_b(model.embed_context, 0, 0, 0)(fifo, obs_mask, act_mask)
        r = over_b(model.reward, 0, 0, 0, 0, 0, 0)(state.concat(), o, a, obs_mask, act_mask, e)
        fifo = over_b(push, 0, 0, 0, 0)(fifo, o, a, r)
        new, o_next = over_b(lambda *x: prior_step(model, *x, sample=sample), 0, 0, 0, 0, 0, 0)(
            fifo, state, a, obs_mask, act_mask, jax.random.split(km, batch)
        )
        return (new, fifo, o_next), (o_next, a, r, new.concat())

    inputs = (jnp.arange(horizon), jax.random.split(key, horizon))
    _, (o, a, r, z) = jax.lax.scan(step, (state, fifo, obs), inputs)
    return stack_branch(obs, state.concat(), o, a, r, z)


def imagine(
    model: MrCoM,
    context: Context,
    prefix: Prefix,
    masks: tuple[Array, Array],
    policy: Callable[[PRNGKeyArray, Array], Array],
    horizon: int,
    key: PRNGKeyArray,
    *,
    sample: bool = True,
) -> Imagined:
    """Branch `horizon` imagined steps from the end of real prefixes under `policy`.

    Arguments:
        model: a trained MrCoM.
        context: Context(obs (B, m, O), action (B, m, A), reward (B, m), valid (B, m)): the FIFO
            context before the prefix (prompt-filled at episode starts).
        prefix: real steps, obs (B, W+1, O), action (B, W, A), reward (B, W) (W >= 0); the branch
            starts from the last prefix observation.
        masks: (obs_mask (B, O), act_mask (B, A)).
        policy: policy(key, obs (B, O)) -> action (B, A), padded; it sees decoded observations;
            or an `OpenLoop` of actions (B, H, A).
        horizon: H imagined steps. key: PRNG key. sample: sample the prior (False: its means).

    Returns:
        Imagined(obs (B, H+1, O), action (B, H, A), reward (B, H), latent (B, H+1, Z)).
    """
    context, prefix, obs_mask, act_mask = branch_inputs(model.spec.context_len, context, prefix, masks)
    kf, kr = jax.random.split(key)
    keys = jax.random.split(kf, prefix.obs.shape[0])
    state, fifo = jax.vmap(filter_prefix, (None, 0, 0, 0, 0, 0))(
        model, context, prefix, obs_mask, act_mask, keys
    )
    return rollout(
        model,
        fifo,
        state,
        prefix.obs[:, -1] * obs_mask,
        obs_mask,
        act_mask,
        lambda t, k, o: act_at(policy, t, k, o),
        horizon,
        kr,
        sample,
    )
