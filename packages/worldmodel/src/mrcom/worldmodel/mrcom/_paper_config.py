"""PaperConfig: MrCoM as the paper prints it (eqs. 4-16), registered as the method "mrcom-paper".

It is `WorldModelConfig` with our additions off: no reward in the context (eq. 4's tokens are
(o, a)), no skip path (the decoder reads s~_t alone, eq. 9), no one-step prediction loss and no
open-loop loss (the objective is eq. 16's L_var + lambda_s L_s + lambda_v L_v). What the paper leaves
open keeps the choices `mrcom` makes (docs/choices.md): the KL direction of L_var and L_s, L_s on the
posterior, the bounded h means, and input standardization, which every world model of the harness
may use. Sizes, learning rate and budget are `mrcom`'s preset for preset.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ._config import PRESETS, WorldModelConfig

# `mrcom`'s presets without the open-loop horizon (K = 0: no open-loop loss at any preset).
PAPER_PRESETS: dict[str, dict[str, Any]] = {
    name: {k: v for k, v in overrides.items() if k != "open_loop_horizon"}
    for name, overrides in PRESETS.items()
}


@dataclasses.dataclass(frozen=True)
class PaperConfig(WorldModelConfig):
    """`WorldModelConfig` with the paper's defaults: `context_reward`, `obs_skip` off, `lambda_pred`,
    `lambda_open_loop` and `open_loop_horizon` 0. Every field keeps its meaning and can be set; a
    checkpoint of it loads as a `WorldModelConfig` of the same values (the model is the same
    `MrCoM`)."""

    context_reward: bool = False
    obs_skip: bool = False
    lambda_pred: float = 0.0
    lambda_open_loop: float = 0.0
    open_loop_horizon: int = 0

    PRESETS = PAPER_PRESETS
