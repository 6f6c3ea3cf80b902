"""mrcom.agents: SAC behaviour policies, multi-scenario datasets, scenario adaptation and evaluation."""

from ._buffer import EpisodeBuffer as EpisodeBuffer
from ._buffer import TransitionBuffer as TransitionBuffer
from ._collect import (
    collect as collect,
)
from ._collect import (
    run_collect as run_collect,
)
from ._collect import (
    target_scenarios as target_scenarios,
)
from ._collect import (
    train_scenarios as train_scenarios,
)
from ._compare import Comparison as Comparison
from ._compare import compare_mbpo_sac as compare_mbpo_sac
from ._compare import comparison_config as comparison_config
from ._config import (
    ABLATIONS as ABLATIONS,
)
from ._config import AC_METHODS as AC_METHODS
from ._config import (
    METHODS as METHODS,
)
from ._config import (
    MODEL_FREE_METHODS as MODEL_FREE_METHODS,
)
from ._config import (
    MODEL_METHODS as MODEL_METHODS,
)
from ._config import PRESETS as PRESETS
from ._config import (
    WORLDMODEL_SECTIONS as WORLDMODEL_SECTIONS,
)
from ._config import (
    AdaptConfig as AdaptConfig,
)
from ._config import (
    CollectConfig as CollectConfig,
)
from ._config import (
    EnvsConfig as EnvsConfig,
)
from ._config import (
    EvalConfig as EvalConfig,
)
from ._config import (
    PipelineConfig as PipelineConfig,
)
from ._config import (
    preset as preset,
)
from ._dataset import DATASET_MANIFEST as DATASET_MANIFEST
from ._dataset import (
    dataset_scenarios as dataset_scenarios,
)
from ._dataset import (
    find_prompt as find_prompt,
)
from ._dataset import (
    load_dataset as load_dataset,
)
from ._dataset import (
    read_manifest as read_manifest,
)
from ._fused import FusedCarry as FusedCarry
from ._fused import ReplayRing as ReplayRing
from ._fused import fused_sac_chunk as fused_sac_chunk
from ._fused import load_carry as load_carry
from ._fused import run_fused_sac as run_fused_sac
from ._fused import save_carry as save_carry
from ._imagination_ac import ACConfig as ACConfig
from ._imagination_ac import ImaginationAC as ImaginationAC
from ._imagination_ac import run_imagination_ac as run_imagination_ac
from ._io import atomic_write_bytes as atomic_write_bytes
from ._io import atomic_write_json as atomic_write_json
from ._io import atomic_write_text as atomic_write_text
from ._loop import (
    LoopResult as LoopResult,
)
from ._loop import (
    evaluate_policy as evaluate_policy,
)
from ._loop import (
    record_episodes as record_episodes,
)
from ._loop import (
    run_sac as run_sac,
)
from ._mbpo import ModelAugmenter as ModelAugmenter
from ._sac import (
    Batch as Batch,
)
from ._sac import (
    SACConfig as SACConfig,
)
from ._sac import (
    SACState as SACState,
)
from ._sac import (
    sac_act as sac_act,
)
from ._sac import (
    sac_init as sac_init,
)
from ._sac import (
    sac_update as sac_update,
)
from ._stages import (
    adapt_method as adapt_method,
)
from ._stages import (
    load_worldmodel as load_worldmodel,
)
from ._stages import (
    run_adapt as run_adapt,
)
from ._stages import (
    run_evaluate as run_evaluate,
)
from ._stages import (
    run_pipeline as run_pipeline,
)
from ._stages import (
    run_protocol as run_protocol,
)
from ._stages import (
    run_train as run_train,
)
from ._stages import (
    summary_table as summary_table,
)
from ._starts import StartSampler as StartSampler
from ._workdir import Workdir as Workdir
