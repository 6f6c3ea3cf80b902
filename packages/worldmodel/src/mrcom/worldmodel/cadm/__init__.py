"""mrcom.worldmodel.cadm: the CaDM baseline (Lee et al. 2020, "Context-aware Dynamics Model for
Generalization in Model-Based Reinforcement Learning") as a world model of the registry.

A context encoder reads the last K transitions; forward, backward and reward heads are
conditioned on its context vector; one context vector is scored against the next M one-step
targets. `KIND` is the `WorldModelKind` to register (not registered on import).
"""

from .._registry import WorldModelKind
from ._config import PRESETS, CaDMConfig
from ._imagine import branch_history, evaluate, imagine
from ._losses import TERMS, Future, compute_loss, split_windows
from ._model import (
    CaDM,
    Encoder,
    History,
    Normalizer,
    compute_normalizer,
    contexts_of,
    identity_normalizer,
    init_model,
    predict,
    push_history,
)
from ._train import (
    TrainState,
    init_train_state,
    load_checkpoint,
    load_model,
    make_optimizer,
    member_batches,
    train,
    train_step,
    train_steps,
)

KIND = WorldModelKind(
    name="cadm",
    model_type=CaDM,
    config_type=CaDMConfig,
    train=train,
    load_model=load_model,
    imagine=imagine,
    evaluate=evaluate,
)

__all__ = [
    "KIND",
    "PRESETS",
    "TERMS",
    "CaDM",
    "CaDMConfig",
    "Encoder",
    "Future",
    "History",
    "Normalizer",
    "TrainState",
    "branch_history",
    "compute_loss",
    "compute_normalizer",
    "contexts_of",
    "evaluate",
    "identity_normalizer",
    "imagine",
    "init_model",
    "init_train_state",
    "load_checkpoint",
    "load_model",
    "make_optimizer",
    "member_batches",
    "predict",
    "push_history",
    "split_windows",
    "train",
    "train_step",
    "train_steps",
]
