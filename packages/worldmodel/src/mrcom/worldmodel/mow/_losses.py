"""MoW's world-model losses (DreamerV3's, which STORM-style Transformer world models keep) and the
loss of a batch.

    L = pred_scale * (L_recon + L_reward) + dyn_scale * L_dyn + rep_scale * L_rep
    L_dyn = max(free_nats, KL(sg(q(z_{t+1} | o_{t+1})) || p(z_{t+1} | h_t)))
    L_rep = max(free_nats, KL(q(z_{t+1} | o_{t+1}) || sg(p(z_{t+1} | h_t))))

The m context tokens are history only: losses cover the window's T+1 observations (the first is
predicted from the last context token) and T rewards. Each term is a mean over batch and steps.
With `lambda_pred` > 0, L_pred: a straight-through sample of p(z_{t+1} | h_t) decoded (from x_t with
`obs_skip`) against o_{t+1}, weighted `lambda_pred` (DreamerV3's `weighted_loss`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from .._data import Batch
from .._harness import previous_inputs
from ..dreamerv3._losses import kl_losses, recon_loss, weighted_loss, window_terms
from ._model import MoW, run_sequence

TERMS = ("loss", "recon", "reward", "dyn", "rep", "kl", "prediction")  # "prediction": lambda_pred > 0 only


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
    all_obs = jnp.concatenate([ctx.obs[:m], obs])
    valid = jnp.concatenate([ctx.valid[:m], jnp.ones(action.shape[0], ctx.valid.dtype)])
    seq = run_sequence(
        model,
        group,
        expert,
        gate,
        all_obs,
        jnp.concatenate([ctx.action[:m], action]),
        jnp.concatenate([ctx.reward[:m], reward]),
        valid,
        obs_mask,
        act_mask,
        key,
    )
    prior = jax.vmap(model.prior_logits)(seq.h[m - 1 :])  # h_{t} predicts z_{t+1}: T+1 predictions
    dyn, rep, kl = kl_losses(seq.post[m:], prior, free_nats=free_nats, unimix=c.unimix)
    obs_valid = jnp.concatenate([valid, jnp.ones(1, valid.dtype)])  # the window's last observation is real
    x_prev = previous_inputs(model.obs_norm, all_obs, obs_valid, obs_mask)[m:]  # x_{t-1}, never o_t
    pred = jax.vmap(model.decode, (None, 0, None, 0))(group, seq.z[m:], obs_mask, x_prev)
    logits = jax.vmap(model.reward_logits)(seq.h[m:])
    terms = window_terms(pred, obs, obs_mask, logits, reward, model.bins, (dyn, rep, kl), model.obs_norm)
    if c.lambda_pred > 0:
        # the prior's own latent of each window step (from the tokens before it), decoded, against o_t
        z = jax.vmap(model.draw)(prior, jax.random.split(jax.random.fold_in(key, 1), prior.shape[0]))
        predicted = jax.vmap(model.decode, (None, 0, None, 0))(group, z, obs_mask, x_prev)
        terms["prediction"] = jnp.mean(recon_loss(predicted, obs, obs_mask, model.obs_norm))
    return terms


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
