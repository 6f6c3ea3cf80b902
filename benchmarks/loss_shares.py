"""Each MrCoM loss term's share of the gradient, for lambda_v across the search range, before and after
the rescaling of L_v (`value_reg_scale`: "reward" = the (1 - gamma)-scaled values L_v was computed on
before, "variance" = L_v over obs_std^2 times the batch variance of the meta-value, the default now).

The pipeline's own data and split, as `benchmarks/worldmodel_accuracy.py`: the preset's (default quick)
MuJoCo dataset is collected into `<workdir>/dataset` by `mrcom.agents.run_collect` (a complete dataset
there is reused), the last `envs.num_heldout_scenarios` training scenarios are held out. For every
(scale, lambda_v) it trains MrCoM (the preset's world-model config, the seed `run_train` uses) for
`--steps` steps on the training scenarios (kept in `<workdir>/models/`, a finished one is reused) and
then measures, on `--batches` training batches of the config's shape, the global norm of each weighted
term's gradient (`mrcom.worldmodel.gradient_shares`, averaged over the batches) and its share of their
sum. With `--value-equiv` it also trains w/o L_v (ablation "wo_lv"; its shares are those of the full
model's other terms) and scores every model's value-equivalence error on the held-out scenarios:
`evaluate`'s "value_equiv" (the squared gap between the meta-value of imagined and of posterior latents,
in the model's own value units) and that gap over the variance of the meta-value on the same posterior
latents ("rel", comparable between models whose meta-values differ in scale).

    uv run python benchmarks/loss_shares.py --workdir /tmp/loss_shares
    uv run python benchmarks/loss_shares.py --workdir /tmp/loss_shares --value-equiv
    uv run python benchmarks/loss_shares.py --workdir /tmp/ls_smoke --preset smoke --steps 20
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import jax
from wm_variants import split_data

from mrcom.agents import PRESETS, atomic_write_json, preset, run_collect, stream_seed
from mrcom.worldmodel import (
    WEIGHTED_TERMS,
    LossWeights,
    WorldModelConfig,
    evaluate,
    gradient_shares,
    make_source,
    sample_batch,
    train,
)

# the old search range [1e-3, 10] on the old scale; the old range and the new one [0.1, 30]
# (sweeps/_search_config.py) on the new scale
OLD = ("reward", (1e-3, 10.0))
NEW = ("variance", (1e-3, 0.1, 1.0, 10.0, 30.0))
SHORT = {"var": "var", "state": "state", "value_reg": "L_v", "reward": "reward", "prediction": "pred"} | {
    "open_loop": "open_loop",
    "value_td": "td",
    "meta_value": "meta",
}


def measure(model, config: WorldModelConfig, data, key, batches: int) -> dict[str, dict[str, float]]:
    """Mean over `batches` training batches of each weighted term's gradient norm; shares of their sum."""
    src = make_source(data, config.context_len)
    weights = LossWeights.from_config(config)
    norms = {name: 0.0 for name in WEIGHTED_TERMS}
    terms = {name: 0.0 for name in WEIGHTED_TERMS}
    for i in range(batches):
        kb, kl = jax.random.split(jax.random.fold_in(key, i))
        batch = sample_batch(src, kb, config.batch_size, config.seq_len, config.context_len)
        shares = gradient_shares(model, batch, weights, kl)
        for name in WEIGHTED_TERMS:
            norms[name] += float(shares["norm"][name]) / batches
            terms[name] += float(shares["term"][name]) / batches
    total = sum(norms.values())
    out = {"norm": norms, "share": {k: v / total for k, v in norms.items()}, "term": terms}
    # L_v's share is lambda_v n / (lambda_v n + rest) with n its norm per unit of lambda_v: the lambda_v
    # at which this model would give it 1 % and 50 % of the summed norms
    rest, per_unit = total - norms["value_reg"], norms["value_reg"] / max(config.weights["lambda_v"], 1e-30)
    if per_unit > 0:
        out["lambda_v_at"] = {"1%": rest / per_unit / 99, "50%": rest / per_unit}
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/loss_shares"), help="data + models")
    p.add_argument("--preset", default="quick", choices=PRESETS, help="pipeline preset")
    p.add_argument("--protocol", default="table1-a", help="a key of mrcom.envs.PROTOCOLS")
    p.add_argument("--seed", type=int, default=0, help="pipeline seed (dataset, models, batches)")
    p.add_argument("--steps", type=int, default=400, help="world-model training steps per setting")
    p.add_argument("--batches", type=int, default=4, help="training batches the norms are averaged over")
    p.add_argument(
        "--old", type=float, nargs="+", default=list(OLD[1]), help=f"lambda_v values on the {OLD[0]!r} scale"
    )
    p.add_argument(
        "--new", type=float, nargs="+", default=list(NEW[1]), help=f"lambda_v values on the {NEW[0]!r} scale"
    )
    p.add_argument("--value-equiv", action="store_true", help="also train w/o L_v; score value equivalence")
    p.add_argument("--eval-windows", type=int, default=256, help="held-out windows of the value-equivalence")
    args = p.parse_args(argv)

    cfg = preset(args.preset, args.protocol, seed=args.seed)
    workdir = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"devices: {jax.devices()}  (os load average: {os.getloadavg()[0]:.1f})")
    t = time.perf_counter()
    ds = run_collect(cfg, workdir, progress=False)
    train_idx, held_idx, data, held = split_data(cfg, ds)
    print(
        f"dataset {ds}: {len(train_idx)} training scenarios, {len(held_idx)} held out "
        f"({time.perf_counter() - t:.0f} s)"
    )

    seed = stream_seed(cfg.seed, "worldmodel")
    base = cfg.worldmodel.replace(steps=args.steps)
    settings = [(OLD[0], lv, "full") for lv in args.old] + [(NEW[0], lv, "full") for lv in args.new]
    if args.value_equiv:
        settings.append((NEW[0], 0.0, "wo_lv"))
    rows = []
    for scale, lambda_v, ablation in settings:
        config = base.replace(value_reg_scale=scale, lambda_v=lambda_v, ablation=ablation)
        t = time.perf_counter()
        name = f"wm_{scale}_{lambda_v:g}_{ablation}_{args.steps}"
        model, _ = train(data, config, seed=seed, checkpoint_dir=workdir / "models" / name, progress=False)
        seconds = time.perf_counter() - t
        row = {"scale": scale, "lambda_v": lambda_v, "ablation": ablation, "train_seconds": seconds}
        row |= measure(model, config, data, jax.random.PRNGKey(seed + 1), args.batches)
        if args.value_equiv and held is not None:
            key, burn_in = jax.random.PRNGKey(seed), base.eval_burn_in
            scores = evaluate(model, held, key, num_windows=args.eval_windows, burn_in=burn_in)
            row["value_equiv"], row["value_equiv_rel"] = scores["value_equiv"], scores["value_equiv_rel"]
        rows.append(row)
        shares = " ".join(f"{SHORT[k]}={v:.3g}" for k, v in row["share"].items())
        if "lambda_v_at" in row:
            shares += " | lambda_v at 1 % / 50 %: " + " / ".join(
                f"{v:.3g}" for v in row["lambda_v_at"].values()
            )
        print(f"{scale:>8} lambda_v={lambda_v:<6g} {ablation:<5} ({seconds:.0f} s): {shares}", flush=True)

    print(
        f"\n{args.preset} preset, {args.steps} steps, gradient shares "
        f"(mean norms over {args.batches} batches)"
    )
    head = "| scale | lambda_v | ablation | " + " | ".join(SHORT[k] for k in WEIGHTED_TERMS) + " | L_v term |"
    if args.value_equiv:
        head += " value_equiv | rel |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        line = f"| {r['scale']} | {r['lambda_v']:g} | {r['ablation']} | "
        line += " | ".join(f"{100 * r['share'][k]:.3g} %" for k in WEIGHTED_TERMS)
        line += f" | {r['term']['value_reg']:.3g} |"
        if "value_equiv" in r:
            line += f" {r['value_equiv']:.3g} | {r['value_equiv_rel']:.3g} |"
        print(line)
    atomic_write_json(
        workdir / "loss_shares.json",
        {
            "preset": args.preset,
            "protocol": args.protocol,
            "seed": args.seed,
            "steps": args.steps,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
