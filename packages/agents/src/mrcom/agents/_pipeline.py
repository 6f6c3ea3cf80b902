"""The one runner: `run_pipeline` (collect -> train -> adapt -> evaluate, each stage skipped when on disk),
`run_evaluate` (results.json, `RESULTS_FORMAT`), the protocol runner `run_protocol`, and the folders a
pipeline may share with others (`Shared`: one dataset for runs that differ in the world model only, one
model-free baseline for runs whose world model differs). Every command runs through here: `mrcom-pipeline`
and the stage commands, `sweeps.run` (Sacred) and so the lambda search's trials, and the benchmarks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from mrcom.envs import still_upright_return

from ._collect import run_collect, target_scenarios
from ._config import MODEL_FREE_METHODS, MODEL_METHODS, PipelineConfig
from ._io import atomic_write_bytes, atomic_write_json, stream_seed
from ._loop import evaluate_policy
from ._stages import WM_METRICS, _base_method, _load_policy, _target_env, run_adapt, run_train
from ._summary import summary_table
from ._workdir import RESULTS_FORMAT, Workdir, default_workdir, protocol_summary

Log = Callable[[str, float, int], None]
COLLECT_LOCK = ".collect.lock"  # inside a shared dataset folder


def _without_methods(config: dict) -> dict:
    """A config dict without `adapt.methods`."""
    return {**config, "adapt": {k: v for k, v in config.get("adapt", {}).items() if k != "methods"}}


def _check_config(cfg: PipelineConfig, workdir: Path) -> None:
    """Write workdir/config.json, or check that an existing one is the same config.

    `adapt.methods` may differ: every method is adapted and evaluated on its own, so a run can take
    more methods later. The stored config then lists the union, in the order they were first asked.
    """
    f = Workdir(workdir).config
    new = cfg.to_dict()
    if not f.exists():
        atomic_write_json(f, new)
        return
    old = json.loads(f.read_text())
    a, b = _without_methods(old), _without_methods(new)
    if a != b:
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        raise ValueError(f"workdir={str(workdir)!r}: holds a run of another config (differs in {diff})")
    union = list(dict.fromkeys([*old["adapt"]["methods"], *new["adapt"]["methods"]]))
    if union != old["adapt"]["methods"]:
        atomic_write_json(f, {**old, "adapt": {**old["adapt"], "methods": union}})


@dataclasses.dataclass(frozen=True)
class Shared:
    """Folders a run shares with other runs (None: nothing shared).

    dataset: a folder whose `dataset/` is collected once (under a file lock across processes) and
        linked into the run: runs that differ only in what comes after collection share it.
    baseline: a folder keeping the adapted model-free baselines (`adapt/sac`, `adapt/sac-utd`), which
        do not depend on the world model: the first run that finishes one stores a copy, later runs
        link it instead of training the same agents again.
    worldmodels: the same for the trained world models (`worldmodels/<method>/`), for runs that differ
        only in the adaptation (e.g. its rollout length).
    """

    dataset: Path | None = None
    baseline: Path | None = None
    worldmodels: Path | None = None


def _ensure_shared_dataset(cfg: PipelineConfig, shared: Path, workdir: Path, log: Log | None) -> None:
    """Collect into `shared/dataset` once (file lock across processes) and link it into `workdir`."""
    shared.mkdir(parents=True, exist_ok=True)
    with open(shared / COLLECT_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            run_collect(cfg, shared, log=log)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    link = Workdir(workdir).dataset
    if not link.exists() and not link.is_symlink():
        workdir.mkdir(parents=True, exist_ok=True)
        os.symlink(Workdir(shared).dataset.resolve(), link, target_is_directory=True)


def _parts(shared: Shared) -> list[tuple[Path, str, str]]:
    """(shared folder, part of a run folder, its done-marker inside it) of what `shared` keeps."""
    out = []
    if shared.baseline is not None:
        out += [(Path(shared.baseline), f"adapt/{m}", "result.json") for m in MODEL_FREE_METHODS]
    if shared.worldmodels is not None:
        out += [(Path(shared.worldmodels), f"worldmodels/{m}", "metrics.json") for m in MODEL_METHODS]
    return out


def _link_shared(shared: Shared, workdir: Path) -> None:
    """Link each finished shared part (`adapt/sac`, `worldmodels/<m>`, ...) into `workdir`."""
    for root, part, marker in _parts(shared):
        src, dst = root / part, workdir / part
        if (src / marker).is_file() and not dst.exists() and not dst.is_symlink():
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(src.resolve(), dst, target_is_directory=True)


def _store_shared(shared: Shared, workdir: Path) -> None:
    """Copy each finished part of `workdir` to its shared folder (atomically; the first one wins)."""
    for root, part, marker in _parts(shared):
        src, dst = workdir / part, root / part
        if src.is_symlink() or not (src / marker).is_file() or dst.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}-"))
        try:
            shutil.copytree(src, tmp, dirs_exist_ok=True)
            os.replace(tmp, dst)
        except OSError:  # another run stored it first
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def sharing(
    cfg: PipelineConfig, workdir: Path, shared: Shared | None, log: Log | None = None, *, dataset: bool = True
) -> Iterator[None]:
    """Link what `shared` holds into `workdir` (the dataset collected first when `dataset`), run the
    body, then store the parts it finished."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    shared = shared or Shared()
    if shared.dataset is not None and dataset:
        _ensure_shared_dataset(cfg, Path(shared.dataset), workdir, log)
    _link_shared(shared, workdir)
    yield
    _store_shared(shared, workdir)


def _per_robot(targets, values) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for s, v in zip(targets, values, strict=True):
        out.setdefault(s.robot, []).append(float(v))
    return out


def run_evaluate(cfg: PipelineConfig, workdir: Path, log: Log | None = None, progress: bool = True) -> dict:
    """Normalized return of every adapted deterministic policy over `eval.episodes` episodes.

    Writes `workdir/results.json` (`RESULTS_FORMAT`, schema of docs/interfaces.md: per method the
    final return and learning curve of every target, beside each target's Still reference) and
    `workdir/summary.md`. Methods already in an existing `results.json` are kept as they are; only
    the new ones are evaluated.

    Returns:
        The results dict.
    """
    wd = Workdir(workdir)
    done = json.loads(wd.results.read_text()) if wd.results.exists() else None
    if done is not None and set(cfg.adapt.methods) <= set(done["methods"]):
        return done
    targets = target_scenarios(cfg)
    # A run that takes more methods later keeps the ones already evaluated (evaluation is deterministic).
    old = done or {}
    methods: dict[str, dict[str, list[float]]] = dict(old.get("methods", {}))
    curves: dict[str, dict[str, dict[str, list]]] = dict(old.get("curves", {}))
    per_target: dict[str, dict[str, list]] = dict(old.get("per_target", {}))
    for method in cfg.adapt.methods:
        if method in methods:
            continue
        if not wd.adapt_result(method).exists():
            raise ValueError(f"adapt result {str(wd.adapt(method))!r}: missing; run run_adapt first")
        state = _load_policy(wd.policy(method), cfg, len(targets), method)
        returns = evaluate_policy(
            state,
            lambda e: _target_env(cfg, targets, e),
            len(targets),
            cfg.eval.episodes,
            stream_seed(cfg.seed, "final_eval"),
        )
        methods[method] = _per_robot(targets, returns)
        result = json.loads(wd.adapt_result(method).read_text())
        steps = [int(x) for x in result["curve_steps"]]
        curve = [[float(x) for x in r] for r in result["curve_returns"]]
        per_target[method] = {"final": [float(v) for v in returns], "real_steps": steps, "curve": curve}
        curves[method] = {}
        for robot in methods[method]:
            sel = [i for i, s in enumerate(targets) if s.robot == robot]
            curves[method][robot] = {
                "real_steps": steps,
                "normalized_return": [float(np.mean([r[i] for i in sel])) for r in curve],
            }
            if log is not None:
                log(
                    f"eval/{method}/{robot}/normalized_return",
                    float(np.mean(methods[method][robot])),
                    cfg.adapt.real_steps,
                )
    worldmodels = {}
    for method in MODEL_METHODS:
        if wd.worldmodel_metrics(method).exists():
            m = json.loads(wd.worldmodel_metrics(method).read_text())
            worldmodels[method] = {k: float(m[k]) for k in WM_METRICS if k in m}
    results = {
        "format": RESULTS_FORMAT,
        "protocol": cfg.protocol,
        "preset": cfg.preset,
        "seed": cfg.seed,
        "ablation": cfg.ablation,
        "split": cfg.envs.target_split,
        "ood_sampling": cfg.envs.ood_sampling,
        "real_steps": cfg.adapt.real_steps,
        "methods": methods,
        "curves": curves,
        "per_target": per_target,
        "worldmodel": worldmodels.get("mrcom", {}),
        "worldmodels": worldmodels,
        "targets": [t.to_dict() for t in targets],
        "still": [float(v) for v in still_upright_return(targets)],
    }
    atomic_write_json(wd.results, results)
    atomic_write_bytes(wd.summary, summary_table([results]).encode())
    return results


def run_pipeline(
    cfg: PipelineConfig,
    workdir: Path,
    log: Log | None = None,
    progress: bool = True,
    *,
    shared: Shared | None = None,
) -> dict:
    """collect -> train -> adapt -> evaluate in `workdir`; each stage skips work already on disk.

    Arguments:
        shared: folders shared with other runs (`Shared`: the dataset, the model-free baselines).

    Returns:
        The results dict of `run_evaluate`.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _check_config(cfg, workdir)
    model_methods = list(dict.fromkeys(_base_method(m) for m in cfg.adapt.methods))
    model_methods = [m for m in model_methods if m in MODEL_METHODS]
    with sharing(cfg, workdir, shared, log):
        if model_methods or cfg.adapt.prompt == "dataset":
            run_collect(cfg, workdir, log=log, progress=progress)
        for method in model_methods:
            run_train(cfg, workdir, log=log, progress=progress, method=method)
        run_adapt(cfg, workdir, log=log, progress=progress)
        return run_evaluate(cfg, workdir, log=log, progress=progress)


def run_protocol(
    cfg: PipelineConfig, root: Path, seeds, log: Log | None = None, progress: bool = True
) -> str:
    """Run the whole pipeline for each seed in `default_workdir(cfg with that seed, root)` and write the
    table over seeds to `protocol_summary(cfg, root)` (and the results beside it, `.json`).

    Returns:
        The summary table (Markdown).
    """
    runs = [cfg.replace(seed=int(s)) for s in seeds]
    results = [run_pipeline(c, default_workdir(c, root), log=log, progress=progress) for c in runs]
    table = summary_table(results)
    summary = protocol_summary(cfg, root)
    atomic_write_bytes(summary, table.encode())
    atomic_write_json(summary.with_suffix(".json"), {"seeds": [int(s) for s in seeds], "results": results})
    return table
