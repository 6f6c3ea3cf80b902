"""WorldModelConfig: one default, named presets merged on top (DreamerV3 style)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .._config_base import SharedConfig

ABLATIONS = ("full", "wo_d", "wo_c", "wo_ls", "wo_lv")
STATE_REG = ("posterior", "literal")
OBS_TRANSFORMS = ("standardize", "symlog")
KL_DIRECTIONS = ("posterior_prior", "prior_posterior")
# The scale L_v (eq. 15) is computed on (`value_reg_scale`, `mrcom._losses.value_reg_scale`):
# "variance" divides it by obs_std^2 times the batch variance of the meta-value, "reward" keeps the
# value heads' own (1 - gamma)-scaled values, "return" undoes that scaling (eqs. 13-15 as printed).
VALUE_REG_SCALES = ("variance", "reward", "return")
ABLATED_WEIGHT = {"wo_ls": "lambda_s", "wo_lv": "lambda_v"}  # the loss weight an ablation sets to 0

# Preset overrides: sizes and MrCoM's learning rate and batch; the budget is `TRAINING_BUDGETS`.
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(context_len=4, u_dim=8, d_dim=16, h_dim=8, embed_dim=24, num_layers=1, num_heads=3)
    | dict(hidden=32, value_hidden=32, learning_rate=1e-3, batch_size=8, seq_len=12)
    | dict(open_loop_horizon=4),
    "quick": dict(context_len=8, u_dim=16, d_dim=64, h_dim=16, embed_dim=48, num_layers=1, num_heads=3)
    | dict(hidden=128, value_hidden=64, learning_rate=1e-3, batch_size=16, seq_len=32),
    "paper": dict(context_len=16, u_dim=32, d_dim=256, h_dim=32, embed_dim=96, num_layers=2, num_heads=3)
    | dict(hidden=256, value_hidden=256, batch_size=32, seq_len=64),
}


# Every field of WorldModelConfig is in exactly one of the three parts (a test checks the partition).
# The model's static spec: its shapes and the structure of the programs that run it or its loss.
SPEC_FIELDS = (
    ("obs_dim", "act_dim", "num_scenarios", "context_len", "context_reward", "obs_skip", "obs_transform")
    + ("embed_dim", "num_layers", "num_heads", "u_dim", "d_dim", "h_dim", "hidden", "value_hidden")
    + (
        "min_std",
        "h_mean_bound",
        "obs_std",
        "value_samples",
        "open_loop_horizon",
        "kl_direction",
        "state_reg",
        "value_reg_scale",
        "ablation",
    )
    + ("fast_compile",)
)
# The loss's coefficients, traced (`LossWeights`): changing them reuses the compiled programs.
WEIGHT_FIELDS = ("lambda_var", "lambda_s", "lambda_v", "lambda_r", "lambda_pred", "lambda_open_loop") + (
    "free_nats",
    "kl_balance",
    "gamma",
    "target_tau",
)
# The training loop's settings (`TrainSettings`): optimizer, batch shapes, budget, cadence.
TRAIN_FIELDS = (
    "learning_rate",
    "grad_clip",
    "batch_size",
    "seq_len",
    "steps",
    "steps_per_call",
    "eval_every",
) + ("checkpoint_every", "eval_windows", "eval_burn_in")


class _Switches:
    """What the model and the losses derive from the spec's fields (shared by `ModelSpec` and
    `WorldModelConfig`): the ablation switches and the latent width."""

    ablation: str
    u_dim: int
    d_dim: int
    h_dim: int

    @property
    def use_d(self) -> bool:
        return self.ablation != "wo_d"

    @property
    def use_context(self) -> bool:
        return self.ablation != "wo_c"

    @property
    def latent_dim(self) -> int:
        return self.u_dim + self.d_dim + self.h_dim


@dataclasses.dataclass(frozen=True)
class ModelSpec(_Switches):
    """The static part of a `WorldModelConfig`: what the model's shapes and the structure of its
    programs depend on (`SPEC_FIELDS`). A model holds only this (`MrCoM.spec`), so two configs that
    differ in loss weights or training settings share one model structure and one compiled program.

    Build with `config.spec` (the fields are validated there); field meanings: `WorldModelConfig`.
    """

    obs_dim: int
    act_dim: int
    num_scenarios: int
    context_len: int
    context_reward: bool
    obs_skip: bool
    obs_transform: str
    embed_dim: int
    num_layers: int
    num_heads: int
    u_dim: int
    d_dim: int
    h_dim: int
    hidden: int
    value_hidden: int
    min_std: float
    h_mean_bound: float
    obs_std: float
    value_samples: int
    open_loop_horizon: int
    kl_direction: str
    state_reg: str
    value_reg_scale: str
    ablation: str
    fast_compile: bool


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """The training part of a `WorldModelConfig` (`TRAIN_FIELDS`): Adam's rate and clip, the batch's
    shape, the budget and the cadence of evaluation and checkpoints. Build with `config.training`."""

    learning_rate: float
    grad_clip: float
    batch_size: int
    seq_len: int
    steps: int
    steps_per_call: int
    eval_every: int
    checkpoint_every: int
    eval_windows: int
    eval_burn_in: int


@dataclasses.dataclass(frozen=True)
class WorldModelConfig(_Switches, SharedConfig):
    """Everything that defines a MrCoM world model and its training, as one flat, serializable config
    (presets, `--set worldmodel.<field>=...`, checkpoint headers).

    Three parts of it reach the code, each in its own form: `spec` (`ModelSpec`, static: what the
    model holds), `LossWeights.from_config(config)` (traced loss coefficients) and `training`
    (`TrainSettings`, the loop's settings).

    The equations they serve are mapped in docs/design.md, section 5; the choices the paper leaves open
    are documented in docs/choices.md.

    Shared fields (data shapes, optimizer, training loop): `SharedConfig`; `num_scenarios` is the
    number of value heads here. Context (eq. 4): `context_len` (m) steps, tokens embedded in
    `embed_dim` and encoded by `num_layers` transformer layers of `num_heads` heads;
    `context_reward` puts the reward in the token, lagged one slot so that C_t holds no function
    of o_t (False matches eq. 4 literally).
    Latent: `u_dim` (stochastic, eq. 6), `d_dim` (GRU, eq. 7), `h_dim` (auxiliary, eq. 8);
    `h_mean_bound` b: the means of h's prior and posterior are b * tanh(x / b), since h_t reads
    h_{t-1} and an unbounded mean lets that recurrence run away (0: unbounded; 20 clips little of what
    a trained model uses, docs/choices.md).
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
    heads (eq. 14), `value_samples` (samples of the predicted next latent in eq. 15),
    `value_reg_scale`: the scale L_v (eq. 15) is measured on, one of `VALUE_REG_SCALES` ("variance":
    divided by obs_std^2 times the batch variance of v_psi(s~_{t+1}), so that lambda_v weighs a
    scale-free value-equivalence error in the decoder's unit; "reward": on the heads' (1 - gamma)-scaled
    values, the scale before it existed, which left L_v < 1e-4 of the gradient; "return": on the values
    of eqs. 13-15 as printed, L_v / (1 - gamma)^2; docs/choices.md, "The scale of L_v").
    `ablation` is one of "full", "wo_d", "wo_c", "wo_ls", "wo_lv".
    """

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
    h_mean_bound: float = 20.0
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
    value_reg_scale: str = "variance"
    ablation: str = "full"

    PRESETS = PRESETS
    # what a checkpoint written before a field existed was trained with: unbounded h means, L_v on
    # the (1 - gamma)-scaled values
    CHECKPOINT_DEFAULTS = {"h_mean_bound": 0.0, "value_reg_scale": "reward"}

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require_ints(
            ("embed_dim", "num_layers", "num_heads", "u_dim", "d_dim", "h_dim")
            + ("hidden", "value_hidden", "value_samples")
        )
        self._require_numbers(
            ("lambda_var", "lambda_s", "lambda_v", "lambda_r", "lambda_pred", "lambda_open_loop")
            + ("free_nats", "h_mean_bound")
        )
        self._require_numbers(("min_std", "obs_std"), positive=True)
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
        self._require_choice("value_reg_scale", VALUE_REG_SCALES)
        self._require_choice("ablation", ABLATIONS)
        self._require_bools(("context_reward", "obs_skip"))

    @property
    def spec(self) -> ModelSpec:
        """The static part: what the model holds."""
        return ModelSpec(**{name: getattr(self, name) for name in SPEC_FIELDS})

    @property
    def training(self) -> TrainSettings:
        """The training loop's part."""
        return TrainSettings(**{name: getattr(self, name) for name in TRAIN_FIELDS})

    @property
    def weights(self) -> dict[str, float]:
        """The loss's coefficients (`WEIGHT_FIELDS`) as trained: the ablation's weight
        (`ABLATED_WEIGHT`: w/o L_s, w/o L_v) is 0."""
        off = ABLATED_WEIGHT.get(self.ablation)
        return {name: 0.0 if name == off else float(getattr(self, name)) for name in WEIGHT_FIELDS}
