"""Types of the lazily loaded names of this package (read by `lazy_loader.attach_stub`)."""

from ._config import PRESETS, DreamerConfig, RSSMConfig
from ._imagine import evaluate, filter_prefix, imagine
from ._losses import TERMS, compute_loss, kl_losses, recon_loss, sequence_terms, weighted_loss
from ._model import MLP, Dreamer, init_model, rssm_from_config, sequence_inputs
from ._rssm import RSSM, BlockGRU, Dense, State, categorical_kl, unimix_probs
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
from ._twohot import symexp_bins, twohot_decode, twohot_encode, twohot_loss

__all__ = [
    "PRESETS",
    "TERMS",
    "BlockGRU",
    "Checkpoint",
    "Dense",
    "Dreamer",
    "DreamerConfig",
    "RSSMConfig",
    "MLP",
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
    "kl_losses",
    "load_checkpoint",
    "load_model",
    "make_optimizer",
    "recon_loss",
    "rssm_from_config",
    "sequence_inputs",
    "sequence_terms",
    "symexp_bins",
    "train",
    "train_step",
    "train_steps",
    "twohot_decode",
    "twohot_encode",
    "twohot_loss",
    "unimix_probs",
    "weighted_loss",
]
