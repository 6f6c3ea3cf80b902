"""MAMBA's world-model loss: DreamerV3's terms on a subsample of a meta-episode's time steps.

    L = pred_scale * (L_recon + L_reward) + dyn_scale * L_dyn + rep_scale * L_rep

The posterior is filtered over the first n transitions of each meta-episode (the bucket of the
chunk); the terms are means over `loss_steps` positions drawn uniformly from 0 .. length, where
length <= n is the curriculum's length at this step. Position j contributes its reconstruction,
its two KL terms, (for j < length) the reward r_j of (s_j, a_j) and, with `lambda_pred` > 0, the
prediction term (the decoded prior latent of step j against o_j, DreamerV3's).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Int, PRNGKeyArray

from .._harness import previous_inputs
from .._twohot import twohot_loss
from ..dreamerv3 import State, kl_losses, recon_loss, weighted_loss
from ._data import MetaBatch, subsample_steps
from ._model import Mamba, meta_inputs

TERMS = ("loss", "recon", "reward", "dyn", "rep", "kl", "length", "prediction")  # prediction: lambda_pred > 0


def sequence_terms(
    model: Mamba, seq: MetaBatch, length: Int[Array, ""], key: PRNGKeyArray, unroll: int | bool = 1
) -> dict[str, Array]:
    """Loss terms of one meta-episode sequence (weighted means over its subsampled positions)."""
    c = model.config
    kf, ks = jax.random.split(key)
    n1 = seq.obs.shape[0]
    prev_a, lag_r, index = meta_inputs(seq.obs, seq.action, seq.reward, seq.act_mask)
    states, post, prior = model.filter(seq.obs, prev_a, lag_r, index, seq.obs_mask, kf, unroll=unroll)
    idx, w = subsample_steps(ks, length, n1, c.loss_steps)
    feat = states.feat()[idx]  # (N, Z)
    dyn, rep, kl = kl_losses(post[idx], prior[idx], free_nats=c.free_nats, unimix=c.unimix)
    valid = jnp.ones(n1, seq.obs.dtype)  # a meta-episode sequence has no empty slots
    x_prev = previous_inputs(model.obs_norm, seq.obs, valid, seq.obs_mask)[idx]  # x_{j-1}, never o_j
    pred = jax.vmap(model.decode, (0, None, 0))(feat, seq.obs_mask, x_prev)
    recon = recon_loss(pred, seq.obs[idx], seq.obs_mask, model.obs_norm)
    # the reward of (s_j, a_j): position j < length has one (the last observation has no action)
    has_r = w * (idx < length)
    j = jnp.minimum(idx, n1 - 2)
    logits = jax.vmap(model.reward_logits)(feat, seq.action[j] * seq.act_mask)
    reward = twohot_loss(logits, seq.reward[j], model.bins)
    mean = lambda x, wt: jnp.sum(x * wt) / jnp.maximum(jnp.sum(wt), 1.0)
    terms = {
        "recon": mean(recon, w),
        "reward": mean(reward, has_r),
        "dyn": mean(dyn, w),
        "rep": mean(rep, w),
        "kl": mean(kl, w),
    }
    if c.lambda_pred > 0:
        # the prior's own latent of step j (from the state before o_j), decoded, against o_j
        z = model.rssm.draw(prior[idx], jax.random.fold_in(key, 1))
        predicted = jax.vmap(model.decode, (0, None, 0))(
            State(states.deter[idx], z).feat(), seq.obs_mask, x_prev
        )
        terms["prediction"] = mean(recon_loss(predicted, seq.obs[idx], seq.obs_mask, model.obs_norm), w)
    return terms


def compute_loss(
    model: Mamba, batch: MetaBatch, length: Int[Array, ""], key: PRNGKeyArray, unroll: int | bool = 1
) -> tuple[Array, dict[str, Array]]:
    """Total loss of a batch of meta-episode sequences at curriculum length `length` and its terms
    (`TERMS` without "loss" and "length")."""
    c = model.config
    keys = jax.random.split(key, batch.obs.shape[0])
    terms = jax.vmap(sequence_terms, (None, 0, None, 0, None))(model, batch, length, keys, unroll)
    return weighted_loss(c, terms)
