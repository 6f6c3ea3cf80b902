"""Types of the lazily loaded names of this package (read by `lazy_loader.attach_stub`)."""

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
from ._imagine import evaluate, filter_prefix, imagine, prior_at
from ._losses import TERMS, compute_loss, sequence_terms
from ._model import EXTRA_DIM, Mamba, init_model, lag_rewards, meta_inputs
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

__all__ = [
    "EXTRA_DIM",
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
    "lag_rewards",
    "length_buckets",
    "load_checkpoint",
    "load_model",
    "make_meta_source",
    "make_optimizer",
    "meta_episode_index",
    "meta_inputs",
    "meta_sequence",
    "prior_at",
    "sample_meta_batch",
    "sequence_terms",
    "step_length",
    "subsample_steps",
    "train",
    "train_step",
    "train_steps",
]
