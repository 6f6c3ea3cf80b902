"""Types of the lazily loaded names of this package (read by `lazy_loader.attach_stub`)."""

from ._config import PRESETS, DreamerConfig, RSSMConfig
from ._imagine import evaluate, filter_prefix, imagine, prior_at
from ._losses import TERMS, compute_loss, kl_losses, recon_loss, sequence_terms, weighted_loss
from ._model import Dreamer, init_model, rssm_from_config, sequence_inputs
from ._rssm import RSSM, BlockGRU, State, categorical_kl, unimix_probs
from ._train import (
    Checkpoint,
    TrainState,
    init_train_state,
    load_checkpoint,
    load_model,
    make_optimizer,
    train,
    train_step,
    train_steps,
)

__all__ = [
    "PRESETS",
    "TERMS",
    "BlockGRU",
    "Checkpoint",
    "Dreamer",
    "DreamerConfig",
    "RSSMConfig",
    "RSSM",
    "State",
    "TrainState",
    "categorical_kl",
    "compute_loss",
    "evaluate",
    "filter_prefix",
    "imagine",
    "init_model",
    "init_train_state",
    "prior_at",
    "kl_losses",
    "load_checkpoint",
    "load_model",
    "make_optimizer",
    "recon_loss",
    "rssm_from_config",
    "sequence_inputs",
    "sequence_terms",
    "train",
    "train_step",
    "train_steps",
    "unimix_probs",
    "weighted_loss",
]
