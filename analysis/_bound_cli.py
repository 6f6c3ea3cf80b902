"""Command line of ``python -m analysis.bound``: find a run's checkpoint, dataset and policies, measure
the constants, write the report; optionally across every trial of an Optuna study."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis._bound_one_run import measure_run
from mrcom.agents import options_for


def _trial_run_dir(trial, runs: Path) -> Path | None:
    """A trial's Sacred run directory: user attribute ``sacred_run_dir`` if it exists, else runs/<id>."""
    direct = trial.user_attrs.get("sacred_run_dir")
    if direct and Path(direct).is_dir():
        return Path(direct)
    run_id = trial.user_attrs.get("sacred_run_id")
    return None if run_id is None else runs / str(run_id)


def _check_args(parser: argparse.ArgumentParser, args) -> None:
    """One-line errors (exit 2) for values out of range."""
    if args.run is None and args.study_storage is None and not args.runs:
        parser.error("give --run, --runs and/or --study-storage")
    if args.num_windows < 1:
        parser.error(f"--num-windows {args.num_windows}: must be >= 1")
    if args.episodes < 2:
        parser.error(f"--episodes {args.episodes}: must be >= 2 (one may serve as the model's prompt)")
    if not args.noise_std >= 0:
        parser.error(f"--noise-std {args.noise_std}: must be >= 0")
    if args.gamma is not None and not 0 <= args.gamma < 1:
        parser.error(f"--gamma {args.gamma}: must be in [0, 1)")
    for name in ("r_max", "c_pi"):
        v = getattr(args, name)
        if v is not None and not v >= 0:
            parser.error(f"--{name.replace('_', '-')} {v}: must be >= 0")
    if args.eps_pi is not None and not 0 <= args.eps_pi <= 1:
        parser.error(f"--eps-pi {args.eps_pi}: must be in [0, 1] (a total variation)")
    for r in args.runs or []:
        if not Path(r).is_dir():
            parser.error(f"--runs {r!r}: not a directory")


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    from analysis._bound_report import write_bound_report, write_study_bound_report

    parser = argparse.ArgumentParser(
        prog="python -m analysis.bound",
        description="Measure the constants of Theorem 6 (eps_T, eps_S, C_T from a trained world model and "
        "its dataset; eps_pi, C_pi from the run's adapted MrCoM policy; R and gamma from the data and "
        "config), the real gap |G_real - G_model| of the adapted policy per target, the bound and its "
        "sensitivity, and write bound.md, bound.json and PNG figures. --run: one run. --runs DIR...: "
        "every run under the folders, one report (each run, the ablation mechanism claim, the study's "
        "sensitivity). --study-storage: every complete trial of an Optuna study (its runs found under "
        "--runs, default runs/sacred).",
    )
    parser.add_argument("--run", help="Sacred run dir, pipeline workdir, or checkpoint dir/file")
    parser.add_argument(
        "--runs",
        nargs="+",
        default=None,
        metavar="DIR",
        help="folders of Sacred runs / pipeline workdirs: one report over all of them (with "
        "--study-storage: the folder of the trials' Sacred runs)",
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--dataset", default=None, help="dataset directory (default: the run's own)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled windows (default 0)")
    parser.add_argument(
        "--noise-std", type=float, default=0.1, help="Add-G probe std for eps_S (default 0.1)"
    )
    parser.add_argument("--num-windows", type=int, default=64, help="windows of the data (default 64)")
    parser.add_argument(
        "--episodes", type=int, default=2, help="real episodes per target for the real gap (default 2)"
    )
    parser.add_argument("--no-real-gap", action="store_true", help="skip the real gap and policy constants")
    parser.add_argument("--r-max", type=float, default=None, help="R (default: max |reward| in the data)")
    parser.add_argument("--gamma", type=float, default=None, help="gamma (default: world model config)")
    parser.add_argument(
        "--eps-pi",
        type=float,
        default=None,
        help="policy TV eps_pi (default: measured, or 0 without a policy)",
    )
    parser.add_argument(
        "--c-pi", type=float, default=None, help="policy sensitivity C_pi (default: measured, or 0)"
    )
    parser.add_argument(
        "--study-storage", default=None, help="Optuna storage URL (sqlite:///..., postgresql://...)"
    )
    parser.add_argument(
        "--study-name", default=None, help="Optuna study name (optional if the storage has one)"
    )
    parser.add_argument("--jax-cache", default=None, help="JAX persistent compilation cache dir (optional)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    _check_args(parser, args)
    if args.jax_cache:
        import jax

        Path(args.jax_cache).mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(Path(args.jax_cache).resolve()))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    kw = options_for(measure_run, args, "run", "dataset", real_gap=not args.no_real_gap)
    written = []
    if args.run is not None:
        try:
            measured = measure_run(args.run, dataset=args.dataset, **kw)
        except ValueError as err:
            parser.error(str(err))
        written += write_bound_report(measured, args.out, title=f"Generalization bound of {args.run}")
    if args.runs and args.study_storage is None:
        from analysis._bound_runs import find_runs, measure_runs, print_skipped
        from analysis._bound_runs_report import write_runs_report

        try:
            runs = find_runs(args.runs)
            if not runs:
                raise ValueError(f"runs={args.runs}: no Sacred run or pipeline workdir found")
            measured_all, skipped = measure_runs(
                runs,
                Path(args.out) / "measured",
                lambda r, **o: measure_run(r, dataset=args.dataset, **o),
                kw,
                progress=not args.no_progress,
            )
            written += write_runs_report(measured_all, args.out, skipped)
        except ValueError as err:
            parser.error(str(err))
        print_skipped(skipped)
    if args.study_storage is not None:
        import optuna

        from analysis._optuna_plots import load_study

        try:
            study = load_study(args.study_storage, args.study_name)
        except (ValueError, KeyError) as err:
            parser.error(f"study: {err}")
        rows, skipped = [], []
        trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        runs_dir = Path(args.runs[0]) if args.runs else Path("runs/sacred")
        for t in tqdm(trials, desc="trials", disable=args.no_progress):
            run_dir = _trial_run_dir(t, runs_dir)
            if run_dir is None:
                skipped.append(f"trial {t.number}: no sacred_run_dir / sacred_run_id")
                continue
            try:
                rows.append((dict(t.params), measure_run(run_dir, dataset=args.dataset, **kw)))
            except ValueError as err:
                skipped.append(f"trial {t.number}: {err}")
        written += write_study_bound_report(rows, args.out, title=f"Bound across study {study.study_name}")
        if skipped:
            print("skipped:\n  " + "\n  ".join(skipped), file=sys.stderr)
    for p in written:
        print(p)
    return 0
