"""MoW training: the pure jitted step, chunks of steps, task clustering between them, checkpoints, `train`.

`train` runs the loop every world model shares (`mrcom.worldmodel._loop.run_training`: chunks
aligned to multiples of `steps_per_call`, atomic checkpoints, `NonFiniteLossError`). The task
clustering runs between chunks, at the start of the chunk that begins at its step: a deterministic
function of the train state (its key folded with the step), so a run stopped and resumed from a
checkpoint ends bit-identical to an uninterrupted one (the allocation is part of the model).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Int, PRNGKeyArray

from .._checkpoint import read_checkpoint
from .._data import Batch, MultiScenarioData, SequenceSource, make_source, sample_batch
from .._jit import jit_by_config
from .._loop import check_train_inputs, run_training
from .._parallel import data_sharding, replicate
from ._cluster import cluster_model, next_cluster_step
from ._config import MoWConfig
from ._losses import compute_loss
from ._model import MoW, Routing, init_model, routing_from_masks


class TrainState(eqx.Module):
    """Everything training needs to continue exactly: model (with its routing), optimizer state, RNG, step."""

    model: MoW
    opt_state: optax.OptState
    key: PRNGKeyArray
    step: Int[Array, ""]


@functools.cache
def make_optimizer(config: MoWConfig) -> optax.GradientTransformation:
    """Adam (eps `adam_eps`) after global-norm clipping at `grad_clip`."""
    return optax.chain(
        optax.clip_by_global_norm(config.grad_clip), optax.adam(config.learning_rate, eps=config.adam_eps)
    )


@jit_by_config(lambda config, key, routing=None: config.fast_compile)
def init_train_state(config: MoWConfig, key: PRNGKeyArray, routing: Routing | None = None) -> TrainState:
    """A fresh model (routing: `empty_routing` unless given), its optimizer state, RNG and step 0."""
    kmodel, kstate = jax.random.split(key)
    model = init_model(config, kmodel, routing)
    opt_state = make_optimizer(config).init(eqx.filter(model, eqx.is_inexact_array))
    return TrainState(model, opt_state, kstate, jnp.zeros((), jnp.int32))


def train_step(state: TrainState, batch: Batch, key: PRNGKeyArray) -> tuple[TrainState, dict[str, Array]]:
    """One gradient step (pure) on the float parameters (the routing is not trained).

    Returns:
        (state with step + 1, metrics: `TERMS` and "grad_norm").
    """
    optimizer = make_optimizer(state.model.config)
    params, static = eqx.partition(state.model, eqx.is_inexact_array)
    loss_fn = lambda p: compute_loss(eqx.combine(p, static), batch, key)
    (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, state.opt_state, params)
    model = eqx.combine(optax.apply_updates(params, updates), static)
    metrics = {"loss": loss, **terms, "grad_norm": optax.tree.norm(grads)}
    return TrainState(model, opt_state, state.key, state.step + 1), metrics


@jit_by_config(lambda state, *args, **kwargs: state.model.config.fast_compile)
def train_steps(state: TrainState, src: SequenceSource, num_steps: int, sharding=None):
    """`num_steps` steps in one `lax.scan`, each batch sampled from `src` with the state's key.

    Returns:
        (state, metrics stacked over the steps).
    """
    c = state.model.config
    params, static = eqx.partition(state, eqx.is_array)

    def body(params, _):
        st = eqx.combine(params, static)
        key, kbatch, kstep = jax.random.split(st.key, 3)
        batch = sample_batch(src, kbatch, c.batch_size, c.seq_len, c.context_len)
        if sharding is not None:
            batch = jax.lax.with_sharding_constraint(batch, sharding)
        st, metrics = train_step(eqx.tree_at(lambda s: s.key, st, key), batch, kstep)
        return eqx.partition(st, eqx.is_array)[0], metrics

    params, metrics = jax.lax.scan(body, params, None, length=num_steps)
    return eqx.combine(params, static), metrics


def cluster_state(state: TrainState, src: SequenceSource) -> TrainState:
    """The state with its scenarios clustered and experts allocated at its current step."""
    step = int(state.step)
    model, _ = cluster_model(state.model, src, jax.random.fold_in(state.key, step), step)
    return eqx.tree_at(lambda s: s.model, state, model)


def train_chunk(
    state: TrainState, src: SequenceSource, num_steps: int, sharding=None
) -> tuple[TrainState, dict[str, Array]]:
    """`num_steps` steps, clustering first wherever a clustering step falls in [step, step + num_steps).

    Returns:
        (state, metrics stacked over the steps).
    """
    step, end = int(state.step), int(state.step) + num_steps
    parts = []
    while step < end:
        at = next_cluster_step(state.model)
        if at is not None and at == step:
            state = cluster_state(state, src)
            continue
        stop = at if at is not None and step < at < end else end
        state, metrics = train_steps(state, src, stop - step, sharding)
        parts.append(metrics)
        step = stop
    return state, {k: jnp.concatenate([p[k] for p in parts]) for k in parts[0]}


class Checkpoint(NamedTuple):
    model: MoW
    config: MoWConfig
    state: TrainState
    step: int


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a MoW checkpoint (a file, or a directory holding `checkpoint.eqx`): the shared format of
    `mrcom.worldmodel.save_checkpoint`, whose header's config must be a `MoWConfig`."""
    config, state, step = read_checkpoint(path, MoWConfig, init_train_state)
    return Checkpoint(state.model, config, state, step)


def train(
    data: MultiScenarioData,
    config: MoWConfig,
    *,
    key: PRNGKeyArray | None = None,
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    eval_data: MultiScenarioData | None = None,
    log: Callable[[str, float, int], None] | None = None,
    steps: int | None = None,
    progress: bool = True,
) -> tuple[MoW, dict[str, float]]:
    """Train a MoW on multi-scenario data; resumes from `checkpoint_dir` if it holds a checkpoint.

    The VAE modules are assigned by the data's mask layouts at the first step (`routing_from_masks`);
    experts are allocated by the task clustering at `config.cluster_at` (and re-allocated every
    `recluster_every` steps).

    Arguments:
        data: training episodes; `config.num_scenarios` must equal its number of scenarios.
        config: settings. key / seed: PRNG key, or a seed to make one.
        checkpoint_dir: where `checkpoint.eqx` is written every `checkpoint_every` steps and at the end.
        eval_data: held-out data evaluated (`evaluate`) every `eval_every` steps and at the end.
        log: log(name, value, step) gets "wm/<term>" train means per chunk and "wm/<metric>" eval metrics.
        steps: total steps (default `config.steps`).

    Returns:
        (model, metrics): the last chunk's term means and the last eval metrics.

    Raises:
        NonFiniteLossError: a loss term became NaN/inf (no checkpoint of that state is written).
        ValueError: bad inputs, or more mask layouts in the data than `num_groups`.
    """
    from ._imagine import evaluate  # _imagine imports this module's neighbours only

    d, eval_data, steps = check_train_inputs(data, config, eval_data, steps)
    routing = routing_from_masks(config, d.obs_mask, d.act_mask)
    sharding = data_sharding(config.batch_size)
    src = replicate(make_source(d, config.context_len), sharding)
    return run_training(
        config,
        init_state=lambda key: replicate(init_train_state(config, key, routing), sharding),
        load_state=lambda path: replicate(load_checkpoint(path).state, sharding),
        train_chunk=lambda state, n: train_chunk(state, src, n, sharding),
        evaluate=evaluate,
        steps=steps,
        key=key,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        eval_data=eval_data,
        log=log,
        progress=progress,
        desc="mow",
    )


def load_model(path: str | os.PathLike) -> MoW:
    """The model of a MoW checkpoint (file or directory)."""
    return load_checkpoint(Path(path)).model
