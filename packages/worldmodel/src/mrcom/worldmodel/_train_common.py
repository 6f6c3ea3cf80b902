"""The pieces of a train step that the baselines (DreamerV3, MAMBA, MoW, CaDM) share.

A kind's `TrainState` is a `ModelTrainState` of its model; `fresh_train_state` starts one,
`gradient_step` takes one gradient step of a loss on its model, and `scan_steps` /
`scan_sampled_steps` run `num_steps` of them in one `lax.scan`, the state's key split each step.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Int, PRNGKeyArray

from ._data import SequenceSource, sample_batch

M = TypeVar("M")
S = TypeVar("S", bound="ModelTrainState")
State = TypeVar("State")  # any train state with a `key` (MrCoM's too)

Metrics = dict[str, Array]


class ModelTrainState(eqx.Module, Generic[M]):
    """Everything training needs to continue exactly: model, optimizer state, RNG, step."""

    model: M
    opt_state: optax.OptState
    key: PRNGKeyArray
    step: Int[Array, ""]


@functools.cache
def adam_optimizer(config: Any) -> optax.GradientTransformation:
    """Adam (eps `config.adam_eps`, rate `config.learning_rate`) after global-norm clipping at
    `config.grad_clip` (DreamerV3's world-model optimizer; cached per config)."""
    return optax.chain(
        optax.clip_by_global_norm(config.grad_clip), optax.adam(config.learning_rate, eps=config.adam_eps)
    )


def fresh_train_state(
    state_type: type[S],
    init_model: Callable[[PRNGKeyArray], Any],
    optimizer: optax.GradientTransformation,
    key: PRNGKeyArray,
    trainable: Callable[[Any], bool] = eqx.is_array,
) -> S:
    """`state_type(model, optimizer state, RNG, step 0)`: the model from `init_model(key)` of the
    first half of `key`, the optimizer state over its `trainable` leaves, the RNG its second half."""
    kmodel, kstate = jax.random.split(key)
    model = init_model(kmodel)
    opt_state = optimizer.init(eqx.filter(model, trainable))
    return state_type(model, opt_state, kstate, jnp.zeros((), jnp.int32))


def gradient_step(
    state: S,
    loss_fn: Callable[[Any], tuple[Array, Metrics]],
    optimizer: optax.GradientTransformation,
    *,
    trainable: Callable[[Any], bool] = eqx.is_array,
    mask_grads: Callable[[Any], Any] | None = None,
) -> tuple[S, Metrics]:
    """One gradient step (pure) of `loss_fn` on the `trainable` leaves of `state.model`.

    Arguments:
        loss_fn: loss_fn(model) -> (loss, terms).
        mask_grads: applied to the gradients before the update and their norm (e.g. to zero a constant).

    Returns:
        (state with the new model and optimizer state and step + 1, metrics: "loss", the terms,
        "grad_norm" (of the gradients before clipping)).
    """
    params, static = eqx.partition(state.model, trainable)
    (loss, terms), grads = jax.value_and_grad(lambda p: loss_fn(eqx.combine(p, static)), has_aux=True)(params)
    if mask_grads is not None:
        grads = mask_grads(grads)
    updates, opt_state = optimizer.update(grads, state.opt_state, params)
    model = eqx.combine(optax.apply_updates(params, updates), static)
    metrics = {"loss": loss, **terms, "grad_norm": optax.tree.norm(grads)}
    return dataclasses.replace(state, model=model, opt_state=opt_state, step=state.step + 1), metrics


def scan_steps(
    state: State, num_steps: int, step: Callable[[State], tuple[State, Metrics]]
) -> tuple[State, Metrics]:
    """`state` after `num_steps` calls of `step(state) -> (state, metrics)` in one `lax.scan`.

    Returns:
        (state, metrics stacked over the steps).
    """
    params, static = eqx.partition(state, eqx.is_array)

    def body(params, _):
        st, metrics = step(eqx.combine(params, static))
        return eqx.partition(st, eqx.is_array)[0], metrics

    params, metrics = jax.lax.scan(body, params, None, length=num_steps)
    return eqx.combine(params, static), metrics


def scan_sampled_steps(
    state: State,
    num_steps: int,
    sample: Callable[[State, PRNGKeyArray], Any],
    train_step: Callable[[State, Any, PRNGKeyArray], tuple[State, Metrics]],
    sharding=None,
) -> tuple[State, Metrics]:
    """`num_steps` train steps in one `lax.scan`, each on a batch sampled with the state's key.

    Each step splits the state's key into (next key, batch key, step key), samples
    `sample(state, batch key)` (constrained to `sharding` when given) and runs
    `train_step(state with the next key, batch, step key)`.

    Returns:
        (state, metrics stacked over the steps).
    """

    def step(st: Any) -> tuple[State, Metrics]:
        key, kbatch, kstep = jax.random.split(st.key, 3)
        batch = sample(st, kbatch)
        if sharding is not None:
            batch = jax.lax.with_sharding_constraint(batch, sharding)
        return train_step(eqx.tree_at(lambda s: s.key, st, key), batch, kstep)

    return scan_steps(state, num_steps, step)


def scan_window_steps(
    state: Any,
    src: SequenceSource,
    num_steps: int,
    train_step: Callable[[Any, Any, PRNGKeyArray], tuple[Any, Metrics]],
    sharding=None,
) -> tuple[Any, Metrics]:
    """`scan_sampled_steps` on windows of the model config's `batch_size` x `seq_len` (after
    `context_len` context steps) sampled from the `SequenceSource` `src` (DreamerV3, MoW).

    Returns:
        (state, metrics stacked over the steps).
    """
    c = state.model.config
    sample = lambda st, k: sample_batch(src, k, c.batch_size, c.seq_len, c.context_len)
    return scan_sampled_steps(state, num_steps, sample, train_step, sharding)
