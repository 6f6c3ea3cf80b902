"""Suite-wide set-up for the long-lived pytest worker processes (every test directory sees this file).

One folder per test session, shared by the xdist workers (``session_dir``): the controller creates it in
``pytest_configure`` and the workers, started after it, inherit its path through the environment. It holds
JAX's persistent compilation cache, so that a program compiled in one worker (or in a ``sweeps``
subprocess, which inherits the cache settings) is loaded from disk by the others, and whatever a test
builds once for the whole session with ``build_once`` (a smoke run, a collected dataset).

XLA's CPU backend maps memory for every program it compiles (about six mappings each, measured) and keeps
them until the program's cache entry goes. A worker that runs half the suite compiles thousands of
programs; near the kernel's ``vm.max_map_count`` (65530 by default) a further ``mmap`` fails and the
compiler segfaults. So after each test module, when the process holds more than ``MAP_BUDGET`` mappings,
JAX's caches are cleared: below the budget nothing is dropped, and the session-scoped fixtures that share
compiled programs between modules keep them.
"""

from __future__ import annotations

import fcntl
import functools
import gc
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

MAP_BUDGET = 20_000  # a third of the default vm.max_map_count
_MAPS_LOG = os.environ.get("MRCOM_TEST_MAPS_LOG")  # diagnosis: one "count module" line per module
SESSION_DIR_VAR = "MRCOM_TEST_SESSION_DIR"
# JAX reads these when it is imported; subprocesses inherit them. Programs compiling in under 0.2 s are not
# worth the disk round trip.
JAX_CACHE_SETTINGS = {
    "jax_persistent_cache_min_compile_time_secs": 0.2,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}


def pytest_configure(config):
    if not os.environ.get(SESSION_DIR_VAR):  # the controller (or the only process): it owns the folder
        os.environ[SESSION_DIR_VAR] = config._mrcom_session_dir = tempfile.mkdtemp(prefix="mrcom-tests-")
    settings = {"jax_compilation_cache_dir": str(Path(os.environ[SESSION_DIR_VAR]) / "jax_cache")}
    settings |= JAX_CACHE_SETTINGS
    for name, value in settings.items():  # a value set in the environment wins
        os.environ.setdefault(name.upper(), str(value))
    if "jax" in sys.modules:  # imported already (by a plugin): its config read the environment before
        for name, value in settings.items():
            sys.modules["jax"].config.update(name, type(value)(os.environ[name.upper()]))


def pytest_unconfigure(config):
    owned = getattr(config, "_mrcom_session_dir", None)
    if owned:
        shutil.rmtree(owned, ignore_errors=True)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    """The folder this test session's processes share (see the module docstring)."""
    return Path(os.environ[SESSION_DIR_VAR])


@pytest.fixture(scope="session")
def build_once(session_dir) -> Callable[[str, Callable[[Path], None]], Path]:
    """``build_once(name, build)``: ``session_dir/name``, built by ``build(folder)`` in the first process to
    ask, under a file lock; the others wait for it and reuse it. A build that raised is not retried: later
    callers fail at once with its error."""
    return functools.partial(_build_once, session_dir)


def _build_once(root: Path, name: str, build: Callable[[Path], None]) -> Path:
    folder = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done, failed = folder / ".built", root / f"{name}.failed"
        if failed.exists():
            pytest.fail(f"building {name} failed in another test: {failed.read_text()}")
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            try:
                build(folder)
            except BaseException as e:
                failed.write_text(f"{type(e).__name__}: {e}"[-3000:])
                raise
            done.touch()
    return folder


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs(request):
    yield
    count = _mappings()
    if _MAPS_LOG:
        with open(_MAPS_LOG, "a") as log:
            log.write(f"{os.getpid()} {count} {request.node.nodeid}\n")
    if count > MAP_BUDGET and "jax" in sys.modules:
        sys.modules["jax"].clear_caches()
        gc.collect()


def _mappings() -> int:
    try:
        with open("/proc/self/maps", "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:  # not Linux: nothing to guard
        return 0
