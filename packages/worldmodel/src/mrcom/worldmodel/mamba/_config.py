"""MambaConfig: one default, named presets merged on top (the pattern of `DreamerConfig`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..dreamerv3._config import PRESETS as DREAMER_PRESETS
from ..dreamerv3._config import RSSMConfig

# Preset overrides (sizes; the budget is `TRAINING_BUDGETS`). "smoke" and "quick" have DreamerConfig's
# sizes; "paper" is MAMBA's default
# (zoharri/mamba @411bdfe, configs.yaml; docs/choices.md): deter 512, hidden 64,
# 16 x 16 categoricals, units 128, a plain LayerNorm GRU, model lr 1e-4, batch 16, initial
# world-model horizon 50, losses on 64 subsampled steps, 3 episodes per meta-episode.
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": DREAMER_PRESETS["smoke"] | dict(context_len=8, meta_episodes=2, loss_steps=16),
    "quick": DREAMER_PRESETS["quick"] | dict(context_len=64, meta_episodes=3, loss_steps=64),
    "paper": dict(context_len=256, deter=512, rssm_hidden=64, stoch=16, classes=16, gru_blocks=1)
    | dict(units=128, layers=2, reward_bins=255, learning_rate=1e-4, batch_size=16, seq_len=50)
    | dict(meta_episodes=3, loss_steps=64),
}


@dataclasses.dataclass(frozen=True)
class MambaConfig(RSSMConfig):
    """Everything that defines a MAMBA world model (Rimon et al. 2024) and its training.

    Shared fields: `SharedConfig`; MAMBA sees no task id (`num_scenarios` is only checked against the
    data); `context_len` (m: the real steps before a prefix that the
    recurrent state filters over at adaptation and evaluation; larger than DreamerV3's, since
    inferring the scenario from the history is MAMBA's point).
    Meta-episodes: `meta_episodes` consecutive episodes of one scenario form one training
    sequence, always trained from its start. Its length follows a curriculum: `seq_len`
    transitions at step 0 (MAMBA's initial world-model horizon), growing linearly to the whole
    meta-episode at step `curriculum_fraction * steps` (0: the whole meta-episode from the start).
    The losses are taken on `loss_steps` time steps drawn uniformly from the current length.
    RSSM (DreamerV3's, `mrcom.worldmodel.dreamerv3.RSSM`, with a 2-wide extra recurrent input:
    symlog of the lagged reward r_{j-2} (zero without `reward_input`, on by default), and the
    normalized time): `deter`, `rssm_hidden`, `stoch`,
    `classes`, `gru_blocks`, `unimix`. Encoder, decoder, reward head: `layers` x `units`.
    Reward: two-hot over `reward_bins` symexp bins up to `reward_range`, read from (s_t, a_t).
    Losses: `pred_scale` (decoder + reward), `dyn_scale`, `rep_scale`, `free_nats` (MAMBA: 1.0,
    0.5, 0.1). Optimizer: Adam (`learning_rate`, `adam_eps`), global-norm clip `grad_clip`.
    Harness options (`HarnessConfig`): `obs_transform`, `obs_skip`, `lambda_pred`, `reward_input`.
    """

    context_len: int = 64
    reward_input: bool = True  # HarnessConfig's field; MAMBA's default (it has always read r_{j-2})
    meta_episodes: int = 3
    curriculum_fraction: float = 0.25
    loss_steps: int = 64

    PRESETS = PRESETS

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require_ints(("meta_episodes", "loss_steps"))
        self._require_unit(("curriculum_fraction",))

    @property
    def curriculum_steps(self) -> int:
        """The step at which the sequence length reaches the whole meta-episode."""
        return int(round(self.curriculum_fraction * self.steps))
