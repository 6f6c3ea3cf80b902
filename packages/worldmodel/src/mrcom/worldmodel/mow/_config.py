"""MoWConfig: one default, named presets merged on top (the pattern of `WorldModelConfig`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .._config_base import DreamerHeadsConfig

# Preset overrides (sizes; the budget is `TRAINING_BUDGETS`). "smoke" and "quick"
# are at the scale of DreamerConfig's presets; "paper" follows STORM's transformer (2 layers,
# width 512 -> here 256 with 8 heads) with 32 x 16 categorical latents, at MrCoM's paper budget.
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": dict(context_len=4, stoch=8, classes=4, vae_units=32, vae_layers=1, d_model=32, num_layers=1)
    | dict(num_heads=2, ffn_hidden=64, num_experts=2, expert_hidden=32, head_units=32)
    | dict(reward_bins=41, learning_rate=1e-3, batch_size=8, seq_len=12, cluster_at=20)
    | dict(cluster_windows=8),
    "quick": dict(context_len=8, stoch=16, classes=8, vae_units=128, vae_layers=2, d_model=128)
    | dict(num_layers=2, num_heads=4, ffn_hidden=256, num_experts=4, expert_hidden=128)
    | dict(head_units=128, reward_bins=255, learning_rate=3e-4, batch_size=16, seq_len=32)
    | dict(cluster_at=500, cluster_windows=32),
    "paper": dict(context_len=16, stoch=32, classes=16, vae_units=256, vae_layers=2, d_model=256)
    | dict(num_layers=2, num_heads=8, ffn_hidden=1024, num_experts=8, expert_hidden=512)
    | dict(head_units=256, reward_bins=255, learning_rate=1e-4, batch_size=16, seq_len=64)
    | dict(cluster_at=5000, recluster_every=20_000, cluster_windows=64),
}


@dataclasses.dataclass(frozen=True)
class MoWConfig(DreamerHeadsConfig):
    """Everything that defines a Mixture-of-World-Models world model (vector observations) and its training.

    Shared fields: `SharedConfig` and `DreamerHeadsConfig` (latents, reward head, losses); the
    clustering allocates an expert to each of the `num_scenarios` training scenarios; `context_len` (m)
    is the history tokens before every window and prefix.
    Modular VAEs: `num_groups` encoder/decoder modules, one per observation/action layout of the
    training data (its mask pattern); each an MLP of `vae_layers` x `vae_units` (LayerNorm + SiLU)
    to `stoch` categoricals of `classes` classes (`unimix` uniform mix, straight-through samples).
    Dynamics: a causal Transformer over tokens [z_t, a_t, symlog r_{t-1}] (the reward only when
    `reward_input`, the field of `HarnessConfig`, on by default here: r_{t-1} is lagged, the token
    of step t predicts z_{t+1}), `num_layers` pre-LayerNorm blocks of width `d_model`, `num_heads` heads with
    a learned relative-position bias, attention window m + `seq_len` tokens; each block's
    feed-forward is the shared backbone's (`ffn_hidden`) plus the output of one of `num_experts`
    task experts (`expert_hidden`), chosen by the scenario's cluster. Heads on the Transformer's
    output (`head_units`, one hidden layer): prior logits of z_{t+1} and the two-hot reward r_t
    over `reward_bins` bins = symexp(linspace(-r, r)), r = `reward_range`.
    Losses as DreamerV3's (`pred_scale` (recon + reward), `dyn_scale`, `rep_scale`, `free_nats`).
    Harness options (`HarnessConfig`): `obs_transform` (the VAE modules' input and output space),
    `obs_skip` (each decoder module also reads x_{t-1} and predicts the change), `lambda_pred`.
    Task clustering: at step `cluster_at` (then every `recluster_every` steps; 0 = never again)
    the gradients of the shared parameters on `cluster_windows` windows of each scenario are
    compared by cosine similarity (after subtracting their mean over scenarios when
    `center_gradients`), and average-linkage clustering groups the scenarios into
    `num_experts` clusters, one expert each. Before the first clustering no expert is used.
    """

    num_groups: int = 3
    classes: int = 8
    vae_units: int = 128
    vae_layers: int = 2
    d_model: int = 128
    num_layers: int = 2
    num_heads: int = 4
    ffn_hidden: int = 256
    num_experts: int = 4
    expert_hidden: int = 128
    head_units: int = 128
    reward_input: bool = True  # HarnessConfig's field; MoW's default (it has always read the lagged reward)
    cluster_at: int = 500
    recluster_every: int = 0
    cluster_windows: int = 32
    center_gradients: bool = True

    PRESETS = PRESETS

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require_ints(
            ("num_groups", "vae_units", "vae_layers", "d_model", "num_layers", "num_heads")
            + ("ffn_hidden", "num_experts", "expert_hidden", "head_units", "cluster_windows")
        )
        self._require_ints(("cluster_at", "recluster_every"), minimum=0)
        self._require_bools(("reward_input", "center_gradients"))
        self._require_divisible("d_model", "num_heads")
        # clustering happens between jitted chunks: on chunk boundaries no extra scan is compiled
        self._require_divisible("cluster_at", "steps_per_call")
        self._require_divisible("recluster_every", "steps_per_call")

    @property
    def window(self) -> int:
        """N: how many tokens (the newest included) each token attends to: m + seq_len."""
        return self.context_len + self.seq_len

    @property
    def latent_dim(self) -> int:
        """Z of `Imagined.latent`: concat(flattened z_t one-hots, the Transformer output predicting it)."""
        return self.stoch * self.classes + self.d_model
