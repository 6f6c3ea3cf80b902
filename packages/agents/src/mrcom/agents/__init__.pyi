"""Types of the lazily loaded names of this package (read by `lazy_loader.attach_stub`)."""

from ._ac_config import ACConfig, ac_base, ac_method
from ._ac_loop import ImaginationAC, run_imagination_ac
from ._cli import add_set_option, options_for, parse_overrides, run_cli, script_parser, write_command_record
from ._collect import collect, run_collect, target_scenarios, train_scenarios
from ._config import (
    ABLATIONS,
    AC_METHODS,
    METHODS,
    MODEL_FREE_METHODS,
    MODEL_METHODS,
    PRESETS,
    PROMPT_KINDS,
    WORLDMODEL_SECTIONS,
    AdaptConfig,
    CollectConfig,
    EnvsConfig,
    EvalConfig,
    PipelineConfig,
    preset,
)
from ._dataset import DATASET_MANIFEST, dataset_scenarios, find_prompt, load_dataset, read_manifest
from ._fused import (
    fused_init,
    fused_policy_returns,
    fused_sac_chunk,
    load_carry,
    run_fused,
    run_fused_sac,
    save_carry,
)
from ._interact import LoopCarry, LoopResult
from ._io import atomic_write_bytes, atomic_write_json, atomic_write_text, stream_seed
from ._learners import SACLearner
from ._loop import evaluate_policy, record_episodes, run_host, run_sac
from ._mbpo import MBPOAugment, MBPOSettings
from ._pipeline import Shared, run_evaluate, run_pipeline, run_protocol, sharing
from ._ring import ReplayRing
from ._sac import SACState, Transitions, sac_act, sac_init, sac_update
from ._sac_config import SACConfig
from ._schedule import Schedule
from ._stages import adapt_method, load_worldmodel, run_adapt, run_train, split_indices
from ._starts import prompt_tails
from ._summary import summary_table
from ._workdir import (
    RESULTS_FORMAT,
    RESULTS_FORMATS,
    Folder,
    Workdir,
    default_workdir,
    protocol_summary,
    run_name,
)

__all__ = [
    "ACConfig",
    "ac_base",
    "ac_method",
    "ImaginationAC",
    "run_imagination_ac",
    "add_set_option",
    "options_for",
    "parse_overrides",
    "run_cli",
    "script_parser",
    "write_command_record",
    "collect",
    "run_collect",
    "target_scenarios",
    "train_scenarios",
    "ABLATIONS",
    "AC_METHODS",
    "AdaptConfig",
    "CollectConfig",
    "EnvsConfig",
    "EvalConfig",
    "METHODS",
    "MODEL_FREE_METHODS",
    "MODEL_METHODS",
    "PRESETS",
    "PROMPT_KINDS",
    "PipelineConfig",
    "WORLDMODEL_SECTIONS",
    "preset",
    "DATASET_MANIFEST",
    "dataset_scenarios",
    "find_prompt",
    "load_dataset",
    "read_manifest",
    "fused_init",
    "fused_policy_returns",
    "fused_sac_chunk",
    "load_carry",
    "run_fused",
    "run_fused_sac",
    "save_carry",
    "LoopCarry",
    "LoopResult",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "stream_seed",
    "SACLearner",
    "evaluate_policy",
    "record_episodes",
    "run_host",
    "run_sac",
    "MBPOAugment",
    "MBPOSettings",
    "Shared",
    "run_evaluate",
    "run_pipeline",
    "run_protocol",
    "sharing",
    "ReplayRing",
    "Transitions",
    "SACState",
    "sac_act",
    "sac_init",
    "sac_update",
    "SACConfig",
    "Schedule",
    "adapt_method",
    "load_worldmodel",
    "run_adapt",
    "run_train",
    "split_indices",
    "prompt_tails",
    "summary_table",
    "RESULTS_FORMAT",
    "RESULTS_FORMATS",
    "Folder",
    "Workdir",
    "default_workdir",
    "protocol_summary",
    "run_name",
]
