"""`Workdir`: every path and done-marker of one pipeline run, in one place; `default_workdir`: where a
run goes when no folder is given (every command: `mrcom-pipeline`, `sweeps.run`, the benchmarks).

Layout::

    config.json                    the PipelineConfig of the run
    dataset/                       shards + manifest.json (run_collect)
    worldmodels/<method>/          every world model, MrCoM's too: checkpoint.eqx + metrics.json (run_train)
                                   (a run written before MrCoM moved there keeps it in worldmodel/: read)
    adapt/<method>/                policy.eqx + result.json (run_adapt)
    results.json, summary.md       run_evaluate (results.json: `RESULTS_FORMAT`, docs/interfaces.md)

Runs sit side by side under one root (default `runs/work`), one folder per run named by `run_name`;
the protocol runner writes its table over seeds beside them (`protocol_summary`).

A stage is done when its marker exists: `metrics.json` for a world model, `result.json` for an
adapted method, `results.json` for the run. Markers are written last and atomically, so a killed
stage leaves no marker and resumes.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# results.json: the version written, and those readers understand (1: before `per_target` and `still`)
RESULTS_FORMAT = 2
RESULTS_FORMATS = (1, 2)
RUNS_WORK = Path("runs") / "work"  # the default root of run folders


@dataclasses.dataclass(frozen=True)
class Folder:
    """A folder whose files a subclass names (one property or method each): `root`, a `Path` made from
    any path-like. Frozen, compared and hashed by class and root (subclasses stay undecorated)."""

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))


class Workdir(Folder):
    """The files of one run rooted at `root`."""

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def dataset(self) -> Path:
        return self.root / "dataset"

    @property
    def dataset_manifest(self) -> Path:
        """Done-marker of the dataset: its manifest (shards and their checksums)."""
        from ._dataset import DATASET_MANIFEST

        return self.dataset / DATASET_MANIFEST

    def worldmodel(self, method: str = "mrcom") -> Path:
        """The world-model directory of `method`: `worldmodels/<method>/` (a run written before MrCoM's
        moved there keeps it in `worldmodel/`, still read)."""
        new, old = self.root / "worldmodels" / method, self.root / "worldmodel"
        return old if method == "mrcom" and old.is_dir() and not new.exists() else new

    def worldmodel_metrics(self, method: str = "mrcom") -> Path:
        """Done-marker of a world model: its held-out metrics."""
        return self.worldmodel(method) / "metrics.json"

    def adapt(self, method: str) -> Path:
        return self.root / "adapt" / method

    def adapt_result(self, method: str) -> Path:
        """Done-marker of an adapted method: its learning curve."""
        return self.adapt(method) / "result.json"

    def policy(self, method: str) -> Path:
        return self.adapt(method) / "policy.eqx"

    @property
    def results(self) -> Path:
        """Done-marker of the run: the results (schema of docs/interfaces.md)."""
        return self.root / "results.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.md"


def run_name(config: Any) -> str:
    """`<preset>_<protocol>_<ablation>_seed<seed>`: the folder name of a run, from a `PipelineConfig`
    or its dict (a Sacred run's config)."""
    get = config.get if isinstance(config, Mapping) else lambda k: getattr(config, k)
    return "_".join(str(get(k)) for k in ("preset", "protocol", "ablation")) + f"_seed{get('seed')}"


def default_workdir(config: Any, root: str | os.PathLike = RUNS_WORK) -> Path:
    """`<root>/<run_name(config)>` (default root `runs/work`, relative to the current directory)."""
    return Path(root) / run_name(config)


def protocol_summary(config: Any, root: str | os.PathLike = RUNS_WORK) -> Path:
    """`<root>/<preset>_<protocol>_<ablation>_summary.md`, the table over seeds of `run_protocol` (its
    results beside it, `.json`)."""
    return Path(root) / (run_name(config).rsplit("_seed", 1)[0] + "_summary.md")
