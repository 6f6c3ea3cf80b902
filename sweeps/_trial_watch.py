"""What a lambda-search worker watches while a trial process runs: its heartbeat, its log (last lines, last
pipeline stage), console lines beside the progress bar, and signals held during cleanup."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
from pathlib import Path


class Heartbeat:
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


def log_tail(path: Path, n: int = 3) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " / ".join(lines[-n:])


@contextlib.contextmanager
def signals_held(message: str):
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


def tqdm_write(line: str) -> None:
    """A console line that does not break the progress bar."""
    from tqdm import tqdm

    tqdm.write(line)


# a stage's metric or bar name, or (group 2) a world model's training bar at a line start ("mrcom:  4%|")
_STAGE = re.compile(r"(collect|worldmodel|adapt[ /][\w-]+|eval/[\w-]+)|^([\w-]+):\s+\d+%\|", re.M)


def trial_stage(log_path: Path) -> str | None:
    """The stage a trial's log shows last ("collect", "train <model>", "adapt <method>", "evaluate")."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    found = [stage or f"train {model}" for stage, model in _STAGE.findall(tail.replace("\r", "\n"))]
    if not found:
        return None
    last = found[-1]
    return "evaluate" if last.startswith("eval/") else last.replace("adapt/", "adapt ")
