"""Imagination: filter the posterior over a real prefix, then roll the prior forward.

Generated steps (o, a, r) are pushed into the FIFO context exactly as real steps would be, so the
model keeps conditioning on the last m steps of the branch (eq. 4).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._branch import Branch, Imagine, branch_imagine, per_sequence, roll_branch
from .._seam import Context, Imagined, Prefix, extend_context, push
from ._model import Latent, MrCoM, observe, prior_step, split_latent


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
    ext = extend_context(context, prefix)
    seq = observe(model, ext, prefix.obs, prefix.action, obs_mask, act_mask, key)
    return split_latent(model, seq.latent[-1]), Context(*(x[w : w + m] for x in ext))


def prior_at(
    model: MrCoM,
    context: Context,
    prefix: Prefix,
    masks: tuple[Array, Array],
    t: int,
    key: PRNGKeyArray,
) -> Float[Array, " P"]:
    """The prior over the latent of prefix step t under teacher forcing (one sequence).

    p(u_t | e_t, d_{t-1}, a_{t-1}, o_{t-1}) and p(h_t | e_t, h_{t-1}) of `observe` over context +
    prefix: e_t encodes steps t-m .. t-1 (their rewards lagged, so not r_{t-1}), d_{t-1} and h_{t-1}
    come from the posterior of the steps before t (drawn with `key`).

    Arguments:
        context: the m steps before the prefix (m, .). prefix: obs (W+1, O), action (W, A), reward (W,).
        masks: (obs_mask (O,), act_mask (A,)). t: the prefix step (1 <= t <= W, static).

    Returns:
        concat(mean, std of the u prior, mean, std of the h prior) (2 u_dim + 2 h_dim,).
    """
    obs_mask, act_mask = masks
    seq = observe(model, extend_context(context, prefix), prefix.obs, prefix.action, obs_mask, act_mask, key)
    u, h = seq.prior_u, seq.prior_h
    return jnp.concatenate([u.mean[t], u.std[t], h.mean[t], h.std[t]])


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
    branch = _branch(model, fifo, state, obs_mask, act_mask, sample)
    return roll_branch(branch, obs, act, act_mask, horizon, key)


def _branch(
    model: MrCoM, fifo: Context, state: Latent, obs_mask: Array, act_mask: Array, sample: bool
) -> Branch:
    """The prior rollout from batched latents `state` with FIFO contexts `fifo` (see `rollout`)."""
    over_b = lambda f, *axes: jax.vmap(f, axes)

    def advance(carry, o, a, km):
        state, fifo = carry
        e = over_b(model.embed_context, 0, 0, 0)(fifo, obs_mask, act_mask)
        r = over_b(model.reward, 0, 0, 0, 0, 0, 0)(state.concat(), o, a, obs_mask, act_mask, e)
        fifo = over_b(push, 0, 0, 0, 0)(fifo, o, a, r)
        new, o_next = over_b(lambda *x: prior_step(model, *x, sample=sample), 0, 0, 0, 0, 0, 0)(
            fifo, state, a, obs_mask, act_mask, jax.random.split(km, o.shape[0])
        )
        return (new, fifo), o_next, r, new.concat()

    return Branch((state, fifo), state.concat(), advance)


def _start(model: MrCoM, context, prefix, obs_mask, act_mask, key, sample) -> Branch:
    """The prior rollout from the posterior latent and FIFO context at the last prefix observation."""
    filter_one = lambda *x: filter_prefix(model, *x)
    state, fifo = per_sequence(filter_one, context, prefix, obs_mask, act_mask, key)
    return _branch(model, fifo, state, obs_mask, act_mask, sample)


imagine: Imagine[MrCoM] = branch_imagine(
    _start,
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
    """,
)
