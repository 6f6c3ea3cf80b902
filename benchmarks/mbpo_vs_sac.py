"""MrCoM-MBPO vs model-free SAC at the same small real-step budget (normalized return, per seed).

The fixed small CPU setting of `comparison_config` (cheetah, table2-a: every target
speed is half of v_max): a dataset of 5 behaviour policies (4 trained on, 1 held out), a small world
model, then `--real-steps` real steps of adaptation on 4 targets x `--seeds` seeds for each method,
from the same initial networks and resets. MBPO uses k=1 rollouts, real ratio 0.5 and `--mbpo-utd`
gradient steps per real step; SAC keeps 1 (its standard setting). `--control` adds model-free SAC
at MBPO's update-to-data ratio, to separate the effect of the model's data from that of the extra
updates. The dataset and world model are kept in `--workdir` and reused by later runs.

    uv run python benchmarks/mbpo_vs_sac.py --workdir /tmp/mbpo_vs_sac --seeds 4 --control
    uv run python benchmarks/mbpo_vs_sac.py --robot walker --protocol table1-a --seeds 6
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import ClassVar

import numpy as np

from mrcom.agents import PipelineConfig, adapt_method, preset, run_collect, run_train, target_scenarios

# ----------------------------------------------------------------------------- the setting and the comparison

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


# ----------------------------------------------------------------------------- the command


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, default=Path("runs/bench_mbpo_vs_sac"), help="dataset + model")
    p.add_argument("--seeds", type=int, default=4, help="independent agents per target and method")
    p.add_argument("--real-steps", type=int, default=1000, help="real-step budget per agent")
    p.add_argument("--mbpo-utd", type=int, default=5, help="MBPO gradient steps per real step")
    p.add_argument("--rollout-length", type=int, default=1, help="k of the branched model rollouts")
    p.add_argument("--real-ratio", type=float, default=0.5, help="real share of every MBPO batch")
    p.add_argument("--robot", default="cheetah", help="the setting's one robot")
    p.add_argument("--protocol", default="table2-a", help="a key of mrcom.envs.PROTOCOLS")
    p.add_argument("--control", action="store_true", help="also model-free SAC at --mbpo-utd")
    args = p.parse_args(argv)

    adapt = {
        "real_steps": args.real_steps,
        "eval_every": args.real_steps,
        "updates_per_step": args.mbpo_utd,
        "rollout_length": args.rollout_length,
        "real_ratio": args.real_ratio,
    }
    cfg = comparison_config(args.protocol, args.robot, adapt=adapt)
    t0 = time.perf_counter()
    res = compare_mbpo_sac(cfg, args.workdir, args.seeds, control=args.control, progress=True)
    wm = res.worldmodel
    k1, rmse = wm["k1_obs_nmse"], wm["reward_mse"]
    print(f"\nworld model (held-out scenario): k1_obs_nmse {k1:.3f}, reward_mse {rmse:.4f}")
    print(f"normalized return after {args.real_steps} real steps, 4 {args.robot} targets of {args.protocol}")
    for label, f in res.finals.items():
        print(label)
        for s in range(args.seeds):
            print(f"  seed {s}: " + " ".join(f"{x:6.1f}" for x in f[s]) + f"   mean {f[s].mean():6.1f}")
        print(f"  mean {f.mean():.1f} +- {f.mean(axis=1).std():.1f} (std over seed means)")
    mbpo, sac = res.finals[Comparison.MBPO], res.finals[Comparison.SAC]
    wins = int(np.sum(mbpo.mean(axis=1) > sac.mean(axis=1)))
    print(f"\nratio MBPO / SAC = {mbpo.mean() / sac.mean():.3f}; MBPO ahead on {wins}/{args.seeds} seeds")
    if args.control:
        ctl = res.finals[Comparison.SAC_CONTROL]
        print(f"ratio MBPO / SAC at MBPO's update-to-data ratio = {mbpo.mean() / ctl.mean():.3f}")
    print(f"wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
