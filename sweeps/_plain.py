"""Conversion of configs to plain Python types and small file helpers."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mrcom.agents import atomic_write_text


def to_plain(obj: Any) -> Any:
    """Recursively convert a config to plain ``dict``/``list``/``str``/``int``/``float``/``bool``/``None``.

    Sacred hands commands read-only containers (``ReadOnlyDict``/``ReadOnlyList``) and CLI updates
    may carry numpy scalars; JAX and the packages' ``from_dict`` must only ever see plain types.

    Arguments:
        obj: any nesting of mappings, sequences and scalars.

    Returns:
        The same structure built from plain types (tuples become lists).
    """
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if hasattr(obj, "item") and callable(obj.item):  # numpy / jax scalars
        obj = obj.item()
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    raise ValueError(f"config value {obj!r} of type {type(obj).__name__}: must be a plain JSON type")


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (temporary file in the same folder, then rename).

    Non-finite floats are written as ``null`` so the file stays valid JSON.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite(data), indent=2, sort_keys=True)
    write_text_atomic(path, text + "\n")
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (``mrcom.agents.atomic_write_text``)."""
    path = Path(path)
    atomic_write_text(path, text)
    return path


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
