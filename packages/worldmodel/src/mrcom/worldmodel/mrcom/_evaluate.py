"""MrCoM's `evaluate`: the shared open-loop errors plus value equivalence, on the same windows."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from .._data import MultiScenarioData, SequenceSource, make_source
from .._evaluate import HORIZON, _check, _open_loop, _scale, _summary, eval_windows
from .._jit import jit_by_config
from ._imagine import imagine
from ._model import MrCoM, observe


@jit_by_config(lambda model, *args, **kwargs: model.spec.fast_compile)
def _evaluate(model: MrCoM, src: SequenceSource, scale: Array, key: PRNGKeyArray, windows: int, burn_in: int):
    m, w = model.spec.context_len, burn_in
    b = eval_windows(src, key, windows, w + HORIZON, m)
    kf, kr = jax.random.split(key, 5)[2], jax.random.split(key, 5)[4]
    nmse, reward_mse, out = _open_loop(imagine, model, b, scale, kr, m, w)
    # value equivalence: the meta-value of imagined latents against that of the posterior latents
    full = jax.vmap(observe, (None, 0, 0, 0, 0, 0, 0))(
        model, b.ctx, b.obs, b.action, b.obs_mask, b.act_mask, jax.random.split(kf, windows)
    )
    meta = jax.vmap(jax.vmap(model.meta))
    true = meta(full.latent[:, w + 1 :])
    value_equiv = jnp.mean((meta(out.latent[:, 1:]) - true) ** 2)
    return nmse, reward_mse, value_equiv, value_equiv / jnp.var(true)


def evaluate(
    model: MrCoM,
    data: MultiScenarioData,
    key: PRNGKeyArray,
    *,
    num_windows: int,
    burn_in: int,
) -> dict[str, float]:
    """MrCoM's metrics on `data` (usually held-out scenarios): `open_loop_errors` plus value equivalence.

    Arguments:
        num_windows, burn_in: windows scored and real steps filtered before each (in training:
            the config's `eval_windows` and `eval_burn_in`).

    Returns:
        The keys of `open_loop_errors` (on the same windows and predictions), "value_equiv":
        squared gap between the meta-value of imagined latents and of posterior latents of the
        real steps, and "value_equiv_rel": that gap over the variance of the posterior latents'
        meta-value (1 = as far off as a constant at their mean; comparable across value scales).
    """
    m = model.spec.context_len
    d = _check(data, m, num_windows, burn_in)
    nmse, reward_mse, value_equiv, rel = _evaluate(
        model, make_source(d, m), _scale(d), key, num_windows, burn_in
    )
    return {**_summary(nmse, reward_mse), "value_equiv": float(value_equiv), "value_equiv_rel": float(rel)}
