"""Imagination and evaluation with the semantics of `mrcom.worldmodel.imagine`.

The m context steps and the prefix are one posterior filter: the context only burns in the
recurrent state (its empty slots, valid = 0, are skipped), and the branch starts from the
posterior state of the last prefix observation. DreamerV3 gets nothing else from the context.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._data import MultiScenarioData
from .._evaluate import open_loop_errors
from .._seam import Context, Imagined, Prefix, act_at, branch_inputs, stack_branch, symexp
from ._model import Dreamer, sequence_inputs
from ._rssm import State


def filter_prefix(
    model: Dreamer,
    context: Context,
    prefix: Prefix,
    obs_mask: Float[Array, " O"],
    act_mask: Float[Array, " A"],
    key: PRNGKeyArray,
    sample: bool = True,
) -> State:
    """The posterior state at the last prefix observation (one sequence).

    Arguments:
        context: the m steps before the prefix (m, .). prefix: obs (W+1, O), action (W, A), reward (W,).
        sample: sample the posterior (False: its mode).
    """
    obs, prev, valid = sequence_inputs(
        context.obs, context.action, context.valid, prefix.obs, prefix.action, act_mask
    )
    embeds = jax.vmap(model.embed, (0, None))(obs, obs_mask)
    states, _, _ = model.rssm.observe(model.rssm.initial(), prev, embeds, key, valid=valid, sample=sample)
    return jax.tree.map(lambda x: x[-1], states)


def imagine(
    model: Dreamer,
    context: Context,
    prefix: Prefix,
    masks: tuple[Array, Array],
    policy: Callable[[PRNGKeyArray, Array], Array],
    horizon: int,
    key: PRNGKeyArray,
    *,
    sample: bool = True,
) -> Imagined:
    """Branch `horizon` imagined steps from the end of real prefixes under `policy`: the arguments,
    shapes and `Imagined` of `mrcom.worldmodel.imagine`, with what differs here.

    Arguments:
        context: Context(obs (B, m, O), action (B, m, A), reward (B, m), valid (B, m)): the steps
            before the prefix (only a burn-in of the recurrent state; rewards are not read).
        sample: sample the posterior and the prior (False: their modes, the argmax class of every
            categorical; observations and rewards are always the decoder mean and the two-hot mean).

    Returns:
        Imagined(obs[:, 0] the masked real start,
        reward (B, H) (reward[:, t] of (o_t, a_t) -> o_{t+1}, read at s_{t+1}),
        latent (B, H+1, Z) = concat(deter, flattened stoch), latent[:, 0] the posterior).
    """
    context, prefix, obs_mask, act_mask = branch_inputs(model.config.context_len, context, prefix, masks)
    batch = prefix.obs.shape[0]
    kf, kr = jax.random.split(key)
    state = jax.vmap(filter_prefix, (None, 0, 0, 0, 0, 0, None))(
        model, context, prefix, obs_mask, act_mask, jax.random.split(kf, batch), sample
    )
    start = prefix.obs[:, -1] * obs_mask
    img_step = jax.vmap(lambda s, a, k: model.rssm.img_step(s, a, k, sample=sample)[0])

    def step(carry, inputs):
        t, k = inputs
        s, o = carry
        ka, ks = jax.random.split(k)
        a = act_at(policy, t, ka, o) * act_mask
        new = img_step(s, a, jax.random.split(ks, batch))
        feat = new.feat()
        o_next = symexp(jax.vmap(model.decode)(feat, obs_mask)) * obs_mask
        r = jax.vmap(model.reward)(feat)
        return (new, o_next), (o_next, a, r, feat)

    inputs = (jnp.arange(horizon), jax.random.split(kr, horizon))
    _, (o, a, r, z) = jax.lax.scan(step, (state, start), inputs)
    return stack_branch(start, state.feat(), o, a, r, z)


def evaluate(
    model: Dreamer,
    data: MultiScenarioData,
    key: PRNGKeyArray,
    *,
    num_windows: int | None = None,
    burn_in: int | None = None,
) -> dict[str, float]:
    """`open_loop_errors` of the model on `data` (defaults: the config's `eval_windows`, `eval_burn_in`)."""
    c = model.config
    num_windows = c.eval_windows if num_windows is None else num_windows
    burn_in = c.eval_burn_in if burn_in is None else burn_in
    return open_loop_errors(imagine, model, data, key, num_windows=num_windows, burn_in=burn_in)
