"""MoW's world-model losses (DreamerV3's, which STORM-style Transformer world models keep) and the
loss of a batch.

    L = pred_scale * (L_recon + L_reward) + dyn_scale * L_dyn + rep_scale * L_rep
    L_dyn = max(free_nats, KL(sg(q(z_{t+1} | o_{t+1})) || p(z_{t+1} | h_t)))
    L_rep = max(free_nats, KL(q(z_{t+1} | o_{t+1}) || sg(p(z_{t+1} | h_t))))

The m context tokens are history only: losses cover the window's T+1 observations (the first is
predicted from the last context token) and T rewards. Each term is a mean over batch and steps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from .._data import Batch
from ..dreamerv3._losses import kl_losses, weighted_loss, window_terms
from ._model import MoW, run_sequence

TERMS = ("loss", "recon", "reward", "dyn", "rep", "kl")


def sequence_terms(
    model: MoW,
    ctx,
    obs: Array,
    action: Array,
    reward: Array,
    scenario_id: Array,
    obs_mask: Array,
    act_mask: Array,
    key: PRNGKeyArray,
    free_nats: float | None = None,
) -> dict[str, Array]:
    """Loss terms of one window of a training scenario (its VAE module and expert by its id).

    `free_nats` overrides the config's (the task clustering uses 0: no floor).
    """
    c = model.config
    free_nats = c.free_nats if free_nats is None else free_nats
    m = c.context_len
    group = model.routing.group_of[scenario_id]
    expert, gate = model.expert_of(scenario_id)
    seq = run_sequence(
        model,
        group,
        expert,
        gate,
        jnp.concatenate([ctx.obs[:m], obs]),
        jnp.concatenate([ctx.action[:m], action]),
        jnp.concatenate([ctx.reward[:m], reward]),
        jnp.concatenate([ctx.valid[:m], jnp.ones(action.shape[0], ctx.valid.dtype)]),
        obs_mask,
        act_mask,
        key,
    )
    prior = jax.vmap(model.prior_logits)(seq.h[m - 1 :])  # h_{t} predicts z_{t+1}: T+1 predictions
    dyn, rep, kl = kl_losses(seq.post[m:], prior, free_nats=free_nats, unimix=c.unimix)
    pred = jax.vmap(model.decode, (None, 0, None))(group, seq.z[m:], obs_mask)
    logits = jax.vmap(model.reward_logits)(seq.h[m:])
    return window_terms(pred, obs, obs_mask, logits, reward, model.bins, (dyn, rep, kl))


def compute_loss(
    model: MoW, batch: Batch, key: PRNGKeyArray, free_nats: float | None = None
) -> tuple[Array, dict[str, Array]]:
    """Total world-model loss of a batch of windows and its named terms (`TERMS` without "loss").

    `free_nats`: None = the config's.
    """
    c = model.config
    keys = jax.random.split(key, batch.obs.shape[0])
    terms = jax.vmap(sequence_terms, (None, 0, 0, 0, 0, 0, 0, 0, 0, None))(
        model,
        batch.ctx,
        batch.obs,
        batch.action,
        batch.reward,
        batch.scenario_id,
        batch.obs_mask,
        batch.act_mask,
        keys,
        free_nats,
    )
    return weighted_loss(c, terms)
