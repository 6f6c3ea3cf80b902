"""mrcom.worldmodel: the MrCoM world model (arXiv 2511.06252) in JAX/Equinox.

Knows nothing of MuJoCo: it trains on any multi-scenario sequence data given as padded arrays,
masks and scenario ids (`MultiScenarioData`). The paper's baselines CaDM (`mrcom.worldmodel.cadm`)
and DreamerV3 (`mrcom.worldmodel.dreamer`) sit behind the same seam: every world model is a
registered `WorldModelKind` (`get_kind("mrcom" | "cadm" | "dreamerv3")`).
"""

from ._atomic import atomic_write_bytes, atomic_writer
from ._checkpoint import Checkpoint, checkpoint_config, checkpoint_path, load_checkpoint, save_checkpoint
from ._config import (
    ABLATIONS,
    KL_DIRECTIONS,
    PRESET_NAMES,
    PRESETS,
    ModelSpec,
    TrainSettings,
    WorldModelConfig,
)
from ._data import (
    Batch,
    MultiScenarioData,
    SequenceSource,
    make_source,
    observation_moments,
    observation_stats,
    sample_batch,
)
from ._evaluate import HORIZON, KS, eval_windows, evaluate, open_loop_errors
from ._imagine import Imagined, OpenLoop, Prefix, act_at, filter_prefix, imagine, rollout
from ._jit import FAST_COMPILE_OPTIONS, jit_by_config
from ._losses import (
    LossWeights,
    balanced_kl,
    gaussian_kl,
    latent_kl,
    loss_meta_value,
    loss_open_loop,
    loss_prediction,
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
    ObsNorm,
    init_model,
    observe,
    prior_step,
    push,
    split_latent,
    symexp,
    symlog,
)
from ._parallel import data_sharding, replicate
from ._reference import (
    EnsembleMembers,
    MLPEnsemble,
    mlp_ensemble_nmse,
    mlp_ensemble_val_loss,
    obs_scale,
    persistence_nmse,
    train_mlp_ensemble,
)
from ._registry import (
    WorldModel,
    WorldModelConfigLike,
    WorldModelKind,
    get_kind,
    kind_of,
    register,
    world_model_names,
)
from ._synthetic import synthetic_data
from ._train import NonFiniteLossError, load_model, train
from ._train_step import (
    TERMS,
    TrainState,
    compute_loss,
    init_train_state,
    make_optimizer,
    open_loop_predictions,
    train_step,
    train_steps,
)

__all__ = [
    "FAST_COMPILE_OPTIONS",
    "jit_by_config",
    "Checkpoint",
    "atomic_write_bytes",
    "atomic_writer",
    "checkpoint_config",
    "checkpoint_path",
    "load_checkpoint",
    "save_checkpoint",
    "evaluate",
    "HORIZON",
    "KS",
    "eval_windows",
    "open_loop_errors",
    "open_loop_predictions",
    "OpenLoop",
    "act_at",
    "WorldModel",
    "WorldModelConfigLike",
    "WorldModelKind",
    "get_kind",
    "kind_of",
    "register",
    "world_model_names",
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
    "KL_DIRECTIONS",
    "PRESETS",
    "PRESET_NAMES",
    "TERMS",
    "Batch",
    "Context",
    "GaussianHead",
    "Latent",
    "LossWeights",
    "MrCoM",
    "MultiScenarioData",
    "Normal",
    "ObsNorm",
    "Observed",
    "SequenceSource",
    "TrainState",
    "WorldModelConfig",
    "compute_loss",
    "balanced_kl",
    "gaussian_kl",
    "init_model",
    "init_train_state",
    "ModelSpec",
    "TrainSettings",
    "latent_kl",
    "loss_meta_value",
    "loss_recon",
    "loss_open_loop",
    "loss_prediction",
    "loss_reward",
    "loss_state",
    "loss_value_reg",
    "loss_value_td",
    "loss_var",
    "make_optimizer",
    "make_source",
    "observation_moments",
    "observation_stats",
    "observe",
    "prior_step",
    "push",
    "split_latent",
    "sample_batch",
    "symexp",
    "symlog",
    "synthetic_data",
    "EnsembleMembers",
    "MLPEnsemble",
    "mlp_ensemble_nmse",
    "mlp_ensemble_val_loss",
    "obs_scale",
    "persistence_nmse",
    "train_mlp_ensemble",
    "td_target",
    "total_loss",
    "train_step",
    "train_steps",
]

register(
    WorldModelKind(
        name="mrcom",
        model_type=MrCoM,
        config_type=WorldModelConfig,
        train=train,
        load_model=load_model,
        imagine=imagine,
        evaluate=evaluate,
    )
)

# the baselines of the paper's tables, behind the same seam (imported last: they build on the above)
from . import cadm, dreamer  # noqa: E402

register(cadm.KIND)
register(dreamer.KIND)
from . import mow  # noqa: E402

register(mow.KIND)
from . import mamba  # noqa: E402

register(mamba.KIND)
