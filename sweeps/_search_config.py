"""Configuration of the lambda search: search space, pruner, heartbeats (one default + presets).

Where the paper is silent (it gives no values or ranges for lambda_var, lambda_s, lambda_v or m),
the ranges below are our choice: log-uniform over two to three decades around 1 for the loss
weights, since eq. 16 only fixes their ratios (lambda_v's range is where L_v's gradient share goes
from negligible to dominant, see its comment); m spans the context lengths the preset's budget
can afford (see docs/choices.md).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

from mrcom.agents import PRESETS

OBJECTIVES: dict[str, Literal["maximize", "minimize"]] = {"model": "minimize", "adapt": "maximize"}
# The search space: each searched parameter (its Optuna name, the SearchConfig field of its range and
# the option --<name> of its range) and where it lives in PipelineConfig.to_dict() (dotted path).
PARAM_PATHS = {
    "lambda_var": "worldmodel.lambda_var",
    "lambda_s": "worldmodel.lambda_s",
    "lambda_v": "worldmodel.lambda_v",
    "m": "worldmodel.context_len",
}
LOSS_WEIGHTS = ("lambda_var", "lambda_s", "lambda_v")  # sampled log-uniformly; m is an integer


def param_updates(params: dict[str, Any]) -> dict[str, Any]:
    """The pipeline updates ``{dotted path: value}`` of a trial's parameters ``{name: value}``."""
    return {PARAM_PATHS[name]: value for name, value in params.items()}


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """One lambda search.

    Fields:
        preset: pipeline preset of every trial (smoke | quick | paper).
        objective: ``model`` (minimize held-out k-step error + value-equivalence error, the default)
            or ``adapt`` (maximize mean normalized return of MrCoM on the validation targets).
        model_seeds: pipeline seeds of a ``model`` trial (``seed``, ``seed + 1``, ...; each its own
            dataset, collected once per study; each trains the world model only, no adaptation): the
            trial's value is the mean of their objectives. On three seeds the model objective ranks
            settings more consistently than on one (docs/choices.md, "Sweeps: the main job's
            objective"). An ``adapt`` trial runs one seed, ``seed``.
        trials: finished (complete or pruned) trials the study must reach.
        lambda_var, lambda_s, lambda_v: ``(low, high)``, sampled log-uniformly; ``0 < low <= high``.
        m: ``(low, high)`` integer context length, ``1 <= low <= high``.
        pruner_startup_trials: trials finished before the median pruner may prune.
        pruner_warmup_steps: reported steps of a trial before it may be pruned.
        heartbeat_interval: seconds between a worker's heartbeats for its running trial.
        grace_period: seconds without heartbeat after which a running trial is stale (failed, retried).
        max_retry: how often the parameters of a stale trial are retried.
        seed: sampler seed and the (first) pipeline seed of every trial.
    """

    preset: str = "quick"
    objective: str = "model"
    model_seeds: int = 3
    trials: int = 6
    lambda_var: tuple[float, float] = (0.1, 10.0)
    lambda_s: tuple[float, float] = (1e-3, 10.0)
    # L_v on the "variance" scale (WorldModelConfig.value_reg_scale, docs/choices.md "The scale of L_v"):
    # at the quick preset after 400 steps, lambda_v 0.1 gives L_v 0.25 % of the summed gradient norms
    # of the loss terms (negligible), 1 8 %, 10 59 % and 30 90 % (dominant); the former [1e-3, 10] gave
    # it under 1e-4 at both ends on the (1 - gamma) value scale (docs/results.md, "Loss terms' gradient
    # shares before/after the L_v rescaling")
    lambda_v: tuple[float, float] = (0.1, 30.0)
    m: tuple[int, int] = (4, 16)
    pruner_startup_trials: int = 2
    pruner_warmup_steps: int = 0
    heartbeat_interval: int = 10
    grace_period: int = 30
    max_retry: int = 2
    seed: int = 0

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"preset={self.preset!r}: must be one of {', '.join(PRESETS)}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective={self.objective!r}: must be one of {', '.join(OBJECTIVES)}")
        if not isinstance(self.trials, int) or self.trials < 1:
            raise ValueError(f"trials={self.trials!r}: must be an integer >= 1")
        if not isinstance(self.model_seeds, int) or self.model_seeds < 1:
            raise ValueError(f"model_seeds={self.model_seeds!r}: must be an integer >= 1")
        for name in LOSS_WEIGHTS:
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
                raise ValueError(f"{name}=({low}, {high}): must satisfy 0 < low <= high (log-uniform range)")
        low, high = self.m
        if int(low) != low or int(high) != high or not 1 <= low <= high:
            raise ValueError(f"m=({low}, {high}): must be integers with 1 <= low <= high")
        for name in ("pruner_startup_trials", "pruner_warmup_steps", "max_retry"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 0")
        if self.heartbeat_interval < 1:
            raise ValueError(f"heartbeat_interval={self.heartbeat_interval}: must be >= 1 second")
        if self.grace_period <= self.heartbeat_interval:
            raise ValueError(
                f"grace_period={self.grace_period}: must exceed heartbeat_interval={self.heartbeat_interval}"
            )

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        """``maximize`` or ``minimize``, from the objective."""
        return OBJECTIVES[self.objective]

    @property
    def trial_seeds(self) -> tuple[int, ...]:
        """The pipeline seeds of every trial: ``seed, ..., seed + model_seeds - 1`` for objective
        ``model``, ``(seed,)`` for ``adapt``."""
        return tuple(range(self.seed, self.seed + (self.model_seeds if self.objective == "model" else 1)))

    def sample(self, trial) -> dict[str, Any]:
        """Ask the Optuna ``trial`` for every searched parameter in its range: ``{name: value}``."""
        params = {name: trial.suggest_float(name, *getattr(self, name), log=True) for name in LOSS_WEIGHTS}
        params["m"] = trial.suggest_int("m", *self.m)
        return params

    def to_dict(self) -> dict[str, Any]:
        """Plain-type dict (ranges as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


SEARCH_PRESETS: dict[str, dict[str, Any]] = {
    # CI: a handful of tiny trials, fast failure detection.
    "smoke": dict(
        trials=3, model_seeds=2, m=(2, 8), pruner_startup_trials=1, heartbeat_interval=2, grace_period=6
    ),
    # README main job on a 2-core laptop CPU.
    "quick": dict(trials=6, m=(4, 16), pruner_startup_trials=2),
    # GPU, many workers.
    "paper": dict(trials=64, m=(8, 64), pruner_startup_trials=8, pruner_warmup_steps=1, grace_period=120),
}


# SEARCH_DELTA: the one difference between a lambda-search trial and a pipeline run of the same preset,
# named and applied in one place (`trial_updates`), so a preset name (`mrcom.agents.preset`, every world
# model's `Config.preset`) means the same budget everywhere else. Every search scores its trials on
# validation targets (a seed stream disjoint from the test targets that the reported tables use), so the
# lambdas are never selected on the scenarios they are then evaluated on. The quick search also shortens
# each trial's world-model training (500 steps instead of the preset's 3000) so that a few trials fit in
# minutes on a 2-core CPU; collection (shared by all trials), the adaptation budget and the rest of the
# quick pipeline stay as they are. The adaptation is not shortened: with SAC's 1000 learning starts, a
# 1500-step adaptation gave every agent 500 steps of updates, and at that budget sac-utd scored above
# MBPO on the validation targets, while at the preset's 3000 steps MBPO is above it (docs/choices.md,
# "Sweeps: per-trial budget of the quick search"). The quick search scores each trial's world model on
# 1024 held-out windows instead of the preset's 64: on 64 the objective of one model moves with the
# window draw by a standard deviation of 0.02 (mean over four models), about as much as the settings
# differ; on 1024 by 0.004, for about 4 s per evaluation (docs/results.md, "Does the model objective
# rank lambda settings the same on every seed?"). The study records the delta it ran with (user
# attribute `search_delta`).
SEARCH_SPLIT = "validation"
SEARCH_DELTA: dict[str, dict[str, Any]] = {
    "smoke": {"envs.target_split": SEARCH_SPLIT},
    "quick": {"envs.target_split": SEARCH_SPLIT, "worldmodel.steps": 500, "worldmodel.eval_windows": 1024},
    "paper": {"envs.target_split": SEARCH_SPLIT},
}


def trial_updates(preset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The pipeline updates of every trial of a ``preset`` search: ``SEARCH_DELTA[preset]``, then the
    user's ``--set`` ``overrides`` (which win)."""
    return {**SEARCH_DELTA[preset], **overrides}


def search_config(preset: str, **overrides: Any) -> SearchConfig:
    """Default SearchConfig, the named preset merged on top, then ``overrides`` (``None`` = keep).

    Arguments:
        preset: smoke | quick | paper.
        overrides: any SearchConfig field.

    Returns:
        The validated SearchConfig.
    """
    if preset not in SEARCH_PRESETS:
        raise ValueError(f"preset={preset!r}: must be one of {', '.join(SEARCH_PRESETS)}")
    fields = {**SEARCH_PRESETS[preset], "preset": preset}
    fields.update({k: v for k, v in overrides.items() if v is not None})
    for name in PARAM_PATHS:
        if name in fields:
            fields[name] = tuple(fields[name])
    return SearchConfig(**fields)
