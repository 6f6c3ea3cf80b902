"""``python -m sweeps.lambda_search``: Optuna search over lambda_var, lambda_s, lambda_v and m.

Every trial is one Sacred ``pipeline`` run in its own process (``sweeps._trial``); the trial keeps
the Sacred run id (user attribute ``sacred_run_id``), the run keeps the trial number
(``info.optuna_trial``). The median pruner stops bad trials from the intermediate values the trial
process reports itself; a pruned trial is PRUNED in Optuna and in Sacred. A trial whose metrics turn
NaN fails with the reason recorded, and the search goes on.

Storage: SQLite at ``runs/optuna.db`` by default; ``--storage postgresql://...`` lets workers on many
machines share one study (start the same command on each). Workers send heartbeats. However a run
dies (Ctrl-C, SIGTERM, SIGKILL of the worker or of its whole process group, the OOM killer), no
Sacred run stays RUNNING, the trial is failed with the reason (user attribute ``fail_reason``) and
its parameters are retried (``sweeps._recovery``). Running the same command again resumes the study
until ``--trials`` trials have finished (complete or pruned). At the end it prints the best trial and
the table of trials and writes ``trials.csv``, ``trials.json``, ``trials.md``, ``best.json`` under
``runs/lambda_search/<study>/``.

Exit codes: 0 done; 1 no trial completed, or ``--max-failures`` trials failed in a row; 2 bad
arguments or unusable storage (nothing written); 130 interrupted (resume by running the same command).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sweeps._search_config import (
    OBJECTIVES,
    PARAM_PATHS,
    PRESETS,
    SEARCH_PIPELINE,
    SEARCH_PRESETS,
    SEARCH_SPLIT,
    SearchConfig,
    search_config,
)
from sweeps.layout import RunsDir, StudyDir, TrialDir

_FINISHED = ("COMPLETE", "PRUNED")
# how a worker starts a trial process: python -m sweeps._trial SPEC.json
TRIAL_COMMAND = ("-m", "sweeps._trial")
# --set keys the search sets itself, and the option to use instead
_OWN_KEYS = {"seed": "--seed", "preset": "--preset", "protocol": "--protocol"}
_STOP_REASONS = {
    "SIGINT": "interrupted (SIGINT, Ctrl-C)",
    "SIGTERM": "terminated (SIGTERM)",
    "SIGHUP": "hung up (SIGHUP: its terminal closed)",
}


class UsageError(Exception):
    """Bad command-line arguments or storage: one line on stderr, exit code 2."""


class SweepBroken(RuntimeError):
    """Several trials in a row failed: the setup, not the hyperparameters, is wrong. Exit code 1."""


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP to the worker: handled as Ctrl-C (stop the trial, record why, exit 130)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signame = signal.Signals(signum).name


def _raise_stopped(signum, frame):
    raise Stopped(signum)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints the usage too)
        if "--with" in message:
            message += " (--with is now --set, once per update, e.g. --set worldmodel.steps=50)"
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (``--help`` shows every option and the preset defaults)."""
    presets = "; ".join(f"{k}: {v}" for k, v in SEARCH_PRESETS.items())
    p = _Parser(
        prog="python -m sweeps.lambda_search",
        description="Optuna search over MrCoM's loss weights (lambda_var, lambda_s, lambda_v) and context "
        "length m; every trial one Sacred pipeline run in its own process.",
        epilog=f"Search presets (merged on the defaults of SearchConfig): {presets}. "
        f"Pipeline updates of every trial, per preset (--set wins): {SEARCH_PIPELINE}",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--preset", default="quick", help=f"pipeline and search preset: {', '.join(PRESETS)}")
    p.add_argument(
        "--objective", default="adapt", help=f"{', '.join(OBJECTIVES)} (adapt maximizes, model minimizes)"
    )
    p.add_argument(
        "--protocol", default=None, help="protocol named config of every trial (default: the preset's)"
    )
    p.add_argument(
        "--study", default=None, help="study name (default: lambda-<preset>-<objective>-seed<seed>)"
    )
    p.add_argument(
        "--trials", type=int, default=None, help="finished trials to reach (default: the preset's)"
    )
    p.add_argument(
        "--timeout", type=float, default=None, help="seconds after which this worker starts no new trial"
    )
    p.add_argument("--seed", type=int, default=0, help="sampler seed and pipeline seed of every trial")
    p.add_argument("--storage", default=None, help="Optuna storage URL (default: sqlite:///<runs>/optuna.db)")
    p.add_argument(
        "--runs", default="runs", help="folder for everything written (SQLite, Sacred, trials, cache)"
    )
    p.add_argument("--sacred-dir", default=None, help="Sacred file-storage dir (default <runs>/sacred)")
    p.add_argument("--jax-cache", default=None, help="JAX compilation cache dir (default <runs>/jax_cache)")
    p.add_argument("--mongo", default=None, help="also record trials to MongoDB (MongoObserver URL)")
    p.add_argument("--sql", default=None, help="also record trials to an SQL database (SqlObserver URL)")
    p.add_argument(
        "--collect-dir",
        default=None,
        help="shared folder whose dataset/ all trials reuse (default: one per study and data config)",
    )
    for name in ("lambda_var", "lambda_s", "lambda_v"):
        p.add_argument(
            f"--{name.replace('_', '-')}",
            nargs=2,
            type=float,
            metavar=("LOW", "HIGH"),
            default=None,
            help=f"log-uniform range of {name} (default: the preset's)",
        )
    p.add_argument("--m", nargs=2, type=int, metavar=("LOW", "HIGH"), default=None, help="integer range of m")
    p.add_argument(
        "--max-failures", type=int, default=3, help="stop this worker after this many failed trials in a row"
    )
    p.add_argument(
        "--heartbeat", type=int, default=None, help="seconds between heartbeats (default: the preset's)"
    )
    p.add_argument(
        "--grace", type=int, default=None, help="seconds without heartbeat before a trial is stale"
    )
    p.add_argument(
        "--enqueue",
        action="append",
        default=[],
        metavar="JSON",
        help='parameters to try first (once per study), e.g. \'{"lambda_s": 0.1, "m": 4}\'',
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="pipeline config of every trial (VALUE parsed as JSON when possible), e.g. "
        "--set worldmodel.steps=50 --set adapt.real_steps=500",
    )
    return p


def parse_updates(items: list[str]) -> dict[str, Any]:
    """``["a.b=3", "c=x"]`` -> ``{"a.b": 3, "c": "x"}``: the ``--set`` grammar of every MrCoM command
    (``mrcom.agents``' ``parse_overrides``); a key the pipeline config does not have, or one this
    command sets itself, is refused naming it and the allowed ones."""
    from mrcom.agents import PipelineConfig, parse_overrides

    for item in items:
        key = item.partition("=")[0].strip()
        if key in _OWN_KEYS:
            raise UsageError(f"--set {item!r}: {key} is set by {_OWN_KEYS[key]}")
    allowed = {k: v for k, v in PipelineConfig().to_dict().items() if k not in _OWN_KEYS}
    try:
        return parse_overrides(items, allowed=allowed)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *head, last = key.split(".")
        for part in head:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def _validate(args: argparse.Namespace) -> tuple[SearchConfig, dict[str, Any], list[dict[str, Any]]]:
    """Every check that needs no disk or network: raises UsageError with one line."""
    try:
        cfg = search_config(
            args.preset,
            objective=args.objective,
            trials=args.trials,
            seed=args.seed,
            lambda_var=args.lambda_var,
            lambda_s=args.lambda_s,
            lambda_v=args.lambda_v,
            m=args.m,
            heartbeat_interval=args.heartbeat,
            grace_period=args.grace,
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.max_failures < 1:
        raise UsageError(f"max_failures={args.max_failures}: must be >= 1")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"timeout={args.timeout}: must be > 0 seconds")
    if args.study is not None and not args.study.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UsageError(f"study={args.study!r}: use letters, digits, '-', '_', '.'")
    updates = {**SEARCH_PIPELINE[cfg.preset], **parse_updates(args.overrides)}
    clash = [k for k in updates if k in PARAM_PATHS.values()]
    if clash:
        raise UsageError(f"--set {clash[0]}: searched by this study; set its range instead")
    if updates.get("envs.target_split", SEARCH_SPLIT) != SEARCH_SPLIT:
        raise UsageError(
            f"--set envs.target_split={updates['envs.target_split']!r}: a search scores trials on "
            f"{SEARCH_SPLIT!r} targets only (test targets are for the reported evaluation)"
        )
    enqueued = []
    for raw in args.enqueue:
        try:
            params = json.loads(raw)
        except json.JSONDecodeError as e:
            raise UsageError(f"--enqueue {raw!r}: not JSON ({e.msg})") from None
        if not isinstance(params, dict) or set(params) - set(PARAM_PATHS):
            raise UsageError(f"--enqueue {raw!r}: must be an object with keys among {', '.join(PARAM_PATHS)}")
        enqueued.append(params)
    if args.protocol is not None:
        from mrcom.envs import PROTOCOLS

        if args.protocol not in PROTOCOLS:
            raise UsageError(f"protocol={args.protocol!r}: must be one of {', '.join(PROTOCOLS)}")
    _check_pipeline(cfg, args.protocol, updates)
    return cfg, updates, enqueued


def _check_pipeline(cfg: SearchConfig, protocol: str | None, updates: dict[str, Any]) -> None:
    """Build the trials' PipelineConfig at both ends of the m range, so that a bad ``--set`` value or
    an m the prompt cannot fill is refused now (exit 2) rather than in every trial."""
    from mrcom.agents import preset
    from sweeps.experiment import RUN_KEYS

    pipeline_updates = {k: v for k, v in updates.items() if k not in RUN_KEYS}
    for m in cfg.m:
        try:
            preset(cfg.preset, protocol, seed=cfg.seed, **pipeline_updates, **{PARAM_PATHS["m"]: m})
        except (ValueError, TypeError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UsageError(f"trial config with m={m}: {first}") from None


def _collect_key(
    cfg: SearchConfig, protocol: str | None, updates: dict[str, Any], exclude=("worldmodel", "adapt", "eval")
) -> str:
    """Hash of what the dataset (or, with ``exclude=("worldmodel",)``, the SAC baseline) depends on."""
    data = {k: v for k, v in updates.items() if k.split(".")[0] not in exclude}
    blob = json.dumps({"preset": cfg.preset, "protocol": protocol, "seed": cfg.seed, **data}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class _Heartbeat:
    """Records the trial's heartbeat every ``interval`` seconds while its process runs."""

    def __init__(self, storage, trial_id: int, interval: int):
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self):
        while True:
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception as e:  # a missed beat is retried; a long outage makes the trial stale
                print(f"warning: heartbeat failed: {e}", file=sys.stderr)
            if self._stop.wait(self._interval):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _suggest(trial, cfg: SearchConfig) -> dict[str, Any]:
    params = {
        name: trial.suggest_float(name, *getattr(cfg, name), log=True)
        for name in ("lambda_var", "lambda_s", "lambda_v")
    }
    params["m"] = trial.suggest_int("m", *cfg.m)
    return params


def _tail(path: Path, n: int = 3) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " / ".join(lines[-n:])


@contextlib.contextmanager
def _signals_held(message: str):
    """While cleaning up after a stop, a second Ctrl-C (or SIGTERM) prints ``message`` instead of cutting
    the cleanup short (which would leave the trial to the next run's recovery)."""

    def say(signum, frame):
        print(message, file=sys.stderr, flush=True)

    held = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, say) for s in held}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


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
        self.baseline_dir = study_dir.baseline(_collect_key(cfg, args.protocol, updates, ("worldmodel",)))

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for t in self.study.get_trials(deepcopy=False):
            counts[t.state.name] = counts.get(t.state.name, 0) + 1
        return counts

    def _spec(self, trial, params: dict[str, Any], trial_dir: TrialDir) -> dict[str, Any]:
        flat = dict(self.updates)
        flat.update({PARAM_PATHS[k]: v for k, v in params.items()})
        flat.update(
            seed=self.cfg.seed,
            workdir=str(trial_dir.work.root),
            shared_collect_dir=str(self.collect_dir),
            shared_baseline_dir=str(self.baseline_dir),
        )
        named = [self.cfg.preset] + ([self.args.protocol] if self.args.protocol else [])
        return {
            "storage": self.storage.url,
            "study": self.study.study_name,
            "trial_id": trial._trial_id,
            "trial_number": trial.number,
            "objective": self.cfg.objective,
            "pruner": {
                "n_startup_trials": self.cfg.pruner_startup_trials,
                "n_warmup_steps": self.cfg.pruner_warmup_steps,
            },
            "named_configs": named,
            "config_updates": _nested(flat),
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
        with _Heartbeat(self.storage, trial._trial_id, self.cfg.heartbeat_interval):
            for key in RUN_ATTRS:  # a retry queued by an older version inherits these: clear them
                if trial.user_attrs.get(key) is not None:
                    trial.set_user_attr(key, None)
            # who runs the trial: a restarted worker on this machine fails it at once if this process died
            trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
            trial.set_user_attr("worker_process", process_key())
            params = _suggest(trial, self.cfg)
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
                tail = _tail(trial_dir.log)
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
        what = _STOP_REASONS.get(signame) or f"stopped by {type(error).__name__}: {error}"
        number = trial.number
        print(
            f"\n{what}: stopping trial {number} and ending its Sacred run (at most {self.stop_wait:.0f} s; "
            f"log {log_path})",
            file=sys.stderr,
            flush=True,
        )
        with _signals_held(f"still stopping trial {number}, a moment..."):
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


def tqdm_write(line: str) -> None:
    """A console line that does not break the progress bar."""
    from tqdm import tqdm

    tqdm.write(line)


_STAGE = re.compile(r"(collect|worldmodel|adapt[ /][\w-]+|eval/[\w-]+)")


def trial_stage(log_path: Path) -> str | None:
    """The pipeline stage a trial's log shows last ("collect", "worldmodel", "adapt <method>", "evaluate")."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    found = _STAGE.findall(tail)
    if not found:
        return None
    last = found[-1]
    return "evaluate" if last.startswith("eval/") else last.replace("adapt/", "adapt ")


def _print_summary(study, paths: dict[str, Path]) -> None:
    from sweeps._report import best_methods_table, best_trial, markdown_table, trial_rows

    best = best_trial(study)
    print()
    if best is None:
        print(f"study {study.study_name}: no completed trial yet")
    else:
        params = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items()
        )
        print(
            f"best trial {best.number}: value={best.value:.6g} {params} "
            f"(Sacred run {best.user_attrs.get('sacred_run_id')})"
        )
        methods = best_methods_table(study)
        if methods is not None:
            print(methods)
    print(markdown_table(trial_rows(study)))
    print("written: " + ", ".join(str(p) for p in paths.values()))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m sweeps.lambda_search``; returns the exit code."""
    # Ctrl-C raises KeyboardInterrupt even when this process was started with SIGINT ignored (as a
    # background job of a non-interactive shell is): a sweep must always stop cleanly on SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):  # handled as Ctrl-C: stop the trial, say why, exit 130
        signal.signal(signum, _raise_stopped)
    try:
        return _main(argv)
    except KeyboardInterrupt as e:  # before or after the trials (a stop during one is handled there)
        print(f"\nlambda_search: {_STOP_REASONS.get(getattr(e, 'signame', 'SIGINT'))}", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        cfg, updates, enqueued = _validate(args)
        study_name = args.study or f"lambda-{cfg.preset}-{cfg.objective}-seed{cfg.seed}" + (
            f"-{args.protocol}" if args.protocol else ""
        )
        runs = RunsDir(args.runs)
        from sweeps._storage import StorageError, make_storage

        if args.storage is None:
            storage_url, create_runs = runs.storage_url, True
        else:
            storage_url, create_runs = args.storage, False
            if (
                storage_url.startswith("sqlite:///")
                and not Path(storage_url[len("sqlite:///") :]).parent.is_dir()
            ):
                raise UsageError(f"storage={storage_url!r}: folder of the SQLite file does not exist")
        if create_runs:
            runs.root.mkdir(parents=True, exist_ok=True)
        try:
            storage = make_storage(storage_url, cfg.heartbeat_interval, cfg.grace_period, cfg.max_retry)
        except StorageError as e:
            raise UsageError(str(e)) from None
        study = _open_study(storage, study_name, cfg, args)
    except UsageError as e:
        print(f"lambda_search: error: {e}", file=sys.stderr)
        return 2
    for params in enqueued:  # skipped when a trial with these parameters exists (e.g. on resume)
        study.enqueue_trial(params, skip_if_exists=True)
    runs.root.mkdir(parents=True, exist_ok=True)
    study_dir = runs.study(study_name)
    collect_dir = (
        Path(args.collect_dir)
        if args.collect_dir
        else study_dir.collect(_collect_key(cfg, args.protocol, updates))
    )
    sacred_dir: Path | None
    if args.sacred_dir:
        sacred_dir = Path(args.sacred_dir)
    else:
        sacred_dir = None if (args.mongo or args.sql) else runs.sacred
    jax_cache = Path(args.jax_cache) if args.jax_cache else runs.jax_cache
    worker = Worker(study, storage, cfg, args, updates, study_dir, collect_dir, sacred_dir, jax_cache)
    summary = {
        "pipeline_updates": updates,
        "preset": cfg.preset,
        "objective": cfg.objective,
        "direction": cfg.direction,
        "storage": _redacted(storage_url),
        "search": cfg.to_dict(),
    }
    code = 0
    try:
        worker.loop()
    except KeyboardInterrupt as e:
        what = _STOP_REASONS.get(getattr(e, "signame", "SIGINT"))
        print(f"{what}: run the same command again to resume the study", file=sys.stderr, flush=True)
        code = 130
    except SweepBroken as e:
        print(f"lambda_search: {e}", file=sys.stderr)
        code = 1
    paths = _write_report(study, study_dir, summary)
    _print_summary(study, paths)
    if code == 0 and not any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
        code = 1
    return code


def _redacted(url: str) -> str:
    from sweeps._storage import _redact

    return _redact(url)


def _write_report(study, study_dir: StudyDir, summary: dict[str, Any]) -> dict[str, Path]:
    from sweeps._report import write_report

    return write_report(study, study_dir, summary)


def _open_study(storage, name: str, cfg: SearchConfig, args):
    """Create the study or load it; a study created with another objective or preset is refused."""
    import optuna

    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    n_existing = 0
    if name in existing:
        attrs = existing[name].user_attrs
        for key in ("objective", "preset"):
            if key in attrs and attrs[key] != getattr(cfg, key):
                raise UsageError(
                    f"study={name!r} was created with {key}={attrs[key]!r}, not {getattr(cfg, key)!r}"
                    f"; choose another --study"
                )
        n_existing = existing[name].n_trials
    seed = cfg.seed + 1_000_003 * n_existing
    if args.storage is not None:  # several workers may start together: make their samplers differ
        seed = int.from_bytes(
            hashlib.sha256(f"{seed}:{socket.gethostname()}:{os.getpid()}".encode()).digest()[:4]
        )
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        direction=cfg.direction,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(cfg.pruner_startup_trials, cfg.pruner_warmup_steps),
    )
    if name not in existing:
        study.set_user_attr("objective", cfg.objective)
        study.set_user_attr("preset", cfg.preset)
        study.set_user_attr("split", SEARCH_SPLIT)
        study.set_user_attr("search", cfg.to_dict())
    return study


if __name__ == "__main__":
    sys.exit(main())
