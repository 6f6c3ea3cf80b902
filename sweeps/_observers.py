"""Sacred observers from command-line URLs: file storage (default), MongoDB, SQL."""

from __future__ import annotations

from sacred.observers import FileStorageObserver, MongoObserver, RunObserver, SqlObserver


def make_observers(file_dir: str | None = "runs/sacred", mongo: str | None = None, sql: str | None = None):
    """Observers for one Sacred run.

    The database observers come first (higher priority), so with a shared database the run ids are
    the database's (unique across machines) and a FileStorageObserver, if any, reuses them.

    Arguments:
        file_dir: folder of the FileStorageObserver (``None`` for none).
        mongo: MongoDB URL (``mongodb://host:27017/db``) for a MongoObserver, or ``None``.
        sql: SQLAlchemy URL (``postgresql://...``, ``sqlite:///...``) for a SqlObserver, or ``None``.

    Returns:
        A list of observers to append to ``ex.observers``.
    """
    observers: list[RunObserver] = []
    if mongo:
        observers.append(MongoObserver(url=mongo))
    if sql:
        from sweeps._storage import normalize_db_url

        observers.append(SqlObserver(normalize_db_url(sql)))
    if file_dir:
        observers.append(FileStorageObserver(file_dir, priority=-10))
    return observers
