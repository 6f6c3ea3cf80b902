"""Does the lambda search's model objective rank lambda settings the same way on every seed?

For each pipeline seed (its own dataset, collected or reused in `<workdir>/seed<S>`, or the folder
given with `--seed-dir S=DIR`) and each lambda setting, MrCoM is trained at the quick search's budget
(`sweeps.SEARCH_DELTA`: 500 world-model steps) with `run_train`'s seed and scored like a search trial
with objective `model` (`sweeps.model_error`: mean held-out k = 1 / 5 / 15 NMSE + value_equiv_rel,
lower is better). Settings: the best and the worst completed trial of the main job's run quoted in
issue 27 (where the `adapt` objective's seed noise was about four times the spread between them), then
`--random` more drawn from the quick search space (`sweeps.search_config("quick")`, Optuna's
RandomSampler, seed 0).

`--eval-windows N` scores N held-out windows (default: the search's, 1024 at quick) drawn with the
training loop's own evaluation key, as a trial's metrics.json; `--draws K` also scores each model on K
other draws of windows and prints the objective's standard deviation over them (the evaluation's own
noise). `--params JSON` (repeated) replaces the settings, e.g. a study's best and worst trial to re-run
on fresh seeds; `--earlier FILE` adds the seeds of an earlier run's `objective_noise.json` (same
settings).

Printed: the objective per setting and seed, each seed's ranking, Spearman's rho between every pair
of seeds, Kendall's W over all, and the ratio of the settings' effect to the seed noise in an additive
model (`setting_effect_and_noise`: a seed's shift of every setting, e.g. an easier dataset, is not
noise to a search that compares its trials on one seed; the setting x seed interaction is); above 1
the settings differ by more than a seed reorders them. With six or more seeds, also what a search that
scores each trial as the mean over k seeds would see (`split_agreement`): over every split of the
seeds into two disjoint groups of k, how often the two groups' means put the same setting first (and
last) and Spearman's rho between their rankings. Written: `<workdir>/objective_noise.json`.

    uv run python benchmarks/objective_noise.py --workdir /tmp/objective_noise \\
        --seed-dir 0=/tmp/wm_acc_h --seed-dir 1=/tmp/wm_acc_s1 --seed-dir 2=/tmp/wm_acc_s2
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import time
from pathlib import Path

import jax
import numpy as np
import optuna
from scipy.stats import spearmanr

from mrcom.agents import atomic_write_json, load_dataset, preset, run_collect, split_indices, stream_seed
from mrcom.worldmodel import evaluation_key, get_kind
from sweeps import model_error, param_updates, search_config, trial_updates

# issue 27: the quick search's best and worst completed trial (adapt objective, seed 0)
QUOTED = (
    {"lambda_var": 8.46, "lambda_s": 0.034, "lambda_v": 1.47, "m": 10},
    {"lambda_var": 9.06, "lambda_s": 1.57, "lambda_v": 0.070, "m": 14},
)


def settings(extra: int) -> list[dict]:
    """The quoted settings, then `extra` drawn from the quick search space."""
    space = search_config("quick")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = []
    for _ in range(extra):
        trial = study.ask()
        drawn.append(space.sample(trial))
        study.tell(trial, 0.0)
    return [dict(s) for s in QUOTED] + drawn


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks (0 = lowest) along the last axis; ties are not expected for real-valued objectives."""
    return np.argsort(np.argsort(x, axis=-1), axis=-1).astype(float)


def kendall_w(values: np.ndarray) -> float:
    """Kendall's coefficient of concordance of (raters = seeds, items = settings); 1 = same ranking."""
    m, n = values.shape
    r = ranks(values).sum(axis=0)
    s = float(np.sum((r - r.mean()) ** 2))
    return 12.0 * s / (m**2 * (n**3 - n))


def setting_effect_and_noise(values: np.ndarray) -> tuple[float, float]:
    """(std of the settings' effects, std of what the seeds do to the settings) in an additive model
    value = grand + seed + setting + residual over (seeds, settings).

    A search compares its trials on one seed, so a shift of every setting on a seed (another dataset)
    does not change its answer; the residual (the setting x seed interaction) does. Its std is
    sqrt(sum residual^2 / ((S - 1)(N - 1))), the two-way ANOVA's error term.
    """
    m, n = values.shape
    setting = values.mean(axis=0) - values.mean()
    residual = (
        values - values.mean(axis=1, keepdims=True) - values.mean(axis=0, keepdims=True) + values.mean()
    )
    return float(np.std(setting, ddof=1)), float(np.sqrt(np.sum(residual**2) / ((m - 1) * (n - 1))))


def split_agreement(values: np.ndarray, k: int) -> dict[str, float]:
    """Over every split of the seeds (rows of ``values``, (seeds, settings)) into two disjoint groups of
    ``k`` (each unordered pair of groups once): the share of splits whose two group means (a search that
    scores a trial as the mean over k seeds, run on two sets of seeds) rank the same setting best, the
    share that rank the same setting worst, and the mean Spearman rho between the two rankings. Lower
    is better (the model objective)."""
    m = values.shape[0]
    if m < 2 * k:
        raise ValueError(f"seeds={m}: need at least {2 * k} for two disjoint groups of {k}")
    same_best, same_worst, rhos = [], [], []
    for a in itertools.combinations(range(m), k):
        rest = [i for i in range(m) if i not in a]
        for b in itertools.combinations(rest, k):
            if a > b:  # each unordered pair once
                continue
            ma, mb = values[list(a)].mean(axis=0), values[list(b)].mean(axis=0)
            same_best.append(float(np.argmin(ma) == np.argmin(mb)))
            same_worst.append(float(np.argmax(ma) == np.argmax(mb)))
            rhos.append(float(spearmanr(ma, mb).statistic))
    return {
        "splits": len(rhos),
        "same_best": float(np.mean(same_best)),
        "same_worst": float(np.mean(same_worst)),
        "spearman": float(np.mean(rhos)),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, default=Path("runs/bench_objective_noise"), help="output + data")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="pipeline seeds")
    p.add_argument("--seed-dir", action="append", default=[], help="S=DIR: seed S's dataset is DIR/dataset")
    p.add_argument("--random", type=int, default=2, help="settings drawn besides the two quoted")
    p.add_argument("--protocol", default="table1-a", help="a key of mrcom.envs.PROTOCOLS")
    p.add_argument(
        "--params", action="append", default=[], metavar="JSON", help="a setting (replaces the grid)"
    )
    p.add_argument(
        "--earlier", type=Path, default=None, help="an earlier objective_noise.json to add seeds from"
    )
    p.add_argument(
        "--eval-windows", type=int, default=None, help="held-out windows scored (default: the search's)"
    )
    p.add_argument(
        "--draws", type=int, default=0, help="also score each model on this many other draws of windows"
    )
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = p.parse_args(argv)
    dirs = {s: args.workdir / f"seed{s}" for s in args.seeds}
    for item in args.seed_dir:
        s, _, d = item.partition("=")
        if not s.lstrip("-").isdigit() or not d:
            p.error(f"--seed-dir {item!r}: must be S=DIR")
        dirs[int(s)] = Path(d)
    progress = not args.no_progress
    grid = [json.loads(x) for x in args.params] if args.params else settings(args.random)
    kind = get_kind("mrcom")
    values = np.zeros((len(args.seeds), len(grid)))
    draws: dict[tuple[int, int], list[float]] = {}
    # models train without eval_data, so eval_windows plays no part in training: under the preset's own
    # value the checkpoints stay reusable whatever windows score them (a checkpoint's config must match)
    train_windows = preset("quick", args.protocol).worldmodel.eval_windows
    t0 = time.perf_counter()
    for i, seed in enumerate(args.seeds):
        cfg = preset("quick", args.protocol, seed=seed).replace(**trial_updates("quick", {}))
        ds = run_collect(cfg, dirs[seed], progress=progress)
        train_idx, held_idx = split_indices(cfg)
        prompt = cfg.collect.train_prompt  # as run_train
        data, held = load_dataset(ds, train_idx, prompt), load_dataset(ds, held_idx, prompt)
        wm_seed = stream_seed(seed, "worldmodel")
        for j, params in enumerate(grid):
            wm = cfg.replace(**param_updates(params)).worldmodel
            tag = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
            model, _ = kind.train(
                data,
                wm.replace(eval_windows=train_windows),
                seed=wm_seed,
                checkpoint_dir=args.workdir / "models" / f"seed{seed}_{tag}",
                progress=progress,
            )
            # the windows of the training loop's own last evaluation (a search trial's metrics.json)
            eval_key = evaluation_key(jax.random.PRNGKey(wm_seed))
            windows = args.eval_windows or wm.eval_windows
            metrics = kind.evaluate(model, held, eval_key, num_windows=windows, burn_in=wm.eval_burn_in)
            values[i, j] = model_error(metrics)
            for d in range(args.draws):  # the same model on other draws of windows: the evaluation's noise
                again = kind.evaluate(
                    model, held, jax.random.PRNGKey(10_000 + d), num_windows=windows, burn_in=wm.eval_burn_in
                )
                draws.setdefault((seed, j), []).append(model_error(again))
            print(f"seed {seed} setting {j} {params}: model objective {values[i, j]:.4f}", flush=True)
    seconds = time.perf_counter() - t0
    seeds = list(args.seeds)
    if args.earlier is not None:  # seeds measured in both: this run's values, and how far they moved
        earlier = json.loads(args.earlier.read_text())
        if earlier["settings"] != grid:
            p.error(f"--earlier {args.earlier}: holds other settings than this run's")
        old = dict(zip(earlier["seeds"], np.asarray(earlier["objective"]), strict=True))
        for i, s in enumerate(seeds):
            if s in old:
                print(
                    f"seed {s} again: largest change from --earlier {np.max(np.abs(values[i] - old[s])):.2e}"
                )
        keep = [s for s in earlier["seeds"] if s not in seeds]
        values = np.concatenate([np.asarray([old[s] for s in keep]).reshape(len(keep), len(grid)), values])
        seeds = keep + seeds
    print(f"\n{'setting':<60}" + "".join(f"{f'seed {s}':>10}" for s in seeds) + f"{'mean':>10}")
    for j, params in enumerate(grid):
        label = ", ".join(f"{k}={v:.3g}" for k, v in params.items())
        print(f"{label:<60}" + "".join(f"{v:10.4f}" for v in values[:, j]) + f"{values[:, j].mean():10.4f}")
    rho = {
        f"{a}-{b}": float(spearmanr(values[x], values[y]).statistic)
        for (x, a), (y, b) in itertools.combinations(enumerate(seeds), 2)
    }
    w = kendall_w(values)
    between, noise = setting_effect_and_noise(values)
    print(
        "ranks per seed (0 = best): "
        + "; ".join(f"seed {s} {ranks(values[i]).astype(int).tolist()}" for i, s in enumerate(seeds))
    )
    print("Spearman rho between seeds: " + ", ".join(f"{k} {v:.2f}" for k, v in rho.items()))
    print(
        f"Kendall's W {w:.2f}; spread between settings {between:.4f} / seed noise {noise:.4f} "
        f"= {between / noise:.2f}"
    )
    ks = [1, 2, 3] if len(seeds) >= 6 else []  # two disjoint groups of up to three seeds
    splits = {k: split_agreement(values, k) for k in ks}
    # the same with the geometric mean over seeds (a seed that scales every error counts no more)
    geometric = {k: split_agreement(np.log(values), k) for k in ks}
    for k in ks:
        for name, agree in (("mean", splits[k]), ("geometric mean", geometric[k])):
            print(
                f"{name} over {k} seed(s), {agree['splits']} splits into two groups: same best setting in "
                f"{agree['same_best']:.0%}, same worst in {agree['same_worst']:.0%}, Spearman rho between "
                f"the groups' rankings {agree['spearman']:.2f}"
            )
    window_sd = float(np.mean([np.std(v, ddof=1) for v in draws.values()])) if args.draws > 1 else None
    if window_sd is not None:
        print(
            f"{args.draws} draws of {windows} windows per model: the objective's std, "
            f"mean over models {window_sd:.4f}"
        )
    print(f"time {seconds:.0f} s")
    atomic_write_json(
        args.workdir / "objective_noise.json",
        {
            "protocol": args.protocol,
            "seeds": seeds,
            "settings": grid,
            "objective": values.tolist(),
            "spearman": rho,
            "kendall_w": w,
            "between_settings_std": between,
            "seed_noise_std": noise,
            "split_agreement": {str(k): v for k, v in splits.items()},
            "split_agreement_geometric": {str(k): v for k, v in geometric.items()},
            "seconds": seconds,
            "eval_windows": windows,
            "window_draw_std": window_sd,
        },
    )


if __name__ == "__main__":
    main()
