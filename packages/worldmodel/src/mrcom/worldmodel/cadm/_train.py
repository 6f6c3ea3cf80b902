"""CaDM training: the pure step, jitted chunks of `lax.scan` steps, checkpoints, `train`.

`train` runs the loop every world model shares (`mrcom.worldmodel._loop.run_training`: chunks
aligned to multiples of `steps_per_call`, so a resumed run ends bit-identical to an uninterrupted
one); checkpoints are written by the shared `save_checkpoint` (JSON header line with the config,
then the serialized `TrainState`).
"""

from __future__ import annotations

import functools
import os

import equinox as eqx
import jax
import optax
from jaxtyping import Array, PRNGKeyArray

from .._checkpoint import Checkpoint, read_train_checkpoint
from .._data import Batch, SequenceSource, sample_batch
from .._jit import jit_by_config
from .._loop import Trainer, window_setup
from .._train_common import ModelTrainState, fresh_train_state, gradient_step, scan_steps
from ._config import CaDMConfig
from ._imagine import evaluate
from ._losses import compute_loss
from ._model import CaDM, Normalizer, compute_normalizer, init_model


class TrainState(ModelTrainState[CaDM]):
    """Everything training needs to continue exactly: model, optimizer state, RNG, step."""


def _decay_mask(params):
    """True on the weight matrices of linear layers (L2), False elsewhere (biases, bounds, stats)."""
    is_weight = lambda path, x: x is not None and getattr(path[-1], "name", None) == "weight"
    return jax.tree_util.tree_map_with_path(is_weight, params)


@functools.cache
def make_optimizer(config: CaDMConfig) -> optax.GradientTransformation:
    """Global-norm clipping, L2 on the weights (coupled, as a loss term would be), Adam."""
    return optax.chain(
        optax.clip_by_global_norm(config.grad_clip),
        optax.add_decayed_weights(config.weight_decay, mask=_decay_mask),
        optax.adam(config.learning_rate),
    )


@jit_by_config(lambda config, key, norm=None: config.fast_compile)
def init_train_state(config: CaDMConfig, key: PRNGKeyArray, norm: Normalizer | None = None) -> TrainState:
    """A fresh model with statistics `norm` (default identity), its optimizer state, RNG and step 0."""
    return fresh_train_state(TrainState, lambda k: init_model(config, k, norm), make_optimizer(config), key)


def member_batches(src: SequenceSource, key: PRNGKeyArray, config: CaDMConfig) -> Batch:
    """One `sample_batch` per ensemble member (arrays (E, B, ...)): members see different windows."""
    keys = jax.random.split(key, config.ensemble_size)
    sample = lambda k: sample_batch(src, k, config.batch_size, config.seq_len, config.context_len)
    return jax.vmap(sample)(keys)


def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, dict[str, Array]]:
    """One gradient step (pure) on member batches `batch` (E, B, ...).

    Returns:
        (new state with step + 1, metrics: "loss" and the terms of `compute_loss`, "grad_norm").
    """
    return gradient_step(state, lambda model: compute_loss(model, batch), make_optimizer(state.model.config))


@jit_by_config(lambda state, *args: state.model.config.fast_compile)
def train_steps(
    state: TrainState, src: SequenceSource, num_steps: int
) -> tuple[TrainState, dict[str, Array]]:
    """`num_steps` training steps in one `lax.scan`, sampling from `src` with the state's key.

    Returns:
        (state, metrics stacked over the steps).
    """
    c = state.model.config

    def step(st: TrainState) -> tuple[TrainState, dict[str, Array]]:
        key, kbatch = jax.random.split(st.key)
        return train_step(eqx.tree_at(lambda s: s.key, st, key), member_batches(src, kbatch, c))

    return scan_steps(state, num_steps, step)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint[CaDM, CaDMConfig, TrainState]:
    """Read a CaDM checkpoint (a file, or a directory holding `checkpoint.eqx`): the shared format of
    `mrcom.worldmodel.save_checkpoint`, whose header's config must be a `CaDMConfig`."""
    return read_train_checkpoint(path, CaDMConfig, init_train_state)


# The input normalizer is the training data's statistics at the first step, stored in the model (a resumed
# run keeps the checkpoint's); the ensemble is never sharded.
train: Trainer[CaDMConfig, CaDM] = Trainer(
    "cadm",
    setup=window_setup(init_train_state, compute_normalizer),
    load_checkpoint=load_checkpoint,
    train_chunk=lambda state, src, n, sharding, config: train_steps(state, src, n),
    evaluate=evaluate,
    shard=False,
)
load_model = train.load_model
