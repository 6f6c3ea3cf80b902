"""One Optuna trial = one Sacred ``pipeline`` run, in its own process.

``python -m sweeps._trial SPEC.json`` is started by a lambda-search worker. It

1. opens the study's storage itself and attaches to its trial (``optuna.trial.Trial``), so it can
   report intermediate values and ask the study's pruner, with no round trip through the worker;
2. runs the Sacred experiment's ``pipeline`` command once, with ``info`` = ``optuna_study`` and
   ``optuna_trial`` (the trial number); at the start of the run it writes the Sacred run id to the
   trial's user attribute ``sacred_run_id``;
3. stops the run when the pruner says so (Sacred status ``PRUNED``), when a metric turns NaN/inf
   (Sacred ``FAILED``, reason in ``info["diverged"]``), or when its worker dies (the process asks
   the kernel for SIGTERM on the worker's death; a watchdog thread ends its Sacred run as
   ``FAILED``, see ``watch_for_stop``);
4. writes an outcome JSON (status, value, reason, Sacred run id) for the worker, which tells Optuna.

The spec is written by ``sweeps.lambda_search``; its keys are documented in ``_make_spec`` there.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sweeps import _hooks
from sweeps._plain import write_json_atomic

try:  # loaded once in the worker: the function below runs in the forked child before exec
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:  # not glibc Linux
    _LIBC = None


def die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this process when its parent dies (``prctl(PR_SET_PDEATHSIG)``).

    Used as ``preexec_fn`` of the trial subprocess. A no-op where prctl is unavailable.
    """
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


StopHandler = Callable[[str, str], None]


def watch_for_stop(on_stop: StopHandler, poll: float = 0.5) -> threading.Thread:
    """End this process from a daemon thread when its parent dies or it gets SIGTERM or SIGINT.

    The thread calls ``on_stop(status, reason)`` once, then leaves with ``os._exit``: status
    ``"INTERRUPTED"`` (exit 130) on SIGINT, else ``"FAILED"`` (exit 1 when the parent died, 143 on a
    SIGTERM with the parent alive). The signal handlers only wake the thread; the parent's pid is
    also polled, so a death is noticed even while the main thread sits in a long C call.

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
    woken = threading.Event()
    received: list[int] = []

    def on_signal(signum, frame) -> None:
        received.append(signum)
        woken.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def watch() -> None:
        while not woken.wait(poll) and os.getppid() == parent:
            pass
        if os.getppid() != parent:
            status, reason, code = "FAILED", "the lambda-search worker of this trial died", 1
        elif received and received[0] == signal.SIGINT:
            status, reason, code = "INTERRUPTED", "interrupted (SIGINT)", 130
        else:
            status, reason, code = "FAILED", "terminated (SIGTERM)", 143
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
        spec: storage, study, trial_id, trial_number, objective, pruner (MedianPruner kwargs),
            named_configs, config_updates, observers (file/mongo/sql), jax_cache, outcome.

    Returns:
        ``{"status": "COMPLETED"|"PRUNED"|"FAILED", "value", "reason", "sacred_run_id", "step"}``.
    """
    import optuna

    from sweeps._jaxcache import enable_compilation_cache
    from sweeps._objective import IntermediateValues, objective_value
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

    def on_start(run) -> None:
        current["run"] = run
        from mrcom.agents import target_scenarios
        from sweeps.experiment import pipeline_config

        pcfg = pipeline_config(run.config)
        intermediate.robots = frozenset(s.robot for s in target_scenarios(pcfg))
        intermediate.after_step = pcfg.adapt.start_steps  # the model is used only after start_steps
        outcome["sacred_run_id"] = run._id
        run.info["optuna_study"] = spec["study"]
        run.info["optuna_trial"] = spec["trial_number"]
        if run._id is not None:
            trial.set_user_attr("sacred_run_id", run._id)
        observers = spec["observers"]
        if observers.get("file") and run._id is not None:
            trial.set_user_attr("sacred_run_dir", str(Path(observers["file"]).resolve() / str(run._id)))

    def on_metric(name: str, value: float, step: int) -> None:
        point = intermediate(name, value, step)
        if point is None:
            return
        step_, value_ = point
        trial.report(value_, step_)
        last.update(step=step_, value=value_)
        if trial.should_prune():
            reason = f"pruned by the median pruner at step {step_} (intermediate value {value_:.6g})"
            if "run" in current:
                current["run"].info["pruned"] = {"step": step_, "value": value_, "reason": reason}
            raise PrunedInterrupt(reason)

    def on_stop(status: str, reason: str) -> None:
        end_run(current.get("run"), status, reason)
        write_json_atomic(spec["outcome"], {**outcome, "status": "FAILED", "reason": reason})

    watch_for_stop(on_stop)
    _hooks.clear()
    _hooks.start_hooks.append(on_start)
    _hooks.metric_hooks.append(on_metric)
    obs = spec["observers"]
    ex.observers[:] = make_observers(obs.get("file"), obs.get("mongo"), obs.get("sql"))
    info = {"optuna_study": spec["study"], "optuna_trial": spec["trial_number"]}
    try:
        run = ex.run(
            "pipeline", config_updates=spec["config_updates"], named_configs=spec["named_configs"], info=info
        )
        results_path = run.info.get("paths", {}).get("results")
        results = json.loads(Path(results_path).read_text())
        outcome.update(status="COMPLETED", value=objective_value(results, spec["objective"]))
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
