"""DreamerConfig, and `RSSMConfig`, the fields of the RSSM that DreamerV3 and MAMBA share."""

from __future__ import annotations

import dataclasses
from typing import Any

from .._config_base import DreamerHeadsConfig

# Preset overrides: sizes (the budget is `TRAINING_BUDGETS`). "paper" is DreamerV3's small
# proprioceptive-DMC model (deter 512, hidden/units 64, 32 x 4 classes, 8 GRU blocks, batch 16 x 64).
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(context_len=4, deter=32, rssm_hidden=32, stoch=8, classes=4, gru_blocks=2, units=32)
    | dict(layers=1, reward_bins=41, learning_rate=1e-3, batch_size=8, seq_len=12),
    # quick's learning rate: the same-budget grid's selection (docs/choices.md; MAMBA's too, which takes
    # this preset), 1e-3 over 3e-4
    "quick": dict(context_len=8, deter=128, rssm_hidden=64, stoch=16, classes=4, gru_blocks=4, units=64)
    | dict(layers=2, reward_bins=255, learning_rate=1e-3, batch_size=16, seq_len=32),
    "paper": dict(context_len=16, deter=512, rssm_hidden=64, stoch=32, classes=4, gru_blocks=8, units=64)
    | dict(layers=2, reward_bins=255, learning_rate=1e-4, batch_size=16, seq_len=64),
}


@dataclasses.dataclass(frozen=True)
class RSSMConfig(DreamerHeadsConfig):
    """DreamerV3's recurrent state-space model and its MLPs (shared by DreamerV3 and MAMBA).

    RSSM: `deter` (GRU state, split into `gru_blocks` block-diagonal blocks), `rssm_hidden` (width of
    the RSSM's input/prior/posterior layers), the categoricals of `DreamerHeadsConfig`. Encoder, decoder,
    reward head: `layers` layers of `units` (LayerNorm + SiLU).
    """

    deter: int = 128
    rssm_hidden: int = 64
    gru_blocks: int = 4
    units: int = 64
    layers: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require_ints(("deter", "rssm_hidden", "gru_blocks", "units", "layers"))
        self._require_divisible("deter", "gru_blocks")

    @property
    def latent_dim(self) -> int:
        """Z of `Imagined.latent`: concat(deter, flattened stoch one-hots)."""
        return self.deter + self.stoch * self.classes


@dataclasses.dataclass(frozen=True)
class DreamerConfig(RSSMConfig):
    """Everything that defines a DreamerV3 world model (proprioceptive inputs) and its training: the
    fields of `RSSMConfig`, `DreamerHeadsConfig` and `SharedConfig`, with DreamerV3's defaults.

    DreamerV3 sees no task id (`num_scenarios` is only checked against the data); `context_len` (m) is
    the steps before each window or prefix, used only to burn in the recurrent state. Optimizer: the
    2023 paper's world model (Adam, `learning_rate`, `adam_eps`, global-norm clip `grad_clip`).
    Harness options (`HarnessConfig`; all on by default but the reward input, selected off):
    `obs_transform`, `obs_skip`, `lambda_pred`, `reward_input` (symlog r_{t-2} as an extra RSSM input
    of step t).
    """

    PRESETS = PRESETS
