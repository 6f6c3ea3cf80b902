"""DreamerV3 world-model training: the pure jitted step, chunks of steps, checkpoints, `train`.

`train` runs the loop every world model shares (`mrcom.worldmodel._loop.run_training`): jitted
`lax.scan` chunks aligned to multiples of `steps_per_call`, a tqdm bar, atomic checkpoints (the
shared `save_checkpoint`), bit-identical resume, and `NonFiniteLossError` on a NaN/inf loss.
"""

from __future__ import annotations

import os

from jaxtyping import Array, PRNGKeyArray

from .._checkpoint import Checkpoint, read_train_checkpoint
from .._data import Batch, SequenceSource, make_source
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
from ._config import DreamerConfig
from ._imagine import evaluate
from ._losses import compute_loss
from ._model import Dreamer, init_model


class TrainState(ModelTrainState[Dreamer]):
    """Everything training needs to continue exactly: model, optimizer state, RNG, step."""


# Adam (eps `adam_eps`) after global-norm clipping at `grad_clip` (the 2023 paper's world model)
make_optimizer = adam_optimizer


@jit_by_config(lambda config, key, obs_stats=None: config.fast_compile)
def init_train_state(config: DreamerConfig, key: PRNGKeyArray, obs_stats=None) -> TrainState:
    """A fresh model, its optimizer state, RNG and step 0; `obs_stats`: (mean, std) of the training
    observations for `obs_transform="standardize"` (`obs_stats_for`; None: 0 and 1)."""
    model = lambda k: init_model(config, k, obs_stats)
    return fresh_train_state(TrainState, model, make_optimizer(config), key)


def train_step(state: TrainState, batch: Batch, key: PRNGKeyArray) -> tuple[TrainState, dict[str, Array]]:
    """One gradient step (pure). Returns (state with step + 1, metrics: `TERMS` and "grad_norm")."""
    loss_fn = lambda model: compute_loss(model, batch, key)
    return gradient_step(state, loss_fn, make_optimizer(state.model.config))


@jit_by_config(lambda state, *args, **kwargs: state.model.config.fast_compile)
def train_steps(state: TrainState, src: SequenceSource, num_steps: int, sharding=None):
    """`num_steps` steps in one `lax.scan`, each batch sampled from `src` with the state's key.

    Returns:
        (state, metrics stacked over the steps).
    """
    return scan_window_steps(state, src, num_steps, train_step, sharding)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint[Dreamer, DreamerConfig, TrainState]:
    """Read a DreamerV3 checkpoint (a file, or a directory holding `checkpoint.eqx`).

    The file format is the shared one of `mrcom.worldmodel.save_checkpoint` (JSON header line +
    serialized `TrainState`); the header's config must be a `DreamerConfig`.
    """
    return read_train_checkpoint(path, DreamerConfig, init_train_state)


# DreamerV3 sees no scenario id; its evaluation is `evaluate` of this package. The training data's
# observation statistics set the standardization (`obs_transform="standardize"`).
train: Trainer[DreamerConfig, Dreamer] = Trainer(
    "dreamerv3",
    setup=lambda d, config: (
        make_source(d, config.context_len),
        lambda k: init_train_state(config, k, obs_stats_for(config, d)),
    ),
    load_checkpoint=load_checkpoint,
    train_chunk=lambda state, src, n, sharding, config: train_steps(state, src, n, sharding),
    evaluate=evaluate,
)
load_model = train.load_model
