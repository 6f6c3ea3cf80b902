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
    if run.suffix == ".eqx" or (run / "checkpoint.eqx").is_file():
        ckpt = run
        workdir = run.parent if run.suffix != ".eqx" else run.parent.parent
        data = workdir / "dataset"
    elif (run / "info.json").is_file() or (run / "run.json").is_file():
        info = json.loads((run / "info.json").read_text()) if (run / "info.json").is_file() else {}
        paths = info.get("paths", {})
        workdir = Path(paths["workdir"]) if "workdir" in paths else None
        wm, ds = paths.get("worldmodel"), paths.get("dataset")
        ckpt = Path(wm["path"]) if wm else (workdir / "worldmodel" if workdir else None)
        data = Path(ds["path"]) if ds else (workdir / "dataset" if workdir else None)
    elif (run / "worldmodel").is_dir():
        ckpt, data, workdir = run / "worldmodel", run / "dataset", run
    if ckpt is None or not (ckpt.is_file() or (ckpt / "checkpoint.eqx").is_file()):
        raise ValueError(
            f"run={str(run)!r}: no world-model checkpoint found (expected a Sacred run with "
            "info.json paths, a workdir with worldmodel/, or a checkpoint directory/file)"
        )
    if dataset is not None:
        data = Path(dataset)
    if data is not None and not (data / "manifest.json").is_file():
        data = None
    return RunPaths(ckpt, data, workdir)


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
):
    """Load a run's checkpoint and dataset and measure the bound's constants (``Measured``).

    eps_pi and C_pi are measured from the run's adapted policies (``analysis._policies``) when the
    workdir holds them and they are not given.
    """
    import jax

    from analysis._bound_report import measure_constants
    from analysis._policies import adapted_policy_constants, has_policies
    from mrcom.agents import load_dataset
    from mrcom.worldmodel import load_checkpoint

    ckpt, data_dir, workdir = resolve_run(run, dataset)
    if data_dir is None:
        raise ValueError(f"run={str(run)!r}: no dataset (manifest.json) found; pass --dataset DIR")
    model = load_checkpoint(ckpt).model
    data = load_dataset(data_dir)
    policy_sources = {}
    if (eps_pi is None or c_pi is None) and workdir is not None and has_policies(workdir):
        pol = adapted_policy_constants(workdir, data_dir, jax.random.key(seed + 1))
        note = "adapted MrCoM vs SAC policies, TV from the Gaussian KL, max over targets and states"
        if eps_pi is None:
            eps_pi, policy_sources["eps_pi"] = pol["eps_pi"], note
        if c_pi is None:
            c_pi, policy_sources["c_pi"] = pol["c_pi"], "max Jacobian norm of the MrCoM policy's mean action"
    measured = measure_constants(
        model,
        data,
        jax.random.key(seed),
        noise_std=noise_std,
        num_windows=num_windows,
        r_max=r_max,
        gamma=gamma,
        eps_pi=eps_pi,
        c_pi=c_pi,
    )
    return dataclasses.replace(measured, sources=measured.sources | policy_sources)


def _trial_run_dir(trial, runs: Path) -> Path | None:
    """A trial's Sacred run directory: user attribute ``sacred_run_dir`` if it exists, else runs/<id>."""
    direct = trial.user_attrs.get("sacred_run_dir")
    if direct and Path(direct).is_dir():
        return Path(direct)
    run_id = trial.user_attrs.get("sacred_run_id")
    return None if run_id is None else runs / str(run_id)


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    from analysis._bound_report import write_bound_report, write_study_bound_report

    parser = argparse.ArgumentParser(
        prog="python -m analysis.bound",
        description="Measure the constants of Theorem 6 (eps_T, eps_S, C_T from a trained world model and "
        "its dataset; R and gamma from the data and config; eps_pi, C_pi given), evaluate the bound and its "
        "sensitivity (gradients, elasticities) and write bound.md, bound.json and bound.png. With "
        "--study-storage, measure every trial's run and show how the searched parameters move each "
        "constant and the bound.",
    )
    parser.add_argument("--run", help="Sacred run dir, pipeline workdir, or checkpoint dir/file")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--dataset", default=None, help="dataset directory (default: the run's own)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled windows (default 0)")
    parser.add_argument(
        "--noise-std", type=float, default=0.1, help="Add-G probe std for eps_S (default 0.1)"
    )
    parser.add_argument("--num-windows", type=int, default=64, help="windows per estimator (default 64)")
    parser.add_argument("--r-max", type=float, default=None, help="R (default: max |reward| in the data)")
    parser.add_argument("--gamma", type=float, default=None, help="gamma (default: world model config)")
    parser.add_argument(
        "--eps-pi", type=float, default=None, help="policy TV eps_pi (default: 0, not measured)"
    )
    parser.add_argument("--c-pi", type=float, default=None, help="policy sensitivity C_pi (default: 0)")
    parser.add_argument(
        "--study-storage", default=None, help="Optuna storage URL (sqlite:///..., postgresql://...)"
    )
    parser.add_argument(
        "--study-name", default=None, help="Optuna study name (optional if the storage has one)"
    )
    parser.add_argument("--runs", default="runs/sacred", help="Sacred FileStorage dir of the study's runs")
    args = parser.parse_args(argv)
    if args.run is None and args.study_storage is None:
        parser.error("give --run and/or --study-storage")
    kw = dict(
        seed=args.seed,
        noise_std=args.noise_std,
        num_windows=args.num_windows,
        r_max=args.r_max,
        gamma=args.gamma,
        eps_pi=args.eps_pi,
        c_pi=args.c_pi,
    )
    written = []
    if args.run is not None:
        try:
            measured = measure_run(args.run, dataset=args.dataset, **kw)
        except ValueError as err:
            parser.error(str(err))
        written += write_bound_report(measured, args.out, title=f"Generalization bound of {args.run}")
    if args.study_storage is not None:
        import optuna

        from analysis._optuna_plots import load_study

        try:
            study = load_study(args.study_storage, args.study_name)
        except (ValueError, KeyError) as err:
            parser.error(f"study: {err}")
        rows, skipped = [], []
        trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        for t in tqdm(trials, desc="trials"):
            run_dir = _trial_run_dir(t, Path(args.runs))
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
