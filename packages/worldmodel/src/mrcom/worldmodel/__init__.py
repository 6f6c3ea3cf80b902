"""mrcom.worldmodel: the MrCoM world model (arXiv 2511.06252) in JAX/Equinox.

Knows nothing of MuJoCo: it trains on any multi-scenario sequence data given as padded arrays,
masks and scenario ids (`MultiScenarioData`).
"""

from ._checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ._config import ABLATIONS, PRESETS, WorldModelConfig
from ._data import Batch, MultiScenarioData, SequenceSource, make_source, sample_batch
from ._evaluate import evaluate
from ._imagine import Imagined, Prefix, filter_prefix, imagine, rollout
from ._jit import FAST_COMPILE_OPTIONS, jit_by_config
from ._losses import (
    LossWeights,
    gaussian_kl,
    loss_meta_value,
    loss_recon,
    loss_reward,
    loss_state,
    loss_value_reg,
    loss_value_td,
    loss_var,
    td_target,
    total_loss,
)
from ._model import (
    Context,
    GaussianHead,
    Latent,
    MrCoM,
    Normal,
    Observed,
    init_model,
    jit_model,
    observe,
    prior_step,
    push,
    split_latent,
    symexp,
    symlog,
)
from ._parallel import data_sharding, replicate
from ._synthetic import synthetic_data
from ._train import NonFiniteLossError, load_model, train
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
    "FAST_COMPILE_OPTIONS",
    "jit_by_config",
    "Checkpoint",
    "load_checkpoint",
    "save_checkpoint",
    "evaluate",
    "Imagined",
    "Prefix",
    "filter_prefix",
    "imagine",
    "rollout",
    "data_sharding",
    "replicate",
    "NonFiniteLossError",
    "load_model",
    "train",
    "ABLATIONS",
    "PRESETS",
    "TERMS",
    "Batch",
    "Context",
    "GaussianHead",
    "Latent",
    "LossWeights",
    "MrCoM",
    "MultiScenarioData",
    "Normal",
    "Observed",
    "SequenceSource",
    "TrainState",
    "WorldModelConfig",
    "compute_loss",
    "gaussian_kl",
    "init_model",
    "init_train_state",
    "jit_model",
    "loss_meta_value",
    "loss_recon",
    "loss_reward",
    "loss_state",
    "loss_value_reg",
    "loss_value_td",
    "loss_var",
    "make_optimizer",
    "make_source",
    "observe",
    "prior_step",
    "push",
    "split_latent",
    "sample_batch",
    "symexp",
    "symlog",
    "synthetic_data",
    "td_target",
    "total_loss",
    "train_step",
    "train_steps",
]
