"""Atomic file writes: write to a temporary file in the same directory, then ``os.replace``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_text", "atomic_savefig"]


def _temp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    return Path(tmp)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8). Returns the path."""
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_savefig(fig, path: str | Path, **kwargs) -> Path:
    """Save a matplotlib figure atomically (format from the suffix). Returns the path."""
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        fig.savefig(tmp, format=path.suffix.lstrip("."), **kwargs)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
