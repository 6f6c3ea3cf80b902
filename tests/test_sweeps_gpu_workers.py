"""``python -m sweeps.gpu_workers``: one worker per device with its CUDA_VISIBLE_DEVICES, the arguments
after ``--`` passed through, statuses propagated, one Ctrl-C forwarded once, workers stopped when the
launcher dies; a stand-in worker replaces ``sweeps.lambda_search`` (the real one is covered by the
multi-worker PostgreSQL test)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

FAKE_WORKER = """
import json, os, signal, sys, time
from pathlib import Path
device, runs = os.environ["CUDA_VISIBLE_DEVICES"], Path(sys.argv[sys.argv.index("--runs") + 1])
got = []
def stop(signum, _):
    got.append(signal.Signals(signum).name)
    (runs / f"stopped-{device}.json").write_text(json.dumps(got))
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
(runs / f"seen-{device}.json").write_text(json.dumps(
    {"argv": sys.argv[1:], "sid": os.getsid(0), "pid": os.getpid()}))
mode = os.environ["FAKE_MODE"]
if mode == "fail-on-1" and device == "1":
    sys.exit(3)
if mode == "wait":
    end = time.monotonic() + 60
    while not got and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(0.5)  # a second forwarded signal would arrive here
    sys.exit(130)
"""


def _launch(tmp_path: Path, mode: str, devices=("0", "1"), extra=()) -> subprocess.Popen:
    (tmp_path / "fake_worker.py").write_text(FAKE_WORKER)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "FAKE_MODE": mode}
    cmd = [sys.executable, "-m", "sweeps.gpu_workers", "--devices", *devices, "--runs", str(tmp_path)]
    cmd += ["--worker-module", "fake_worker", "--", "--storage", "postgresql://db/x", "--study", "s", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(paths, timeout=60.0):
    end = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        assert time.monotonic() < end, [p for p in paths if not p.exists()]
        time.sleep(0.05)


def test_one_worker_per_device_with_its_gpu_and_the_arguments(tmp_path):
    proc = _launch(tmp_path, "ok", extra=("--trials", "8"))
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    for device in ("0", "1"):
        seen = json.loads((tmp_path / f"seen-{device}.json").read_text())
        assert seen["argv"] == ["--storage", "postgresql://db/x", "--study", "s", "--trials", "8", "--runs",
                                str(tmp_path)]  # fmt: skip
        assert seen["sid"] == seen["pid"] != os.getsid(0)  # its own session: one Ctrl-C, from the launcher
        assert (tmp_path / "gpu_workers" / f"worker-{device}.log").is_file()
        assert f"device {device}: worker exited with status 0" in out


def test_a_failed_worker_fails_the_launch(tmp_path):
    proc = _launch(tmp_path, "fail-on-1")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 3 and "device 1: worker exited with status 3" in out, out


def test_ctrl_c_reaches_every_worker_once(tmp_path):
    proc = _launch(tmp_path, "wait")
    _wait_for([tmp_path / "seen-0.json", tmp_path / "seen-1.json"])
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    for device in ("0", "1"):
        assert json.loads((tmp_path / f"stopped-{device}.json").read_text()) == ["SIGINT"]


def test_workers_are_stopped_when_the_launcher_is_killed(tmp_path):
    proc = _launch(tmp_path, "wait")
    _wait_for([tmp_path / "seen-0.json", tmp_path / "seen-1.json"])
    proc.kill()  # SIGKILL: nothing in the launcher runs
    proc.communicate(timeout=30)
    _wait_for([tmp_path / "stopped-0.json", tmp_path / "stopped-1.json"], timeout=30)
    for device in ("0", "1"):
        assert json.loads((tmp_path / f"stopped-{device}.json").read_text()) == ["SIGTERM"]


def test_several_workers_on_sqlite_are_refused_in_one_line(tmp_path):
    cmd = [sys.executable, "-m", "sweeps.gpu_workers", "--devices", "0", "1", "--", "--preset", "quick"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "need a server database" in proc.stderr
