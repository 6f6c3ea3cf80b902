"""One run of the bound: where its checkpoint, dataset and workdir are (``resolve_run``), what it is
(``run_info``) and its measured constants and real gap (``measure_run``)."""

from __future__ import annotations

import dataclasses
import json
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
