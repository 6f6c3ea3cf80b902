"""MrCoM's `train` and `load_model`: its train state and jitted steps in the shared loop (`Trainer`)."""

from __future__ import annotations

import os

from .._checkpoint import Checkpoint, read_train_checkpoint
from .._data import observation_stats
from .._loop import NonFiniteLossError, Trainer, window_setup
from ._config import WorldModelConfig
from ._evaluate import evaluate
from ._model import MrCoM
from ._train_step import TrainState, init_train_state, train_steps

__all__ = ["NonFiniteLossError", "load_checkpoint", "load_model", "train"]  # NonFiniteLossError: its old home


def load_checkpoint(path: str | os.PathLike) -> Checkpoint[MrCoM, WorldModelConfig, TrainState]:
    """Read a MrCoM checkpoint file (or a directory holding `checkpoint.eqx`).

    Returns:
        Checkpoint(model, config, state, step); `state` resumes training exactly.
    """
    return read_train_checkpoint(path, WorldModelConfig, init_train_state)


# The observation statistics of the training data set the model's input standardization.
train: Trainer[WorldModelConfig, MrCoM] = Trainer(
    "mrcom",
    setup=window_setup(init_train_state, observation_stats),
    load_checkpoint=load_checkpoint,
    train_chunk=lambda state, src, n, sharding, config: train_steps(state, src, n, sharding, config=config),
    evaluate=evaluate,
)
load_model = train.load_model
