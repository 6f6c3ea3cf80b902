"""Adaptation with a world model (MBPO) against model-free SAC and SAC at MBPO's update ratio.

For each protocol and seed, on the preset's pipeline (default quick), one pipeline run
(`mrcom.agents.run_pipeline`, the runner every command uses) per MBPO rollout length k of `--ks`, in
`<workdir>/k<k>/<preset>_<protocol>_<ablation>_seed<s>/` (its results.json, the one schema). The runs
share one dataset, one trained world model and the adapted model-free `sac` and `sac-utd` (SAC at
`adapt.updates_per_step`) through `mrcom.agents.Shared` (`<workdir>/shared/<run>/`), so only MBPO is
adapted again per k; all start from the same initial networks and resets. Figures: the final
normalized return (mean over targets, then mean and std over seeds), the best point of the learning
curve, and "drop" = best - final (a collapsing curve has a large drop). The table goes to stdout and
`<workdir>/adaptation.md`.

    uv run python benchmarks/adaptation_vs_sac.py --workdir runs/bench_adaptation \\
        --protocols table1-a table2-a --seeds 0 1 2 --ks 1 3 5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mrcom.agents import (
    MODEL_METHODS,
    PRESETS,
    PipelineConfig,
    Shared,
    add_set_option,
    atomic_write_bytes,
    default_workdir,
    parse_overrides,
    preset,
    run_name,
    run_pipeline,
)


def curve_of(results: dict, method: str) -> np.ndarray:
    """The learning curve of `method`, mean over the run's targets per evaluation point."""
    return np.asarray(results["per_target"][method]["curve"]).mean(axis=1)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, default=Path("runs/bench_adaptation"), help="runs and tables")
    p.add_argument("--preset", default="quick", choices=PRESETS, help="pipeline preset")
    p.add_argument("--protocols", nargs="+", default=["table1-a", "table2-a"], help="protocols")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds")
    p.add_argument("--ks", nargs="+", type=int, default=[1, 3, 5], help="MBPO rollout lengths")
    p.add_argument("--method", default="mrcom", choices=MODEL_METHODS, help="the world model")
    add_set_option(p, "pipeline config of every run (VALUE parsed as JSON when possible)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = p.parse_args(argv)
    try:
        overrides = parse_overrides(args.overrides, allowed=PipelineConfig().to_dict())
    except ValueError as e:
        p.error(str(e))
    rows: dict[tuple[str, str], list[np.ndarray]] = {}
    for protocol in args.protocols:
        for seed in args.seeds:
            base = preset(args.preset, protocol, seed=seed, **overrides)
            common = args.workdir / "shared" / run_name(base)
            shared = Shared(dataset=common, baseline=common, worldmodels=common)
            for k in args.ks:
                methods = [args.method, "sac", "sac-utd"]
                cfg = base.replace(**{"adapt.rollout_length": k, "adapt.methods": methods})
                results = run_pipeline(
                    cfg,
                    default_workdir(cfg, args.workdir / f"k{k}"),
                    progress=not args.no_progress,
                    shared=shared,
                )
                names = {args.method: f"{args.method} k={k}", "sac": "sac", "sac-utd": "sac-utd"}
                for method, name in names.items():
                    if name in ("sac", "sac-utd") and k != args.ks[0]:
                        continue  # the same (shared) agents in every k's run
                    curve = curve_of(results, method)
                    rows.setdefault((protocol, name), []).append(curve)
                    print(
                        f"{protocol} seed {seed} {name}: final {curve[-1]:.1f} best {curve.max():.1f} "
                        f"curve {np.round(curve, 1).tolist()}",
                        flush=True,
                    )
    lines = [
        f"preset {args.preset}, seeds {args.seeds}, world model {args.method}; normalized return, mean over "
        "targets, then mean +- std over seeds; drop = best curve point - final",
        "",
        "| protocol | method | final | best | drop |",
        "|---|---|---|---|---|",
    ]
    for (protocol, name), curves in sorted(rows.items(), key=lambda kv: kv[0][0]):
        f = np.array([c[-1] for c in curves])
        b = np.array([c.max() for c in curves])
        cells = [
            protocol,
            name,
            f"{f.mean():.1f} +- {f.std():.1f}",
            f"{b.mean():.1f}",
            f"{(b - f).mean():.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    atomic_write_bytes(args.workdir / "adaptation.md", table.encode())
    print(table)


if __name__ == "__main__":
    main()
