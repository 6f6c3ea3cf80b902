"""MrCoM's `train`: its train state and jitted steps in the shared loop (`_loop.run_training`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from jaxtyping import PRNGKeyArray

from ._checkpoint import load_checkpoint
from ._config import WorldModelConfig
from ._data import MultiScenarioData, make_source, observation_stats
from ._evaluate import evaluate
from ._loop import NonFiniteLossError, TrainArgs, train_model
from ._model import MrCoM
from ._train_step import init_train_state, train_steps

__all__ = ["NonFiniteLossError", "load_model", "train"]  # NonFiniteLossError: its old home


def train(
    data: MultiScenarioData,
    config: WorldModelConfig,
    *,
    key: PRNGKeyArray | None = None,
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    eval_data: MultiScenarioData | None = None,
    log: Callable[[str, float, int], None] | None = None,
    steps: int | None = None,
    progress: bool = True,
) -> tuple[MrCoM, dict[str, float]]:
    """Train a MrCoM world model on multi-scenario data; resumes from `checkpoint_dir` if it holds one.

    Steps run in jitted chunks of `config.steps_per_call` aligned to multiples of it, so a run
    stopped after k steps and resumed ends bit-identical to an uninterrupted one (same seed, CPU).

    Arguments:
        data: training episodes; `config.num_scenarios` must equal its number of scenarios.
        config: model and training settings. key / seed: PRNG key, or a seed to make one.
        checkpoint_dir: where `checkpoint.eqx` is written every `checkpoint_every` steps and at the end.
        eval_data: held-out data evaluated every `eval_every` steps and at the end.
        log: log(name, value, step) receives "wm/<term>" train means per chunk and "wm/<metric>"
            eval metrics; it may raise to stop training (the exception propagates).
        steps: total steps (default `config.steps`).

    Returns:
        (model, metrics): final train term means of the last chunk and the last eval metrics
        (only the eval metrics when a finished run is resumed).

    Raises:
        NonFiniteLossError: a loss term became NaN/inf (no checkpoint of that state is written).
    """
    return train_model(
        data,
        config,
        TrainArgs(key, seed, checkpoint_dir, eval_data, log, steps, progress),
        setup=lambda d: (
            make_source(d, config.context_len),
            lambda k: init_train_state(config, k, observation_stats(d)),
        ),
        load_state=lambda path: load_checkpoint(path).state,
        train_chunk=lambda state, src, n, sharding: train_steps(state, src, n, sharding, config=config),
        evaluate=lambda model, d, key: evaluate(
            model, d, key, num_windows=config.eval_windows, burn_in=config.eval_burn_in
        ),
        desc="worldmodel",
    )


def load_model(path: str | os.PathLike) -> MrCoM:
    """The model of a checkpoint (file or directory)."""
    return load_checkpoint(Path(path)).model
