"""JAX's persistent compilation cache, so that repeated trial processes do not recompile."""

from __future__ import annotations

import os
from pathlib import Path


def enable_compilation_cache(path: str | os.PathLike) -> Path:
    """Point JAX's persistent compilation cache at ``path`` (created if missing).

    Every compiled program that took at least 0.5 s is cached; a later process with the same
    program, shapes and JAX version loads it from disk instead of compiling again.

    Arguments:
        path: the cache folder (shared by all processes of a sweep on one machine).

    Returns:
        The absolute cache folder.
    """
    import jax

    path = Path(path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
