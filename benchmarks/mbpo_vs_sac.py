"""MrCoM-MBPO vs model-free SAC at the same small real-step budget (normalized return, per seed).

Fixed small CPU setting: walker scenarios of table1-a (slow target speeds), a dataset of 5 behaviour
policies (4 trained on, 1 held out), a small world model, then `--real-steps` real steps of adaptation
on 4 targets x `--seeds` seeds for both methods from the same initial networks and resets. MBPO uses
k=1 rollouts, real ratio 0.5 and `--mbpo-utd` gradient steps per real step; SAC keeps 1 (its standard
setting). `--control` adds model-free SAC at MBPO's update-to-data ratio, to separate the effect of the
model data from that of the extra updates. The dataset and world model are kept in `--workdir` and
reused by later runs.

    uv run python benchmarks/mbpo_vs_sac.py --workdir /tmp/mbpo_vs_sac
    uv run python benchmarks/mbpo_vs_sac.py --workdir /tmp/mbpo_vs_sac --seeds 3 --control
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from mrcom.agents import adapt_method, preset, run_collect, run_train, target_scenarios
from mrcom.worldmodel import load_model

SETTING = dict(
    envs=dict(
        robots=("walker",), episode_length=100, num_train_scenarios=5, num_heldout_scenarios=1, num_targets=4
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
    ),
    worldmodel=dict(
        steps=400,
        steps_per_call=100,
        eval_every=400,
        checkpoint_every=400,
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
    ),
    adapt=dict(
        real_steps=1000,
        rollout_length=1,
        rollouts_per_step=4,
        updates_per_step=5,
        model_buffer_steps=500,
        prefix_len=4,
        start_steps=300,
        eval_every=1000,
        real_ratio=0.5,
    ),
    eval=dict(episodes=2),
)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, default=Path("runs/bench_mbpo_vs_sac"), help="dataset + model")
    p.add_argument("--seeds", type=int, default=2, help="independent agents per target and method")
    p.add_argument("--real-steps", type=int, default=1000, help="real-step budget per agent")
    p.add_argument("--mbpo-utd", type=int, default=5, help="MBPO gradient steps per real step")
    p.add_argument("--rollout-length", type=int, default=1, help="k of the branched model rollouts")
    p.add_argument("--real-ratio", type=float, default=0.5, help="real share of every MBPO batch")
    p.add_argument("--control", action="store_true", help="also model-free SAC at --mbpo-utd")
    args = p.parse_args(argv)

    cfg = preset(
        "smoke",
        "table1-a",
        **{
            **SETTING,
            "adapt": {
                **SETTING["adapt"],
                "real_steps": args.real_steps,
                "eval_every": args.real_steps,
                "updates_per_step": args.mbpo_utd,
                "rollout_length": args.rollout_length,
                "real_ratio": args.real_ratio,
            },
        },
    )
    wd = args.workdir
    run_collect(cfg, wd)
    run_train(cfg, wd)
    model = load_model(wd / "worldmodel")
    wm = json.loads((wd / "worldmodel" / "metrics.json").read_text())
    targets = target_scenarios(cfg)
    k1, rmse = wm["k1_obs_nmse"], wm["reward_mse"]
    print(f"world model (held-out scenario): k1_obs_nmse {k1:.3f}, reward_mse {rmse:.4f}")
    runs = [("mrcom", cfg, f"MBPO (k={args.rollout_length}, utd {args.mbpo_utd}, real {args.real_ratio})")]
    runs.append(("sac", cfg, f"SAC (utd {cfg.sac.updates_per_step})"))
    if args.control:
        ctl = cfg.replace(sac=dataclasses.asdict(cfg.sac) | {"updates_per_step": args.mbpo_utd})
        runs.append(("sac", ctl, f"SAC (utd {args.mbpo_utd}, control)"))
    finals = {}
    for method, c, label in runs:
        t0 = time.perf_counter()
        res, _ = adapt_method(c, method, targets * args.seeds, model=model, dataset=wd / "dataset")
        finals[label] = res.curve_returns[-1].reshape(args.seeds, len(targets))
        print(f"{label}: {time.perf_counter() - t0:.0f} s")
    print(f"\nnormalized return after {args.real_steps} real steps, {len(targets)} walker targets")
    for label, f in finals.items():
        print(f"{label}")
        for s in range(args.seeds):
            print(f"  seed {s}: " + " ".join(f"{x:6.1f}" for x in f[s]) + f"   mean {f[s].mean():6.1f}")
        print(f"  mean {f.mean():.1f} +- {f.mean(axis=1).std():.1f} (std over seed means)")
    labels = list(finals)
    mbpo, sac = finals[labels[0]].mean(), finals[labels[1]].mean()
    wins = int(np.sum(finals[labels[0]].mean(axis=1) > finals[labels[1]].mean(axis=1)))
    print(f"\nratio MBPO / SAC = {mbpo / sac:.3f}; MBPO ahead on {wins}/{args.seeds} seeds")


if __name__ == "__main__":
    main()
