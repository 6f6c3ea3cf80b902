"""The pieces of sweeps._recovery on their own: ending a Sacred run that a SIGKILLed process left RUNNING
(file storage and SQL, real Sacred observers), and telling a dead process from a live one or a reused pid."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from sweeps._recovery import describe_exit, end_sacred_run, process_alive, process_key

# A Sacred run recorded by a FileStorageObserver and a SqlObserver that hangs until it is SIGKILLed.
HANG = """
import sys, time
import sweeps
from sacred import Experiment
from sacred.observers import FileStorageObserver, SqlObserver

ex = Experiment("hang", interactive=True, save_git_info=False)
ex.observers[:] = [SqlObserver(sys.argv[2]), FileStorageObserver(sys.argv[1], priority=-10)]

@ex.main
def main(_run):
    open(sys.argv[3], "w").write(str(_run._id))
    time.sleep(600)

ex.run()
"""


def test_end_sacred_run_left_running_by_sigkill(tmp_path, sweeps_env):
    files, db, ready = tmp_path / "sacred", tmp_path / "sacred.db", tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", HANG, str(files), f"sqlite:///{db}", str(ready)], env=sweeps_env
    )
    try:
        end = time.monotonic() + 120
        while not (ready.exists() and ready.read_text()):
            assert proc.poll() is None and time.monotonic() < end, "the run never started"
            time.sleep(0.1)
        run_id = ready.read_text()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run_dir = files / run_id
    assert json.loads((run_dir / "run.json").read_text())["status"] == "RUNNING"

    reason = "lost: its worker was found dead at restart"
    assert end_sacred_run("FAILED", reason, run_dir=run_dir, run_id=run_id, sql=f"sqlite:///{db}") == [
        "file",
        "sql",
    ]
    entry = json.loads((run_dir / "run.json").read_text())
    assert entry["status"] == "FAILED" and entry["stop_time"] and reason in entry["fail_trace"][0]
    assert json.loads((run_dir / "info.json").read_text())["stopped"] == reason
    with sqlite3.connect(db) as conn:
        status, info, stop = conn.execute(
            "SELECT status, info, stop_time FROM run WHERE run_id = ?", (run_id,)
        ).fetchone()
    assert status == "FAILED" and json.loads(info)["stopped"] == reason and stop is not None

    # a run that is not RUNNING is left as it is
    assert end_sacred_run("INTERRUPTED", "again", run_dir=run_dir, run_id=run_id, sql=f"sqlite:///{db}") == []
    assert json.loads((run_dir / "run.json").read_text())["status"] == "FAILED"


def test_process_identity_survives_pid_reuse():
    me = process_key()
    assert process_alive(me) is True
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    key = process_key(child.pid)
    child.wait()
    assert process_alive(key) is False  # reaped: gone
    assert process_alive({**me, "start": str(int(me["start"]) + 1)}) is False  # same pid, another process
    assert process_alive({**me, "boot": "another-machine"}) is None  # not to be judged from here
    assert process_alive(None) is None
    assert os.getpid() == me["pid"]


def test_describe_exit_names_the_signal():
    assert describe_exit(-9).startswith("trial process killed by SIGKILL (out of memory?")
    assert describe_exit(-11) == "trial process killed by SIGSEGV"
    assert describe_exit(1) == "trial process exited with code 1 without an outcome"


def test_sacred_run_of_another_machine_is_skipped(tmp_path):
    assert end_sacred_run("FAILED", "x", run_dir=Path(tmp_path / "elsewhere" / "7"), run_id=7) == []
