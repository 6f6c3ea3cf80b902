"""MAMBA world-model training: the pure jitted step, chunks of steps, checkpoints, `train`.

`train` runs the loop every world model shares (`mrcom.worldmodel._loop.run_training`): jitted
`lax.scan` chunks aligned to multiples of `steps_per_call`, atomic checkpoints (the shared
`save_checkpoint`), bit-identical resume, and `NonFiniteLossError` on a NaN/inf loss. Each chunk
runs over the static length bucket (`length_buckets`) that holds the curriculum length of its
last step; the exact length of every step is applied inside it by the loss-step subsample, so a
resumed run (whose chunks start at the same multiples) takes exactly the same steps.
"""

from __future__ import annotations

import os

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Int, PRNGKeyArray

from .._checkpoint import Checkpoint, read_train_checkpoint
from .._data import MultiScenarioData
from .._harness import obs_stats_for
from .._jit import jit_by_config
from .._loop import Trainer
from .._train_common import (
    ModelTrainState,
    adam_optimizer,
    fresh_train_state,
    gradient_step,
    scan_sampled_steps,
)
from ._config import MambaConfig
from ._data import MetaBatch, MetaSource, bucket_for, curriculum_length, make_meta_source, sample_meta_batch
from ._imagine import evaluate
from ._losses import compute_loss
from ._model import Mamba, init_model


class TrainState(ModelTrainState[Mamba]):
    """Everything training needs to continue exactly: model, optimizer state, RNG, step."""


# Adam (eps `adam_eps`) after global-norm clipping at `grad_clip` (MAMBA's world model)
make_optimizer = adam_optimizer


@jit_by_config(lambda config, key, horizon=1.0, obs_stats=None: config.fast_compile)
def init_train_state(
    config: MambaConfig, key: PRNGKeyArray, horizon: float | Array = 1.0, obs_stats=None
) -> TrainState:
    """A fresh model (time input j / `horizon`), its optimizer state, RNG and step 0; `obs_stats`: (mean,
    std) of the training observations for `obs_transform="standardize"` (`obs_stats_for`)."""
    model = lambda k: init_model(config, k, jnp.asarray(horizon, jnp.float32), obs_stats)
    return fresh_train_state(TrainState, model, make_optimizer(config), key)


def step_length(config: MambaConfig, step, total: int):
    """The curriculum length (transitions) of the update at `step` for meta-episodes of `total`."""
    return curriculum_length(step, config.seq_len, total, config.curriculum_steps)


def train_step(
    state: TrainState, batch: MetaBatch, length: Int[Array, ""], key: PRNGKeyArray
) -> tuple[TrainState, dict[str, Array]]:
    """One gradient step (pure). Returns (state with step + 1, metrics: `TERMS` and "grad_norm")."""

    def loss_fn(model):
        loss, terms = compute_loss(model, batch, length, key)
        return loss, {**terms, "length": length.astype(jnp.float32)}

    zero_horizon = lambda g: eqx.tree_at(lambda m: m.horizon, g, jnp.zeros_like(g.horizon))  # a constant
    return gradient_step(state, loss_fn, make_optimizer(state.model.config), mask_grads=zero_horizon)


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
    sample = lambda st, k: sample_meta_batch(src, k, c.batch_size, bucket)
    step = lambda st, batch, k: train_step(st, batch, jnp.minimum(step_length(c, st.step, total), bucket), k)
    return scan_sampled_steps(state, num_steps, sample, step, sharding)


def chunk_bucket(config: MambaConfig, step: int, num_steps: int, total: int) -> int:
    """The length bucket of the chunk of `num_steps` updates from `step` (its last step's length)."""
    return bucket_for(step_length(config, step + num_steps - 1, total), config.seq_len, total)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint[Mamba, MambaConfig, TrainState]:
    """Read a MAMBA checkpoint (a file, or a directory holding `checkpoint.eqx`).

    The file format is the shared one of `mrcom.worldmodel.save_checkpoint` (JSON header line +
    serialized `TrainState`); the header's config must be a `MambaConfig`.
    """
    return read_train_checkpoint(path, MambaConfig, init_train_state)


def _setup(d: MultiScenarioData, config: MambaConfig):
    """Meta-episodes of `meta_episodes` consecutive episodes (ValueError: a scenario with fewer)."""
    src = make_meta_source(d, config.meta_episodes)
    return src, lambda k: init_train_state(config, k, float(src.meta_length), obs_stats_for(config, d))


def _train_chunk(state, src, n, sharding, config: MambaConfig):
    """`n` steps at the curriculum's sequence length for the state's step."""
    bucket = chunk_bucket(config, int(state.step), n, src.meta_length)
    return train_steps(state, src, n, bucket, sharding)


train: Trainer[MambaConfig, Mamba] = Trainer(
    "mamba", setup=_setup, load_checkpoint=load_checkpoint, train_chunk=_train_chunk, evaluate=evaluate
)
load_model = train.load_model
