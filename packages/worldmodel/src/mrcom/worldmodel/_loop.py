"""The training loop every world model shares: jitted chunks of steps, progress bar, NaN check,
checkpoints, logging, evaluation, resume.

A model's `train` is a `Trainer`: it validates its inputs (`check_train_inputs`), builds the model's
data source, and hands `run_training` what differs: how to start or resume the train state, the
jitted chunk of steps, and the evaluation.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import jax
import numpy as np
from jaxtyping import PRNGKeyArray
from tqdm.auto import tqdm

from ._checkpoint import (
    CheckpointState,
    checkpoint_config,
    checkpoint_config_of,
    checkpoint_path,
    save_checkpoint,
)
from ._config_base import SharedConfig
from ._data import MultiScenarioData, SequenceSource, make_source
from ._evaluate import HORIZON
from ._parallel import data_sharding, replicate

State = TypeVar("State", bound=CheckpointState)  # an eqx.Module with `model` and `step`
Config = TypeVar("Config", bound=SharedConfig)
Model = TypeVar("Model")


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or inf loss; the message names the step and the loss terms."""


def _check_data(data: MultiScenarioData, config: Any, name: str) -> MultiScenarioData:
    d = data.validate(context_len=config.context_len)
    if d.obs.shape[-1] != config.obs_dim or d.action.shape[-1] != config.act_dim:
        raise ValueError(
            f"{name} widths (obs {d.obs.shape[-1]}, action {d.action.shape[-1]}): must equal config "
            f"obs_dim={config.obs_dim}, act_dim={config.act_dim}"
        )
    return d


def check_train_inputs(
    data: MultiScenarioData, config: Any, eval_data: MultiScenarioData | None, steps: int | None
) -> tuple[MultiScenarioData, MultiScenarioData | None, int]:
    """Validate `train`'s arguments against `config`.

    Returns:
        (validated data, validated eval_data or None, total steps: `steps` or `config.steps`).
    """
    steps = config.steps if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps={steps!r}: must be an integer >= 0")
    d = _check_data(data, config, "data")
    if d.num_scenarios != config.num_scenarios:
        raise ValueError(
            f"num_scenarios={config.num_scenarios}: must equal the data's {d.num_scenarios} scenarios"
        )
    if config.seq_len > d.episode_length:
        raise ValueError(f"seq_len={config.seq_len}: must be <= episode length {d.episode_length}")
    if eval_data is not None:
        eval_data = _check_data(eval_data, config, "eval_data")
        if eval_data.episode_length < config.eval_burn_in + HORIZON:
            raise ValueError(
                f"eval_data episode length {eval_data.episode_length}: must be >= eval_burn_in + {HORIZON}"
                f" = {config.eval_burn_in + HORIZON}"
            )
    return d, eval_data, steps


def evaluation_key(key: PRNGKeyArray) -> PRNGKeyArray:
    """The key of a training run's held-out evaluations (every `eval_every` steps and at the end), from
    the run's key: the windows its metrics are scored on. A run's last metrics can be reproduced from a
    checkpoint with `evaluate(model, eval_data, evaluation_key(key))`."""
    return jax.random.fold_in(key, 1)


def run_training(
    config: Any,
    *,
    init_state: Callable[[PRNGKeyArray], State],
    load_state: Callable[[str | os.PathLike], State],
    train_chunk: Callable[[State, int], tuple[State, dict[str, Any]]],
    evaluate: Callable[[Any, MultiScenarioData, PRNGKeyArray], dict[str, float]],
    steps: int,
    key: PRNGKeyArray | None,
    seed: int,
    checkpoint_dir: str | os.PathLike | None,
    eval_data: MultiScenarioData | None,
    log: Callable[[str, float, int], None] | None,
    progress: bool,
    desc: str,
) -> tuple[Any, dict[str, float]]:
    """Train to `steps` steps from a fresh state or the checkpoint in `checkpoint_dir`.

    Chunks of `train_chunk(state, n)` (n steps; metrics stacked over them) are aligned to multiples
    of `config.steps_per_call`, so a run stopped after k steps and resumed ends bit-identical to an
    uninterrupted one. A NaN/inf metric raises `NonFiniteLossError` naming the step and the terms,
    before that state is checkpointed. The state is saved to `checkpoint_dir` every
    `checkpoint_every` steps and at the end; "wm/<term>" chunk means and "wm/<metric>" eval
    metrics go to `log`; `eval_data` is evaluated every `eval_every` steps and at the end.

    Arguments:
        init_state: init_state(key) -> a fresh train state (at step 0).
        load_state: load_state(checkpoint_dir) -> the state saved there (the checkpoint's config
            must equal `config`).
        evaluate: evaluate(model, eval_data, key) -> metrics.
        key / seed: PRNG key, or a seed to make one; the evaluation key is `evaluation_key(key)`.
        desc: the progress bar's label (`progress`: show it).

    Returns:
        (model, metrics): the last chunk's term means and the last eval metrics (only the eval
        metrics when a finished run is resumed).
    """
    key = jax.random.PRNGKey(seed) if key is None else key
    eval_key = evaluation_key(key)

    state = None
    if checkpoint_dir is not None and checkpoint_path(checkpoint_dir).is_file():
        if checkpoint_config_of(type(config), checkpoint_config(checkpoint_dir)) != config:
            raise ValueError(
                f"checkpoint_dir={str(checkpoint_dir)!r}: holds a checkpoint of a different config"
            )
        state = load_state(checkpoint_dir)
    if state is None:
        state = init_state(key)

    step = int(state.step)
    metrics: dict[str, float] = {}
    chunk = config.steps_per_call
    bar = tqdm(total=steps, initial=min(step, steps), desc=desc, disable=not progress, unit="step")
    try:
        while step < steps:
            n = min(chunk - step % chunk, steps - step)
            new_state, chunk_metrics = train_chunk(state, n)
            chunk_metrics = {k: np.asarray(v) for k, v in jax.device_get(chunk_metrics).items()}
            finite = np.all([np.isfinite(v) for v in chunk_metrics.values()], axis=0)
            if not finite.all():
                i = int(np.argmin(finite))
                terms = ", ".join(f"{k}={v[i]:.4g}" for k, v in chunk_metrics.items())
                raise NonFiniteLossError(f"non-finite loss at step {step + i + 1}: {terms}")
            state, step = new_state, step + n
            metrics = {k: float(v.mean()) for k, v in chunk_metrics.items()}
            bar.update(n)
            bar.set_postfix(loss=f"{metrics['loss']:.3f}")
            if checkpoint_dir is not None and (step % config.checkpoint_every == 0 or step == steps):
                save_checkpoint(checkpoint_dir, state, config)
            if log is not None:
                for name, value in metrics.items():
                    log(f"wm/{name}", value, step)
            if eval_data is not None and (step % config.eval_every == 0 or step == steps):
                result = evaluate(state.model, eval_data, eval_key)
                metrics.update(result)
                if log is not None:
                    for name, value in result.items():
                        log(f"wm/{name}", value, step)
    finally:
        bar.close()
    if checkpoint_dir is not None and not checkpoint_path(checkpoint_dir).is_file():
        save_checkpoint(checkpoint_dir, state, config)
    if not metrics and eval_data is not None:  # nothing left to train (resumed a finished run)
        metrics = evaluate(state.model, eval_data, eval_key)
    return state.model, metrics


@dataclasses.dataclass(frozen=True)
class Trainer(Generic[Config, Model]):
    """A world model's `train` (call it) and `load_model`, built from the parts that differ between models.

    Every model trains in the same loop (`run_training`) on the same validated inputs
    (`check_train_inputs`), with its data source and states replicated over `data_sharding(batch_size)`
    (`shard=False`: never sharded; the sharding passed to `train_chunk` is None).

    Fields:
        name: the progress bar's label (the method name).
        setup: setup(validated data, config) -> (data source, init_state(key) -> a fresh train state).
        load_checkpoint: load_checkpoint(path) -> a `Checkpoint` (its `.state` and `.model`).
        train_chunk: train_chunk(state, source, n, sharding, config) -> (state, metrics stacked over n).
        evaluate: evaluate(model, data, key, *, num_windows, burn_in) -> metrics (the config's
            `eval_windows` and `eval_burn_in` in training).
    """

    name: str
    setup: Callable[[MultiScenarioData, Config], tuple[Any, Callable[[PRNGKeyArray], Any]]]
    load_checkpoint: Callable[[str | os.PathLike], Any]
    train_chunk: Callable[[Any, Any, int, Any, Config], tuple[Any, dict[str, Any]]]
    evaluate: Callable[..., dict[str, float]]
    shard: bool = True

    def __call__(
        self,
        data: MultiScenarioData,
        config: Config,
        *,
        key: PRNGKeyArray | None = None,
        seed: int = 0,
        checkpoint_dir: str | os.PathLike | None = None,
        eval_data: MultiScenarioData | None = None,
        log: Callable[[str, float, int], None] | None = None,
        steps: int | None = None,
        progress: bool = True,
    ) -> tuple[Model, dict[str, float]]:
        """Train a world model on multi-scenario data; resumes from `checkpoint_dir` if it holds one.

        Steps run in jitted chunks of `config.steps_per_call` aligned to multiples of it, so a run
        stopped after k steps and resumed ends bit-identical to an uninterrupted one (same seed, CPU).

        Arguments:
            data: training episodes; `config.num_scenarios` must equal its number of scenarios.
            config: the model's config. key / seed: PRNG key, or a seed to make one.
            checkpoint_dir: where `checkpoint.eqx` is written every `checkpoint_every` steps and at the end.
            eval_data: held-out data evaluated every `eval_every` steps and at the end.
            log: log(name, value, step) receives "wm/<term>" train means per chunk and "wm/<metric>"
                eval metrics; it may raise to stop training (the exception propagates).
            steps: total steps (default `config.steps`).
            progress: show a progress bar.

        Returns:
            (model, metrics): the last chunk's train term means and the last eval metrics (only the
            eval metrics when a finished run is resumed).

        Raises:
            NonFiniteLossError: a loss term became NaN/inf (no checkpoint of that state is written).
            ValueError: inputs that do not fit the config (the message names the field).
        """
        d, eval_data, steps = check_train_inputs(data, config, eval_data, steps)
        sharding = data_sharding(config.batch_size) if self.shard else None
        src, init_state = self.setup(d, config)
        src = replicate(src, sharding)
        windows, burn_in = config.eval_windows, config.eval_burn_in
        return run_training(
            config,
            init_state=lambda k: replicate(init_state(k), sharding),
            load_state=lambda path: replicate(self.load_checkpoint(path).state, sharding),
            train_chunk=lambda state, n: self.train_chunk(state, src, n, sharding, config),
            evaluate=lambda model, d, k: self.evaluate(model, d, k, num_windows=windows, burn_in=burn_in),
            steps=steps,
            key=key,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            eval_data=eval_data,
            log=log,
            progress=progress,
            desc=self.name,
        )

    def load_model(self, path: str | os.PathLike) -> Model:
        """The model of a checkpoint (a file, or a directory holding `checkpoint.eqx`)."""
        return self.load_checkpoint(Path(path)).model


def window_setup(
    init_state: Callable[[Config, PRNGKeyArray, Any], Any], stats: Callable[[MultiScenarioData], Any]
) -> Callable[[MultiScenarioData, Config], tuple[SequenceSource, Callable[[PRNGKeyArray], Any]]]:
    """The `Trainer.setup` of a model trained on the windows of `make_source`: setup(d, config) ->
    (make_source(d, config.context_len), lambda key: init_state(config, key, stats(d)))."""
    return lambda d, config: (make_source(d, config.context_len), lambda k: init_state(config, k, stats(d)))
