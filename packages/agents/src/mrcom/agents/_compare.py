"""MBPO with a trained MrCoM model against model-free SAC at the same real-step budget, on one fixed small
CPU setting (used by `benchmarks/mbpo_vs_sac.py`).

The setting: cheetah scenarios of a protocol (default table2-a, every target speed half of v_max). A
dataset of 5 behaviour policies (4 trained on, 1 held out) and a small world model come first. Then every
method adapts one agent per target and seed, for the same real steps, from the same initial networks and
resets. The figures measured on it are in docs/choices.md ("The MBPO-vs-SAC setting").
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

import numpy as np

from ._collect import run_collect, target_scenarios
from ._config import PipelineConfig, preset
from ._stages import adapt_method, run_train

_SETTING = dict(
    envs=dict(
        robots=("cheetah",), episode_length=100, num_train_scenarios=5, num_heldout_scenarios=1, num_targets=4
    ),
    collect=dict(steps_per_scenario=2000, prompt_episodes=1, batch_scenarios=5),
    sac=dict(
        hidden=(64, 64),
        batch_size=128,
        learning_starts=300,
        update_every=50,
        actor_lr=1e-3,
        critic_lr=1e-3,
        alpha_lr=1e-3,
        fast_compile=False,
    ),
    worldmodel=dict(
        steps=1500,
        steps_per_call=100,
        eval_every=1500,
        checkpoint_every=1500,
        seq_len=12,
        batch_size=16,
        context_len=4,
        eval_burn_in=4,
        eval_windows=32,
        d_dim=32,
        u_dim=8,
        h_dim=8,
        embed_dim=24,
        hidden=64,
        value_hidden=32,
        fast_compile=False,
    ),
    adapt=dict(
        real_steps=1000,
        real_ratio=0.5,
        rollout_length=1,
        rollouts_per_step=4,
        updates_per_step=5,
        model_buffer_steps=500,
        prefix_len=4,
        start_steps=300,
        eval_every=1000,
    ),
    eval=dict(episodes=2),
)


def comparison_config(protocol: str = "table2-a", robot: str = "cheetah", **overrides) -> PipelineConfig:
    """The fixed comparison setting (module docstring) with `overrides` in `preset`'s forms.

    Arguments:
        protocol: a key of `mrcom.envs.PROTOCOLS`. robot: the one robot used.
        **overrides: e.g. `adapt={"real_steps": 500}` or `**{"adapt.updates_per_step": 2}`.

    Returns:
        A validated `PipelineConfig` (built on the smoke preset).
    """
    cfg = preset("smoke", protocol, **_SETTING)
    cfg = cfg.replace(envs=dataclasses.asdict(cfg.envs) | {"robots": (robot,)})
    return cfg.replace(**overrides) if overrides else cfg


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Final normalized returns per method label, each shaped (seeds, targets), model rollouts per label
    (0 for model-free SAC) and the world model's held-out metrics. Labels: `Comparison.MBPO`,
    `Comparison.SAC` and `Comparison.SAC_CONTROL`."""

    MBPO: ClassVar[str] = "MBPO (MrCoM)"
    SAC: ClassVar[str] = "SAC"
    SAC_CONTROL: ClassVar[str] = "SAC at MBPO's update-to-data ratio"

    finals: dict[str, np.ndarray]
    rollouts: dict[str, int]
    worldmodel: dict[str, float]

    def mean(self, label: str) -> float:
        """Mean over seeds and targets."""
        return float(self.finals[label].mean())


def compare_mbpo_sac(
    cfg: PipelineConfig, workdir: Path, seeds: int, *, control: bool = False, progress: bool = False
) -> Comparison:
    """Collect (if needed), train the world model (if needed), then adapt MBPO and model-free SAC.

    Arguments:
        cfg: the setting (`comparison_config`). workdir: keeps the dataset and world model for reuse.
        seeds: independent agents per target and method.
        control: also model-free SAC at MBPO's update-to-data ratio (`adapt.updates_per_step`), which
            separates the effect of the model's data from that of the extra gradient steps.

    Returns:
        A `Comparison` with the labels `MBPO`, `SAC` (and `SAC_CONTROL`).
    """
    from mrcom.worldmodel import load_model

    workdir = Path(workdir)
    run_collect(cfg, workdir, progress=progress)
    run_train(cfg, workdir, progress=progress)
    model = load_model(workdir / "worldmodel")
    metrics = json.loads((workdir / "worldmodel" / "metrics.json").read_text())
    targets = target_scenarios(cfg)
    runs = [(Comparison.MBPO, "mrcom", cfg), (Comparison.SAC, "sac", cfg)]
    if control:
        runs.append((Comparison.SAC_CONTROL, "sac-utd", cfg))
    finals, rollouts = {}, {}
    for label, method, c in runs:
        res, augmenter = adapt_method(
            c, method, targets * seeds, model=model, dataset=workdir / "dataset", progress=progress
        )
        finals[label] = np.asarray(res.curve_returns[-1]).reshape(seeds, len(targets))
        rollouts[label] = 0 if augmenter is None else augmenter.rollouts_done
    return Comparison(finals, rollouts, {k: float(v) for k, v in metrics.items()})
