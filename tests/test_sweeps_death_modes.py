"""Every way a lambda-search run can die leaves no Sacred run RUNNING, records why on the Optuna trial, and
the rerun (the same command again) retries the lost parameters.

The worker is the real ``sweeps.lambda_search`` in its own process group (as a terminal runs a job) and its
trial process the real ``sweeps._trial`` (storage, watchdog, Sacred file observer, outcome file); only the
pipeline inside the Sacred run is a stand-in that hangs, completes at once, or is SIGKILLed as the kernel's
OOM killer would, so each test takes seconds instead of a real training run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from sweeps._recovery import process_alive, process_key

# each test starts two to four Python processes that import JAX: ~20 s on an idle 2-core CPU
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]

# The worker: sweeps.lambda_search, with its trial processes running FAKE_TRIAL instead of sweeps._trial.
DRIVER = """
import subprocess, sys
_Popen = subprocess.Popen

class Popen(_Popen):
    def __init__(self, args, *rest, **kwargs):
        if list(args[1:3]) == ["-m", "sweeps._trial"]:
            args = [args[0], sys.argv[1], *args[3:]]
        super().__init__(args, *rest, **kwargs)

subprocess.Popen = Popen
from sweeps.lambda_search import main
sys.exit(main(sys.argv[2:]))
"""

# sweeps._trial with the experiment's pipeline command replaced by a stand-in (mode from the environment).
FAKE_TRIAL = """
import ctypes, json, os, signal, sys, time
from pathlib import Path
from sweeps import _hooks, _trial
from sweeps.experiment import ex

MODE, DIR = os.environ["FAKE_TRIAL"], Path(os.environ["FAKE_TRIAL_DIR"])

@ex.command
def pipeline(_run, _config):
    for hook in list(_hooks.start_hooks):
        hook(_run)
    (DIR / f"ready-{os.getpid()}").touch()
    if MODE == "oom-once" and not (DIR / "oom").exists():
        (DIR / "oom").touch()
        os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does
    if MODE == "hang-in-c":  # as an XLA compilation: in C, GIL released, Python's signal handlers wait
        libc, mutex = ctypes.CDLL("libc.so.6"), ctypes.create_string_buffer(64)
        libc.pthread_mutex_init(mutex, None)
        libc.pthread_mutex_lock(mutex)
        libc.pthread_mutex_lock(mutex)  # a default mutex locked twice by one thread: blocks for good
    while MODE == "hang":
        try:
            time.sleep(0.05)
        except Exception:  # as JAX's cache reads do: only the watchdog can end this run
            pass
    work = Path(_config["workdir"])
    work.mkdir(parents=True, exist_ok=True)
    value = float(_config["worldmodel"]["lambda_s"])
    (work / "results.json").write_text(json.dumps({"methods": {"mrcom": {"ant": [value]}}}))
    _run.info["paths"] = {"results": str(work / "results.json")}
    return value

_trial.main(sys.argv[1:])
"""

POINT = ["--lambda-var", "1", "1", "--lambda-s", "0.1", "0.1", "--lambda-v", "0.1", "0.1", "--m", "4", "4"]
GRACE = 300  # far longer than any test: a lost trial must be found at restart, not by its stale heartbeat


class Sweep:
    """Starts ``python -m sweeps.lambda_search`` (with the stand-in trial) in ``tmp`` in its own process
    group, and reads back what it left in Optuna and Sacred."""

    def __init__(self, tmp: Path, env: dict[str, str]):
        self.tmp, self.env = tmp, env
        (tmp / "driver.py").write_text(DRIVER)
        (tmp / "fake_trial.py").write_text(FAKE_TRIAL)
        self.flags = dir = tmp / "flags"
        dir.mkdir()
        self.logs = 0

    def start(self, mode: str, trials: int = 1) -> tuple[subprocess.Popen, Path]:
        # the stand-in replaces the pipeline command, which an adapting trial runs
        args = ["--preset", "smoke", "--objective", "adapt", "--study", "s", "--trials", str(trials)]
        args += ["--heartbeat", "1"]
        args += ["--grace", str(GRACE), "--collect-dir", str(self.tmp / "collect"), *POINT]
        env = {**self.env, "FAKE_TRIAL": mode, "FAKE_TRIAL_DIR": str(self.flags)}
        self.logs += 1
        log_path = self.tmp / f"worker{self.logs}.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, str(self.tmp / "driver.py"), str(self.tmp / "fake_trial.py"), *args],
                cwd=self.tmp,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, like a job started from a shell
            )
        return proc, log_path

    def run(self, mode: str, trials: int = 1, timeout: float = 120) -> tuple[int, str]:
        proc, log = self.start(mode, trials)
        try:
            rc = proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return rc, log.read_text()

    def wait_running(self, proc: subprocess.Popen, log: Path, timeout: float = 120) -> int:
        """Wait until the stand-in trial runs inside its Sacred run; returns its pid."""
        end = time.monotonic() + timeout
        while True:
            ready = sorted(self.flags.glob("ready-*"))
            if ready:
                return int(ready[-1].name.split("-")[1])
            assert proc.poll() is None, f"worker exited ({proc.returncode}): {log.read_text()[-3000:]}"
            assert time.monotonic() < end, "the trial never started"
            time.sleep(0.1)

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        storage = f"sqlite:///{self.tmp / 'runs' / 'optuna.db'}"
        return optuna.load_study(study_name="s", storage=storage).get_trials()

    @staticmethod
    def sacred(trial: optuna.trial.FrozenTrial) -> tuple[str, dict]:
        run_dir = Path(trial.user_attrs["sacred_run_dir"])
        info = run_dir / "info.json"
        return json.loads((run_dir / "run.json").read_text())["status"], (
            json.loads(info.read_text()) if info.exists() else {}
        )


def _wait_dead(*pids: int, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while any(process_alive(process_key(p)) for p in pids):
        assert time.monotonic() < end, f"still running: {[p for p in pids if process_alive(process_key(p))]}"
        time.sleep(0.05)


@pytest.fixture
def sweep(tmp_path, sweeps_env) -> Sweep:
    return Sweep(tmp_path, sweeps_env)


def _assert_retried_by_rerun(sweep: Sweep, lost: optuna.trial.FrozenTrial) -> None:
    """The same command again: the lost trial's parameters are tried again (and here complete)."""
    rc, out = sweep.run("complete")
    assert rc == 0, out[-3000:]
    trials = sweep.trials()
    retries = [t for t in trials if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == lost.number]
    assert len(retries) == 1, [(t.number, t.state, t.system_attrs) for t in trials]
    assert retries[0].params == lost.params and retries[0].state == TrialState.COMPLETE
    assert retries[0].value == pytest.approx(lost.params["lambda_s"])
    assert Sweep.sacred(retries[0])[0] == "COMPLETED"


def test_sigkill_of_the_whole_process_group_is_found_by_the_rerun(sweep):
    """kill -9 of the job (worker and trial at once): nobody can write anything; the rerun finds the trial
    and its Sacred run RUNNING with no live process, fails both with the reason and retries the parameters."""
    proc, log = sweep.start("hang")
    trial_pid = sweep.wait_running(proc, log)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _wait_dead(trial_pid)
    (lost,) = sweep.trials()
    assert lost.state == TrialState.RUNNING and Sweep.sacred(lost)[0] == "RUNNING"  # as the kill left them

    _assert_retried_by_rerun(sweep, lost)
    lost = sweep.trials()[lost.number]
    assert lost.state == TrialState.FAIL
    assert "found dead at restart" in lost.user_attrs["fail_reason"]
    status, info = Sweep.sacred(lost)
    assert status == "FAILED" and "found dead at restart" in info["stopped"]


def test_sigkill_of_the_worker_is_found_by_the_rerun(sweep):
    """kill -9 of the worker alone: its trial process ends its Sacred run and says why on the trial; the
    rerun fails the trial at once (its worker is gone) and retries the parameters."""
    proc, log = sweep.start("hang")
    trial_pid = sweep.wait_running(proc, log)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _wait_dead(trial_pid)  # told by the kernel (PR_SET_PDEATHSIG) that its worker died
    (lost,) = sweep.trials()
    status, info = Sweep.sacred(lost)
    assert status == "FAILED" and info["stopped"] == "the lambda-search worker of this trial died"
    assert lost.user_attrs["fail_reason"] == "the lambda-search worker of this trial died"

    _assert_retried_by_rerun(sweep, lost)
    lost = sweep.trials()[lost.number]
    assert lost.state == TrialState.FAIL
    assert "the lambda-search worker of this trial died" in lost.user_attrs["fail_reason"]


def test_oom_kill_of_the_trial_process_is_recorded_and_retried(sweep):
    """The kernel SIGKILLs the trial process (out of memory) while its worker lives: the worker records the
    signal on the trial and on its Sacred run, and tries the parameters again."""
    rc, out = sweep.run("oom-once")
    assert rc == 0, out[-3000:]
    killed, retry = sweep.trials()
    assert killed.state == TrialState.FAIL
    assert "killed by SIGKILL (out of memory?" in killed.user_attrs["fail_reason"]
    status, info = Sweep.sacred(killed)
    assert status == "FAILED" and "killed by SIGKILL (out of memory?" in info["stopped"]
    assert RetryHeartbeatStaleTrialCallback.retried_trial_number(retry) == killed.number
    assert retry.params == killed.params and retry.state == TrialState.COMPLETE


STOPS = {  # id: signal, to whom, what the trial does meanwhile, reason on the trial, its Sacred run's status
    "ctrl-c": (signal.SIGINT, "group", "hang", "interrupted (SIGINT, Ctrl-C)", "INTERRUPTED"),
    # Ctrl-C while the trial's main thread sits in C (as in an XLA compilation)
    "ctrl-c-in-c-call": (signal.SIGINT, "group", "hang-in-c", "interrupted (SIGINT, Ctrl-C)", "INTERRUPTED"),
    "sigterm-group": (signal.SIGTERM, "group", "hang", "terminated (SIGTERM)", "FAILED"),  # the scheduler
    "sigterm-worker": (signal.SIGTERM, "worker", "hang", "terminated (SIGTERM)", "INTERRUPTED"),  # kill PID
}


@pytest.mark.parametrize("signum, target, mode, reason, sacred_status", STOPS.values(), ids=STOPS)
def test_signal_stops_within_5_s_and_queues_the_parameters_again(
    sweep, signum, target, mode, reason, sacred_status
):
    """Ctrl-C or SIGTERM: the worker says what it does, stops its trial and returns within 5 s; the trial is
    failed with the reason and its parameters queued (the rerun takes them first: shown for Ctrl-C)."""
    proc, log = sweep.start(mode)
    trial_pid = sweep.wait_running(proc, log)
    start = time.monotonic()
    if target == "group":
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)
    try:
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    elapsed = time.monotonic() - start
    out = log.read_text()
    assert rc == 130 and elapsed < 5, (rc, elapsed, out[-3000:])
    assert "stopping trial 0" in out and "run the same command again" in out
    _wait_dead(trial_pid)
    stopped, queued = sweep.trials()
    assert stopped.state == TrialState.FAIL and reason in stopped.user_attrs["fail_reason"]
    assert queued.state == TrialState.WAITING and queued.params == stopped.params
    status, info = Sweep.sacred(stopped)
    assert status == sacred_status and info.get("stopped")
    if mode == "hang" and signum == signal.SIGINT:
        _assert_retried_by_rerun(sweep, stopped)
