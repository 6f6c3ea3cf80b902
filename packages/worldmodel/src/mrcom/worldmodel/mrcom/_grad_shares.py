"""Each loss term's share of the gradient: which terms of eq. 16 (and the heads) actually train the model.

A term's weight says little on its own: L_v on the (1 - gamma)-scaled values weighed < 1e-4 of the
gradient at any lambda_v of the old search range (docs/choices.md, "The scale of L_v"). This module
measures, on one batch, the global norm of the gradient of each weighted term (`weighted_terms`)
with respect to the model's parameters, and its share of the sum of those norms
(`benchmarks/loss_shares.py` prints them for briefly trained models). It is a diagnostic, outside the
jitted training step, whose speed it leaves unchanged.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, PRNGKeyArray

from .._data import Batch
from .._jit import jit_by_config
from ._losses import WEIGHTED_TERMS, LossWeights, weighted_terms
from ._model import MrCoM
from ._train_step import compute_loss

__all__ = ["WEIGHTED_TERMS", "gradient_shares"]


def gradient_shares(
    model: MrCoM,
    batch: Batch,
    weights: LossWeights,
    key: PRNGKeyArray,
    *,
    target: eqx.nn.MLP | None = None,
    unroll: int | bool = 1,
) -> dict[str, dict[str, Array]]:
    """Per weighted term of the loss (`WEIGHTED_TERMS`: var, state, value_reg (L_v), reward,
    prediction, open_loop, value_td, meta_value): the global norm of the gradient of weight * term
    with respect to the model's array leaves (the parameters `train_step` updates), and its share of
    the sum of those norms.

    A term's gradient is zero on the parameters it does not train (L_td and L_meta reach only the
    value heads, L_v only theta), so each norm is the norm on the parameters that term trains. The
    terms are those `compute_loss` computes for (`batch`, `key`, `weights`): the same forward pass,
    one reverse pass per term.

    Arguments:
        model, batch, weights, key: as for `compute_loss`.
        target: the target value heads of L_td (a `TrainState.target`); None: the model's own heads
            (the same L_td gradient up to the bootstrap target's value).
        unroll: of the scan over time.

    Returns:
        {"norm": {term: norm}, "share": {term: norm / sum of norms}, "term": {term: weight * term}}:
        float32 scalars; the shares are in [0, 1] and sum to 1 (all 0 when every gradient is 0).
    """
    target = model.value_heads if target is None else target
    return _gradient_shares(model, target, batch, weights, key, unroll)


@jit_by_config(lambda model, *args, **kwargs: model.spec.fast_compile)
def _gradient_shares(
    model: MrCoM, target: eqx.nn.MLP, batch: Batch, weights: LossWeights, key: PRNGKeyArray, unroll
) -> dict[str, dict[str, Array]]:
    params, static = eqx.partition(model, eqx.is_array)

    def parts(p):
        _, terms = compute_loss(eqx.combine(p, static), target, batch, key, weights, unroll)
        weighted = weighted_terms(terms, weights)
        return jnp.stack([weighted[name] for name in WEIGHTED_TERMS])

    # one forward pass, then one reverse pass per term (a one-hot cotangent each). Not `jax.jacrev`:
    # its vmapped reverse pass, compiled at XLA's full optimization on a CPU, leaked a common vector of
    # norm ~0.03 into every row (L_td's norm 3x its `jax.grad`, L_s's 0.03 where its gradient is 0)
    values, pullback = jax.vjp(parts, params)
    onehot = jnp.eye(len(WEIGHTED_TERMS), dtype=values.dtype)
    norms = jnp.stack([optax.tree.norm(pullback(onehot[i])[0]) for i in range(len(WEIGHTED_TERMS))])
    total = jnp.sum(norms)
    shares = jnp.where(total > 0, norms / jnp.where(total > 0, total, 1.0), 0.0)
    as_dict = lambda x: {name: x[i] for i, name in enumerate(WEIGHTED_TERMS)}
    return {"norm": as_dict(norms), "share": as_dict(shares), "term": as_dict(values)}
