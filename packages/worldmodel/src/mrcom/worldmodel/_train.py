"""The training loop: jitted chunks of steps, progress bar, evaluation, checkpoints, logging."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from jaxtyping import PRNGKeyArray
from tqdm.auto import tqdm

from ._checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from ._config import WorldModelConfig
from ._data import MultiScenarioData, make_source, observation_stats
from ._evaluate import HORIZON, evaluate
from ._model import MrCoM
from ._parallel import data_sharding, replicate
from ._train_step import init_train_state, train_steps


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or inf loss; the message names the step and the loss terms."""


def _check_data(data: MultiScenarioData, config: WorldModelConfig, name: str) -> MultiScenarioData:
    d = data.validate(context_len=config.context_len)
    if d.obs.shape[-1] != config.obs_dim or d.action.shape[-1] != config.act_dim:
        raise ValueError(
            f"{name} widths (obs {d.obs.shape[-1]}, action {d.action.shape[-1]}): must equal config "
            f"obs_dim={config.obs_dim}, act_dim={config.act_dim}"
        )
    return d


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
    key = jax.random.PRNGKey(seed) if key is None else key
    eval_key = jax.random.fold_in(key, 1)

    state = None
    if checkpoint_dir is not None and checkpoint_path(checkpoint_dir).is_file():
        ck = load_checkpoint(checkpoint_dir)
        if ck.config != config:
            raise ValueError(
                f"checkpoint_dir={str(checkpoint_dir)!r}: holds a checkpoint of a different config"
            )
        state = ck.state
    if state is None:
        state = init_train_state(config, key, observation_stats(d))

    sharding = data_sharding(config.batch_size)
    src = replicate(make_source(d, config.context_len), sharding)
    state = replicate(state, sharding)
    step = int(state.step)
    metrics: dict[str, float] = {}
    chunk = config.steps_per_call
    bar = tqdm(total=steps, initial=min(step, steps), desc="worldmodel", disable=not progress, unit="step")
    try:
        while step < steps:
            n = min(chunk - step % chunk, steps - step)
            new_state, chunk_metrics = train_steps(state, src, n, sharding)
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
                save_checkpoint(checkpoint_dir, state)
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
        save_checkpoint(checkpoint_dir, state)
    if not metrics and eval_data is not None:  # nothing left to train (resumed a finished run)
        metrics = evaluate(state.model, eval_data, eval_key)
    return state.model, metrics


def load_model(path: str | os.PathLike) -> MrCoM:
    """The model of a checkpoint (file or directory)."""
    return load_checkpoint(Path(path)).model
