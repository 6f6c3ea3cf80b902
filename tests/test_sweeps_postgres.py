"""Two lambda-search workers on one PostgreSQL study (a real server, started by .ci/run); one worker is
killed with SIGKILL in the middle of a trial. The study still reaches its trials, the killed trial is
failed and its parameters retried, and no Sacred run is left RUNNING without a trial pointing at it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from sweeps._storage import normalize_db_url

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
]


def _status(run_dir: Path) -> str:
    return json.loads((run_dir / "run.json").read_text())["status"]


def test_two_workers_one_killed_mid_trial(tmp_path, postgres_url, sweeps_env, sweeps_shared):
    study_name = f"kill-{uuid.uuid4().hex[:8]}"
    trials = 2

    def worker(name: str) -> tuple[subprocess.Popen, Path]:
        home = tmp_path / name  # each worker stands for one machine: its own runs/ folder
        home.mkdir()
        cmd = [
            sys.executable, "-m", "sweeps.lambda_search", "--preset", "smoke", "--study", study_name,
            "--trials", str(trials), "--storage", postgres_url, "--heartbeat", "1", "--grace", "4",
            "--collect-dir", str(sweeps_shared / "collect"), "--jax-cache", str(sweeps_shared / "jax_cache"),
            # a one-point search space: one compilation of the programs for the whole session
            "--lambda-var", "1", "1", "--lambda-s", "0.1", "0.1", "--lambda-v", "0.1", "0.1", "--m", "4", "4",
        ]  # fmt: skip
        log = open(home / "worker.log", "w")
        return subprocess.Popen(cmd, cwd=home, env=sweeps_env, stdout=log, stderr=subprocess.STDOUT), home

    a, home_a = worker("a")
    storage = optuna.storages.RDBStorage(normalize_db_url(postgres_url))

    def running_trial_of_a():
        try:
            study = optuna.load_study(study_name=study_name, storage=storage)
        except KeyError:
            return None
        for t in study.get_trials():
            if (
                t.state == TrialState.RUNNING
                and t.user_attrs.get("worker", "").endswith(f":{a.pid}")
                and t.user_attrs.get("sacred_run_dir")
            ):
                return t
        return None

    b = None
    try:
        deadline = time.monotonic() + 600
        killed = None
        while killed is None:
            assert time.monotonic() < deadline, "worker a never ran a trial"
            assert a.poll() is None, (home_a / "worker.log").read_text()[-2000:]
            killed = running_trial_of_a()
            if b is None:
                b, home_b = worker("b")  # started once a's study exists or is being created
            time.sleep(0.5)
        a.send_signal(signal.SIGKILL)
        a.wait()
        assert b.wait(timeout=900) == 0, (home_b / "worker.log").read_text()[-3000:]
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()

    study = optuna.load_study(study_name=study_name, storage=storage)
    all_trials = {t.number: t for t in study.get_trials()}
    finished = [t for t in all_trials.values() if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) >= trials
    assert all_trials[killed.number].state == TrialState.FAIL
    retries = [
        t
        for t in all_trials.values()
        if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == killed.number
    ]
    assert retries and retries[0].params == killed.params
    assert retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)

    # Sacred: every run that is still RUNNING has a trial pointing at it, and the killed worker's trial
    # process, told by the kernel that its worker died (SIGTERM), ended its run (FAILED; COMPLETED only
    # if it happened to finish in the instant between the kill and the signal)
    pointed = {str(Path(t.user_attrs["sacred_run_dir"]).resolve()) for t in all_trials.values()
               if t.user_attrs.get("sacred_run_dir")}  # fmt: skip
    runs = [
        p
        for home in (home_a, home_b)
        for p in (home / "runs" / "sacred").iterdir()
        if (p / "run.json").exists()
    ]
    assert len(runs) >= len(all_trials) - 1
    for run_dir in runs:
        if _status(run_dir) == "RUNNING":
            assert str(run_dir.resolve()) in pointed
    killed_run = Path(killed.user_attrs["sacred_run_dir"])
    end = time.monotonic() + 30
    while _status(killed_run) == "RUNNING" and time.monotonic() < end:
        time.sleep(0.5)
    assert _status(killed_run) in ("FAILED", "COMPLETED")
