"""A trial process whose worker is SIGKILLed ends its Sacred run as FAILED even when its main thread
swallows the WorkerLost exception that SIGTERM raises (as JAX's persistent-cache reads do)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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

signal.signal(signal.SIGTERM, _trial._on_sigterm)
_trial.watch_parent(lambda: _trial._end_run_as_failed(current.get("run"), "worker lost"), grace=1.0, poll=0.1)
ex.run()
"""

# The worker: starts the trial as sweeps.lambda_search does, prints its pid, then waits to be killed.
WORKER = """
import subprocess, sys, time
from sweeps._trial import die_with_parent

p = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2], sys.argv[3]], preexec_fn=die_with_parent)
print(p.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_killed_worker_fails_the_run_even_if_the_trial_swallows_sigterm(tmp_path, sweeps_env):
    runs, ready = tmp_path / "sacred", tmp_path / "ready"
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, TRIAL, str(runs), str(ready)],
        env=sweeps_env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        trial_pid = int(worker.stdout.readline())
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert time.monotonic() < deadline, "the trial's Sacred run never started"
            time.sleep(0.1)
        run_json = runs / "1" / "run.json"
        assert json.loads(run_json.read_text())["status"] == "RUNNING"
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        deadline = time.monotonic() + 30
        while _alive(trial_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(trial_pid), "the orphaned trial process is still running"
        run = json.loads(run_json.read_text())
        assert run["status"] == "FAILED"
        assert json.loads((runs / "1" / "info.json").read_text())["worker_lost"] == "worker lost"
    finally:
        if worker.poll() is None:
            worker.kill()
        if _alive(trial_pid):
            os.kill(trial_pid, signal.SIGKILL)
