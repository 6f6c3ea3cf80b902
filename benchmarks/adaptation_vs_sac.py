"""Adaptation with a world model (MBPO) against model-free SAC and SAC at MBPO's update ratio.

For each protocol and seed, on the preset's pipeline (default quick): the dataset is collected and
the world model trained once (`<workdir>/<protocol>/seed_<s>`, reused when there), then every target
is adapted by model-free `sac`, `sac-utd` (SAC at `adapt.updates_per_step`) and MBPO with the
world model at each rollout length k of `--ks`; all from the same initial networks and resets.
Figures: the final normalized return (mean over targets, then mean and std over seeds), the best
point of the learning curve, and "drop" = best - final (a collapsing curve has a large drop). The
table goes to stdout and `<workdir>/adaptation.md`, the numbers to `<workdir>/adaptation.json`.

    uv run python benchmarks/adaptation_vs_sac.py --workdir runs/bench_adaptation \\
        --protocols table1-a table2-a --seeds 0 1 2 --ks 1 3 5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mrcom.agents import (
    MODEL_METHODS,
    PRESETS,
    PipelineConfig,
    Workdir,
    adapt_method,
    atomic_write_bytes,
    atomic_write_json,
    load_worldmodel,
    parse_overrides,
    preset,
    run_collect,
    run_train,
    target_scenarios,
)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, default=Path("runs/bench_adaptation"), help="data, models, tables")
    p.add_argument("--preset", default="quick", choices=PRESETS, help="pipeline preset")
    p.add_argument("--protocols", nargs="+", default=["table1-a", "table2-a"], help="protocols")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds")
    p.add_argument("--ks", nargs="+", type=int, default=[1, 3, 5], help="MBPO rollout lengths")
    p.add_argument("--method", default="mrcom", choices=MODEL_METHODS, help="the world model")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = p.parse_args(argv)
    try:
        overrides = parse_overrides(args.overrides, allowed=PipelineConfig().to_dict())
    except ValueError as e:
        p.error(str(e))
    progress = not args.no_progress
    runs = [("sac", None), ("sac-utd", None)] + [(args.method, k) for k in args.ks]
    label = lambda m, k: m if k is None else f"{m} k={k}"
    out: dict = {"preset": args.preset, "seeds": args.seeds, "ks": args.ks, "protocols": {}}
    out_json = args.workdir / "adaptation.json"
    if out_json.exists():
        out = json.loads(out_json.read_text())
    for protocol in args.protocols:
        cell = out["protocols"].setdefault(protocol, {})
        for seed in args.seeds:
            cfg = preset(args.preset, protocol, seed=seed, **overrides)
            wd = args.workdir / protocol / f"seed_{seed}"
            run_collect(cfg, wd, progress=progress)
            run_train(cfg, wd, progress=progress, method=args.method)
            metrics = json.loads(Workdir(wd).worldmodel_metrics(args.method).read_text())
            model = load_worldmodel(cfg, wd, args.method)
            targets = target_scenarios(cfg)
            for method, k in runs:
                name = label(method, k)
                if str(seed) in cell.get(name, {}):
                    continue
                c = cfg if k is None else cfg.replace(**{"adapt.rollout_length": k})
                t = time.perf_counter()
                res, aug = adapt_method(
                    c, method, targets, model=model, dataset=wd / "dataset", progress=progress
                )
                curve = np.asarray(res.curve_returns).mean(axis=1)  # mean over targets per eval
                cell.setdefault(name, {})[str(seed)] = {
                    "final": float(curve[-1]),
                    "best": float(curve.max()),
                    "curve": curve.tolist(),
                    "curve_steps": list(res.curve_steps),
                    "seconds": time.perf_counter() - t,
                    "rollouts": 0 if aug is None else int(aug.rollouts_done),
                }
                print(
                    f"{protocol} seed {seed} {name}: final {curve[-1]:.1f} best {curve.max():.1f} "
                    f"curve {np.round(curve, 1).tolist()}",
                    flush=True,
                )
                atomic_write_json(out_json, out)
            cell.setdefault("worldmodel", {})[str(seed)] = metrics
            atomic_write_json(out_json, out)
    lines = [
        f"preset {args.preset}, seeds {args.seeds}, world model {args.method}; normalized return, mean over "
        "targets, then mean +- std over seeds; drop = best curve point - final",
        "",
        "| protocol | method | final | best | drop |",
        "|---|---|---|---|---|",
    ]
    for protocol in args.protocols:
        cell = out["protocols"][protocol]
        for method, k in runs:
            r = [
                cell[label(method, k)][str(s)] for s in args.seeds if str(s) in cell.get(label(method, k), {})
            ]
            f = np.array([x["final"] for x in r])
            b = np.array([x["best"] for x in r])
            lines.append(
                f"| {protocol} | {label(method, k)} | {f.mean():.1f} +- {f.std():.1f} | {b.mean():.1f} | "
                f"{(b - f).mean():.1f} |"
            )
    table = "\n".join(lines) + "\n"
    atomic_write_bytes(args.workdir / "adaptation.md", table.encode())
    print(table)


if __name__ == "__main__":
    main()
