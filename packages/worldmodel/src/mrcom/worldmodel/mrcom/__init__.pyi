"""Types of the lazily loaded names of this package (read by `lazy_loader.attach_stub`)."""

from ._config import (
    ABLATIONS,
    KL_DIRECTIONS,
    PRESETS,
    VALUE_REG_SCALES,
    ModelSpec,
    TrainSettings,
    WorldModelConfig,
)
from ._evaluate import evaluate
from ._grad_shares import WEIGHTED_TERMS, gradient_shares
from ._imagine import filter_prefix, imagine, prior_at, rollout
from ._losses import LossWeights, total_loss
from ._model import MrCoM, init_model, observe, prior_step
from ._paper_config import PAPER_PRESETS, PaperConfig
from ._train import load_checkpoint, load_model, train
from ._train_step import (
    TERMS,
    TrainState,
    compute_loss,
    init_train_state,
    make_optimizer,
    train_step,
    train_steps,
)

__all__ = [
    "ABLATIONS",
    "KL_DIRECTIONS",
    "PRESETS",
    "VALUE_REG_SCALES",
    "ModelSpec",
    "TrainSettings",
    "WorldModelConfig",
    "PAPER_PRESETS",
    "PaperConfig",
    "evaluate",
    "WEIGHTED_TERMS",
    "gradient_shares",
    "filter_prefix",
    "imagine",
    "prior_at",
    "rollout",
    "LossWeights",
    "total_loss",
    "MrCoM",
    "init_model",
    "observe",
    "prior_step",
    "load_checkpoint",
    "load_model",
    "train",
    "TERMS",
    "TrainState",
    "compute_loss",
    "init_train_state",
    "make_optimizer",
    "train_step",
    "train_steps",
]
