"""Atomic file writes (on top of `mrcom.worldmodel.atomic_write_bytes`, the one writer) and small
hashing/seeding helpers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from mrcom.worldmodel import atomic_write_bytes as atomic_write_bytes  # the one atomic writer


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 `text` atomically (see `atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def atomic_savez(path: Path, **arrays: Any) -> None:
    """`np.savez_compressed` written atomically."""
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# Named seed streams of one run: ``derive_seed(cfg.seed, SEED_STREAMS[name])``. The integers are the ones
# the code used before the streams had names, so every earlier run draws the same numbers.
SEED_STREAMS: dict[str, int] = {
    "train_scenarios": 1,
    "test_targets": 2,
    "collect": 3,
    "worldmodel": 4,
    "adapt": 5,
    "final_eval": 6,
    "prompt_episodes": 7,
    "curve_eval": 8,
    "validation_targets": 9,
    "model_targets": 10,  # benchmarks/model_targets.py: its ID/OOD targets and their episodes
    "fixed_policies": 11,  # benchmarks/model_targets.py: the fixed SAC policies
}


def stream_seed(seed: int, stream: str) -> int:
    """The seed of the named stream ``stream`` (a key of `SEED_STREAMS`) of the run seeded ``seed``."""
    if stream not in SEED_STREAMS:
        raise ValueError(f"stream={stream!r}: must be one of {sorted(SEED_STREAMS)}")
    return derive_seed(seed, SEED_STREAMS[stream])


def derive_seed(*parts: int) -> int:
    """A 31-bit seed derived from integers (independent streams per scenario, seed, method)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] & 0x7FFFFFFF)
