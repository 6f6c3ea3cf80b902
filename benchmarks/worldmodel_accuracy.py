"""World-model prediction error beside its references, on the held-out scenarios of a real dataset.

The pipeline's own data and split: the preset's (default quick) MuJoCo dataset is collected into
`<workdir>/dataset` by `mrcom.agents.run_collect` (a complete dataset there is reused, a partial one
resumed), and split like `run_train` does (the last `envs.num_heldout_scenarios` training scenarios
are held out). On the training scenarios it trains, with the preset's world-model config:

- mrcom: MrCoM, full (`mrcom.worldmodel.train`, the seed `run_train` uses);
- mrcom/wo_c: MrCoM without the context ("wo_c" ablation), same config and seed otherwise;
- mrcom-paper: MrCoM as the paper prints it (`mrcom.worldmodel.PaperConfig`: our additions off);
- cadm, dreamerv3, mamba, mow: the paper's baselines and Mixture-of-World Models, each with its own
  preset of the same scale and MrCoM's step budget, with its defaults (for DreamerV3, MAMBA and MoW
  the harness options as the same-budget grid selected them, `mrcom.worldmodel.HarnessConfig`);
- dreamerv3-paper, mamba-paper, mow-paper: the same with the options as their papers have them
  (`mrcom.worldmodel.PAPER_OPTIONS`: symlog inputs, no skip path, no prediction loss);
- mlp:   an MBPO/PETS-style ensemble of 5 Gaussian MLPs on (o_t, a_t) -> (delta o, r)
  (`mrcom.worldmodel.train_mlp_ensemble`, early-stopped on held-out training episodes);

and adds persistence (o_{t+k} = o_t). All four are scored on the same windows of the held-out
scenarios (one key; `evaluate`'s sampling, burn-in and per-dimension variance normalization):
open-loop k = 1, 5, 15 observation NMSE and the reward MSE over 15 steps. World models are kept in
`<workdir>/accuracy/` (a finished one is reused); the figures go to `<workdir>/accuracy.json`.
Model names: `benchmarks/wm_variants.py` (`<kind>[-paper][/<ablation>]`). The last line printed
is the summary `k1 mrcom=... mrcom/wo_c=... ... persistence=... mlp=... | k5 ... | k15 ...`.

    uv run python benchmarks/worldmodel_accuracy.py --workdir /tmp/wm_acc
    uv run python benchmarks/worldmodel_accuracy.py --workdir /tmp/wm_s1 --seed 1 --models mrcom mrcom/wo_c
    uv run python benchmarks/worldmodel_accuracy.py --workdir /tmp/wm_acc_smoke --preset smoke
    uv run python benchmarks/worldmodel_accuracy.py --workdir /tmp/wm_acc --models dreamerv3-paper mamba-paper
    uv run python benchmarks/worldmodel_accuracy.py --workdir /tmp/wm_acc_h --lr 1e-3 --models dreamerv3

`--lr` sets every trained model's learning rate (one cell of the same-budget grid of
docs/results.md); its models are kept apart (`wm_<name>_lr<lr>_<steps>`) and its figures go to
`accuracy_lr<lr>.json`.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import jax
import numpy as np
from wm_variants import parse_variants, split_data

from mrcom.agents import PRESETS, atomic_write_json, preset, run_collect, stream_seed
from mrcom.worldmodel import (
    mlp_ensemble_nmse,
    persistence_nmse,
    train_mlp_ensemble,
)

KS = (1, 5, 15)
TRAINED = ("mrcom", "mrcom/wo_c", "mrcom-paper", "cadm")
TRAINED += ("dreamerv3", "dreamerv3-paper", "mamba", "mamba-paper", "mow", "mow-paper")


def summary_line(results: dict[str, dict[str, float]]) -> str:
    """`k1 mrcom=X mrcom/wo_c=X ... persistence=X mlp=X | k5 ... | k15 ...` (3 decimals, every model run)."""
    return " | ".join(
        f"k{k} " + " ".join(f"{m}={r[f'k{k}_obs_nmse']:.3f}" for m, r in results.items()) for k in KS
    )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--workdir", type=Path, default=Path("runs/bench_worldmodel_accuracy"), help="data + models"
    )
    p.add_argument("--preset", default="quick", choices=PRESETS, help="pipeline preset")
    p.add_argument("--protocol", default="table1-a", help="a key of mrcom.envs.PROTOCOLS")
    p.add_argument("--seed", type=int, default=0, help="pipeline seed (dataset, models, windows)")
    p.add_argument("--wm-steps", type=int, default=None, help="world-model steps (default: the preset's)")
    p.add_argument(
        "--lr", type=float, default=None, help="every model's learning rate (default: its preset's)"
    )
    p.add_argument("--eval-windows", type=int, default=256, help="evaluation windows (the same for all)")
    p.add_argument("--mlp-max-steps", type=int, default=20_000, help="MLP ensemble step cap (early-stopped)")
    p.add_argument("--models", nargs="+", default=list(TRAINED), help="<kind>[-paper][/<ablation>]")
    p.add_argument(
        "--no-mlp", action="store_true", help="skip the MLP ensemble (persistence is always scored)"
    )
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = p.parse_args(argv)
    progress = not args.no_progress

    cfg = preset(args.preset, args.protocol, seed=args.seed)
    if args.wm_steps is not None:
        cfg = cfg.replace(**{"worldmodel.steps": args.wm_steps})
    wm_steps = cfg.worldmodel.steps
    workdir = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"devices: {jax.devices()}  (os load average: {os.getloadavg()[0]:.1f})")
    print(f"preset {cfg.preset}, protocol {cfg.protocol}, seed {cfg.seed}, world-model steps {wm_steps}")
    times: dict[str, float] = {}

    t = time.perf_counter()
    ds = run_collect(cfg, workdir, progress=progress)
    times["collect"] = time.perf_counter() - t
    train_idx, held_idx, data, held = split_data(cfg, ds)
    if held is None:
        raise SystemExit(f"preset {cfg.preset}: envs.num_heldout_scenarios=0, nothing to evaluate on")
    print(
        f"dataset {ds}: {len(train_idx)} training scenarios ({data.obs.shape[0]} episodes), "
        f"{len(held_idx)} held out ({held.obs.shape[0]} episodes), episode length {data.episode_length}"
    )

    seed = stream_seed(cfg.seed, "worldmodel")  # run_train's seed, and the key of its final evaluate
    key = jax.random.PRNGKey(seed)
    burn_in, windows = cfg.worldmodel.eval_burn_in, args.eval_windows
    results: dict[str, dict[str, float]] = {}
    for v in parse_variants(args.models, p.error):
        kind, model, times[f"train {v.name}"] = v.train(
            cfg, data, workdir, wm_steps, learning_rate=args.lr, progress=progress
        )
        results[v.name] = kind.evaluate(model, held, key, num_windows=windows, burn_in=burn_in)

    mlp_info: dict = {}
    if not args.no_mlp:
        t = time.perf_counter()
        ensemble, mlp_info = train_mlp_ensemble(
            data, max_steps=args.mlp_max_steps, seed=seed, progress=progress
        )
        times["train mlp"] = time.perf_counter() - t
        results["mlp"] = mlp_ensemble_nmse(ensemble, held, KS, burn_in=burn_in, num_windows=windows, key=key)
    results["persistence"] = persistence_nmse(held, KS, burn_in=burn_in, num_windows=windows, key=key)
    reward_var = float(np.var(held.reward))

    if mlp_info:
        i = mlp_info
        print(
            f"MLP ensemble: {i['steps']} steps (early stop: {i['stopped_early']}), best val MSE "
            f"{i['best_val_loss']:.4f} on {i['val_transitions']} held-out training transitions"
        )
    print("time: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    print(f"\nheld-out scenarios {held_idx}, {windows} windows, burn-in {burn_in}, 15-step open loop")
    print(f"{'model':<12}" + "".join(f"{f'k{k} NMSE':>10}" for k in KS) + f"{'reward MSE':>12}")
    for m in results:
        r = results[m]
        rmse = f"{r['reward_mse']:12.4f}" if "reward_mse" in r else f"{'-':>12}"
        print(f"{m:<12}" + "".join(f"{r[f'k{k}_obs_nmse']:10.3f}" for k in KS) + rmse)
    print(f"(reward variance of the held-out data, the MSE of a constant mean: {reward_var:.4f})")

    atomic_write_json(
        workdir / ("accuracy.json" if args.lr is None else f"accuracy_lr{args.lr:g}.json"),
        {
            "preset": cfg.preset,
            "protocol": cfg.protocol,
            "seed": cfg.seed,
            "worldmodel_steps": wm_steps,
            "learning_rate": args.lr,
            "heldout_scenarios": held_idx,
            "eval_windows": windows,
            "eval_burn_in": burn_in,
            "results": results,
            "heldout_reward_var": reward_var,
            "mlp_train": {k: v for k, v in mlp_info.items() if k != "history"},
            "seconds": times,
        },
    )
    print(summary_line(results))


if __name__ == "__main__":
    main()
