"""Atomic file writes for reports and figures, on top of ``mrcom.agents.atomic_write_bytes``."""

from __future__ import annotations

import io
from pathlib import Path

from mrcom.agents import atomic_write_bytes
from mrcom.agents import atomic_write_text as _write_text

__all__ = ["atomic_write_text", "atomic_savefig"]


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8). Returns the path."""
    path = Path(path)
    _write_text(path, text)
    return path


def atomic_savefig(fig, path: str | Path, **kwargs) -> Path:
    """Save a matplotlib figure atomically (format from the suffix). Returns the path."""
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip("."), **kwargs)
    atomic_write_bytes(path, buf.getvalue())
    return path
