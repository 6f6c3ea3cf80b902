"""Types of the lazily loaded names of this package (read by `lazy_loader.attach_stub`)."""

from ._config import PRESETS, CaDMConfig
from ._imagine import branch_history, evaluate, imagine, prior_at
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

__all__ = [
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
    "prior_at",
    "push_history",
    "split_windows",
    "train",
    "train_step",
    "train_steps",
]
