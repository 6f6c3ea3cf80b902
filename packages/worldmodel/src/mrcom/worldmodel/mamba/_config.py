"""MambaConfig: one default, named presets merged on top (the pattern of `DreamerConfig`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .._config_base import ConfigBase

# Preset overrides. "smoke" and "quick" have DreamerConfig's sizes; "paper" is MAMBA's default
# (zoharri/mamba @411bdfe, configs.yaml; docs in /work/shared/baselines.md): deter 512, hidden 64,
# 16 x 16 categoricals, units 128, a plain LayerNorm GRU, model lr 1e-4, batch 16, initial
# world-model horizon 50, losses on 64 subsampled steps, 3 episodes per meta-episode.
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(
        context_len=8,
        deter=32,
        rssm_hidden=32,
        stoch=8,
        classes=4,
        gru_blocks=2,
        units=32,
        layers=1,
        reward_bins=41,
        learning_rate=1e-3,
        batch_size=8,
        seq_len=12,
        meta_episodes=2,
        loss_steps=16,
        steps=100,
        steps_per_call=10,
        eval_every=50,
        checkpoint_every=50,
        eval_windows=16,
        fast_compile=True,
    ),
    "quick": dict(
        context_len=64,
        deter=128,
        rssm_hidden=64,
        stoch=16,
        classes=4,
        gru_blocks=4,
        units=64,
        layers=2,
        reward_bins=255,
        learning_rate=3e-4,
        batch_size=16,
        seq_len=32,
        meta_episodes=3,
        loss_steps=64,
        steps=2000,
        steps_per_call=50,
        eval_every=500,
        checkpoint_every=500,
        eval_windows=64,
    ),
    "paper": dict(
        context_len=256,
        deter=512,
        rssm_hidden=64,
        stoch=16,
        classes=16,
        gru_blocks=1,
        units=128,
        layers=2,
        reward_bins=255,
        learning_rate=1e-4,
        batch_size=16,
        seq_len=50,
        meta_episodes=3,
        loss_steps=64,
        steps=100_000,
        steps_per_call=100,
        eval_every=5000,
        checkpoint_every=5000,
        eval_windows=256,
    ),
}


@dataclasses.dataclass(frozen=True)
class MambaConfig(ConfigBase):
    """Everything that defines a MAMBA world model (Rimon et al. 2024) and its training.

    Data shapes: `obs_dim`, `act_dim` (padded widths), `num_scenarios` (only checked against the
    data: MAMBA sees no task id), `context_len` (m: the real steps before a prefix that the
    recurrent state filters over at adaptation and evaluation; larger than DreamerV3's, since
    inferring the scenario from the history is MAMBA's point).
    Meta-episodes: `meta_episodes` consecutive episodes of one scenario form one training
    sequence, always trained from its start. Its length follows a curriculum: `seq_len`
    transitions at step 0 (MAMBA's initial world-model horizon), growing linearly to the whole
    meta-episode at step `curriculum_fraction * steps` (0: the whole meta-episode from the start).
    The losses are taken on `loss_steps` time steps drawn uniformly from the current length.
    RSSM (DreamerV3's, `mrcom.worldmodel.dreamer.RSSM`, with a 2-wide extra recurrent input:
    symlog of the previous reward, and the normalized time): `deter`, `rssm_hidden`, `stoch`,
    `classes`, `gru_blocks`, `unimix`. Encoder, decoder, reward head: `layers` x `units`.
    Reward: two-hot over `reward_bins` symexp bins up to `reward_range`, read from (s_t, a_t).
    Losses: `pred_scale` (decoder + reward), `dyn_scale`, `rep_scale`, `free_nats` (MAMBA: 1.0,
    0.5, 0.1). Optimizer: Adam (`learning_rate`, `adam_eps`), global-norm clip `grad_clip`.
    """

    obs_dim: int = 8
    act_dim: int = 2
    num_scenarios: int = 1
    context_len: int = 64
    deter: int = 128
    rssm_hidden: int = 64
    stoch: int = 16
    classes: int = 4
    gru_blocks: int = 4
    units: int = 64
    layers: int = 2
    unimix: float = 0.01
    free_nats: float = 1.0
    dyn_scale: float = 0.5
    rep_scale: float = 0.1
    pred_scale: float = 1.0
    reward_bins: int = 255
    reward_range: float = 20.0
    learning_rate: float = 3e-4
    adam_eps: float = 1e-8
    grad_clip: float = 1000.0
    batch_size: int = 16
    seq_len: int = 32
    meta_episodes: int = 3
    curriculum_fraction: float = 0.25
    loss_steps: int = 64
    steps: int = 2000
    steps_per_call: int = 50
    eval_every: int = 500
    checkpoint_every: int = 500
    eval_windows: int = 64
    eval_burn_in: int = 8
    fast_compile: bool = False

    PRESETS = PRESETS

    def __post_init__(self):
        self._require_shared()
        self._require_ints(("deter", "rssm_hidden", "stoch", "gru_blocks", "units", "layers"))
        self._require_ints(("meta_episodes", "loss_steps"))
        self._require_ints(("classes",), minimum=2)
        self._require_dreamer_losses()
        self._require_unit(("curriculum_fraction",))
        self._require_divisible("deter", "gru_blocks")

    @property
    def latent_dim(self) -> int:
        """Z of `Imagined.latent`: concat(deter, flattened stoch one-hots)."""
        return self.deter + self.stoch * self.classes

    @property
    def curriculum_steps(self) -> int:
        """The step at which the sequence length reaches the whole meta-episode."""
        return int(round(self.curriculum_fraction * self.steps))
