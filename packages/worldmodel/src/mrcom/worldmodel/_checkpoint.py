"""Checkpoints: one file = a JSON header line (format, config, step) + the serialized TrainState.

Written by the one atomic writer (`atomic_writer`: a temporary file moved into place with os.replace,
with the umask's mode), so a reader never sees a half-written checkpoint. Non-finite parameters are refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import equinox as eqx
import jax
import numpy as np

from ._atomic import atomic_writer
from ._config_base import ConfigBase

FILENAME = "checkpoint.eqx"
FORMAT = 1


ModelT = TypeVar("ModelT")
ConfigT = TypeVar("ConfigT")
StateT = TypeVar("StateT")


class Checkpoint(NamedTuple, Generic[ModelT, ConfigT, StateT]):
    """What `load_checkpoint` (MrCoM's, and every baseline's but CaDM's) returns."""

    model: ModelT
    config: ConfigT
    state: StateT
    step: int


def checkpoint_path(path: str | os.PathLike) -> Path:
    """`path` itself if it is a file, else `path/checkpoint.eqx`."""
    p = Path(path)
    return p if p.suffix == ".eqx" else p / FILENAME


class CheckpointState(Protocol):
    """What a checkpoint holds of any world model's train state: its model and step."""

    model: Any
    step: Any


def save_checkpoint(path: str | os.PathLike, state: CheckpointState, config: ConfigBase) -> Path:
    """Write `state` (params, optimizer state, RNG, step) and the run's `config` atomically; returns
    the file.

    Raises:
        ValueError: if any parameter or optimizer value is NaN or inf (nothing is written).
    """
    leaves = [np.asarray(x) for x in jax.tree.leaves(eqx.filter(state, eqx.is_array))]
    bad = [
        i for i, x in enumerate(leaves) if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x))
    ]
    if bad:
        raise ValueError(f"state: {len(bad)} arrays hold NaN or inf; refusing to write a checkpoint")
    file = checkpoint_path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": FORMAT, "config": config.to_dict(), "step": int(state.step)}
    with atomic_writer(file) as f:
        f.write((json.dumps(header) + "\n").encode())
        eqx.tree_serialise_leaves(f, state)
    return file


def checkpoint_config(path: str | os.PathLike) -> dict[str, Any]:
    """The config (as a dict) in the header of a checkpoint file (or a directory holding one)."""
    with open(checkpoint_path(path), "rb") as f:
        return json.loads(f.readline())["config"]


def checkpoint_config_of(config_type: type[ConfigBase], header: dict[str, Any]) -> Any:
    """A header's config as a `config_type`; fields it lacks (written before they existed) take the
    class's `CHECKPOINT_DEFAULTS`, so an old checkpoint keeps computing what it was trained to."""
    return config_type.from_dict({**config_type.CHECKPOINT_DEFAULTS, **header})


def read_checkpoint(
    path: str | os.PathLike, config_type: type[ConfigBase], init_train_state: Callable
) -> tuple[Any, Any, int]:
    """(config, state, step) of a checkpoint file (or a directory holding `checkpoint.eqx`).

    The header's config is read as a `config_type`; `init_train_state(config, key)` gives the
    structure the state is deserialized into (any world model's checkpoint: see `save_checkpoint`).
    """
    file = checkpoint_path(path)
    if not file.is_file():
        raise ValueError(f"path={str(path)!r}: no checkpoint file {file}")
    with open(file, "rb") as f:
        header = json.loads(f.readline())
        if header.get("format") != FORMAT:
            raise ValueError(f"format={header.get('format')!r}: must be {FORMAT}")
        config = checkpoint_config_of(config_type, header["config"])
        skeleton = eqx.filter_eval_shape(init_train_state, config, jax.random.PRNGKey(0))
        state = eqx.tree_deserialise_leaves(f, skeleton)
    return config, state, int(header["step"])


def read_train_checkpoint(
    path: str | os.PathLike, config_type: type[ConfigBase], init_train_state: Callable
) -> Checkpoint[Any, Any, Any]:
    """`read_checkpoint` (same arguments) as Checkpoint(model, config, state, step)."""
    config, state, step = read_checkpoint(path, config_type, init_train_state)
    return Checkpoint(state.model, config, state, step)
