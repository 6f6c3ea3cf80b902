"""CaDM's losses: forward and backward prediction over M future steps of one context, and the reward head.

For an anchor step t of a window, the context c_t = g(transitions t-K .. t-1) is tiled over the
next M transitions t .. t+M-1 (teacher-forced: each target is one step from a real state), so the
encoder's gradient comes from all M of them (the paper's future-prediction loss):

    L_e = 1/M sum_j [ NLL(Δs_{t+j} | f_e(s_{t+j}, a_{t+j}, c_t))
                      + backward_weight NLL(-Δs_{t+j} | b_e(s_{t+j+1}, a_{t+j}, c_t))
                      + reward_weight (R_e(s_{t+j}, a_{t+j}, s_{t+j+1}, c_t) - r_{t+j})^2 ]

in normalized units; the NLL is PETS' (`_reference._nll`: Gaussian NLL summed over the real dims
plus 0.01 x the soft log-variance bounds) or, when not `probabilistic`, the squared error summed
over the real dims. Every anchor t = 0 .. T-M of a window of T steps is used. Member e is trained
on its own batch; the loss is the sum over members (members are independent).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._data import Batch
from .._ensemble import _nll
from ._model import CaDM, History, contexts_of

TERMS = ("loss", "forward", "backward", "reward", "forward_mse", "backward_mse")


class Future(History):
    """The M future transitions of every anchor (same fields as `History`, (..., M, .))."""


def split_windows(batch: Batch, context_len: int, future_len: int) -> tuple[History, Future]:
    """Histories and futures of every anchor of a batch of windows (one member's batch).

    Arguments:
        batch: windows of T steps with their m = context_len step context (`sample_batch`).

    Returns:
        (history (B, n, K, .), future (B, n, M, .)) with n = T - M + 1 anchors: anchor i's history is
        the K transitions before window step i, its future window steps i .. i+M-1.
    """
    k, m = context_len, future_len
    t = batch.action.shape[1]
    ones = jnp.ones(batch.action.shape[:2], batch.ctx.valid.dtype)
    obs = jnp.concatenate([batch.ctx.obs[:, :k], batch.obs], axis=1)  # (B, K+T+1, O)
    action = jnp.concatenate([batch.ctx.action[:, :k], batch.action], axis=1)
    reward = jnp.concatenate([batch.ctx.reward[:, :k], batch.reward], axis=1)
    valid = jnp.concatenate([batch.ctx.valid[:, :k], ones], axis=1)
    anchors = np.arange(t - m + 1)[:, None]

    def cut(idx):
        return History(obs[:, idx], action[:, idx], reward[:, idx], obs[:, idx + 1], valid[:, idx])

    history = cut(anchors + np.arange(k)[None])
    return history, Future(*cut(anchors + k + np.arange(m)[None]))


def _squared(mean: Array, y: Array, w: Array) -> Array:
    """Per member: squared error summed over real dims, mean over samples. x (E, N, O) -> (E,)."""
    return jnp.mean(jnp.sum((mean - y) ** 2 * w, -1), -1)


def _per_dim(mean: Array, y: Array, w: Array) -> Array:
    """Mean squared error per real dim, over members and samples."""
    return jnp.sum((mean - y) ** 2 * w) / jnp.maximum(jnp.sum(w), 1.0)


def compute_loss(model: CaDM, batch: Batch) -> tuple[Array, dict[str, Array]]:
    """The summed loss of every member on its own batch and the named terms (means over members).

    Arguments:
        model: the CaDM ensemble (E members).
        batch: E stacked batches (every array with a leading member axis E, then B windows).

    Returns:
        (loss, terms): terms "forward", "backward" (NLL or squared error, including the log-variance
        bound term when probabilistic), "reward" (normalized squared error), and "forward_mse",
        "backward_mse" (per real dim, normalized units, of the means; for monitoring).
    """
    c = model.config
    e = c.ensemble_size
    history, future = jax.vmap(lambda b: split_windows(b, c.context_len, c.future_len))(batch)
    om, am = batch.obs_mask[:, :, None], batch.act_mask[:, :, None]  # (E, B, 1, .) over anchors
    ctx = contexts_of(model, history, om, am, member_first=True)[..., None, :]  # (E, B, n, 1, Z)
    om, am = om[..., None, :], am[..., None, :]  # (E, B, 1, 1, .) over anchors and future steps
    n = model.norm
    o, a = future.obs * om, future.action * am
    o1 = future.next_obs * om
    delta = n.delta(o1 - o, om)
    w = jnp.broadcast_to(om, delta.shape)
    flat = lambda x: x.reshape(e, -1, x.shape[-1])
    x_f = flat(model.forward_inputs(o, a, ctx, om, am))
    x_b = flat(model.backward_inputs(o1, a, ctx, om, am))
    y, w = flat(delta), flat(w)
    mean_f, _ = model.forward_model(x_f)
    mean_b, _ = model.backward_model(x_b)
    if c.probabilistic:
        real = jax.lax.stop_gradient(n.real_dims)  # dims whose bounds the 0.01 term pulls together
        fwd = _nll(model.forward_model, x_f, y, w, real)
        bwd = _nll(model.backward_model, x_b, -y, w, real)
    else:
        fwd, bwd = _squared(mean_f, y, w), _squared(mean_b, -y, w)
    r_pred = model.reward_members(o, a, o1, ctx, om, am)  # (E, B, n, M)
    rew = jnp.mean((n.reward(r_pred) - n.reward(future.reward)).reshape(e, -1) ** 2, -1)
    per_member = fwd + c.backward_weight * bwd + c.reward_weight * rew
    terms = {
        "forward": jnp.mean(fwd),
        "backward": jnp.mean(bwd),
        "reward": jnp.mean(rew),
        "forward_mse": _per_dim(mean_f, y, w),
        "backward_mse": _per_dim(mean_b, -y, w),
    }
    return jnp.sum(per_member), terms
