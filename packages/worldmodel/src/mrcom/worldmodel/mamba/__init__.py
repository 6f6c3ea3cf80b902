"""MAMBA (Rimon et al. 2024, "MAMBA: an effective world model approach for meta-reinforcement
learning") as a world model of the registry.

DreamerV3's RSSM (`mrcom.worldmodel.dreamer.RSSM`, configured with its extra recurrent input:
the previous reward and the normalized time) trained on meta-episodes (consecutive episodes of
one scenario, from their start) with a sequence-length curriculum and losses on a subsample of
time steps; at adaptation the recurrent state filters the target's real steps, across the episode
boundary of the context. `KIND` is the `WorldModelKind` to register (not registered on import).
"""

from .._registry import WorldModelKind
from ._config import PRESETS, MambaConfig
from ._data import (
    MetaBatch,
    MetaSource,
    bucket_for,
    curriculum_length,
    length_buckets,
    make_meta_source,
    meta_episode_index,
    meta_sequence,
    sample_meta_batch,
    subsample_steps,
)
from ._imagine import evaluate, filter_prefix, imagine
from ._losses import TERMS, compute_loss, sequence_terms
from ._model import EXTRA_DIM, Mamba, init_model, meta_inputs
from ._train import (
    Checkpoint,
    TrainState,
    chunk_bucket,
    init_train_state,
    load_checkpoint,
    load_model,
    make_optimizer,
    step_length,
    train,
    train_step,
    train_steps,
)

KIND = WorldModelKind(
    name="mamba",
    model_type=Mamba,
    config_type=MambaConfig,
    train=train,
    load_model=load_model,
    imagine=imagine,
    evaluate=evaluate,
)

__all__ = [
    "EXTRA_DIM",
    "KIND",
    "PRESETS",
    "TERMS",
    "Checkpoint",
    "Mamba",
    "MambaConfig",
    "MetaBatch",
    "MetaSource",
    "TrainState",
    "bucket_for",
    "chunk_bucket",
    "compute_loss",
    "curriculum_length",
    "evaluate",
    "filter_prefix",
    "imagine",
    "init_model",
    "init_train_state",
    "length_buckets",
    "load_checkpoint",
    "load_model",
    "make_meta_source",
    "make_optimizer",
    "meta_episode_index",
    "meta_inputs",
    "meta_sequence",
    "sample_meta_batch",
    "sequence_terms",
    "step_length",
    "subsample_steps",
    "train",
    "train_step",
    "train_steps",
]
