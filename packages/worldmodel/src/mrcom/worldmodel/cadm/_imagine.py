"""Imagination and evaluation with a CaDM, with the semantics of `mrcom.worldmodel.imagine`.

The K-transition history of every imagined step is the last K real or imagined transitions: it
starts as the last K transitions of context + prefix and slides (FIFO) through the imagined steps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._branch import Branch, Imagine, branch_imagine
from .._evaluate import evaluate_by_config
from .._seam import Context, Prefix, extend_context, prefix_upto
from ._model import CaDM, History, contexts_of, predict, push_history


def branch_history(model: CaDM, context: Context, prefix: Prefix) -> History:
    """The last K transitions of context + prefix (B, K, .), those that end at the last prefix obs.

    The transition of context slot j ends at the next slot's observation (the first prefix
    observation for the newest slot).
    """
    k, w = model.config.context_len, prefix.action.shape[1]
    ext = jax.vmap(extend_context)(context, prefix)
    obs = jnp.concatenate([ext.obs, prefix.obs[:, -1:]], axis=1)  # (B, K+W+1, O)
    cut = lambda x, lo: x[:, lo + w : lo + w + k]
    return History(cut(obs, 0), cut(ext.action, 0), cut(ext.reward, 0), cut(obs, 1), cut(ext.valid, 0))


def prior_at(
    model: CaDM,
    context: Context,
    prefix: Prefix,
    masks: tuple[Array, Array],
    t: int,
    key: PRNGKeyArray,
) -> Float[Array, " O"]:
    """The predicted o_t of prefix step t under teacher forcing (one sequence): the ensemble mean of
    `predict` from o_{t-1}, a_{t-1} and the context of the K transitions that end at o_{t-1}
    (the last is (o_{t-2}, a_{t-2}, r_{t-2}, o_{t-1})). Deterministic (`key` unused).

    Arguments:
        context: the K steps before the prefix (K, .). prefix: obs (W+1, O), action (W, A), reward (W,).
        masks: (obs_mask (O,), act_mask (A,)). t: the prefix step (1 <= t <= W, static).
    """
    one = lambda tree: jax.tree.map(lambda x: x[None], tree)
    before = prefix_upto(prefix, t - 1)
    history = branch_history(model, one(context), one(before))
    obs_mask, act_mask = one(masks)
    next_obs, _ = predict(model, history, prefix.obs[t - 1 : t], prefix.action[t - 1 : t], obs_mask, act_mask)
    return next_obs[0]


def _latent(ctx: Array, obs: Array) -> Array:
    """(E, B, Z) contexts and (B, O) obs -> (B, E Z + O)."""
    flat = jnp.moveaxis(ctx, 0, 1).reshape(obs.shape[0], -1)
    return jnp.concatenate([flat, obs], axis=-1)


def _start(model: CaDM, context, prefix, obs_mask, act_mask, key, sample) -> Branch:
    """The branch from the last K transitions of context + prefix (`key` unused: nothing is drawn)."""
    c = model.config
    batch, e = prefix.obs.shape[0], c.ensemble_size
    rows = jnp.arange(batch)
    n = model.norm

    def advance(carry, o, a, km, kn):
        hist, ctx = carry
        mean, logvar = model.forward_dist(o, a, ctx, obs_mask, act_mask)  # (E, B, O)
        if sample:
            member = jax.random.randint(km, (batch,), 0, e)
            d_n = mean[member, rows]
            if c.probabilistic:
                d_n = d_n + jnp.exp(0.5 * logvar[member, rows]) * jax.random.normal(kn, d_n.shape)
        else:
            d_n = jnp.mean(mean, axis=0)
        o_next = o + n.delta_out(d_n, obs_mask)
        r_members = model.reward_members(o, a, o_next, ctx, obs_mask, act_mask)  # (E, B)
        r = r_members[member, rows] if sample else jnp.mean(r_members, axis=0)
        hist = push_history(hist, o, a, r, o_next)
        ctx = contexts_of(model, hist, obs_mask, act_mask, member_first=False)
        return (hist, ctx), o_next, r, _latent(ctx, o_next)

    hist = branch_history(model, context, prefix)
    ctx0 = contexts_of(model, hist, obs_mask, act_mask, member_first=False)
    return Branch((hist, ctx0), _latent(ctx0, prefix.obs[:, -1] * obs_mask), advance)


imagine: Imagine[CaDM] = branch_imagine(
    _start,
    """Branch `horizon` imagined steps from the end of real prefixes under `policy`: the arguments,
    shapes and `Imagined` of `mrcom.worldmodel.imagine`, with what differs here.

    Arguments:
        context: Context(obs (B, K, O), action (B, K, A), reward (B, K), valid (B, K)): the K steps
            before the prefix (prompt-filled at episode starts); K = `config.context_len`.
        sample: True: at every step each rollout uses one uniformly drawn member and samples its
            Gaussian (PETS TS-1; the member's mean when not probabilistic); False: the ensemble
            mean (mean over members of each member's mean), rewards likewise.

    Returns:
        Imagined(obs[:, 0] the masked real start, reward (B, H)
        (reward[:, t] of the step from obs[:, t] under action[:, t]), latent (B, H+1, E Z + O):
        every member's context vector of the history before obs[:, t], then obs[:, t]).
    """,
    filter_key=False,
    step_keys=3,
)

evaluate = evaluate_by_config(imagine)
