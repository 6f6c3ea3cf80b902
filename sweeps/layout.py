"""Every file and folder the sweeps write, named once.

Layout under ``--runs`` (default ``runs/``)::

    optuna.db                          the lambda search's SQLite storage (default)
    sacred/<id>/                       one Sacred run (FileStorageObserver): SacredRun below
    jax_cache/                         JAX's persistent compilation cache
    work/<preset>_..._seed<seed>/      default run folder of every command (``mrcom.agents.default_workdir``)
    lambda_search/<study>/             one study: StudyDir below

A study folder holds the report (``trials.csv``, ``trials.json``, ``trials.md``, ``best.json``), the
shared dataset ``collect-<key>/`` and model-free baseline ``baseline-<key>/`` of its trials, and one
``trial-<number>/`` per trial: ``spec.json`` (what the worker asks the trial process to run),
``trial.log`` (its output), ``outcome.json`` (its result for the worker) and ``work/`` (the pipeline's
``mrcom.agents.Workdir``; ``work-seed<s>/`` per seed in a trial of several seeds). The datasets of a
study's later seeds sit beside its first, ``collect-<key>-seed<s>/``.
"""

from __future__ import annotations

import os
from pathlib import Path

from mrcom.agents import Folder, Workdir

RUNS = Path("runs")  # default of --runs / the folder sweeps.run records into

# Sacred artifacts of a run (names inside its run folder)
RESULTS_ARTIFACT = "results.json"
MANIFEST_ARTIFACT = "dataset_manifest.json"


def seed_sibling(folder: Path, seed: int) -> Path:
    """The folder of pipeline ``seed`` beside ``folder`` in a trial of several seeds: ``<folder>-seed<seed>``
    (a later seed's shared dataset beside the first's, a seed's workdir beside ``work``)."""
    return folder.with_name(f"{folder.name}-seed{int(seed)}")


class SacredRun(Folder):
    """The files of one Sacred FileStorageObserver run folder ``<sacred>/<id>/``."""

    @property
    def run_json(self) -> Path:
        """Status, times, fail trace, artifacts."""
        return self.root / "run.json"

    @property
    def info_json(self) -> Path:
        return self.root / "info.json"

    @property
    def config_json(self) -> Path:
        return self.root / "config.json"

    @property
    def metrics_json(self) -> Path:
        return self.root / "metrics.json"

    @property
    def results(self) -> Path:
        """The ``results.json`` artifact."""
        return self.root / RESULTS_ARTIFACT


class TrialDir(Folder):
    """The files of one trial of a study: ``<study>/trial-<number>/``."""

    @property
    def spec(self) -> Path:
        """What the worker asks the trial process to run (``sweeps._trial``)."""
        return self.root / "spec.json"

    @property
    def outcome(self) -> Path:
        """What the trial process answers (status, value, reason, Sacred run id)."""
        return self.root / "outcome.json"

    @property
    def log(self) -> Path:
        """The trial process's output."""
        return self.root / "trial.log"

    @property
    def work(self) -> Workdir:
        """The trial's pipeline workdir (a trial of one seed)."""
        return Workdir(self.root / "work")

    def seed_work(self, seed: int) -> Workdir:
        """The workdir of pipeline ``seed`` in a trial of several seeds (objective ``model``)."""
        return Workdir(seed_sibling(self.root / "work", seed))


class StudyDir(Folder):
    """The files of one study: ``<runs>/lambda_search/<study>/``."""

    def trial(self, number: int) -> TrialDir:
        return TrialDir(self.root / f"trial-{int(number):04d}")

    def collect(self, key: str) -> Path:
        """The dataset shared by the trials whose data config hashes to ``key``."""
        return self.root / f"collect-{key}"

    def baseline(self, key: str) -> Path:
        """The adapted model-free baselines shared by the trials whose config hashes to ``key``."""
        return self.root / f"baseline-{key}"

    @property
    def trials_csv(self) -> Path:
        return self.root / "trials.csv"

    @property
    def trials_json(self) -> Path:
        return self.root / "trials.json"

    @property
    def trials_md(self) -> Path:
        return self.root / "trials.md"

    @property
    def best_json(self) -> Path:
        return self.root / "best.json"


class RunsDir(Folder):
    """Everything the sweeps write under one folder (``--runs``, default ``runs/``)."""

    def __init__(self, root: str | os.PathLike = RUNS):
        super().__init__(root)

    @property
    def optuna_db(self) -> Path:
        """The lambda search's default SQLite storage."""
        return self.root / "optuna.db"

    @property
    def storage_url(self) -> str:
        """``sqlite:///<runs>/optuna.db``."""
        return f"sqlite:///{self.optuna_db.as_posix()}"

    @property
    def sacred(self) -> Path:
        """Folder of the Sacred FileStorageObserver."""
        return self.root / "sacred"

    @property
    def jax_cache(self) -> Path:
        return self.root / "jax_cache"

    @property
    def work(self) -> Path:
        """Parent of the default workdirs of ``python -m sweeps.run``."""
        return self.root / "work"

    def study(self, name: str) -> StudyDir:
        return StudyDir(self.root / "lambda_search" / name)
