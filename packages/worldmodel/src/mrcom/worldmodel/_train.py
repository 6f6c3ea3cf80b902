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
from ._loop import NonFiniteLossError, check_train_inputs, run_training
from ._model import MrCoM
from ._parallel import data_sharding, replicate
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
    d, eval_data, steps = check_train_inputs(data, config, eval_data, steps)
    sharding = data_sharding(config.batch_size)
    src = replicate(make_source(d, config.context_len), sharding)
    return run_training(
        config,
        init_state=lambda key: replicate(init_train_state(config, key, observation_stats(d)), sharding),
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
        desc="worldmodel",
    )


def load_model(path: str | os.PathLike) -> MrCoM:
    """The model of a checkpoint (file or directory)."""
    return load_checkpoint(Path(path)).model
