"""DreamerV3 world-model training: the pure jitted step, chunks of steps, checkpoints, `train`.

`train` runs the loop every world model shares (`mrcom.worldmodel._loop.run_training`): jitted
`lax.scan` chunks aligned to multiples of `steps_per_call`, a tqdm bar, atomic checkpoints (the
shared `save_checkpoint`), bit-identical resume, and `NonFiniteLossError` on a NaN/inf loss.
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
from ._config import DreamerConfig
from ._losses import compute_loss
from ._model import Dreamer, init_model


class TrainState(eqx.Module):
    """Everything training needs to continue exactly: model, optimizer state, RNG, step."""

    model: Dreamer
    opt_state: optax.OptState
    key: PRNGKeyArray
    step: Int[Array, ""]


@functools.cache
def make_optimizer(config: DreamerConfig) -> optax.GradientTransformation:
    """Adam (eps `adam_eps`) after global-norm clipping at `grad_clip` (the 2023 paper's world model)."""
    return optax.chain(
        optax.clip_by_global_norm(config.grad_clip), optax.adam(config.learning_rate, eps=config.adam_eps)
    )


@jit_by_config(lambda config, key: config.fast_compile)
def init_train_state(config: DreamerConfig, key: PRNGKeyArray) -> TrainState:
    """A fresh model, its optimizer state, RNG and step 0."""
    kmodel, kstate = jax.random.split(key)
    model = init_model(config, kmodel)
    opt_state = make_optimizer(config).init(eqx.filter(model, eqx.is_array))
    return TrainState(model, opt_state, kstate, jnp.zeros((), jnp.int32))


def train_step(state: TrainState, batch: Batch, key: PRNGKeyArray) -> tuple[TrainState, dict[str, Array]]:
    """One gradient step (pure). Returns (state with step + 1, metrics: `TERMS` and "grad_norm")."""
    optimizer = make_optimizer(state.model.config)
    params, static = eqx.partition(state.model, eqx.is_array)
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


class Checkpoint(NamedTuple):
    model: Dreamer
    config: DreamerConfig
    state: TrainState
    step: int


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a DreamerV3 checkpoint (a file, or a directory holding `checkpoint.eqx`).

    The file format is the shared one of `mrcom.worldmodel.save_checkpoint` (JSON header line +
    serialized `TrainState`); the header's config must be a `DreamerConfig`.
    """
    config, state, step = read_checkpoint(path, DreamerConfig, init_train_state)
    return Checkpoint(state.model, config, state, step)


def train(
    data: MultiScenarioData,
    config: DreamerConfig,
    *,
    key: PRNGKeyArray | None = None,
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    eval_data: MultiScenarioData | None = None,
    log: Callable[[str, float, int], None] | None = None,
    steps: int | None = None,
    progress: bool = True,
) -> tuple[Dreamer, dict[str, float]]:
    """Train a DreamerV3 world model on multi-scenario data; resumes from `checkpoint_dir` if it holds one.

    Arguments:
        data: training episodes (scenario ids are not shown to the model). config: settings.
        key / seed: PRNG key, or a seed to make one.
        checkpoint_dir: where `checkpoint.eqx` is written every `checkpoint_every` steps and at the end.
        eval_data: held-out data evaluated (`evaluate`) every `eval_every` steps and at the end.
        log: log(name, value, step) gets "wm/<term>" train means per chunk and "wm/<metric>" eval metrics.
        steps: total steps (default `config.steps`).

    Returns:
        (model, metrics): the last chunk's term means and the last eval metrics.

    Raises:
        NonFiniteLossError: a loss term became NaN/inf (no checkpoint of that state is written).
    """
    from ._imagine import evaluate  # _imagine imports this module's neighbours only

    d, eval_data, steps = check_train_inputs(data, config, eval_data, steps)
    sharding = data_sharding(config.batch_size)
    src = replicate(make_source(d, config.context_len), sharding)
    return run_training(
        config,
        init_state=lambda key: replicate(init_train_state(config, key), sharding),
        load_state=lambda path: replicate(load_checkpoint(path).state, sharding),
        train_chunk=lambda state, n: train_steps(state, src, n, sharding),
        evaluate=evaluate,
        steps=steps,
        key=key,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        eval_data=eval_data,
        log=log,
        progress=progress,
        desc="dreamerv3",
    )


def load_model(path: str | os.PathLike) -> Dreamer:
    """The model of a DreamerV3 checkpoint (file or directory)."""
    return load_checkpoint(Path(path)).model
