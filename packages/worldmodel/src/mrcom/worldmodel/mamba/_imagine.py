"""Imagination and evaluation with the semantics of `mrcom.worldmodel.imagine`.

MAMBA's recurrent state is its task belief, so the m context steps and the prefix are one
posterior filter from the initial state, as a training meta-episode is: the context may span an
episode boundary (a prompt tail, then the target's current episode), the previous rewards are
read from it (lagged: step j reads r_{j-2}, see `_model.py`), and the time input counts the real
steps filtered so far (empty context slots, valid = 0, are skipped and do not count). The branch
starts from the posterior state of the last prefix observation o_t and keeps counting time; it
carries r_{t-1}, the real reward into o_t, as the reward input of its first step; every imagined
step predicts r_t from (s_t, a_t) and carries it as the reward input of the step after.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._branch import Branch, Imagine, branch_imagine, per_sequence
from .._evaluate import evaluate_by_config
from .._seam import Context, Prefix
from ..dreamerv3 import State
from ..dreamerv3._imagine import filter_inputs, prior_of_filter, reward_into_last
from ._model import Mamba


def filter_prefix(
    model: Mamba,
    context: Context,
    prefix: Prefix,
    obs_mask: Float[Array, " O"],
    act_mask: Float[Array, " A"],
    key: PRNGKeyArray,
    sample: bool = True,
) -> tuple[State, Array, Array]:
    """The posterior state at the last prefix observation, its time index and the reward into it
    (one sequence).

    Arguments:
        context: the m steps before the prefix (m, .). prefix: obs (W+1, O), action (W, A), reward (W,).
        sample: sample the posterior (False: its mode).

    Returns:
        (state, j, r): j = the real steps filtered before the last observation (its time index);
        r = the reward of the transition into it (0 if none), the reward input of the next step.
    """
    states, _, _, index = _filter(model, context, prefix, obs_mask, act_mask, key, sample)
    return jax.tree.map(lambda x: x[-1], states), index[-1], reward_into_last(context, prefix)


def _filter(
    model: Mamba, context, prefix, obs_mask, act_mask, key, sample
) -> tuple[State, Array, Array, Array]:
    """`Mamba.filter` over context + prefix: (states, posterior logits, prior logits, time index)."""
    obs, prev_a, valid, lag_r = filter_inputs(context, prefix, act_mask)
    index = jnp.maximum(jnp.cumsum(valid) - 1.0, 0.0)
    out = model.filter(obs, prev_a, lag_r, index, obs_mask, key, valid=valid, sample=sample)
    return (*out, index)


def prior_at(
    model: Mamba,
    context: Context,
    prefix: Prefix,
    masks: tuple[Array, Array],
    t: int,
    key: PRNGKeyArray,
) -> Float[Array, "S K"]:
    """The prior logits p(z_t | h_t) of prefix step t under teacher forcing (one sequence), from the
    posterior modes of the steps before t. With `obs_skip`, the flattened logits followed by the
    decoded prediction of o_t (the prior's mode, decoded from x_{t-1}), as DreamerV3's `prior_at`.

    Arguments:
        context: the m steps before the prefix (m, .). prefix: obs (W+1, O), action (W, A), reward (W,).
        masks: (obs_mask (O,), act_mask (A,)). t: the prefix step (1 <= t <= W, static).
    """
    states, _, prior, _ = _filter(model, context, prefix, *masks, key, sample=False)
    return prior_of_filter(model, context, prefix, masks[0], states, prior, t, key)


def _start(model: Mamba, context, prefix, obs_mask, act_mask, key, sample) -> Branch:
    """The branch from the posterior at the last prefix observation, counting time from its index
    and carrying r_{t-1}."""

    def one(s, a, r, j, k):
        return model.rssm.img_step(s, a, k, extra=model.extra(r, j), sample=sample)[0]

    filter_one = partial(filter_prefix, model, sample=sample)
    state, index, r_in = per_sequence(filter_one, context, prefix, obs_mask, act_mask, key)

    def advance(carry, o, a, ks):
        s, j, r_prev = carry  # r_prev = r_{t-1}, the reward into o_t: the input of step t + 1
        r = jax.vmap(model.reward)(s.feat(), a)
        new = jax.vmap(one)(s, a, r_prev, j + 1.0, jax.random.split(ks, o.shape[0]))
        feat = new.feat()
        o_next = jax.vmap(model.decode_obs)(feat, obs_mask, o)
        return (new, j + 1.0, r), o_next, r, feat

    return Branch((state, index, r_in), state.feat(), advance)


imagine: Imagine[Mamba] = branch_imagine(
    _start,
    """Branch `horizon` imagined steps from the end of real prefixes under `policy`: the arguments,
    shapes and `Imagined` of `mrcom.worldmodel.imagine`, with what differs here.

    Arguments:
        context: Context(obs (B, m, O), action (B, m, A), reward (B, m), valid (B, m)): the real
            steps before the prefix, filtered with it (rewards included).
        sample: sample the posterior and the prior (False: their modes; observations and rewards
            are always the decoder mean and the two-hot mean).

    Returns:
        Imagined(obs[:, 0] the masked real start, reward (B, H) (reward[:, t] = R(s_t, a_t), the
        reward input of step t + 2), latent (B, H+1, Z) = concat(deter, flattened stoch),
        latent[:, 0] the posterior).
    """,
)

evaluate = evaluate_by_config(imagine)
