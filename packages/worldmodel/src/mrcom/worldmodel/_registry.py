"""The world-model seam: what training, adaptation and evaluation need of a world model, and a registry.

A world model kind (MrCoM, and the baselines) is registered once under its method name; the
pipeline (`mrcom.agents`) and the benchmarks look kinds up by name, or by a loaded model's type,
and never import a model's module directly. docs/interfaces.md documents the protocol.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class WorldModelConfigLike(Protocol):
    """What the harness reads of a world model's static settings (`WorldModel.spec`)."""

    obs_dim: int
    act_dim: int
    num_scenarios: int
    context_len: int
    fast_compile: bool


@runtime_checkable
class WorldModel(Protocol):
    """A trained world model: an Equinox module whose `spec` (static) has at least the fields of
    `WorldModelConfigLike`. MrCoM's is its `ModelSpec` (loss weights and training settings are not
    part of the model); a baseline's is its whole config."""

    @property
    def spec(self) -> Any: ...


@dataclasses.dataclass(frozen=True)
class WorldModelKind:
    """One world model implementation, as the harness calls it.

    Fields:
        name: the method name in results, tables and figures (e.g. "mrcom", "cadm").
        model_type: the class of its trained models (`kind_of` looks a model up by it; kinds that
            share a class, like "mrcom" and "mrcom-paper", share their functions too).
        config_type: its config class; `config_type.preset(name, **overrides)` gives a preset.
        train: train(data, config, *, seed, checkpoint_dir, eval_data, log, steps, progress)
            -> (model, metrics); resumes from `checkpoint_dir` and ends bit-identical to an
            uninterrupted run.
        load_model: load_model(checkpoint_dir) -> model.
        imagine: imagine(model, context, prefix, masks, policy, horizon, key, *, sample) -> `Imagined`:
            filter over a real prefix with its m-step context, then roll out under `policy`
            (a callable (key, obs) -> action, or an `OpenLoop` of actions).
        evaluate: evaluate(model, data, key, *, num_windows, burn_in) -> dict with at least the
            keys of `open_loop_errors`.
        prior_at: prior_at(model, context, prefix, masks, t, key) -> Array: the model's prediction
            for prefix step t (1 <= t <= W) under teacher forcing, of ONE sequence (context (m, .),
            prefix obs (W+1, O), action (W, A), reward (W,), masks ((O,), (A,))): its filter's prior
            over o_t (or its predicted o_t), deterministic for a given key. It must read nothing of
            o_t, r_{t-1} (a function of o_t) or later steps (the contract test holds every kind to it).
    """

    name: str
    model_type: type
    config_type: type
    train: Callable[..., tuple[Any, dict[str, float]]]
    load_model: Callable[..., Any]
    imagine: Callable[..., Any]
    evaluate: Callable[..., dict[str, float]]
    prior_at: Callable[..., Any]


# The built-in kinds: method name -> (package, model class, config class). Each package exports
# `train`, `load_model`, `imagine`, `evaluate` and `prior_at` with the signatures of `WorldModelKind`;
# it is imported (and JAX with it) only when its kind is first looked up, so listing the names loads
# no JAX.
BUILTIN_KINDS: dict[str, tuple[str, str, str]] = {
    "mrcom": ("mrcom.worldmodel.mrcom", "MrCoM", "WorldModelConfig"),
    # the paper's MrCoM: the same model and functions, the config with our additions off
    "mrcom-paper": ("mrcom.worldmodel.mrcom", "MrCoM", "PaperConfig"),
    "cadm": ("mrcom.worldmodel.cadm", "CaDM", "CaDMConfig"),
    "dreamerv3": ("mrcom.worldmodel.dreamerv3", "Dreamer", "DreamerConfig"),
    "mow": ("mrcom.worldmodel.mow", "MoW", "MoWConfig"),
    "mamba": ("mrcom.worldmodel.mamba", "Mamba", "MambaConfig"),
}

_REGISTRY: dict[str, WorldModelKind] = {}


def kind_of_package(name: str, package: str, model_class: str, config_class: str) -> WorldModelKind:
    """The kind `name` whose model, config and functions are the public names of `package`."""
    pkg = importlib.import_module(package)
    return WorldModelKind(
        name=name,
        model_type=getattr(pkg, model_class),
        config_type=getattr(pkg, config_class),
        train=pkg.train,
        load_model=pkg.load_model,
        imagine=pkg.imagine,
        evaluate=pkg.evaluate,
        prior_at=pkg.prior_at,
    )


def register(kind: WorldModelKind) -> WorldModelKind:
    """Add `kind` to the registry (a second kind of the same name is refused)."""
    if kind.name in _REGISTRY and _REGISTRY[kind.name] != kind:
        raise ValueError(f"world model {kind.name!r}: already registered")
    if kind.name in BUILTIN_KINDS and kind.name not in _REGISTRY:
        raise ValueError(f"world model {kind.name!r}: a built-in name")
    _REGISTRY[kind.name] = kind
    return kind


def world_model_names() -> tuple[str, ...]:
    """The registered world-model names: the built-in ones first, then those `register`ed (no import)."""
    return tuple(BUILTIN_KINDS) + tuple(n for n in _REGISTRY if n not in BUILTIN_KINDS)


def get_kind(name: str) -> WorldModelKind:
    """The registered kind `name`; a one-line error lists the allowed names."""
    if name not in _REGISTRY and name in BUILTIN_KINDS:
        _REGISTRY[name] = kind_of_package(name, *BUILTIN_KINDS[name])
    if name not in _REGISTRY:
        raise ValueError(f"world model {name!r}: unknown; must be one of {list(world_model_names())}")
    return _REGISTRY[name]


def kind_of(model: Any) -> WorldModelKind:
    """The registered kind of a trained model (by its type)."""
    for name in world_model_names():
        kind = get_kind(name)
        if isinstance(model, kind.model_type):
            return kind
    raise TypeError(f"model of type {type(model).__name__}: no registered world model has this type")
