"""CaDMConfig: one default, named presets merged on top (the pattern of `WorldModelConfig`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .._config_base import SharedConfig, is_int

# Preset overrides (sizes and batches; the budget is `TRAINING_BUDGETS`). "paper" is the
# published CaDM architecture and batch (Lee et al. 2020, younggyoseo/CaDM).
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(context_len=4, future_len=4, context_dim=8, encoder_hidden=(32, 32), hidden=32)
    | dict(num_layers=2, reward_hidden=32, ensemble_size=2, batch_size=16, seq_len=8),
    "quick": dict(context_len=10, future_len=10, context_dim=10, encoder_hidden=(128, 64, 32), hidden=128)
    | dict(num_layers=3, reward_hidden=128, ensemble_size=5, batch_size=64, seq_len=16)
    # quick's learning rate: the same-budget grid's selection (docs/choices.md), 3e-4 over CaDM's own
    # 1e-3, by 0.8 % of the selection score
    | dict(learning_rate=3e-4),
    "paper": dict(context_len=10, future_len=10, context_dim=10, encoder_hidden=(256, 128, 64), hidden=200)
    | dict(num_layers=4, reward_hidden=200, ensemble_size=5, batch_size=256, seq_len=10),
}


@dataclasses.dataclass(frozen=True)
class CaDMConfig(SharedConfig):
    """Everything that defines a CaDM world model (Lee et al. 2020) and its training.

    Shared fields (data shapes, optimizer, training loop): `SharedConfig`; CaDM never reads a scenario
    id, so `num_scenarios` is only checked against the data.
    History: `context_len` = K past transitions, taken from the harness's m-step context and the
    prefix; each transition j is encoded as [normalized delta s_j, normalized a_j] plus, when
    `context_state`, the normalized s_j and, when `context_reward`, the normalized r_j (both False:
    the paper's (delta s, a) pairs), then an MLP `encoder_hidden` (ReLU) -> linear `context_dim`.
    `future_len` = M: one context vector is scored against the next M one-step targets.
    Heads (per ensemble member, each with its own encoder): forward and backward MLPs of
    `num_layers` x `hidden` (swish) and a reward MLP of 2 x `reward_hidden`.
    `ensemble_size` members; `probabilistic`: Gaussian NLL with PETS soft-bounded log-variance
    (False: MSE on the mean). Loss = forward + `backward_weight` backward + `reward_weight` reward
    (per member, summed over members). Adam (`learning_rate`), L2 `weight_decay` on the weight
    matrices, global-norm clipping at `grad_clip`.
    """

    context_len: int = 10
    future_len: int = 10
    context_dim: int = 10
    encoder_hidden: tuple[int, ...] = (256, 128, 64)
    context_state: bool = True
    context_reward: bool = True
    hidden: int = 200
    num_layers: int = 4
    reward_hidden: int = 200
    ensemble_size: int = 5
    probabilistic: bool = True
    backward_weight: float = 0.5
    reward_weight: float = 1.0
    weight_decay: float = 2.5e-5
    learning_rate: float = 1e-3
    batch_size: int = 64
    seq_len: int = 16

    PRESETS = PRESETS

    def __post_init__(self) -> None:
        hidden = self.encoder_hidden
        if isinstance(hidden, list):  # from JSON
            object.__setattr__(self, "encoder_hidden", tuple(hidden))
            hidden = self.encoder_hidden
        if not isinstance(hidden, tuple) or not hidden or not all(is_int(h) and h >= 1 for h in hidden):
            raise ValueError(f"encoder_hidden={hidden!r}: must be a non-empty tuple of integers >= 1")
        super().__post_init__()
        self._require_ints(
            ("future_len", "context_dim", "hidden", "num_layers", "reward_hidden", "ensemble_size")
        )
        self._require_numbers(("backward_weight", "reward_weight", "weight_decay"))
        self._require_bools(("context_state", "context_reward", "probabilistic"))
        if self.seq_len < self.future_len:
            raise ValueError(f"seq_len={self.seq_len}: must be >= future_len={self.future_len}")

    @property
    def latent_dim(self) -> int:
        """Width of `Imagined.latent`: every member's context vector, then the observation."""
        return self.ensemble_size * self.context_dim + self.obs_dim
