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
def sweeps_shared(tmp_path_factory) -> Path:
    """One folder per test session whose ``collect/`` (smoke dataset) and ``jax_cache/`` every sweep
    test reuses, so the behaviour-policy data is collected and the JAX programs compiled only once."""
    return tmp_path_factory.mktemp("sweeps_shared")


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
