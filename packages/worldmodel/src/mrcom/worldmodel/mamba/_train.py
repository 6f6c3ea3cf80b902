"""MAMBA world-model training: the pure jitted step, chunks of steps, checkpoints, `train`.

`train` runs the loop every world model shares (`mrcom.worldmodel._loop.run_training`): jitted
`lax.scan` chunks aligned to multiples of `steps_per_call`, atomic checkpoints (the shared
`save_checkpoint`), bit-identical resume, and `NonFiniteLossError` on a NaN/inf loss. Each chunk
runs over the static length bucket (`length_buckets`) that holds the curriculum length of its
last step; the exact length of every step is applied inside it by the loss-step subsample, so a
resumed run (whose chunks start at the same multiples) takes exactly the same steps.
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
from .._data import MultiScenarioData
from .._jit import jit_by_config
from .._loop import check_train_inputs, run_training
from .._parallel import data_sharding, replicate
from ._config import MambaConfig
from ._data import MetaBatch, MetaSource, bucket_for, curriculum_length, make_meta_source, sample_meta_batch
from ._losses import compute_loss
from ._model import Mamba, init_model


class TrainState(eqx.Module):
    """Everything training needs to continue exactly: model, optimizer state, RNG, step."""

    model: Mamba
    opt_state: optax.OptState
    key: PRNGKeyArray
    step: Int[Array, ""]


@functools.cache
def make_optimizer(config: MambaConfig) -> optax.GradientTransformation:
    """Adam (eps `adam_eps`) after global-norm clipping at `grad_clip` (MAMBA's world model)."""
    return optax.chain(
        optax.clip_by_global_norm(config.grad_clip), optax.adam(config.learning_rate, eps=config.adam_eps)
    )


@jit_by_config(lambda config, key, horizon=1.0: config.fast_compile)
def init_train_state(config: MambaConfig, key: PRNGKeyArray, horizon: float | Array = 1.0) -> TrainState:
    """A fresh model (time input j / `horizon`), its optimizer state, RNG and step 0."""
    kmodel, kstate = jax.random.split(key)
    model = init_model(config, kmodel, jnp.asarray(horizon, jnp.float32))
    opt_state = make_optimizer(config).init(eqx.filter(model, eqx.is_array))
    return TrainState(model, opt_state, kstate, jnp.zeros((), jnp.int32))


def step_length(config: MambaConfig, step, total: int):
    """The curriculum length (transitions) of the update at `step` for meta-episodes of `total`."""
    return curriculum_length(step, config.seq_len, total, config.curriculum_steps)


def train_step(
    state: TrainState, batch: MetaBatch, length: Int[Array, ""], key: PRNGKeyArray
) -> tuple[TrainState, dict[str, Array]]:
    """One gradient step (pure). Returns (state with step + 1, metrics: `TERMS` and "grad_norm")."""
    optimizer = make_optimizer(state.model.config)
    params, static = eqx.partition(state.model, eqx.is_array)
    loss_fn = lambda p: compute_loss(eqx.combine(p, static), batch, length, key)
    (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    grads = eqx.tree_at(lambda m: m.horizon, grads, jnp.zeros_like(grads.horizon))  # a constant
    updates, opt_state = optimizer.update(grads, state.opt_state, params)
    model = eqx.combine(optax.apply_updates(params, updates), static)
    metrics = {
        "loss": loss,
        **terms,
        "length": length.astype(jnp.float32),
        "grad_norm": optax.tree.norm(grads),
    }
    return TrainState(model, opt_state, state.key, state.step + 1), metrics


@jit_by_config(lambda state, *args, **kwargs: state.model.config.fast_compile)
def train_steps(state: TrainState, src: MetaSource, num_steps: int, bucket: int, sharding=None):
    """`num_steps` steps in one `lax.scan` over sequences of `bucket` transitions (static).

    Each step samples its meta-episodes with the state's key and trains at its curriculum length
    (capped at `bucket`).

    Returns:
        (state, metrics stacked over the steps).
    """
    c = state.model.config
    total = src.meta_length
    params, static = eqx.partition(state, eqx.is_array)

    def body(params, _):
        st = eqx.combine(params, static)
        key, kbatch, kstep = jax.random.split(st.key, 3)
        batch = sample_meta_batch(src, kbatch, c.batch_size, bucket)
        if sharding is not None:
            batch = jax.lax.with_sharding_constraint(batch, sharding)
        length = jnp.minimum(step_length(c, st.step, total), bucket)
        st, metrics = train_step(eqx.tree_at(lambda s: s.key, st, key), batch, length, kstep)
        return eqx.partition(st, eqx.is_array)[0], metrics

    params, metrics = jax.lax.scan(body, params, None, length=num_steps)
    return eqx.combine(params, static), metrics


def chunk_bucket(config: MambaConfig, step: int, num_steps: int, total: int) -> int:
    """The length bucket of the chunk of `num_steps` updates from `step` (its last step's length)."""
    return bucket_for(step_length(config, step + num_steps - 1, total), config.seq_len, total)


class Checkpoint(NamedTuple):
    model: Mamba
    config: MambaConfig
    state: TrainState
    step: int


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a MAMBA checkpoint (a file, or a directory holding `checkpoint.eqx`).

    The file format is the shared one of `mrcom.worldmodel.save_checkpoint` (JSON header line +
    serialized `TrainState`); the header's config must be a `MambaConfig`.
    """
    config, state, step = read_checkpoint(path, MambaConfig, init_train_state)
    return Checkpoint(state.model, config, state, step)


def train(
    data: MultiScenarioData,
    config: MambaConfig,
    *,
    key: PRNGKeyArray | None = None,
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    eval_data: MultiScenarioData | None = None,
    log: Callable[[str, float, int], None] | None = None,
    steps: int | None = None,
    progress: bool = True,
) -> tuple[Mamba, dict[str, float]]:
    """Train a MAMBA world model on the meta-episodes of `data`; resumes from `checkpoint_dir`.

    Arguments:
        data: training episodes; `config.meta_episodes` consecutive episodes of a scenario form a
            meta-episode (scenario ids are not shown to the model). config: settings.
        key / seed: PRNG key, or a seed to make one.
        checkpoint_dir: where `checkpoint.eqx` is written every `checkpoint_every` steps and at the end.
        eval_data: held-out data evaluated (`evaluate`) every `eval_every` steps and at the end.
        log: log(name, value, step) gets "wm/<term>" train means per chunk (`TERMS`, "grad_norm";
            "wm/length" is the mean curriculum length) and "wm/<metric>" eval metrics.
        steps: total steps (default `config.steps`; the curriculum follows `config.steps`).

    Returns:
        (model, metrics): the last chunk's term means and the last eval metrics.

    Raises:
        NonFiniteLossError: a loss term became NaN/inf (no checkpoint of that state is written).
        ValueError: bad inputs, or a scenario with fewer than `meta_episodes` episodes.
    """
    from ._imagine import evaluate  # _imagine imports this module's neighbours only

    d, eval_data, steps = check_train_inputs(data, config, eval_data, steps)
    sharding = data_sharding(config.batch_size)
    src = replicate(make_meta_source(d, config.meta_episodes), sharding)
    total = src.meta_length

    def chunk(state, n):
        bucket = chunk_bucket(config, int(state.step), n, total)
        return train_steps(state, src, n, bucket, sharding)

    return run_training(
        config,
        init_state=lambda key: replicate(init_train_state(config, key, float(total)), sharding),
        load_state=lambda path: replicate(load_checkpoint(path).state, sharding),
        train_chunk=chunk,
        evaluate=evaluate,
        steps=steps,
        key=key,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        eval_data=eval_data,
        log=log,
        progress=progress,
        desc="mamba",
    )


def load_model(path: str | os.PathLike) -> Mamba:
    """The model of a MAMBA checkpoint (file or directory)."""
    return load_checkpoint(Path(path)).model
