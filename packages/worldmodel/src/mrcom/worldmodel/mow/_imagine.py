"""Imagination and evaluation with a MoW, with the semantics of `mrcom.worldmodel.imagine`.

A target scenario is unseen (no id): its VAE module is the one of its mask layout
(`MoW.group_of_masks`), and its expert is selected by likelihood: the m context steps and the
prefix are filtered once per candidate expert (`MoW.candidates`: those allocated to training
scenarios of the same module), each scored by the negative log-likelihood of the real
transitions it saw (the next latent's posterior mode under the prior, and the reward under the
two-hot head), and the best-fitting expert rolls out. Imagined steps are appended to the
Transformer's key/value cache (a sliding window of N = m + seq_len tokens).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._branch import Branch, Imagine, branch_imagine
from .._data import MultiScenarioData
from .._evaluate import evaluate_by_config
from .._seam import Context, Prefix, extend_context, prefix_upto
from .._twohot import twohot_loss
from ..dreamerv3._rssm import unimix_probs
from ._model import Cache, MoW, run_sequence


class Filtered(NamedTuple):
    """The state at the last prefix observation under one expert (one sequence)."""

    cache: Cache  # the Transformer's last N-1 tokens
    z: Array  # (S, K) posterior latent of the last prefix observation
    h: Array  # (D,) output of the token before it (zeros if none)
    prev_reward: Array  # () the reward of the step into it (0 if none)
    nll: Array  # () mean negative log-likelihood of the filtered transitions


def filter_prefix(
    model: MoW,
    context: Context,
    prefix: Prefix,
    obs_mask: Float[Array, " O"],
    act_mask: Float[Array, " A"],
    expert: Array,
    gate: Array,
    key: PRNGKeyArray,
    sample: bool = True,
) -> Filtered:
    """Run the m context steps and the prefix (one sequence) through the model with `expert`.

    Arguments:
        context: the m steps before the prefix (m, .). prefix: obs (W+1, O), action (W, A), reward (W,).
        expert, gate: the expert and its gate (0: backbone only).
        sample: sample the posteriors (False: their modes).
    """
    group = model.group_of_masks(obs_mask, act_mask)
    ext = extend_context(context, prefix)
    obs = jnp.concatenate([ext.obs, prefix.obs[-1:]])  # (m+W+1, O)
    action, reward, valid = ext.action, ext.reward, ext.valid
    seq = run_sequence(
        model, group, expert, gate, obs, action, reward, valid, obs_mask, act_mask, key, sample
    )
    # likelihood of every real transition j -> j+1 (token j valid, observation j+1 real)
    pair = valid * jnp.concatenate([valid[1:], jnp.ones(1, valid.dtype)])
    prior = jax.vmap(model.prior_logits)(seq.h)
    target = jax.nn.one_hot(jnp.argmax(seq.post[1:], -1), model.config.classes)
    logp = jnp.log(unimix_probs(prior, model.config.unimix))
    nll = -jnp.sum(target * logp, axis=(-2, -1))
    nll = nll + twohot_loss(jax.vmap(model.reward_logits)(seq.h), reward, model.bins)
    nll = jnp.sum(nll * pair) / jnp.maximum(jnp.sum(pair), 1.0)
    last = valid[-1]
    return Filtered(seq.cache, seq.z[-1], seq.h[-1] * last, reward[-1] * last, nll)


def select_experts(
    model: MoW,
    context: Context,
    prefix: Prefix,
    obs_mask: Array,
    act_mask: Array,
    key: PRNGKeyArray,
    sample: bool,
) -> tuple[Filtered, Array, Array]:
    """Filter every sequence under every candidate expert and keep the most likely (batched).

    Returns:
        (the chosen expert's `Filtered` (B, ...), expert (B,), gate (B,)).
    """
    e = model.config.num_experts
    batch = prefix.obs.shape[0]
    gate = jnp.any(model.routing.assignment >= 0).astype(jnp.float32)
    experts = jnp.arange(e)
    keys = jax.random.split(key, batch)
    per_expert = jax.vmap(filter_prefix, (None, None, None, None, None, 0, None, None, None))
    per_seq = jax.vmap(per_expert, (None, 0, 0, 0, 0, None, None, 0, None))
    out = per_seq(model, context, prefix, obs_mask, act_mask, experts, gate, keys, sample)  # (B, E, ...)
    groups = jax.vmap(model.group_of_masks)(obs_mask, act_mask)
    allowed = jax.vmap(model.candidates)(groups)  # (B, E)
    choice = jnp.argmin(jnp.where(allowed, out.nll, jnp.inf), axis=1)
    choice = jnp.where(gate > 0, choice, 0)
    rows = jnp.arange(batch)
    chosen = jax.tree.map(lambda x: x[rows, choice], out)
    return chosen, choice, jnp.full(batch, gate)


def prior_at(
    model: MoW,
    context: Context,
    prefix: Prefix,
    masks: tuple[Array, Array],
    t: int,
    key: PRNGKeyArray,
) -> Float[Array, "S K"]:
    """The prior logits p(z_t | h_{t-1}) of prefix step t under teacher forcing (one sequence); with
    `obs_skip`, the flattened logits followed by the decoded prediction of o_t (the prior's mode, decoded
    from o_{t-1}), so that the contract covers the skip path too.

    The expert is selected as for a branch from o_{t-1} (`select_experts` over context + prefix up to
    o_{t-1}); h_{t-1} is the output of the token [z_{t-1}, a_{t-1}, symlog r_{t-2}] over the posterior
    modes of context + prefix.

    Arguments:
        context: the m steps before the prefix (m, .). prefix: obs (W+1, O), action (W, A), reward (W,).
        masks: (obs_mask (O,), act_mask (A,)). t: the prefix step (1 <= t <= W, static).
    """
    one = lambda tree: jax.tree.map(lambda x: x[None], tree)
    before = prefix_upto(prefix, t - 1)
    obs_mask, act_mask = masks
    _, expert, gate = select_experts(
        model, one(context), one(before), obs_mask[None], act_mask[None], key, sample=False
    )
    upto = prefix_upto(prefix, t)
    state = filter_prefix(model, context, upto, obs_mask, act_mask, expert[0], gate[0], key, sample=False)
    prior = model.prior_logits(state.h)  # h of the token of o_{t-1}, the one that predicts z_t
    if not model.config.obs_skip:
        return prior
    group = model.group_of_masks(obs_mask, act_mask)
    decoded = model.decode_obs(group, model.draw(prior, key, sample=False), obs_mask, prefix.obs[t - 1])
    return jnp.concatenate([prior.reshape(-1), decoded])


def _start(model: MoW, context, prefix, obs_mask, act_mask, key, sample) -> Branch:
    """The branch of the most likely expert (`select_experts`) from its state at the last prefix
    observation."""
    flat = lambda z, h: jnp.concatenate([z.reshape(z.shape[0], -1), h], axis=-1)

    def one(cache, z, r_prev, o, a, g, e, gt, om, k):
        tok = model.tokens(z[None], a[None], r_prev[None])[0]
        h, cache = model.dynamics.step(cache, tok, e, gt)
        z_next = model.draw(model.prior_logits(h), k, sample)
        o_next = model.decode_obs(g, z_next, om, o)  # o_t: read only with obs_skip
        return cache, z_next, model.reward(h), o_next, h

    state, expert, gate = select_experts(model, context, prefix, obs_mask, act_mask, key, sample)
    groups = jax.vmap(model.group_of_masks)(obs_mask, act_mask)

    def advance(carry, o, a, kz):
        cache, z, r_prev = carry
        keys = jax.random.split(kz, o.shape[0])
        cache, z, r, o_next, h = jax.vmap(one)(cache, z, r_prev, o, a, groups, expert, gate, obs_mask, keys)
        return (cache, z, r), o_next, r, flat(z, h)

    return Branch((state.cache, state.z, state.prev_reward), flat(state.z, state.h), advance)


imagine: Imagine[MoW] = branch_imagine(
    _start,
    """Branch `horizon` imagined steps from the end of real prefixes under `policy`: the arguments,
    shapes and `Imagined` of `mrcom.worldmodel.imagine`, with what differs here.

    Arguments:
        context: Context(obs (B, m, O), action (B, m, A), reward (B, m), valid (B, m)): the steps
            before the prefix (prompt-filled at episode starts); empty slots (valid 0) are masked.
        masks: (obs_mask (B, O), act_mask (B, A)): they pick the VAE module.
        sample: sample the posteriors and priors (False: their modes, the argmax class of every
            categorical; observations and rewards are always the decoder mean and the two-hot mean).

    Returns:
        Imagined(obs[:, 0] the masked real start,
        reward (B, H) (reward[:, t] of (o_t, a_t), read at h_t), latent (B, H+1, Z) =
        concat(flattened z_t, the Transformer output that predicted it; latent[:, 0]: the posterior).
    """,
)

_open_loop_errors = evaluate_by_config(imagine)


def evaluate(
    model: MoW,
    data: MultiScenarioData,
    key: PRNGKeyArray,
    *,
    num_windows: int | None = None,
    burn_in: int | None = None,
) -> dict[str, float]:
    """`open_loop_errors` of MoW's `imagine` on `data` (experts selected by likelihood, as for any
    unseen scenario) and "experts_allocated": how many experts the clustering gave a scenario.

    Arguments:
        num_windows, burn_in: default the config's `eval_windows` and `eval_burn_in`.
    """
    result = _open_loop_errors(model, data, key, num_windows=num_windows, burn_in=burn_in)
    assignment = jax.device_get(model.routing.assignment)
    result["experts_allocated"] = float(len({int(e) for e in assignment if e >= 0}))
    return result
