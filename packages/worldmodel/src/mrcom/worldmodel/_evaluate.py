"""Evaluation on (held-out) scenarios: open-loop observation error, reward error, value equivalence."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from ._data import MultiScenarioData, SequenceSource, make_source, window
from ._imagine import Prefix, filter_prefix, rollout
from ._jit import jit_by_config
from ._model import Context, MrCoM, jit_model, observe

HORIZON = 15
KS = (1, 5, 15)


@jit_by_config(lambda model, *args, **kwargs: model.config.fast_compile)
def _evaluate(model: MrCoM, src: SequenceSource, scale: Array, key: PRNGKeyArray, windows: int, burn_in: int):
    m, w, h = model.config.context_len, burn_in, HORIZON
    ke, ks, kf, kp, kr = jax.random.split(key, 5)
    num_episodes, length = src.action.shape[:2]
    episodes = jax.random.randint(ke, (windows,), 0, num_episodes)
    starts = jax.random.randint(ks, (windows,), 0, length - (w + h) + 1)
    b = jax.vmap(window, (None, 0, 0, None, None))(src, episodes, starts, w + h, m)

    # posterior over the whole window: the reference latents for value equivalence
    full = jax.vmap(observe, (None, 0, 0, 0, 0, 0, 0))(
        model, b.ctx, b.obs, b.action, b.obs_mask, b.act_mask, jax.random.split(kf, windows)
    )
    context = Context(*(x[:, :m] for x in b.ctx))
    prefix = Prefix(b.obs[:, : w + 1], b.action[:, :w], b.reward[:, :w])
    state, fifo = jax.vmap(filter_prefix, (None, 0, 0, 0, 0, 0))(
        model, context, prefix, b.obs_mask, b.act_mask, jax.random.split(kp, windows)
    )
    actions = b.action[:, w:]
    out = rollout(
        model, fifo, state, b.obs[:, w], b.obs_mask, b.act_mask, lambda t, k, o: actions[:, t], h, kr, False
    )
    err = (out.obs[:, 1:] - b.obs[:, w + 1 :]) ** 2 / scale  # (B, H, O)
    mask = b.obs_mask[:, None, :]
    nmse = jnp.sum(err * mask, axis=(0, 2)) / jnp.sum(mask * jnp.ones_like(err), axis=(0, 2))  # (H,)
    reward_mse = jnp.mean((out.reward - b.reward[:, w:]) ** 2)
    meta = jax.vmap(jax.vmap(model.meta))
    value_equiv = jnp.mean((meta(out.latent[:, 1:]) - meta(full.latent[:, w + 1 :])) ** 2)
    return nmse, reward_mse, value_equiv


def evaluate(
    model: MrCoM,
    data: MultiScenarioData,
    key: PRNGKeyArray,
    *,
    num_windows: int | None = None,
    burn_in: int | None = None,
) -> dict[str, float]:
    """World-model metrics on `data` (usually held-out scenarios).

    Windows of `burn_in` + 15 steps are drawn with `key`; the posterior is filtered over the first
    `burn_in` steps (context prompt-filled at episode starts), then the prior runs open loop for
    15 steps under the real actions (prior means; generated steps enter the FIFO context).

    Returns:
        "k1_obs_nmse", "k5_obs_nmse", "k15_obs_nmse": squared error of the predicted observation
        k steps ahead divided by the per-dimension variance of `data`, averaged over real dims;
        "reward_mse": predicted vs real reward over the 15 steps; "value_equiv": squared gap
        between the meta-value of imagined latents and of posterior latents of the real steps.
    """
    c = model.config
    num_windows = c.eval_windows if num_windows is None else num_windows
    burn_in = c.eval_burn_in if burn_in is None else burn_in
    d = data.validate(context_len=c.context_len)
    if d.episode_length < burn_in + HORIZON:
        raise ValueError(
            f"episode length {d.episode_length}: must be >= eval_burn_in + {HORIZON} = {burn_in + HORIZON}"
        )
    if num_windows < 1 or burn_in < 0:
        raise ValueError(f"(num_windows, burn_in)={(num_windows, burn_in)}: must be >= 1 and >= 0")
    from ._reference import obs_scale  # imported here: _reference imports this module

    scale = jnp.asarray(obs_scale(d), jnp.float32)
    nmse, reward_mse, value_equiv = _evaluate(
        jit_model(model), make_source(d, c.context_len), scale, key, num_windows, burn_in
    )
    nmse = np.asarray(nmse)
    result = {f"k{k}_obs_nmse": float(nmse[k - 1]) for k in KS}
    result["reward_mse"] = float(reward_mse)
    result["value_equiv"] = float(value_equiv)
    return result
