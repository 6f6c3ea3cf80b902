"""DreamerV3's world model (Hafner et al. 2023), proprioceptive configuration, as a baseline.

A reusable categorical RSSM (`RSSM`), a vector encoder/decoder and a two-hot reward head, trained
with DreamerV3's prediction, dynamics and representation losses; `imagine` and `evaluate` follow
the world-model seam (`mrcom.worldmodel.WorldModelKind`). `KIND` is not registered here.
"""

from .._registry import WorldModelKind
from ._config import PRESETS, DreamerConfig
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

KIND = WorldModelKind(
    name="dreamerv3",
    model_type=Dreamer,
    config_type=DreamerConfig,
    train=train,
    load_model=load_model,
    imagine=imagine,
    evaluate=evaluate,
)

__all__ = [
    "KIND",
    "PRESETS",
    "TERMS",
    "BlockGRU",
    "Checkpoint",
    "Dense",
    "Dreamer",
    "DreamerConfig",
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
