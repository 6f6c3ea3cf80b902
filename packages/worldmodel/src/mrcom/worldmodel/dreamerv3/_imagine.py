"""Imagination and evaluation with the semantics of `mrcom.worldmodel.imagine`.

The m context steps and the prefix are one posterior filter: the context only burns in the
recurrent state (its empty slots, valid = 0, are skipped), and the branch starts from the
posterior state of the last prefix observation. DreamerV3 gets nothing else from the context, except
with `reward_input`: then step j of the filter reads r_{j-2} (as MAMBA's), the branch carries r_{t-1},
the real reward into o_t, into its first step, and each imagined step's reward into the step after next.
With `obs_skip` every imagined observation is decoded from the one before it (the real o_t first).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._branch import Branch, Imagine, branch_imagine, per_sequence
from .._evaluate import evaluate_by_config
from .._harness import lag_rewards, previous_inputs
from .._seam import Context, Prefix
from ._model import Dreamer, SymlogVectorModel, sequence_inputs
from ._rssm import State


def filter_prefix(
    model: Dreamer,
    context: Context,
    prefix: Prefix,
    obs_mask: Float[Array, " O"],
    act_mask: Float[Array, " A"],
    key: PRNGKeyArray,
    sample: bool = True,
) -> State:
    """The posterior state at the last prefix observation (one sequence).

    Arguments:
        context: the m steps before the prefix (m, .). prefix: obs (W+1, O), action (W, A), reward (W,).
        sample: sample the posterior (False: its mode).
    """
    states, _, _ = _observe(model, context, prefix, obs_mask, act_mask, key, sample)
    return jax.tree.map(lambda x: x[-1], states)


def _observe(model: Dreamer, context, prefix, obs_mask, act_mask, key, sample) -> tuple[State, Array, Array]:
    """`RSSM.observe` over context + prefix: (states, posterior logits, prior logits) (m+W+1, ...)."""
    obs, prev, valid, lag_r = filter_inputs(context, prefix, act_mask)
    embeds = jax.vmap(model.embed, (0, None))(obs, obs_mask)
    extras = model.extra(lag_r)
    return model.rssm.observe(model.rssm.initial(), prev, embeds, key, extras, valid, sample=sample)


def filter_inputs(
    context: Context, prefix: Prefix, act_mask: Float[Array, " A"]
) -> tuple[Float[Array, "N O"], Float[Array, "N A"], Float[Array, " N"], Float[Array, " N"]]:
    """The inputs of DreamerV3's and MAMBA's filter over context + prefix (one sequence, N = m+W+1):
    (obs, previous action, valid, lagged reward: r_{j-2} at step j, see `lag_rewards`)."""
    obs, prev, valid = sequence_inputs(
        context.obs, context.action, context.valid, prefix.obs, prefix.action, act_mask
    )
    return obs, prev, valid, lag_rewards(_rewards(context, prefix), obs.shape[0])


def _rewards(context: Context, prefix: Prefix) -> Array:
    """r_j of o_j -> o_{j+1} over context + prefix (0 in empty context slots)."""
    return jnp.concatenate([context.reward * context.valid, prefix.reward])


def reward_into_last(context: Context, prefix: Prefix) -> Float[Array, ""]:
    """r_{t-1}, the reward into the last prefix observation o_t (0 if none; one sequence)."""
    return jnp.concatenate([jnp.zeros(1), _rewards(context, prefix)])[-1]


def prior_at(
    model: Dreamer,
    context: Context,
    prefix: Prefix,
    masks: tuple[Array, Array],
    t: int,
    key: PRNGKeyArray,
) -> Float[Array, "S K"]:
    """The prior logits p(z_t | h_t) of prefix step t under teacher forcing (one sequence):
    h_t = GRU(h_{t-1}, z_{t-1}, a_{t-1}) from the posterior modes of the steps before t (and r_{t-2} with
    `reward_input`). With `obs_skip`, the flattened logits followed by the decoded prediction of o_t
    (the prior's mode, decoded from x_{t-1}), so that the contract covers the skip path too.

    Arguments:
        context: the m steps before the prefix (m, .). prefix: obs (W+1, O), action (W, A), reward (W,).
        masks: (obs_mask (O,), act_mask (A,)). t: the prefix step (1 <= t <= W, static).
    """
    states, _, prior = _observe(model, context, prefix, *masks, key, sample=False)
    return prior_of_filter(model, context, prefix, masks[0], states, prior, t, key)


def prior_of_filter(model: SymlogVectorModel, context, prefix, obs_mask, states, prior, t: int, key) -> Array:
    """`prior_at` of DreamerV3 and MAMBA (one sequence) from their teacher-forced filter over
    context + prefix.

    Arguments:
        context, prefix, obs_mask, t, key: those of `prior_at`.
        states, prior: the filter's states and prior logits (m+W+1, ...).

    Returns:
        the prior logits of prefix step t (S, K); with `obs_skip`, flattened and followed by the
        decoded prediction of o_t (the prior's mode, decoded from x_{t-1}).
    """
    j = context.obs.shape[0] + t
    if not model.config.obs_skip:
        return prior[j]
    obs = jnp.concatenate([context.obs, prefix.obs])
    valid = jnp.concatenate([context.valid, jnp.ones(prefix.obs.shape[0], context.valid.dtype)])
    x_prev = previous_inputs(model.obs_norm, obs, valid, obs_mask)[j]
    feat = State(states.deter[j], model.rssm.draw(prior[j], key, sample=False)).feat()
    return jnp.concatenate([prior[j].reshape(-1), model.decode(feat, obs_mask, x_prev)])


def _start(model: Dreamer, context, prefix, obs_mask, act_mask, key, sample) -> Branch:
    """The branch from the posterior at the last prefix observation, carrying r_{t-1}."""
    img_step = jax.vmap(lambda s, a, r, k: model.rssm.img_step(s, a, k, model.extra(r), sample)[0])
    filter_one = partial(filter_prefix, model, sample=sample)
    state = per_sequence(filter_one, context, prefix, obs_mask, act_mask, key)
    r_in = jax.vmap(reward_into_last)(context, prefix)

    def advance(carry, o, a, ks):
        s, r_prev = carry  # r_prev: the reward into o, the reward input of the step after o
        new = img_step(s, a, r_prev, jax.random.split(ks, o.shape[0]))
        feat = new.feat()
        o_next = jax.vmap(model.decode_obs)(feat, obs_mask, o)
        r = jax.vmap(model.reward)(feat)
        return (new, r), o_next, r, feat

    return Branch((state, r_in), state.feat(), advance)


imagine: Imagine[Dreamer] = branch_imagine(
    _start,
    """Branch `horizon` imagined steps from the end of real prefixes under `policy`: the arguments,
    shapes and `Imagined` of `mrcom.worldmodel.imagine`, with what differs here.

    Arguments:
        context: Context(obs (B, m, O), action (B, m, A), reward (B, m), valid (B, m)): the steps
            before the prefix (only a burn-in of the recurrent state; rewards are not read).
        sample: sample the posterior and the prior (False: their modes, the argmax class of every
            categorical; observations and rewards are always the decoder mean and the two-hot mean).

    Returns:
        Imagined(obs[:, 0] the masked real start,
        reward (B, H) (reward[:, t] of (o_t, a_t) -> o_{t+1}, read at s_{t+1}),
        latent (B, H+1, Z) = concat(deter, flattened stoch), latent[:, 0] the posterior).
    """,
)

evaluate = evaluate_by_config(imagine)
