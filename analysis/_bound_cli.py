"""Command line of ``python -m analysis.bound``: find a run's checkpoint, dataset and policies, measure
the constants, write the report; optionally across every trial of an Optuna study."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from mrcom.agents import DATASET_MANIFEST, Workdir
from mrcom.worldmodel import checkpoint_path
from sweeps.layout import SacredRun


class RunPaths(NamedTuple):
    """Where a run's pieces are: world-model checkpoint, dataset (or None), pipeline workdir (or None)."""

    checkpoint: Path
    dataset: Path | None
    workdir: Path | None


def resolve_run(run: str | Path, dataset: str | Path | None = None) -> RunPaths:
    """Find the world-model checkpoint and the dataset of a run.

    Arguments:
        run: a Sacred run directory (``info.json`` has ``paths.worldmodel``/``paths.dataset`` or
            ``paths.workdir``), a pipeline workdir (holding ``worldmodel/`` and ``dataset/``), a
            checkpoint directory or a ``.eqx`` file.
        dataset: the dataset directory, overriding what the run says.

    Returns:
        ``RunPaths`` (dataset None when no ``manifest.json`` was found).
    """
    run = Path(run)
    if not run.exists():
        raise ValueError(f"run={str(run)!r}: does not exist")
    ckpt: Path | None = None
    data: Path | None = None
    workdir: Path | None = None
    sacred = SacredRun(run)
    if checkpoint_path(run).is_file():
        ckpt = run
        workdir = run.parent if run.suffix != ".eqx" else run.parent.parent
        data = Workdir(workdir).dataset
    elif sacred.info_json.is_file() or sacred.run_json.is_file():
        info = json.loads(sacred.info_json.read_text()) if sacred.info_json.is_file() else {}
        paths = info.get("paths", {})
        workdir = Path(paths["workdir"]) if "workdir" in paths else None
        wm, ds = paths.get("worldmodel"), paths.get("dataset")
        ckpt = Path(wm["path"]) if wm else (Workdir(workdir).worldmodel() if workdir else None)
        data = Path(ds["path"]) if ds else (Workdir(workdir).dataset if workdir else None)
    elif Workdir(run).worldmodel().is_dir():
        ckpt, data, workdir = Workdir(run).worldmodel(), Workdir(run).dataset, run
    if ckpt is None or not checkpoint_path(ckpt).is_file():
        raise ValueError(
            f"run={str(run)!r}: no world-model checkpoint found (expected a Sacred run with "
            "info.json paths, a workdir with worldmodel/, or a checkpoint directory/file)"
        )
    if dataset is not None:
        data = Path(dataset)
    if data is not None and not (data / DATASET_MANIFEST).is_file():
        data = None
    return RunPaths(ckpt, data, workdir)


def run_info(run: str | Path, paths: RunPaths) -> dict:
    """What a run is, from its config: path, ablation, seed, loss weights and m (for many-run reports)."""
    run = Path(run)
    cfg = {}
    for f in (SacredRun(run).config_json, Workdir(paths.workdir or run).config):
        if f.is_file():
            cfg = json.loads(f.read_text())
            break
    wm = cfg.get("worldmodel", {})
    status = None
    if SacredRun(run).run_json.is_file():
        status = json.loads(SacredRun(run).run_json.read_text()).get("status")
    return {
        "path": str(run),
        "name": f"{run.parent.name}/{run.name}" if run.name.isdigit() else run.name,
        "status": status,
        "preset": cfg.get("preset"),
        "protocol": cfg.get("protocol"),
        "ablation": cfg.get("ablation", wm.get("ablation")),
        "seed": cfg.get("seed"),
        "lambda_var": wm.get("lambda_var"),
        "lambda_s": wm.get("lambda_s"),
        "lambda_v": wm.get("lambda_v"),
        "m": wm.get("context_len"),
    }


def measure_run(
    run: str | Path,
    *,
    dataset: str | Path | None = None,
    seed: int = 0,
    noise_std: float = 0.1,
    num_windows: int = 64,
    r_max: float | None = None,
    gamma: float | None = None,
    eps_pi: float | None = None,
    c_pi: float | None = None,
    episodes: int = 2,
    real_gap: bool = True,
):
    """Load a run's checkpoint and dataset, measure the bound's constants and the real gap (``Measured``).

    When the workdir holds the adapted MrCoM policy (and ``real_gap``), the policy is run in the real
    targets and in the world model (``analysis._real_gap``): the per-target gaps are recorded and
    eps_pi, C_pi (unless given) are their maxima over the targets (eqs. 19-20 take the max over
    scenarios).
    """
    import jax

    from analysis._bound_report import measure_constants
    from analysis._policies import has_policies
    from analysis._real_gap import measure_adapted
    from mrcom.agents import load_dataset
    from mrcom.worldmodel import load_checkpoint

    paths = resolve_run(run, dataset)
    ckpt, data_dir, workdir = paths
    if data_dir is None:
        raise ValueError(f"run={str(run)!r}: no dataset (manifest.json) found; pass --dataset DIR")
    checkpoint = load_checkpoint(ckpt)
    model = checkpoint.model  # holds its static spec only: one compile for runs that differ in weights
    if gamma is None:
        gamma, gamma_source = float(checkpoint.config.gamma), "world model config (value TD, eq. 14)"
    else:
        gamma_source = "given"
    data = load_dataset(data_dir)
    measured = measure_constants(
        model,
        data,
        jax.random.key(seed),
        noise_std=noise_std,
        num_windows=num_windows,
        r_max=r_max,
        gamma=gamma,
        gamma_source=gamma_source,
        eps_pi=eps_pi,
        c_pi=c_pi,
    )
    sources = dict(measured.sources)
    gaps: tuple[dict, ...] = ()
    constants = measured.constants
    if real_gap and workdir is not None and has_policies(workdir, ("mrcom",)):
        found = measure_adapted(
            workdir, data_dir, model, jax.random.key(seed + 1), float(constants.gamma), episodes=episodes
        )
        gaps = tuple(g.to_dict() for g in found)
        note = (
            "adapted MrCoM policy on the model's decoded observation vs on the real one (same state), "
            "Monte Carlo TV, mean over the target's real steps; max over targets"
        )
        if eps_pi is None:
            constants = constants._replace(eps_pi=max(g.eps_pi for g in found))
            sources["eps_pi"] = note
        if c_pi is None:
            constants = constants._replace(c_pi=max(g.c_pi for g in found))
            sources["c_pi"] = (
                "adapted MrCoM policy: max L1-Lipschitz constant of s~ -> pi(.|decode(s~)) w.r.t. the L2 "
                "latent distance, over target states; max over targets"
            )
    return dataclasses.replace(
        measured, constants=constants, sources=sources, gaps=gaps, run=run_info(run, paths)
    )


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
    kw = dict(
        seed=args.seed,
        noise_std=args.noise_std,
        num_windows=args.num_windows,
        r_max=args.r_max,
        gamma=args.gamma,
        eps_pi=args.eps_pi,
        c_pi=args.c_pi,
        episodes=args.episodes,
        real_gap=not args.no_real_gap,
    )
    written = []
    if args.run is not None:
        try:
            measured = measure_run(args.run, dataset=args.dataset, **kw)
        except ValueError as err:
            parser.error(str(err))
        written += write_bound_report(measured, args.out, title=f"Generalization bound of {args.run}")
    if args.runs and args.study_storage is None:
        from analysis._bound_runs import find_runs, measure_runs, print_skipped, write_runs_report

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
