"""WorldModelConfig: one default, named presets merged on top (DreamerV3 style)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ._config_base import ConfigBase

ABLATIONS = ("full", "wo_d", "wo_c", "wo_ls", "wo_lv")
STATE_REG = ("posterior", "literal")
OBS_TRANSFORMS = ("standardize", "symlog")
KL_DIRECTIONS = ("posterior_prior", "prior_posterior")

# Preset overrides. Sizes only; everything else keeps its default.
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(
        context_len=4,
        u_dim=8,
        d_dim=16,
        h_dim=8,
        embed_dim=24,
        num_layers=1,
        num_heads=3,
        hidden=32,
        value_hidden=32,
        learning_rate=1e-3,
        batch_size=8,
        seq_len=12,
        open_loop_horizon=4,
        steps=100,
        steps_per_call=10,
        eval_every=50,
        checkpoint_every=50,
        eval_windows=16,
        fast_compile=True,
    ),
    "quick": dict(
        context_len=8,
        u_dim=16,
        d_dim=64,
        h_dim=16,
        embed_dim=48,
        num_layers=1,
        num_heads=3,
        hidden=128,
        value_hidden=64,
        learning_rate=1e-3,
        batch_size=16,
        seq_len=32,
        steps=3000,  # 1500 -> 3000: every k-step error falls (docs/choices.md, "World model: accuracy")
        steps_per_call=50,
        eval_every=500,
        checkpoint_every=500,
        eval_windows=64,
    ),
    "paper": dict(
        context_len=16,
        u_dim=32,
        d_dim=256,
        h_dim=32,
        embed_dim=96,
        num_layers=2,
        num_heads=3,
        hidden=256,
        value_hidden=256,
        batch_size=32,
        seq_len=64,
        steps=100_000,
        steps_per_call=100,
        eval_every=5000,
        checkpoint_every=5000,
        eval_windows=256,
    ),
}


@dataclasses.dataclass(frozen=True)
class WorldModelConfig(ConfigBase):
    """Everything that defines a MrCoM world model and its training.

    Sizes and loss weights follow DESIGN.md section 5; the choices the paper leaves open
    are documented in docs/choices.md.

    Data shapes: `obs_dim`, `act_dim` (padded widths), `num_scenarios` (training scenarios,
    one value head each). Context (eq. 4): `context_len` (m) steps, tokens embedded in
    `embed_dim` and encoded by `num_layers` transformer layers of `num_heads` heads;
    `context_reward` puts the reward in the token, lagged one slot so that C_t holds no function
    of o_t (False matches eq. 4 literally).
    Latent: `u_dim` (stochastic, eq. 6), `d_dim` (GRU, eq. 7), `h_dim` (auxiliary, eq. 8).
    `obs_skip`: the prior and posterior of u, the decoder and the reward head also read the
    previous observation o_{t-1} (the newest step of C_t), and the decoder predicts the change
    norm(o_t) - norm(o_{t-1}) (False: the decoder reads s~_t alone, as printed in eq. 9).
    `obs_transform`: the space the networks see observations in and the decoder predicts them in:
    "standardize" (per-dimension mean and std of the training data) or "symlog".
    Losses (eq. 16): `lambda_var`, `lambda_s`, `lambda_v`, `lambda_r` (reward head),
    `lambda_pred` (one-step prediction: the decoded prior latent against o_t, `loss_prediction`),
    `lambda_open_loop` and `open_loop_horizon` (K: the prior rolled K steps open loop from one
    posterior latent per window, under the real actions, against o_{t+1..t+K}, `loss_open_loop`;
    K = 0 turns it off; K <= seq_len),
    `obs_std` (std of the Gaussian decoder in the `obs_transform` space), `free_nats` (per KL term, per step),
    `kl_balance` (share of each KL of L_var that trains the prior; the rest trains the posterior),
    `kl_direction` of the KLs of L_var and L_s ("posterior_prior": KL(q || p), the bound of eq. 11;
    "prior_posterior": KL(p || q) as printed in eqs. 10 and 12),
    `state_reg` ("posterior": L_s = KL(q_u || sg p_u) trains only the posterior, on top of L_var;
    "literal": eq. 12 with gradients into both sides), `gamma` and `target_tau` for the value
    heads (eq. 14), `value_samples` (samples of the predicted next latent in eq. 15).
    `ablation` is one of "full", "wo_d", "wo_c", "wo_ls", "wo_lv". `fast_compile`: compile the
    jitted programs with XLA's backend optimization level 0 (about 2x faster to compile, 2.5x
    slower to run on a CPU; for smoke-sized runs).
    """

    obs_dim: int = 8
    act_dim: int = 2
    num_scenarios: int = 1
    context_len: int = 8
    context_reward: bool = True
    obs_skip: bool = True
    obs_transform: str = "standardize"
    embed_dim: int = 48
    num_layers: int = 1
    num_heads: int = 3
    u_dim: int = 16
    d_dim: int = 64
    h_dim: int = 16
    hidden: int = 128
    value_hidden: int = 64
    min_std: float = 0.1
    obs_std: float = 0.1
    lambda_var: float = 1.0
    lambda_s: float = 0.1
    lambda_v: float = 0.1
    lambda_r: float = 1.0
    lambda_pred: float = 1.0
    lambda_open_loop: float = 0.3
    open_loop_horizon: int = 8
    free_nats: float = 1.0
    kl_balance: float = 0.8
    kl_direction: str = "posterior_prior"
    state_reg: str = "posterior"
    gamma: float = 0.99
    target_tau: float = 0.02
    value_samples: int = 4
    ablation: str = "full"
    learning_rate: float = 3e-4
    grad_clip: float = 100.0
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
        self._require_ints(
            ("embed_dim", "num_layers", "num_heads", "u_dim", "d_dim", "h_dim")
            + ("hidden", "value_hidden", "value_samples")
        )
        self._require_numbers(
            ("lambda_var", "lambda_s", "lambda_v", "lambda_r", "lambda_pred", "lambda_open_loop")
            + ("free_nats", "grad_clip")
        )
        self._require_numbers(("min_std", "obs_std", "learning_rate"), positive=True)
        self._require_unit(("kl_balance", "gamma", "target_tau"))
        if self.gamma >= 1:
            raise ValueError(f"gamma={self.gamma!r}: must be in [0, 1)")
        self._require_ints(("open_loop_horizon",), minimum=0)
        if self.open_loop_horizon > self.seq_len:
            raise ValueError(
                f"open_loop_horizon={self.open_loop_horizon!r}: must be <= seq_len={self.seq_len}"
            )
        self._require_divisible("embed_dim", "num_heads")
        self._require_choice("kl_direction", KL_DIRECTIONS)
        self._require_choice("obs_transform", OBS_TRANSFORMS)
        self._require_choice("state_reg", STATE_REG)
        self._require_choice("ablation", ABLATIONS)
        self._require_bools(("context_reward", "obs_skip"))

    # Ablation switches, read by the model and the losses.
    @property
    def use_d(self) -> bool:
        return self.ablation != "wo_d"

    @property
    def use_context(self) -> bool:
        return self.ablation != "wo_c"

    @property
    def effective_lambda_s(self) -> float:
        return 0.0 if self.ablation == "wo_ls" else float(self.lambda_s)

    @property
    def effective_lambda_v(self) -> float:
        return 0.0 if self.ablation == "wo_lv" else float(self.lambda_v)

    @property
    def latent_dim(self) -> int:
        return self.u_dim + self.d_dim + self.h_dim
