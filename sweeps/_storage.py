"""Optuna storage: SQLite under runs/ by default, PostgreSQL (or any SQLAlchemy URL) for many workers."""

from __future__ import annotations

import time
import warnings

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy.exc import IntegrityError, OperationalError

# We drive heartbeats ourselves (ask/tell with a heartbeat thread, fail_stale_trials before each ask),
# which is what Study.optimize does internally; these two notices do not apply.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


# Two processes that open a fresh database at once both create its schema and both insert its version
# row; the slower one fails on the unique key although the schema is complete, or (SQLite) on a
# CREATE TABLE of a table the other has just created. Opening again succeeds.
SCHEMA_RACE_ATTEMPTS = 3


def _lost_schema_race(error: Exception) -> bool:
    """Whether opening the storage failed only because another process created its schema meanwhile."""
    return isinstance(error, IntegrityError) or (
        isinstance(error, OperationalError) and "already exists" in str(error)
    )


class StorageError(RuntimeError):
    """The storage URL cannot be used (bad scheme, unreachable server, bad credentials)."""


def make_storage(
    url: str, heartbeat_interval: int | None = None, grace_period: int | None = None, max_retry: int = 0
) -> RDBStorage:
    """An ``RDBStorage`` for ``url``; with heartbeats when ``heartbeat_interval`` is given.

    Stale trials (no heartbeat for ``grace_period`` seconds: their worker died) are failed by the
    next worker that looks, and their parameters are enqueued again up to ``max_retry`` times.

    Arguments:
        url: SQLAlchemy URL, e.g. ``sqlite:///runs/optuna.db`` or ``postgresql://user:pw@host/db``.
        heartbeat_interval: seconds between heartbeats, or ``None`` (a trial process that only
            reports values needs none).
        grace_period: seconds without heartbeat before a running trial counts as stale.
        max_retry: retries of a stale trial's parameters.

    Returns:
        The connected storage (its tables created if needed).

    Raises:
        StorageError: the URL is malformed or the database cannot be reached.
    """
    if "://" not in url:
        raise StorageError(f"storage={url!r}: must be an SQLAlchemy URL such as sqlite:///runs/optuna.db")
    url = normalize_db_url(url)
    engine_kwargs: dict = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        engine_kwargs["connect_args"] = {"connect_timeout": 10} if url.startswith("postgresql") else {}
    kwargs: dict = {}
    if heartbeat_interval is not None:
        kwargs = dict(
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=max_retry),
        )
    try:
        for attempt in range(SCHEMA_RACE_ATTEMPTS - 1):
            try:
                return RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
            except (IntegrityError, OperationalError) as e:
                if not _lost_schema_race(e):  # e.g. an unreachable server: no use trying again
                    raise
                time.sleep(0.2 * (attempt + 1))
        return RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
    except Exception as e:  # sqlalchemy / driver errors differ by backend
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StorageError(f"storage={_redact(url)!r}: cannot connect ({first})") from e


def normalize_db_url(url: str) -> str:
    """``postgresql://`` -> ``postgresql+psycopg2://`` when only psycopg2 is installed.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to the psycopg 3 driver; the workspace installs
    ``psycopg2-binary``, so users can keep writing the plain URL.
    """
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if scheme == "postgresql" and importlib.util.find_spec("psycopg") is None:
        if importlib.util.find_spec("psycopg2") is not None:
            return f"postgresql+psycopg2{sep}{rest}"
    return url


def _redact(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        cred, _, host = rest.rpartition("@")
        if ":" in cred:
            cred = cred.split(":", 1)[0] + ":***"
        rest = f"{cred}@{host}"
    return f"{scheme}{sep}{rest}"


def load_study(storage: RDBStorage, name: str, pruner: optuna.pruners.BasePruner) -> optuna.Study:
    """An existing study with the given pruner (the trial process needs it for ``should_prune``)."""
    return optuna.load_study(study_name=name, storage=storage, pruner=pruner)
