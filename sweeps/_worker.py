"""One lambda-search worker: asks the study for trials and runs each in its own trial process
(``sweeps._trial``), keeping the Optuna trial and its Sacred run in step however the trial ends."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sweeps._search_config import SearchConfig, param_updates
from sweeps._trial_watch import Heartbeat, log_tail, signals_held, tqdm_write, trial_stage
from sweeps.layout import StudyDir, TrialDir, seed_sibling

_FINISHED = ("COMPLETE", "PRUNED")
# how a worker starts a trial process: python -m sweeps._trial SPEC.json
TRIAL_COMMAND = ("-m", "sweeps._trial")
STOP_REASONS = {
    "SIGINT": "interrupted (SIGINT, Ctrl-C)",
    "SIGTERM": "terminated (SIGTERM)",
    "SIGHUP": "hung up (SIGHUP: its terminal closed)",
}


class SweepBroken(RuntimeError):
    """Several trials in a row failed: the setup, not the hyperparameters, is wrong. Exit code 1."""


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP to the worker: handled as Ctrl-C (stop the trial, record why, exit 130)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signame = signal.Signals(signum).name


def raise_stopped(signum, frame):
    raise Stopped(signum)


def collect_key(
    cfg: SearchConfig, protocol: str | None, updates: dict[str, Any], exclude=("worldmodel", "adapt", "eval")
) -> str:
    """Hash of what the dataset (or, with ``exclude=("worldmodel",)``, the SAC baseline) depends on."""
    data = {k: v for k, v in updates.items() if k.split(".")[0] not in exclude}
    blob = json.dumps({"preset": cfg.preset, "protocol": protocol, "seed": cfg.seed, **data}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class Worker:
    """One lambda-search worker: asks trials of the study and runs each in a trial process."""

    stop_wait = 3.0  # seconds a stopped trial process gets to end its Sacred run before it is killed

    def __init__(
        self,
        study,
        storage,
        cfg: SearchConfig,
        args,
        updates: dict[str, Any],
        study_dir: StudyDir,
        collect_dir: Path,
        sacred_dir: Path | None,
        jax_cache: Path,
    ):
        self.study, self.storage, self.cfg, self.args = study, storage, cfg, args
        self.updates, self.study_dir, self.collect_dir = updates, study_dir, collect_dir
        self.sacred_dir, self.jax_cache = sacred_dir, jax_cache
        self.proc: subprocess.Popen | None = None
        # the model-free SAC baseline does not depend on the world model: adapted once per study
        self.baseline_dir = study_dir.baseline(collect_key(cfg, args.protocol, updates, ("worldmodel",)))

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for t in self.study.get_trials(deepcopy=False):
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
        return counts

    def collect_dir_of(self, seed: int) -> Path:
        """The shared dataset folder of pipeline ``seed``: the study's (or ``--collect-dir``) for the
        search's first seed, a sibling ``<name>-seed<seed>`` for the next seeds of a ``model`` trial."""
        if seed == self.cfg.seed:
            return self.collect_dir
        return seed_sibling(self.collect_dir, seed)

    def _spec(self, trial, params: dict[str, Any], trial_dir: TrialDir) -> dict[str, Any]:
        """What the trial process runs: the Sacred ``command`` (``OBJECTIVE_COMMANDS``) once per seed of
        ``cfg.trial_seeds``, each with its ``runs`` entry of config updates (dotted keys, as ``with``)."""
        from sweeps._objective import OBJECTIVE_COMMANDS

        seeds, command = self.cfg.trial_seeds, OBJECTIVE_COMMANDS[self.cfg.objective]
        adapts = command == "pipeline"  # the model-free baseline is shared only by adapting trials
        runs = [
            {
                **self.updates,
                **param_updates(params),
                "seed": seed,
                "workdir": str(trial_dir.work.root if len(seeds) == 1 else trial_dir.seed_work(seed).root),
                "shared_collect_dir": str(self.collect_dir_of(seed)),
                "shared_baseline_dir": str(self.baseline_dir) if adapts else None,
            }
            for seed in seeds
        ]
        named = [self.cfg.preset] + ([self.args.protocol] if self.args.protocol else [])
        return {
            "storage": self.storage.url,
            "study": self.study.study_name,
            "trial_id": trial._trial_id,
            "trial_number": trial.number,
            "objective": self.cfg.objective,
            "command": command,
            "pruner": {
                "n_startup_trials": self.cfg.pruner_startup_trials,
                "n_warmup_steps": self.cfg.pruner_warmup_steps,
            },
            "named_configs": named,
            "runs": runs,
            "observers": {
                "file": self.sacred_dir and str(self.sacred_dir),
                "mongo": self.args.mongo,
                "sql": self.args.sql,
            },
            "jax_cache": str(self.jax_cache),
            "outcome": str(trial_dir.outcome),
        }

    def run_one(self) -> tuple[int, str, float | None]:
        """Ask one trial, run it in its own process, tell the study. Returns (number, state, value)."""
        from optuna.trial import TrialState

        from sweeps._plain import write_json_atomic
        from sweeps._recovery import RUN_ATTRS, describe_exit, fail_and_retry, process_key
        from sweeps._trial import die_with_parent

        trial = self.study.ask()
        with Heartbeat(self.storage, trial._trial_id, self.cfg.heartbeat_interval):
            for key in RUN_ATTRS:  # a retry queued by an older version inherits these: clear them
                if trial.user_attrs.get(key) is not None:
                    trial.set_user_attr(key, None)
            # who runs the trial: a restarted worker on this machine fails it at once if this process died
            trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
            trial.set_user_attr("worker_process", process_key())
            params = self.cfg.sample(trial)
            trial_dir = self.study_dir.trial(trial.number)
            spec = self._spec(trial, params, trial_dir)
            spec_path = write_json_atomic(trial_dir.spec, spec)
            with open(trial_dir.log, "w") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, *TRIAL_COMMAND, str(spec_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=dict(os.environ),
                    preexec_fn=die_with_parent,
                )
                try:
                    trial.set_user_attr("trial_process", process_key(self.proc.pid))
                    rc = self._wait(trial.number, trial_dir.log)
                except BaseException as e:
                    self._stopped(trial, e, trial_dir.log)
                    raise
                finally:
                    self.proc = None
            if trial_dir.outcome.is_file():
                outcome = json.loads(trial_dir.outcome.read_text())
            else:  # killed (the OOM killer sends SIGKILL) or crashed before it could write anything
                reason = describe_exit(rc)
                tail = log_tail(trial_dir.log)
                reason += f"; its log ends: {tail}" if tail else ""
                self._end_sacred_run(trial, "FAILED", reason)
                outcome = {"status": "FAILED", "value": None, "reason": reason, "stopped": rc < 0}
            if outcome.get("sacred_run_id") is not None:
                trial.set_user_attr("sacred_run_id", outcome["sacred_run_id"])
            status = outcome["status"]
            if status == "COMPLETED":
                self.study.tell(trial, outcome["value"])
                return trial.number, "COMPLETE", outcome["value"]
            if status == "PRUNED":
                trial.set_user_attr("prune_reason", outcome.get("reason"))
                self.study.tell(trial, state=TrialState.PRUNED)
                return trial.number, "PRUNED", outcome.get("value")
            reason = outcome.get("reason") or "unknown"
            if outcome.get("stopped"):  # ended by a signal, not by its parameters: try them again
                fail_and_retry(self.study, trial._trial_id, reason)
                tqdm_write(f"trial {trial.number}: {reason}; its parameters are queued again")
            else:
                trial.set_user_attr("fail_reason", reason[:1000])
                self.study.tell(trial, state=TrialState.FAIL)
            return trial.number, "FAIL", None

    def _wait(self, number: int, log_path: Path) -> int:
        """Wait for the trial process; say on the console when it enters a new stage, and where its log is."""
        tqdm_write(f"trial {number}: started, log {log_path}")
        proc = self.proc
        assert proc is not None, "_wait runs only while a trial process is up"
        stage = None
        while True:
            try:
                return proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                now = trial_stage(log_path)
                if now is not None and now != stage:
                    stage = now
                    tqdm_write(f"trial {number}: {stage}")

    def _stopped(self, trial, error: BaseException, log_path: Path) -> None:
        """The worker was stopped while its trial ran: stop the trial process (``stop_wait`` s, then
        SIGKILL), end its Sacred run if the process did not, fail the trial with the reason and queue its
        parameters again. Says what it does; a second Ctrl-C does not cut it short."""
        from sweeps._recovery import fail_and_retry

        signame = str(getattr(error, "signame", "SIGINT" if type(error) is KeyboardInterrupt else ""))
        what = STOP_REASONS.get(signame) or f"stopped by {type(error).__name__}: {error}"
        number = trial.number
        print(
            f"\n{what}: stopping trial {number} and ending its Sacred run (at most {self.stop_wait:.0f} s; "
            f"log {log_path})",
            file=sys.stderr,
            flush=True,
        )
        with signals_held(f"still stopping trial {number}, a moment..."):
            killed = self._stop_child()
            reason = f"{what}: the lambda-search worker was stopped"
            if killed:
                reason += f"; its trial process was killed after {self.stop_wait:.0f} s"
            status = "INTERRUPTED" if signame == "SIGINT" else "FAILED"
            ended = self._end_sacred_run(trial, status, reason)
            try:
                failed = fail_and_retry(self.study, trial._trial_id, reason)
            except Exception as e:
                print(f"warning: could not mark trial {number} failed: {e}", file=sys.stderr)
                failed = False
        done = [f"trial {number} marked FAIL ({reason})"] if failed else []
        done += [f"its Sacred run {'/'.join(ended)} marked {status}"] if ended else []
        if failed:
            done.append("its parameters are queued again")
        if done:
            print("; ".join(done), file=sys.stderr, flush=True)

    def _stop_child(self) -> bool:
        """Ask the trial process to stop (SIGINT: its watchdog ends its Sacred run); kill it after
        ``stop_wait`` seconds. Returns whether it had to be killed."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=self.stop_wait)
            return False
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return True

    def _end_sacred_run(self, trial, status: str, reason: str) -> list[str]:
        """End the trial's Sacred run if its process left it RUNNING; where it was ended."""
        from sweeps._recovery import end_sacred_run

        try:
            attrs = self.storage.get_trial(trial._trial_id).user_attrs
            return end_sacred_run(
                status,
                reason,
                run_dir=attrs.get("sacred_run_dir"),
                run_id=attrs.get("sacred_run_id"),
                sql=self.args.sql,
                mongo=self.args.mongo,
            )
        except Exception as e:
            print(f"warning: trial {trial.number}: {e}", file=sys.stderr)
            return []

    def loop(self) -> None:
        """Run trials until the study has ``cfg.trials`` finished trials or the timeout passes."""
        from tqdm import tqdm

        from sweeps._recovery import recover_lost

        start = time.monotonic()
        failures = 0
        poll = min(self.cfg.heartbeat_interval, 5)
        bar = tqdm(
            total=self.cfg.trials, desc=f"study {self.study.study_name}", unit="trial", file=sys.stderr
        )
        try:
            while True:
                # trials whose worker died (here or elsewhere): fail them with the reason, retry them
                for line in recover_lost(self.study, self.cfg.grace_period, self.args.sql, self.args.mongo):
                    tqdm_write(line)
                c = self.counts()
                finished = sum(c.get(s, 0) for s in _FINISHED)
                bar.n = min(finished, self.cfg.trials)
                bar.refresh()
                if finished >= self.cfg.trials:
                    return
                if self.args.timeout is not None and time.monotonic() - start > self.args.timeout:
                    tqdm_write(f"timeout of {self.args.timeout} s reached; no new trial started")
                    return
                if finished + c.get("RUNNING", 0) >= self.cfg.trials and not c.get("WAITING", 0):
                    time.sleep(poll)  # other workers' trials may still finish, or go stale and be retried
                    continue
                number, state, value = self.run_one()
                vtxt = "" if value is None else f" value={value:.6g}"
                tqdm_write(f"trial {number}: {state}{vtxt}")
                failures = failures + 1 if state == "FAIL" else 0
                if failures >= self.args.max_failures:
                    reason = self.study.get_trials(deepcopy=False)[number].user_attrs.get("fail_reason")
                    raise SweepBroken(f"{failures} trials failed in a row (last: {reason}); stopping")
        finally:
            bar.close()
