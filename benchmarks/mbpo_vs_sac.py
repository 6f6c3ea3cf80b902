"""MrCoM-MBPO vs model-free SAC at the same small real-step budget (normalized return, per seed).

The fixed small CPU setting of `mrcom.agents.comparison_config` (cheetah, table2-a: every target
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
import time
from pathlib import Path

import numpy as np

from mrcom.agents import Comparison, compare_mbpo_sac, comparison_config


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
