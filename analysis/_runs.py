"""Reading recorded runs: Sacred FileStorage directories and plain run folders, and their ``results.json``.

Layout (docs/interfaces.md): ``runs/sacred/<run id>/`` holds ``config.json``, ``run.json``,
``metrics.json``, ``info.json`` and the artifact ``results.json``; a plain run folder
(``mrcom.agents.Workdir``, e.g. ``runs/work/<preset>_<protocol>_<ablation>_seed<seed>/`` of
``mrcom-pipeline``) holds ``config.json`` and ``results.json``. ``load_runs`` takes either kind, at
any depth below the folder it is given. Sacred's ``_sources/`` and ``_resources/`` folders are not
runs and are skipped. A run without ``results.json`` (still running, failed, pruned) is kept in the
list with ``results=None`` so reports can count it, and it never contributes a number to a table.

When two runs share the same (preset, protocol, ablation, seed) the most recent one that has results
wins (choice: a re-run replaces an earlier attempt rather than counting as a second seed).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mrcom.agents import RESULTS_FORMATS, Workdir
from sweeps.layout import SacredRun

__all__ = ["RunRecord", "load_run", "load_runs", "latest_per_key", "evaluation_runs", "RESULTS_FORMATS"]

# the folders of a run folder that hold no run: not walked into
_RUN_PARTS = ("dataset", "adapt", "worldmodels", "worldmodel")


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One recorded run.

    Attributes:
        run_id: the Sacred run directory name.
        path: the run directory.
        status: Sacred's status ("COMPLETED", "FAILED", "RUNNING", "INTERRUPTED", ...).
        start_time: Sacred's ISO start time ("" when absent).
        config: the run's config (``PipelineConfig.to_dict()`` plus ``command``).
        info: ``info.json`` (``optuna_trial``, ``optuna_study`` for study runs).
        metrics: ``metrics.json``: name -> {"steps": [...], "values": [...], ...}.
        results: ``results.json`` or None when the run has none.
    """

    run_id: str
    path: Path
    status: str
    start_time: str
    config: dict[str, Any]
    info: dict[str, Any]
    metrics: dict[str, Any]
    results: dict[str, Any] | None

    @property
    def protocol(self) -> str | None:
        return self._field("protocol")

    @property
    def preset(self) -> str | None:
        return self._field("preset")

    @property
    def ablation(self) -> str:
        return self._field("ablation") or "full"

    @property
    def seed(self) -> int | None:
        value = self._field("seed")
        return None if value is None else int(value)

    def _field(self, name: str):
        if self.results is not None and name in self.results:
            return self.results[name]
        return self.config.get(name)


def _read_json(path: Path, default):
    if not path.is_file():
        return default
    with path.open() as f:
        return json.load(f)


def _validate_results(results: dict, path: Path) -> dict:
    fmt = results.get("format")
    if fmt not in RESULTS_FORMATS:
        raise ValueError(f"{path}: format={fmt!r}: results.json formats understood: {RESULTS_FORMATS}")
    for key in ("protocol", "seed", "methods"):
        if key not in results:
            raise ValueError(f"{path}: missing field {key!r} (see docs/interfaces.md, results.json)")
    return results


def load_run(path: str | Path, run_id: str | None = None) -> RunRecord:
    """Read one Sacred run directory or plain run folder (``config.json`` and ``results.json``).

    Arguments:
        path: the run directory.
        run_id: its name in reports (default: the folder's name).

    Returns:
        The run's record.
    """
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"run={str(path)!r}: not a directory")
    files = SacredRun(path)
    run = _read_json(files.run_json, {})
    results = _read_json(files.results, None)
    if results is not None:
        results = _validate_results(results, files.results)
    return RunRecord(
        run_id=run_id or path.name,
        path=path,
        status=str(run.get("status", "UNKNOWN" if results is None else "COMPLETED")),
        start_time=str(run.get("start_time", "")),
        config=_read_json(files.config_json, {}),
        info=_read_json(files.info_json, {}),
        metrics=_read_json(files.metrics_json, {}),
        results=results,
    )


def _is_run(d: Path) -> bool:
    return SacredRun(d).run_json.is_file() or SacredRun(d).results.is_file() or Workdir(d).config.is_file()


def load_runs(root: str | Path) -> list[RunRecord]:
    """Read every run below ``root``: Sacred run directories (``runs/sacred``) and plain run folders
    (``runs/work``), at any depth, sorted by run id (the path below ``root``).

    Arguments:
        root: a FileStorageObserver's base directory, a folder of run folders, or one run folder.

    Returns:
        One record per run (runs without ``results.json`` included, ``results=None``).
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"runs={str(root)!r}: not a directory")
    if _is_run(root):
        return [load_run(root)]
    found: list[Path] = []
    for here, dirs, _ in os.walk(root):
        d = Path(here)
        if d != root and _is_run(d):
            found.append(d)
            dirs.clear()  # a run holds no run
            continue
        dirs[:] = sorted(x for x in dirs if not x.startswith(("_", ".")) and x not in _RUN_PARTS)
    ids = {d: d.relative_to(root).as_posix() for d in found}
    return [load_run(d, ids[d]) for d in sorted(found, key=lambda d: _id_order(ids[d]))]


def _id_order(run_id: str) -> tuple:
    return (0, int(run_id), "") if run_id.isdigit() else (1, 0, run_id)


def latest_per_key(runs: Iterable[RunRecord]) -> list[RunRecord]:
    """Keep runs with results, one per (preset, protocol, ablation, seed): the latest started."""
    best: dict[tuple, RunRecord] = {}
    for r in runs:
        if r.results is None:
            continue
        key = (r.preset, r.protocol, r.ablation, r.seed)
        newer = (r.start_time, _id_order(r.run_id))
        if key not in best or newer >= (best[key].start_time, _id_order(best[key].run_id)):
            best[key] = r
    return list(best.values())


def evaluation_runs(runs: Iterable[RunRecord]) -> list[RunRecord]:
    """Drop the runs of Optuna trials (``info.json`` has ``optuna_trial``; a plain trial folder scores
    the validation targets, ``split``): they vary the lambdas."""
    return [
        r
        for r in runs
        if r.info.get("optuna_trial") is None and (r.results or {}).get("split", "test") != "validation"
    ]
