"""A trial process ends its Sacred run when its worker is SIGKILLed (FAILED) or when it is sent SIGINT
(INTERRUPTED), whatever its main thread is doing: here a loop that swallows every exception, as JAX's
persistent-cache reads do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from sweeps._recovery import process_alive, process_key

# The trial: a Sacred run whose main loop catches every Exception, so only the watchdog can end it.
TRIAL = """
import signal, sys, time
from sacred import Experiment
from sacred.observers import FileStorageObserver
from sweeps import _trial

ex = Experiment("swallow", interactive=True, save_git_info=False)
ex.observers.append(FileStorageObserver(sys.argv[1]))
current = {}

@ex.main
def main(_run):
    current["run"] = _run
    open(sys.argv[2], "w").close()
    while True:
        try:
            time.sleep(0.05)
        except Exception:
            pass

_trial.watch_for_stop(lambda status, reason: _trial.end_run(current.get("run"), status, reason), poll=0.1)
ex.run()
"""

# The worker: starts the trial as sweeps.lambda_search does, prints its pid, then waits to be killed.
WORKER = """
import subprocess, sys, time
from sweeps._trial import die_with_parent

p = subprocess.Popen([sys.executable, "-c", *sys.argv[1:4]], preexec_fn=die_with_parent)
print(p.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize(
    "stop, status, reason",
    [
        ("kill worker", "FAILED", "the lambda-search worker of this trial died"),
        ("SIGINT trial", "INTERRUPTED", "interrupted (SIGINT)"),
    ],
)
def test_stopped_trial_ends_its_run(tmp_path, sweeps_env, stop, status, reason):
    runs, ready = tmp_path / "sacred", tmp_path / "ready"
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, TRIAL, str(runs), str(ready)],
        env=sweeps_env,
        stdout=subprocess.PIPE,
        text=True,
    )
    trial_pid = None
    try:
        trial_pid = int(worker.stdout.readline())
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert time.monotonic() < deadline, "the trial's Sacred run never started"
            time.sleep(0.1)
        run_json = runs / "1" / "run.json"
        assert json.loads(run_json.read_text())["status"] == "RUNNING"
        if stop == "kill worker":
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        else:
            os.kill(trial_pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while process_alive(process_key(trial_pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not process_alive(process_key(trial_pid)), "the trial process is still running"
        assert json.loads(run_json.read_text())["status"] == status
        assert json.loads((runs / "1" / "info.json").read_text())["stopped"] == reason
    finally:
        if worker.poll() is None:
            worker.kill()
        if trial_pid is not None and process_alive(process_key(trial_pid)):
            os.kill(trial_pid, signal.SIGKILL)
