"""mrcom.worldmodel.mow: Mixture-of-World Models (arXiv 2602.01270) adapted from pixels to
proprioceptive vectors, as a world model of the registry.

Modular VAEs (one encoder/decoder module per observation/action layout), a causal Transformer
dynamics model whose blocks add a task-conditioned expert to a shared backbone, and a
gradient-based task clustering that allocates the experts (scenarios whose loss gradients on the
shared parameters align share an expert). An unseen scenario's expert is selected by the
likelihood of its real context and prefix. `KIND` is not registered here.
"""

from .._registry import WorldModelKind
from ._cluster import (
    cluster_model,
    cluster_tasks,
    gradient_similarity,
    match_labels,
    next_cluster_step,
    scenario_batch,
    scenario_gradients,
    shared_params,
    with_shared,
)
from ._config import PRESETS, MoWConfig
from ._imagine import Filtered, evaluate, filter_prefix, imagine, select_experts
from ._losses import TERMS, compute_loss, sequence_terms
from ._model import (
    Attention,
    Block,
    Cache,
    Dynamics,
    Experts,
    MoW,
    Routing,
    Sequence,
    draw,
    empty_routing,
    init_model,
    pick,
    routing_from_masks,
    run_sequence,
)
from ._train import (
    Checkpoint,
    TrainState,
    cluster_state,
    init_train_state,
    load_checkpoint,
    load_model,
    make_optimizer,
    train,
    train_chunk,
    train_step,
    train_steps,
)

KIND = WorldModelKind(
    name="mow",
    model_type=MoW,
    config_type=MoWConfig,
    train=train,
    load_model=load_model,
    imagine=imagine,
    evaluate=evaluate,
)

__all__ = [
    "KIND",
    "PRESETS",
    "TERMS",
    "Attention",
    "Block",
    "Cache",
    "Checkpoint",
    "Dynamics",
    "Experts",
    "Filtered",
    "MoW",
    "MoWConfig",
    "Routing",
    "Sequence",
    "TrainState",
    "cluster_model",
    "cluster_state",
    "cluster_tasks",
    "compute_loss",
    "draw",
    "empty_routing",
    "evaluate",
    "filter_prefix",
    "gradient_similarity",
    "imagine",
    "init_model",
    "init_train_state",
    "load_checkpoint",
    "load_model",
    "make_optimizer",
    "match_labels",
    "next_cluster_step",
    "pick",
    "routing_from_masks",
    "run_sequence",
    "scenario_batch",
    "scenario_gradients",
    "select_experts",
    "sequence_terms",
    "shared_params",
    "train",
    "train_chunk",
    "train_step",
    "train_steps",
    "with_shared",
]
