"""`Workdir`: every path and done-marker of one pipeline run, in one place.

Layout::

    config.json                    the PipelineConfig of the run
    dataset/                       shards + manifest.json (run_collect)
    worldmodel/                    MrCoM: checkpoint.eqx + metrics.json (run_train)
    worldmodels/<method>/          a baseline world model ("cadm", "dreamerv3"), the same files
    adapt/<method>/                policy.eqx + result.json (run_adapt)
    results.json, summary.md       run_evaluate

A stage is done when its marker exists: `metrics.json` for a world model, `result.json` for an
adapted method, `results.json` for the run. Markers are written last and atomically, so a killed
stage leaves no marker and resumes.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Workdir:
    """The files of one run rooted at `root`."""

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

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
        """The world-model directory of `method` (MrCoM's keeps its historical place)."""
        return self.root / "worldmodel" if method == "mrcom" else self.root / "worldmodels" / method

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

    def seed(self, seed: int) -> Workdir:
        """The run of seed `seed` inside a protocol directory (`run_protocol`)."""
        return Workdir(self.root / f"seed_{int(seed)}")
