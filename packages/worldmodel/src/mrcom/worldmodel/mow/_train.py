"""MoW training: the pure jitted step, chunks of steps, task clustering between them, checkpoints, `train`.

`train` runs the loop every world model shares (`mrcom.worldmodel._loop.run_training`: chunks
aligned to multiples of `steps_per_call`, atomic checkpoints, `NonFiniteLossError`). The task
clustering runs between chunks, at the start of the chunk that begins at its step: a deterministic
function of the train state (its key folded with the step), so a run stopped and resumed from a
checkpoint ends bit-identical to an uninterrupted one (the allocation is part of the model).
"""

from __future__ import annotations

import os

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from .._checkpoint import Checkpoint, read_train_checkpoint
from .._data import Batch, MultiScenarioData, SequenceSource, make_source
from .._harness import obs_stats_for
from .._jit import jit_by_config
from .._loop import Trainer
from .._train_common import (
    ModelTrainState,
    adam_optimizer,
    fresh_train_state,
    gradient_step,
    scan_window_steps,
)
from ._cluster import cluster_model, next_cluster_step
from ._config import MoWConfig
from ._imagine import evaluate
from ._losses import compute_loss
from ._model import MoW, Routing, init_model, routing_from_masks


class TrainState(ModelTrainState[MoW]):
    """Everything training needs to continue exactly: model (with its routing), optimizer state, RNG, step."""


# Adam (eps `adam_eps`) after global-norm clipping at `grad_clip`
make_optimizer = adam_optimizer


@jit_by_config(lambda config, key, routing=None, obs_stats=None: config.fast_compile)
def init_train_state(
    config: MoWConfig, key: PRNGKeyArray, routing: Routing | None = None, obs_stats=None
) -> TrainState:
    """A fresh model (routing: `empty_routing` unless given; `obs_stats`: (mean, std) of the training
    observations for `obs_transform="standardize"`), its optimizer state, RNG and step 0."""
    model = lambda k: init_model(config, k, routing, obs_stats)
    return fresh_train_state(TrainState, model, make_optimizer(config), key, eqx.is_inexact_array)


def train_step(state: TrainState, batch: Batch, key: PRNGKeyArray) -> tuple[TrainState, dict[str, Array]]:
    """One gradient step (pure) on the float parameters (the routing is not trained).

    Returns:
        (state with step + 1, metrics: `TERMS` and "grad_norm").
    """
    loss_fn = lambda model: compute_loss(model, batch, key)
    optimizer = make_optimizer(state.model.config)
    return gradient_step(state, loss_fn, optimizer, trainable=eqx.is_inexact_array)


@jit_by_config(lambda state, *args, **kwargs: state.model.config.fast_compile)
def train_steps(state: TrainState, src: SequenceSource, num_steps: int, sharding=None):
    """`num_steps` steps in one `lax.scan`, each batch sampled from `src` with the state's key.

    Returns:
        (state, metrics stacked over the steps).
    """
    return scan_window_steps(state, src, num_steps, train_step, sharding)


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


def load_checkpoint(path: str | os.PathLike) -> Checkpoint[MoW, MoWConfig, TrainState]:
    """Read a MoW checkpoint (a file, or a directory holding `checkpoint.eqx`): the shared format of
    `mrcom.worldmodel.save_checkpoint`, whose header's config must be a `MoWConfig`."""
    return read_train_checkpoint(path, MoWConfig, init_train_state)


def _setup(d: MultiScenarioData, config: MoWConfig):
    """The VAE modules assigned by the data's mask layouts (ValueError: more layouts than `num_groups`),
    and the data's observation statistics for `obs_transform="standardize"`."""
    routing = routing_from_masks(config, d.obs_mask, d.act_mask)
    stats = obs_stats_for(config, d)
    return make_source(d, config.context_len), lambda k: init_train_state(config, k, routing, stats)


# Experts are allocated by the task clustering at `config.cluster_at` (and every `recluster_every` steps).
train: Trainer[MoWConfig, MoW] = Trainer(
    "mow",
    setup=_setup,
    load_checkpoint=load_checkpoint,
    train_chunk=lambda state, src, n, sharding, config: train_chunk(state, src, n, sharding),
    evaluate=evaluate,
)
load_model = train.load_model
