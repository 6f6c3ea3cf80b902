"""Nothing lost, whatever kills a sweep: lost trials are found, their Sacred runs ended, their parameters
retried.

Who records a death, by how it happens:

- the trial process gets SIGINT/SIGTERM/SIGHUP, or its worker dies (the kernel sends it SIGTERM,
  ``PR_SET_PDEATHSIG``): its watchdog ends its Sacred run and writes the reason (``sweeps._trial``);
- the trial process is SIGKILLed (the OOM killer) or crashes: its worker sees the exit and ends the
  Sacred run itself (``end_sacred_run``), records the signal on the trial and retries it;
- the worker gets Ctrl-C or SIGTERM: it stops its trial process (at most a few seconds), ends the Sacred
  run if the process did not, fails the trial with the reason and queues its parameters again;
- nobody can write anything (SIGKILL of the whole process group, a machine lost): the next worker that
  looks (``find_lost``: on start and between trials) finds the trial RUNNING with its worker dead on this
  machine (``process_alive``) or without heartbeat for the grace period, ends the Sacred run left
  RUNNING and fails and retries the trial (``fail_and_retry``).

Processes are identified by boot id, pid namespace, pid and start time, so a reused pid is not taken
for the worker that died, and a worker in another container or on another machine is never judged
from here (there only the heartbeat tells).
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from sweeps._plain import write_json_atomic
from sweeps.layout import SacredRun

# user attributes that describe one execution of a trial (not inherited by its retry)
RUN_ATTRS = (
    "sacred_run_id",
    "sacred_run_ids",
    "sacred_run_dir",
    "seed_values",
    "fail_reason",
    "prune_reason",
    "worker",
    "worker_process",
    "trial_process",
)
REASON_LIMIT = 1000  # characters of a fail reason kept on the trial


def _stat(pid: int) -> tuple[str, str]:
    """(state, start time in clock ticks since boot) of ``pid`` from ``/proc``."""
    fields = Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0], fields[19]


def process_key(pid: int | None = None) -> dict[str, Any] | None:
    """Who a process is, beyond its pid: boot id, pid namespace, pid, start time (Linux; else ``None``).

    Arguments:
        pid: the process (default: this one); it must be in this process's pid namespace.

    Returns:
        A JSON-able dict to store as a trial's user attribute, or ``None`` where ``/proc`` is missing.
    """
    pid = os.getpid() if pid is None else int(pid)
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return {"boot": boot, "pidns": os.readlink("/proc/self/ns/pid"), "pid": pid, "start": _stat(pid)[1]}
    except OSError:
        return None


def process_alive(key: dict[str, Any] | None) -> bool | None:
    """Whether the process ``key`` (from ``process_key``) still runs.

    Returns:
        ``True`` or ``False`` for a process of this boot and pid namespace; ``None`` when it cannot be
        told from here (no key, another machine, another container, another boot).
    """
    here = process_key()
    if not isinstance(key, dict) or here is None:
        return None
    if key.get("boot") != here["boot"] or key.get("pidns") != here["pidns"]:
        return None
    try:
        state, start = _stat(key["pid"])
    except (OSError, KeyError, ValueError, IndexError):
        return False
    return start == key.get("start") and state not in ("Z", "X")


def signal_name(signum: int) -> str:
    """``SIGKILL`` for 9 (``signal N`` for an unknown number)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def describe_exit(returncode: int) -> str:
    """Why a trial process that left no outcome ended, from its exit status (negative: a signal)."""
    if returncode < 0:
        hint = " (out of memory? the kernel's OOM killer sends SIGKILL; see dmesg)"
        hint = hint if -returncode == signal.SIGKILL else ""
        return f"trial process killed by {signal_name(-returncode)}{hint}"
    return f"trial process exited with code {returncode} without an outcome"


def stop_process(key: dict[str, Any] | None, wait: float = 10.0) -> None:
    """Make sure an orphaned trial process of this machine has ended: wait ``wait`` s for it (its watchdog
    ends its Sacred run once it knows its worker died), then SIGTERM it, then SIGKILL it."""
    for sig, timeout in ((None, wait), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if key is None or not process_alive(key):
            return
        if sig is not None:
            try:
                os.kill(key["pid"], sig)
            except OSError:
                return
        end = time.monotonic() + timeout
        while time.monotonic() < end and process_alive(key):
            time.sleep(0.1)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)  # as Sacred writes times


def end_sacred_run(
    status: str,
    reason: str,
    *,
    run_dir: str | os.PathLike | None = None,
    run_id: Any = None,
    sql: str | None = None,
    mongo: str | None = None,
) -> list[str]:
    """End a Sacred run that a dead process left RUNNING, in every store that holds it.

    A run that is not RUNNING (its process ended it) is left as it is. The reason goes to
    ``info["stopped"]`` (as the trial's watchdog writes it) and, for ``FAILED``, to the fail trace.

    Arguments:
        status: ``FAILED`` or ``INTERRUPTED``.
        reason: why the run ended.
        run_dir: the run's FileStorageObserver folder (skipped if not on this machine).
        run_id: the run's id in the databases.
        sql: SqlObserver URL, or ``None``.
        mongo: MongoObserver URL (database ``sacred``, collection ``runs``), or ``None``.

    Returns:
        Where the run was found RUNNING and ended (``file``, ``sql``, ``mongo``); problems are raised
        as ``OSError``/``RuntimeError`` only after every store was tried.
    """
    now = _utcnow()
    fail_trace = [reason + "\n"] if status == "FAILED" else None
    ended: list[str] = []
    errors: list[str] = []
    if run_dir is not None and SacredRun(run_dir).run_json.is_file():
        run = SacredRun(run_dir)
        try:
            entry = json.loads(run.run_json.read_text())
            if entry.get("status") == "RUNNING":
                info = json.loads(run.info_json.read_text()) if run.info_json.is_file() else {}
                write_json_atomic(run.info_json, {**info, "stopped": reason})
                entry.update(status=status, stop_time=now.isoformat())
                if fail_trace:
                    entry["fail_trace"] = fail_trace
                write_json_atomic(run.run_json, entry)
                ended.append("file")
        except (OSError, ValueError) as e:
            errors.append(f"file {run.root}: {e}")
    if sql and run_id is not None:
        try:
            if _end_sql_run(sql, str(run_id), status, reason, now, fail_trace):
                ended.append("sql")
        except Exception as e:  # driver errors differ by backend
            errors.append(f"sql: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    if mongo and run_id is not None:
        try:
            if _end_mongo_run(mongo, run_id, status, reason, now, fail_trace):
                ended.append("mongo")
        except Exception as e:
            errors.append(f"mongo: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    if errors:
        raise RuntimeError(f"Sacred run {run_id}: could not end it in " + "; ".join(errors))
    return ended


def _end_sql_run(url, run_id, status, reason, now, fail_trace) -> bool:
    import sqlalchemy

    from sweeps._storage import normalize_db_url

    engine = sqlalchemy.create_engine(normalize_db_url(url))
    try:
        with engine.begin() as conn:
            row = conn.execute(
                sqlalchemy.text("SELECT status, info FROM run WHERE run_id = :id"), {"id": run_id}
            ).first()
            if row is None or row[0] != "RUNNING":
                return False
            info = {**json.loads(row[1] or "{}"), "stopped": reason}
            conn.execute(
                sqlalchemy.text(
                    "UPDATE run SET status = :status, stop_time = :now, info = :info"
                    + (", fail_trace = :trace" if fail_trace else "")
                    + " WHERE run_id = :id AND status = 'RUNNING'"
                ),
                {
                    "status": status,
                    "now": now,
                    "info": json.dumps(info),
                    "trace": "".join(fail_trace or []),
                    "id": run_id,
                },
            )
        return True
    finally:
        engine.dispose()


def _end_mongo_run(url, run_id, status, reason, now, fail_trace) -> bool:
    import pymongo

    client: pymongo.MongoClient = pymongo.MongoClient(url, serverSelectionTimeoutMS=10_000)
    try:
        update = {"status": status, "stop_time": now, "info.stopped": reason}
        if fail_trace:
            update["fail_trace"] = fail_trace
        result = client["sacred"]["runs"].update_one({"_id": run_id, "status": "RUNNING"}, {"$set": update})
        return result.modified_count > 0
    finally:
        client.close()


def retry(study, trial) -> None:
    """Queue the parameters of the failed ``trial`` (a FrozenTrial) again, as Optuna does for a stale trial
    (``RetryHeartbeatStaleTrialCallback`` of the storage: at most ``max_retry`` times), without the
    attributes of the failed execution."""
    callback = study._storage.get_heartbeat_stale_trial_callback()
    if not isinstance(callback, RetryHeartbeatStaleTrialCallback):
        return
    trial = copy.deepcopy(trial)
    trial.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in RUN_ATTRS}
    callback(study, trial)


def fail_and_retry(study, trial_id: int, reason: str) -> bool:
    """Fail a RUNNING trial with ``reason`` (user attribute ``fail_reason``) and queue its parameters again.

    Several workers may try at once: only the one whose FAIL lands retries.

    Returns:
        Whether this call failed the trial.
    """
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial_id, "fail_reason", reason[:REASON_LIMIT])
        if not storage.set_trial_state_values(trial_id, state=TrialState.FAIL):
            return False
    except UpdateFinishedTrialError:
        return False
    retry(study, storage.get_trial(trial_id))
    return True


def find_lost(study, grace_period: int | None) -> list[tuple[Any, str]]:
    """The RUNNING trials of ``study`` that no live process runs, with why each counts as lost.

    A trial is lost when its worker is found dead on this machine and pid namespace (no need to wait for
    the grace period), or when its heartbeat is older than ``grace_period`` (its worker elsewhere died or
    was cut off), or when it records no worker and started more than twice the grace period ago.

    Returns:
        ``(FrozenTrial, reason)`` pairs.
    """
    storage = study._storage
    try:
        stale = set(storage._get_stale_trial_ids(study._study_id)) if grace_period is not None else set()
    except (AttributeError, AssertionError):  # a storage without heartbeats
        stale = set()
    lost = []
    now = datetime.datetime.now()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker", "?")
        if process_alive(t.user_attrs.get("worker_process")) is False:
            why = "SIGKILL of the worker or of its process group?"
            lost.append((t, f"lost: its worker {worker} was found dead at restart ({why})"))
        elif t._trial_id in stale:
            why = "the worker was killed or its machine lost"
            lost.append((t, f"lost: no heartbeat from its worker {worker} for {grace_period} s ({why})"))
        elif (
            "worker_process" not in t.user_attrs
            and "worker" not in t.user_attrs
            and grace_period is not None
            and t.datetime_start is not None
            and (now - t.datetime_start).total_seconds() > 2 * grace_period
        ):
            lost.append((t, f"lost: RUNNING for more than {2 * grace_period} s with no worker recorded"))
    return lost


def recover_lost(
    study, grace_period: int | None, sql: str | None = None, mongo: str | None = None
) -> list[str]:
    """Fail every lost trial of ``study`` (``find_lost``) with its reason, end its Sacred run if it was left
    RUNNING, and queue its parameters again.

    Arguments:
        study: the study.
        grace_period: seconds without heartbeat after which a trial is lost (``None``: heartbeats unused).
        sql, mongo: the Sacred database URLs of this worker, where runs recorded there are ended too.

    Returns:
        One line per recovered trial, for the console.
    """
    lines = []
    for trial, reason in find_lost(study, grace_period):
        stop_process(trial.user_attrs.get("trial_process"))
        attrs = study._storage.get_trial(trial._trial_id).user_attrs  # as the trial process left them
        prior = attrs.get("fail_reason")  # the trial process's own word, e.g. that its worker died
        full = reason if not prior else f"{reason}; the trial process said: {prior}"
        run_id = attrs.get("sacred_run_id")
        try:
            ended = end_sacred_run(
                "FAILED", full, run_dir=attrs.get("sacred_run_dir"), run_id=run_id, sql=sql, mongo=mongo
            )
        except RuntimeError as e:
            ended, full = [], f"{full}; {e}"
        if ended:
            full += f"; its Sacred run {run_id} was left RUNNING: marked FAILED"
        if fail_and_retry(study, trial._trial_id, full):
            lines.append(f"trial {trial.number}: {full}; its parameters are queued again")
    return lines
