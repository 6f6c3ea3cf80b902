"""Shared fixtures for the cross-package tests (add fixtures here; do not remove others')."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# sweeps/ and analysis/ are the packages of the root project (installed editable by `uv sync`)
import sweeps  # noqa: E402,F401  (quiets the pkg_resources warning before Sacred loads)

# --- sweeps ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sweeps_env() -> dict[str, str]:
    """Environment for ``python -m sweeps.*`` subprocesses started from a temporary directory."""
    env = dict(os.environ)
    env["JAX_PLATFORMS"] = "cpu"
    env["TQDM_DISABLE"] = "1"
    return env


@pytest.fixture(scope="session")
def sweeps_shared(session_dir) -> Path:
    """The test session's shared folder (all xdist workers, see the root conftest) whose ``collect/`` (smoke
    dataset, collected under the pipeline's file lock) and ``jax_cache/`` (the session's persistent JAX
    cache) every sweep test reuses, so the behaviour-policy data is collected and the JAX programs compiled
    only once."""
    return session_dir


@pytest.fixture(scope="session")
def smoke_sacred_run(build_once, sweeps_env, sweeps_shared) -> Path:
    """One Sacred run of the whole smoke pipeline (``table1-a``) per test session, recorded by a
    FileStorageObserver (``runs/sacred/<id>``) and an SqlObserver (``sacred.db``) together, with its
    workdir ``work/``: the folder holding all three. Built once for every worker (file lock)."""

    def build(home: Path) -> None:
        cmd = [
            sys.executable, "-m", "sweeps.run", "pipeline",
            "--file", "runs/sacred", "--sql", f"sqlite:///{home / 'sacred.db'}",
            "--jax-cache", str(sweeps_shared / "jax_cache"),
            "with", "smoke", "table1-a", f"shared_collect_dir={sweeps_shared / 'collect'}", "workdir=work",
        ]  # fmt: skip
        proc = subprocess.run(cmd, cwd=home, env=sweeps_env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-3000:]

    return build_once("smoke_sacred_run", build)


@pytest.fixture
def postgres_url() -> str:
    """URL of the PostgreSQL server started by ``.ci/run`` (skips the test where none is set)."""
    url = os.environ.get("MRCOM_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("MRCOM_TEST_POSTGRES_URL is not set: no PostgreSQL server (.ci/run starts one)")
    return url


@pytest.fixture
def sweeps_run(sweeps_env):
    """``sweeps_run(module, *args, cwd=..., timeout=600)``: run ``python -m module args...`` in ``cwd``
    with ``sweeps_env``; returns the CompletedProcess (text output)."""

    def run(module: str, *args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", module, *args]
        return subprocess.run(cmd, cwd=cwd, env=sweeps_env, capture_output=True, text=True, timeout=timeout)

    return run
