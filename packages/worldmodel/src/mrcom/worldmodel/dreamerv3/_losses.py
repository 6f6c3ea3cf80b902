"""DreamerV3's world-model losses (2023 paper, eqs. 5-6) and the loss of a batch.

    L = pred_scale * (L_recon + L_reward) + dyn_scale * L_dyn + rep_scale * L_rep [+ lambda_pred * L_pred]
    L_dyn = max(free_nats, KL(sg(q) || p)),  L_rep = max(free_nats, KL(q || sg(p)))  (per step)

Each term is the mean over batch and time steps; the reconstruction sums over the real dims, in the
space of `obs_transform` (symlog by default). L_pred (`HarnessConfig.lambda_pred` > 0 only): the same
squared error of the decoded PRIOR latent (a straight-through sample of p(z_t | h_t)) against o_t.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._data import Batch
from .._harness import ObsNorm, lag_rewards, previous_inputs, transform
from .._twohot import twohot_loss
from ._model import Dreamer, sequence_inputs
from ._rssm import State, categorical_kl

sg = jax.lax.stop_gradient

TERMS = ("loss", "recon", "reward", "dyn", "rep", "kl", "prediction")  # "prediction": lambda_pred > 0 only


def kl_losses(
    post_logits: Float[Array, "*batch S K"],
    prior_logits: Float[Array, "*batch S K"],
    *,
    free_nats: float = 1.0,
    unimix: float = 0.01,
) -> tuple[Array, Array, Array]:
    """The dynamics and representation losses per step, and the raw KL(q || p) per step.

    dyn = max(free_nats, KL(sg(q) || p)) trains the prior only; rep = max(free_nats, KL(q || sg(p)))
    trains the posterior only. Below `free_nats` a term is constant (no gradient).
    """
    dyn = categorical_kl(sg(post_logits), prior_logits, unimix)
    rep = categorical_kl(post_logits, sg(prior_logits), unimix)
    kl = categorical_kl(sg(post_logits), sg(prior_logits), unimix)
    return jnp.maximum(dyn, free_nats), jnp.maximum(rep, free_nats), kl


def recon_loss(
    pred: Float[Array, "*batch O"],
    obs: Float[Array, "*batch O"],
    obs_mask: Array,
    norm: ObsNorm | None = None,
) -> Array:
    """Squared error of the decoded x = transform(o) (symlog for `norm` None, the model's `obs_norm`
    otherwise) summed over the real dims (padded dims never count), per element."""
    return jnp.sum(((pred - transform(norm, obs)) * obs_mask) ** 2, axis=-1)


def sequence_terms(
    model: Dreamer,
    ctx,
    obs: Float[Array, "T1 O"],
    action: Float[Array, "T A"],
    reward: Float[Array, " T"],
    obs_mask: Float[Array, " O"],
    act_mask: Float[Array, " A"],
    key: PRNGKeyArray,
    unroll: int | bool = 1,
) -> dict[str, Array]:
    """Loss terms of one window (means over its steps).

    The m context steps (ctx[:m]) only burn in the recurrent state: the posterior is filtered over
    them, the resulting state is stop-gradient, and no loss is taken on them. Losses cover the
    window's T+1 observations and T rewards.
    """
    c = model.config
    m = c.context_len
    kb, kw = jax.random.split(key)
    seq_obs, prev, valid = sequence_inputs(ctx.obs[:m], ctx.action[:m], ctx.valid[:m], obs, action, act_mask)
    embeds = jax.vmap(model.embed, (0, None))(seq_obs, obs_mask)
    extras = model.extra(
        lag_rewards(jnp.concatenate([ctx.reward[:m] * ctx.valid[:m], reward]), m + obs.shape[0])
    )
    ex = (None, None) if extras is None else (extras[:m], extras[m:])
    rssm = model.rssm
    burn, _, _ = rssm.observe(rssm.initial(), prev[:m], embeds[:m], kb, ex[0], valid[:m], unroll=unroll)
    start = jax.tree.map(lambda x: sg(x[-1]), burn)
    states, post, prior = rssm.observe(start, prev[m:], embeds[m:], kw, ex[1], unroll=unroll)
    feat = states.feat()  # (T+1, Z)
    dyn, rep, kl = kl_losses(post, prior, free_nats=c.free_nats, unimix=c.unimix)
    x_prev = previous_inputs(model.obs_norm, seq_obs, valid, obs_mask)[m:]  # x_{t-1}, never o_t
    pred = jax.vmap(model.decode, (0, None, 0))(feat, obs_mask, x_prev)
    logits = jax.vmap(model.reward_logits)(feat[1:])  # s_{t+1} predicts r_t
    terms = window_terms(pred, obs, obs_mask, logits, reward, model.bins, (dyn, rep, kl), model.obs_norm)
    if c.lambda_pred > 0:
        # the prior's own latent of each step (from the state before o_t), decoded, against o_t
        z = rssm.draw(prior, jax.random.fold_in(key, 1))
        predicted = jax.vmap(model.decode, (0, None, 0))(State(states.deter, z).feat(), obs_mask, x_prev)
        terms["prediction"] = jnp.mean(recon_loss(predicted, obs, obs_mask, model.obs_norm))
    return terms


def window_terms(
    pred: Float[Array, "T1 O"],
    obs: Float[Array, "T1 O"],
    obs_mask: Float[Array, " O"],
    reward_logits: Float[Array, "T K"],
    reward: Float[Array, " T"],
    bins: Float[Array, " K"],
    kls: tuple[Array, Array, Array],
    norm: ObsNorm | None = None,
) -> dict[str, Array]:
    """The loss terms of one window, means over its steps (DreamerV3, MoW).

    Arguments:
        pred: the decoded transformed observations of `obs` (symlog, or `norm`'s standardization).
        reward_logits: the two-hot logits of `reward` over `bins`. kls: (dyn, rep, kl) of `kl_losses`.

    Returns:
        "recon", "reward", "dyn", "rep", "kl".
    """
    dyn, rep, kl = kls
    return {
        "recon": jnp.mean(recon_loss(pred, obs, obs_mask, norm)),
        "reward": jnp.mean(twohot_loss(reward_logits, reward, bins)),
        "dyn": jnp.mean(dyn),
        "rep": jnp.mean(rep),
        "kl": jnp.mean(kl),
    }


def weighted_loss(config, terms: dict[str, Array]) -> tuple[Array, dict[str, Array]]:
    """DreamerV3's total loss (2023 paper, eq. 5) of per-sequence `terms` (recon, reward, dyn,
    rep, ...; DreamerV3, MAMBA, MoW).

    Returns:
        (pred_scale (recon + reward) + dyn_scale dyn + rep_scale rep of the batch means, plus
        lambda_pred prediction when `lambda_pred` > 0 (at 0 the loss is exactly the one without it),
        the batch means of all the terms).
    """
    c = config
    terms = {k: jnp.mean(v) for k, v in terms.items()}
    loss = (
        c.pred_scale * (terms["recon"] + terms["reward"])
        + c.dyn_scale * terms["dyn"]
        + c.rep_scale * terms["rep"]
    )
    if c.lambda_pred > 0:
        loss = loss + c.lambda_pred * terms["prediction"]
    return loss, terms


def compute_loss(
    model: Dreamer, batch: Batch, key: PRNGKeyArray, unroll: int | bool = 1
) -> tuple[Array, dict[str, Array]]:
    """Total world-model loss of a batch of windows and its named terms (`TERMS` without "loss")."""
    c = model.config
    keys = jax.random.split(key, batch.obs.shape[0])
    terms = jax.vmap(sequence_terms, (None, 0, 0, 0, 0, 0, 0, 0, None))(
        model, batch.ctx, batch.obs, batch.action, batch.reward, batch.obs_mask, batch.act_mask, keys, unroll
    )
    return weighted_loss(c, terms)
