"""DreamerConfig: one default, named presets merged on top (the pattern of `WorldModelConfig`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .._config_base import ConfigBase

# Preset overrides. Sizes only; everything else keeps its default. "paper" is DreamerV3's small
# proprioceptive-DMC model (deter 512, hidden/units 64, 32 x 4 classes, 8 GRU blocks, batch 16 x 64).
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(
        context_len=4,
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
        steps=100,
        steps_per_call=10,
        eval_every=50,
        checkpoint_every=50,
        eval_windows=16,
        fast_compile=True,
    ),
    "quick": dict(
        context_len=8,
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
        steps=2000,
        steps_per_call=50,
        eval_every=500,
        checkpoint_every=500,
        eval_windows=64,
    ),
    "paper": dict(
        context_len=16,
        deter=512,
        rssm_hidden=64,
        stoch=32,
        classes=4,
        gru_blocks=8,
        units=64,
        layers=2,
        reward_bins=255,
        learning_rate=1e-4,
        batch_size=16,
        seq_len=64,
        steps=100_000,
        steps_per_call=100,
        eval_every=5000,
        checkpoint_every=5000,
        eval_windows=256,
    ),
}


@dataclasses.dataclass(frozen=True)
class DreamerConfig(ConfigBase):
    """Everything that defines a DreamerV3 world model (proprioceptive inputs) and its training.

    Data shapes: `obs_dim`, `act_dim` (padded widths), `num_scenarios` (only checked against the
    data: DreamerV3 sees no task id), `context_len` (m: the steps before each window or prefix,
    used only to burn in the recurrent state).
    RSSM: `deter` (GRU state, split into `gru_blocks` block-diagonal blocks), `rssm_hidden` (width
    of the RSSM's input/prior/posterior layers), `stoch` categoricals of `classes` classes each,
    `unimix` (uniform mix of every categorical). Encoder, decoder, reward head: `layers` layers of
    `units` (LayerNorm + SiLU). Reward: two-hot over `reward_bins` bins = symexp(linspace(-r, r))
    with r = `reward_range`.
    Losses (2023 paper, eq. 5): `pred_scale` (decoder + reward), `dyn_scale` KL(sg(post) || prior),
    `rep_scale` KL(post || sg(prior)), each KL floored at `free_nats` per step.
    Optimizer (2023 paper's world model): Adam, `learning_rate`, `adam_eps`, global-norm clip
    `grad_clip`. Training and evaluation as in `WorldModelConfig`.
    """

    obs_dim: int = 8
    act_dim: int = 2
    num_scenarios: int = 1
    context_len: int = 8
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
        self._require_ints(("classes",), minimum=2)
        self._require_dreamer_losses()
        self._require_divisible("deter", "gru_blocks")

    @property
    def latent_dim(self) -> int:
        """Z of `Imagined.latent`: concat(deter, flattened stoch one-hots)."""
        return self.deter + self.stoch * self.classes
