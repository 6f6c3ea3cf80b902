"""mrcom.agents: SAC behaviour policies, multi-scenario datasets, scenario adaptation and evaluation.

Names load on first use (PEP 562): the configuration layer (`PipelineConfig`, `preset`, `PRESETS`,
`ABLATIONS`, `METHODS`, `parse_overrides`, `Workdir`, `default_workdir`, the atomic writers) imports no
JAX, so sweeps and analysis can read configs and run folders without loading it. The commands are in
`mrcom.agents.cli` (console scripts `mrcom-pipeline`, `mrcom-collect`, `mrcom-train`, `mrcom-adapt`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._ac_config import ACConfig as ACConfig
    from ._ac_config import ac_base as ac_base
    from ._ac_config import ac_method as ac_method
    from ._ac_loop import ImaginationAC as ImaginationAC
    from ._ac_loop import run_imagination_ac as run_imagination_ac
    from ._cli import parse_overrides as parse_overrides
    from ._cli import run_cli as run_cli
    from ._collect import collect as collect
    from ._collect import run_collect as run_collect
    from ._collect import target_scenarios as target_scenarios
    from ._collect import train_scenarios as train_scenarios
    from ._config import ABLATIONS as ABLATIONS
    from ._config import AC_METHODS as AC_METHODS
    from ._config import METHODS as METHODS
    from ._config import MODEL_FREE_METHODS as MODEL_FREE_METHODS
    from ._config import MODEL_METHODS as MODEL_METHODS
    from ._config import PRESETS as PRESETS
    from ._config import PROMPT_KINDS as PROMPT_KINDS
    from ._config import WORLDMODEL_SECTIONS as WORLDMODEL_SECTIONS
    from ._config import AdaptConfig as AdaptConfig
    from ._config import CollectConfig as CollectConfig
    from ._config import EnvsConfig as EnvsConfig
    from ._config import EvalConfig as EvalConfig
    from ._config import PipelineConfig as PipelineConfig
    from ._config import preset as preset
    from ._dataset import DATASET_MANIFEST as DATASET_MANIFEST
    from ._dataset import dataset_scenarios as dataset_scenarios
    from ._dataset import find_prompt as find_prompt
    from ._dataset import load_dataset as load_dataset
    from ._dataset import read_manifest as read_manifest
    from ._fused import fused_init as fused_init
    from ._fused import fused_policy_returns as fused_policy_returns
    from ._fused import fused_sac_chunk as fused_sac_chunk
    from ._fused import load_carry as load_carry
    from ._fused import run_fused as run_fused
    from ._fused import run_fused_sac as run_fused_sac
    from ._fused import save_carry as save_carry
    from ._interact import LoopCarry as LoopCarry
    from ._interact import LoopResult as LoopResult
    from ._io import atomic_write_bytes as atomic_write_bytes
    from ._io import atomic_write_json as atomic_write_json
    from ._io import atomic_write_text as atomic_write_text
    from ._io import stream_seed as stream_seed
    from ._learners import SACLearner as SACLearner
    from ._loop import evaluate_policy as evaluate_policy
    from ._loop import record_episodes as record_episodes
    from ._loop import run_host as run_host
    from ._loop import run_sac as run_sac
    from ._mbpo import MBPOAugment as MBPOAugment
    from ._mbpo import MBPOSettings as MBPOSettings
    from ._pipeline import Shared as Shared
    from ._pipeline import run_evaluate as run_evaluate
    from ._pipeline import run_pipeline as run_pipeline
    from ._pipeline import run_protocol as run_protocol
    from ._pipeline import sharing as sharing
    from ._ring import ReplayRing as ReplayRing
    from ._sac import Batch as Batch
    from ._sac import SACState as SACState
    from ._sac import sac_act as sac_act
    from ._sac import sac_init as sac_init
    from ._sac import sac_update as sac_update
    from ._sac_config import SACConfig as SACConfig
    from ._schedule import Schedule as Schedule
    from ._stages import adapt_method as adapt_method
    from ._stages import load_worldmodel as load_worldmodel
    from ._stages import run_adapt as run_adapt
    from ._stages import run_train as run_train
    from ._stages import split_indices as split_indices
    from ._starts import prompt_tails as prompt_tails
    from ._summary import summary_table as summary_table
    from ._workdir import RESULTS_FORMAT as RESULTS_FORMAT
    from ._workdir import RESULTS_FORMATS as RESULTS_FORMATS
    from ._workdir import Workdir as Workdir
    from ._workdir import default_workdir as default_workdir
    from ._workdir import protocol_summary as protocol_summary
    from ._workdir import run_name as run_name

# public name -> the submodule that defines it
_EXPORTS: dict[str, str] = {
    "ACConfig": "_ac_config",
    "ac_base": "_ac_config",
    "ac_method": "_ac_config",
    "ImaginationAC": "_ac_loop",
    "run_imagination_ac": "_ac_loop",
    "parse_overrides": "_cli",
    "run_cli": "_cli",
    "collect": "_collect",
    "run_collect": "_collect",
    "target_scenarios": "_collect",
    "train_scenarios": "_collect",
    "ABLATIONS": "_config",
    "AC_METHODS": "_config",
    "METHODS": "_config",
    "MODEL_FREE_METHODS": "_config",
    "MODEL_METHODS": "_config",
    "PRESETS": "_config",
    "PROMPT_KINDS": "_config",
    "WORLDMODEL_SECTIONS": "_config",
    "AdaptConfig": "_config",
    "CollectConfig": "_config",
    "EnvsConfig": "_config",
    "EvalConfig": "_config",
    "PipelineConfig": "_config",
    "preset": "_config",
    "DATASET_MANIFEST": "_dataset",
    "dataset_scenarios": "_dataset",
    "find_prompt": "_dataset",
    "load_dataset": "_dataset",
    "read_manifest": "_dataset",
    "fused_init": "_fused",
    "fused_policy_returns": "_fused",
    "fused_sac_chunk": "_fused",
    "load_carry": "_fused",
    "run_fused": "_fused",
    "run_fused_sac": "_fused",
    "LoopCarry": "_interact",
    "LoopResult": "_interact",
    "SACLearner": "_learners",
    "save_carry": "_fused",
    "atomic_write_bytes": "_io",
    "atomic_write_json": "_io",
    "atomic_write_text": "_io",
    "stream_seed": "_io",
    "evaluate_policy": "_loop",
    "record_episodes": "_loop",
    "run_host": "_loop",
    "run_sac": "_loop",
    "MBPOAugment": "_mbpo",
    "MBPOSettings": "_mbpo",
    "ReplayRing": "_ring",
    "Shared": "_pipeline",
    "run_evaluate": "_pipeline",
    "run_pipeline": "_pipeline",
    "run_protocol": "_pipeline",
    "sharing": "_pipeline",
    "Batch": "_sac",
    "SACState": "_sac",
    "sac_act": "_sac",
    "sac_init": "_sac",
    "sac_update": "_sac",
    "SACConfig": "_sac_config",
    "Schedule": "_schedule",
    "adapt_method": "_stages",
    "load_worldmodel": "_stages",
    "run_adapt": "_stages",
    "run_train": "_stages",
    "split_indices": "_stages",
    "prompt_tails": "_starts",
    "summary_table": "_summary",
    "RESULTS_FORMAT": "_workdir",
    "RESULTS_FORMATS": "_workdir",
    "Workdir": "_workdir",
    "default_workdir": "_workdir",
    "protocol_summary": "_workdir",
    "run_name": "_workdir",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule defining `name` on first access and cache the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
