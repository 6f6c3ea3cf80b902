"""One lambda-search worker per GPU on this machine, all on the same Optuna study.

    python -m sweeps.gpu_workers --devices 0 1 2 3 -- --preset paper \\
        --storage postgresql://user@host/db --study lambda-paper

starts ``python -m sweeps.lambda_search <args after -->`` once per device, each with
``CUDA_VISIBLE_DEVICES=<device>`` (JAX then sees that GPU alone, as its device 0), its output in
``<runs>/gpu_workers/worker-<device>.log``. The workers share the study through its storage (a
server database: SQLite allows one writer at a time), the Sacred folder, the collected dataset and
the JAX compilation cache, exactly as workers on several machines do; each trial runs in its own
process on its worker's GPU. Ctrl-C or SIGTERM reaches every worker (each stops its trial, records
why and queues its parameters again); the exit status is the first non-zero one of the workers.
Workers on other machines join the same study with the same command.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sweeps._trial import die_with_parent
from sweeps.layout import RunsDir

WORKER = "sweeps.lambda_search"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2, as every MrCoM command
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m sweeps.gpu_workers",
        description="One lambda-search worker per GPU (CUDA_VISIBLE_DEVICES), all on one Optuna study; "
        "the arguments after -- go to every worker (python -m sweeps.lambda_search --help).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--devices", nargs="+", required=True, metavar="ID", help="GPU ids, one worker each")
    p.add_argument("--runs", type=Path, help="the workers' --runs, also holds gpu_workers/ (default: theirs)")
    p.add_argument("--worker-module", default=WORKER, help=argparse.SUPPRESS)  # tests: a stand-in worker
    return p


def worker_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``argv`` at ``--`` into (the launcher's arguments, every worker's arguments)."""
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    i = argv.index("--")
    return argv[:i], argv[i + 1 :]


def _option(args: Sequence[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in a worker's arguments (last one wins)."""
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def check(devices: Sequence[str], args: Sequence[str]) -> str | None:
    """Why these devices and worker arguments cannot run together (None: they can)."""
    if len(set(devices)) != len(devices):
        return f"--devices {' '.join(devices)}: each device once"
    bad = [d for d in devices if not d.isdigit()]
    if bad:
        return f"--devices {bad[0]!r}: must be a GPU index (0, 1, ...)"
    storage = _option(args, "--storage")
    if len(devices) > 1 and (storage is None or storage.startswith("sqlite")):
        return (
            f"--storage {storage or '(default: SQLite)'}: {len(devices)} workers need a server database "
            "(e.g. postgresql://user@host/db) after --; SQLite takes one writer at a time"
        )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sweeps.gpu_workers``; returns the exit status."""
    own, args = worker_args(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    ns = parser.parse_args(own)
    problem = check(ns.devices, args)
    if problem is not None:
        parser.error(problem)
    runs = RunsDir(ns.runs or _option(args, "--runs") or RunsDir().root)
    if ns.runs is not None:
        args = [*args, "--runs", str(ns.runs)]
    logs = runs.root / "gpu_workers"
    logs.mkdir(parents=True, exist_ok=True)

    procs: dict[str, subprocess.Popen] = {}
    stopping: list[int] = []

    # Each worker in its own session, so a Ctrl-C in the terminal reaches it once (forwarded from here),
    # and told to stop as on SIGTERM if this launcher dies (kill -9 included).
    def start_worker() -> None:
        os.setsid()
        die_with_parent(signal.SIGTERM)

    def forward(signum, _frame):  # every worker stops its own trial and queues it again
        stopping.append(signum)
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    for device in ns.devices:
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
        log = logs / f"worker-{device}.log"
        with open(log, "ab") as out:
            procs[device] = subprocess.Popen(
                [sys.executable, "-m", ns.worker_module, *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=start_worker,
            )
        print(f"gpu_workers: device {device}: worker pid {procs[device].pid}, log {log}", flush=True)

    codes: dict[str, int] = {}
    while len(codes) < len(procs):
        for device, proc in procs.items():
            if device not in codes and proc.poll() is not None:
                codes[device] = proc.returncode
                print(f"gpu_workers: device {device}: worker exited with status {codes[device]}", flush=True)
        time.sleep(0.2)
    failed = [codes[d] for d in ns.devices if codes[d] != 0]
    if stopping:
        return 130 if not failed or 130 in failed else failed[0]
    return failed[0] if failed else 0


if __name__ == "__main__":
    sys.exit(main())
