"""One Optuna trial = one Sacred run per seed (``train`` for objective ``model``, ``pipeline`` for
``adapt``), in its own process.

``python -m sweeps._trial SPEC.json`` is started by a lambda-search worker. It

1. opens the study's storage itself and attaches to its trial (``optuna.trial.Trial``), so it can
   report intermediate values and ask the study's pruner, with no round trip through the worker;
2. runs the Sacred experiment's command once per seed, with ``info`` = ``optuna_study`` and
   ``optuna_trial`` (the trial number); at the start of each run it writes the Sacred run id to the
   trial's user attributes ``sacred_run_id`` (the current run) and ``sacred_run_ids`` (all so far),
   and after each seed its objective to ``seed_values``;
3. stops the run when the pruner says so (Sacred status ``PRUNED``), when a metric turns NaN/inf
   (Sacred ``FAILED``, reason in ``info["diverged"]``), on SIGINT/SIGTERM/SIGHUP, or when its worker
   dies (the process asks the kernel for ``PARENT_DEATH_SIGNAL`` on the worker's death; a watchdog
   thread ends its Sacred run, see ``watch_for_stop``; when the worker died it also writes the
   reason to the trial's ``fail_reason``, since no worker is left to do it);
4. writes an outcome JSON (status, value, reason, Sacred run id; ``stopped: true`` when a signal or
   the worker's death ended it, so the worker retries its parameters) for the worker, which tells Optuna.

What happens when this process is SIGKILLed (nothing can be written here) is in ``sweeps._recovery``.

The spec is written by ``sweeps.lambda_search``; its keys are those of ``Worker._spec`` (``sweeps._worker``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sweeps import _hooks
from sweeps._plain import write_json_atomic

_LIBC: ctypes.CDLL | None
try:  # loaded once in the worker: the function below runs in the forked child before exec
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not glibc Linux
    _LIBC = None


# Sent by the kernel when the worker dies. Not SIGTERM: the kernel signals when the worker's *thread*
# that started the trial exits, and when the whole worker is SIGKILLed its threads die one by one, so
# the trial may be reparented to a sibling thread of the dying worker (same pid) when the signal
# arrives: the parent's pid alone cannot tell "worker died" from "someone sent SIGTERM".
PARENT_DEATH_SIGNAL = signal.SIGUSR2


def die_with_parent(signum: int = PARENT_DEATH_SIGNAL) -> None:
    """Ask Linux to send ``signum`` (default ``PARENT_DEATH_SIGNAL``, SIGUSR2, whose default action ends
    the process) to this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``).

    Used as ``preexec_fn`` of the trial subprocess (and, with SIGTERM, of ``sweeps.gpu_workers``'
    workers). A no-op where prctl is unavailable.
    """
    if _LIBC is not None:
        _LIBC.prctl(1, int(signum))  # PR_SET_PDEATHSIG = 1


StopHandler = Callable[[str, str], None]
WORKER_DIED = "the lambda-search worker of this trial died"
_SIGNAL_STOPS = {
    signal.SIGINT: ("INTERRUPTED", "interrupted (SIGINT)", 130),
    signal.SIGTERM: ("FAILED", "terminated (SIGTERM)", 143),
    signal.SIGHUP: ("FAILED", "hung up (SIGHUP: its terminal closed)", 129),
    PARENT_DEATH_SIGNAL: ("FAILED", WORKER_DIED, 1),
}


def watch_for_stop(on_stop: StopHandler, poll: float = 0.5) -> threading.Thread:
    """End this process from a daemon thread when its parent dies or it gets SIGTERM, SIGINT or SIGHUP.

    The thread calls ``on_stop(status, reason)`` once, then leaves with ``os._exit``: status
    ``"INTERRUPTED"`` (exit 130) on SIGINT, else ``"FAILED"`` (exit 1 when the parent died, told by
    ``PARENT_DEATH_SIGNAL``; 143 on a SIGTERM, 129 on a SIGHUP). The thread learns of a signal through
    ``signal.set_wakeup_fd``, which the interpreter's C-level handler writes at once, so a signal is
    acted on within ``poll`` seconds even while the main thread sits in a long C call (an XLA
    compilation: Python-level handlers only run when it returns, tens of seconds later); the
    parent's pid is polled as well.

    Why not an exception raised by the signal handler, as usual: Python runs handlers in the main
    thread wherever it is, and there such an exception is unsafe here. JAX's persistent-cache reads
    catch and drop it; raised while XLA compiles on its own threads it can crash the interpreter
    (a segfault as it unwinds or exits), leaving the Sacred run RUNNING. Recording the end from a
    thread and leaving without interpreter teardown does not depend on where the main thread is.

    Arguments:
        on_stop: records the end (Sacred run, outcome file); called from the watchdog thread.
        poll: seconds between checks of the parent's pid.

    Returns:
        The started thread.
    """
    parent = os.getppid()
    received: list[int] = []
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)

    def on_signal(signum, frame) -> None:  # the main thread, when it gets to it
        received.append(signum)
        with contextlib.suppress(BlockingIOError):  # the watchdog is awake already
            os.write(wake_w, bytes([signum]))

    for signum in _SIGNAL_STOPS:
        signal.signal(signum, on_signal)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)  # the C handler: at once

    def watch() -> None:
        while os.getppid() == parent:
            if select.select([wake_r], [], [], poll)[0]:
                received.extend(b for b in os.read(wake_r, 64) if b in _SIGNAL_STOPS)
                if received:
                    break
        if os.getppid() != parent:
            status, reason, code = "FAILED", WORKER_DIED, 1
        else:
            status, reason, code = _SIGNAL_STOPS[signal.Signals(received[0])]
        try:
            on_stop(status, reason)
        finally:
            os._exit(code)

    thread = threading.Thread(target=watch, name="trial-stop-watch", daemon=True)
    thread.start()
    return thread


def end_run(run, status: str, reason: str) -> None:
    """End a Sacred run that is still RUNNING with ``status``, through its observers, from any thread.

    The reason goes to ``run.info["stopped"]`` (written by the last heartbeat).
    """
    if run is None or run.status != "RUNNING":
        return
    run.info["stopped"] = reason
    run._stop_heartbeat()
    _join_heartbeat(run)
    run._emit_interrupted(status)


def _join_heartbeat(run, timeout: float = 60.0) -> bool:
    """Wait for the run's heartbeat thread; True if it was still alive when called."""
    beat = getattr(run, "_heartbeat", None)
    if beat is None or not beat.is_alive():
        return False
    beat.join(timeout=timeout)
    return True


def _settle_final_status(run) -> None:
    """Write the run's final event again if a heartbeat may have overwritten it.

    Sacred waits at most 2 s for its heartbeat thread before the final event; on a loaded machine
    that heartbeat's ``run.json`` (status RUNNING) can land after the final one. Waiting for the
    thread and repeating the final event leaves the true status on disk.
    """
    if run is None or run.status in (None, "RUNNING", "QUEUED") or not _join_heartbeat(run):
        return
    for obs in run.observers:
        if run.status == "COMPLETED":
            run._final_call(obs, "completed_event", stop_time=run.stop_time, result=run.result)
        elif run.status == "FAILED" and run.fail_trace:
            run._final_call(obs, "failed_event", fail_time=run.stop_time, fail_trace=run.fail_trace)
        else:
            run._final_call(obs, "interrupted_event", interrupt_time=run.stop_time, status=run.status)


def run_trial(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the trial described by ``spec`` and return its outcome (also written to ``spec['outcome']``).

    Arguments:
        spec: storage, study, trial_id, trial_number, objective, command (the Sacred command run
            once per entry of runs), pruner (MedianPruner kwargs), named_configs, runs (config
            updates per seed), observers (file/mongo/sql), jax_cache, outcome.

    Returns:
        ``{"status": "COMPLETED"|"PRUNED"|"FAILED", "value", "reason", "sacred_run_id", "step",
        "seed_values"}``: the value of a completed trial is the mean of its seeds' objectives.
    """
    import optuna

    from sweeps._jaxcache import enable_compilation_cache
    from sweeps._objective import IntermediateValues, run_objective, uninformative_until
    from sweeps._observers import make_observers
    from sweeps._storage import load_study, make_storage
    from sweeps.experiment import DivergedError, PrunedInterrupt, ex, is_divergence

    enable_compilation_cache(spec["jax_cache"])
    storage = make_storage(spec["storage"])
    study = load_study(storage, spec["study"], optuna.pruners.MedianPruner(**spec["pruner"]))
    trial = optuna.trial.Trial(study, spec["trial_id"])
    outcome: dict[str, Any] = {"status": "FAILED", "value": None, "reason": None, "sacred_run_id": None}
    intermediate = IntermediateValues(spec["objective"])
    last: dict[str, Any] = {}
    current: dict[str, Any] = {}
    run_ids: list[Any] = []

    def on_start(run) -> None:
        current["run"] = run
        from mrcom.agents import target_scenarios
        from sweeps.experiment import pipeline_config

        pcfg = pipeline_config(run.config)
        intermediate.robots = frozenset(s.robot for s in target_scenarios(pcfg))
        intermediate.after_step = uninformative_until(pcfg)
        outcome["sacred_run_id"] = run._id
        run.info["optuna_study"] = spec["study"]
        run.info["optuna_trial"] = spec["trial_number"]
        if run._id is not None:
            trial.set_user_attr("sacred_run_id", run._id)
            run_ids.append(run._id)
            trial.set_user_attr("sacred_run_ids", run_ids)
        observers = spec["observers"]
        if observers.get("file") and run._id is not None:
            trial.set_user_attr("sacred_run_dir", str(Path(observers["file"]).resolve() / str(run._id)))

    def on_metric(name: str, value: float, step: int) -> None:
        point = intermediate(name, value, step)
        if point is not None:
            report(*point)

    def report(step_: int, value_: float) -> None:
        """Tell Optuna an intermediate value; raise PrunedInterrupt when the pruner says so."""
        trial.report(value_, step_)
        last.update(step=step_, value=value_)
        if trial.should_prune():
            reason = f"pruned by the median pruner at step {step_} (intermediate value {value_:.6g})"
            if "run" in current:
                current["run"].info["pruned"] = {"step": step_, "value": value_, "reason": reason}
            raise PrunedInterrupt(reason)

    def on_stop(status: str, reason: str) -> None:
        try:
            end_run(current.get("run"), status, reason)
        finally:
            stopped = {**outcome, "status": "FAILED", "reason": reason, "stopped": True}
            write_json_atomic(spec["outcome"], stopped)
            if reason == WORKER_DIED:  # no worker is left to say why the trial ended
                try:
                    trial.set_user_attr("fail_reason", reason)
                except Exception as e:  # e.g. a restarted worker already failed the trial
                    print(f"warning: could not record the reason on the trial: {e}", file=sys.stderr)

    watch_for_stop(on_stop)
    _hooks.clear()
    _hooks.start_hooks.append(on_start)
    _hooks.metric_hooks.append(on_metric)
    obs = spec["observers"]
    ex.observers[:] = make_observers(obs.get("file"), obs.get("mongo"), obs.get("sql"))
    info = {"optuna_study": spec["study"], "optuna_trial": spec["trial_number"]}
    seed_values: list[float] = []
    try:
        for i, updates in enumerate(spec["runs"]):  # one Sacred run per seed
            # created before it starts, so that the watchdog can end it from its very first event
            run = ex._create_run(spec["command"], updates, spec["named_configs"], info)
            current["run"] = run
            run()
            seed_values.append(run_objective(updates["workdir"], spec["objective"]))
            trial.set_user_attr("seed_values", seed_values)
            point = intermediate.seed_done(seed_values[-1])
            if point is not None and i + 1 < len(spec["runs"]):  # a finished trial is not pruned
                report(*point)
        outcome.update(status="COMPLETED", value=sum(seed_values) / len(seed_values), seed_values=seed_values)
    except PrunedInterrupt as e:
        outcome.update(status="PRUNED", value=last.get("value"), step=last.get("step"), reason=str(e))
    except Exception as e:
        message = traceback.format_exception_only(type(e), e)[-1].strip()
        if is_divergence(e) and not isinstance(e, DivergedError):
            message = f"training diverged: {message}"
        outcome.update(status="FAILED", reason=message)
    _settle_final_status(current.get("run"))
    write_json_atomic(spec["outcome"], outcome)
    return outcome


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m sweeps._trial SPEC.json`` (started by ``sweeps.lambda_search``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        print("usage: python -m sweeps._trial SPEC.json")
        sys.exit(0 if argv else 2)
    spec = json.loads(Path(argv[0]).read_text())
    outcome = run_trial(spec)
    sys.exit(0 if outcome["status"] in ("COMPLETED", "PRUNED") else 1)


if __name__ == "__main__":
    main()
