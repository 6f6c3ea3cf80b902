"""The MAMBA world model: DreamerV3's encoder, RSSM and decoder, with a past reward and the
normalized time as an extra recurrent input.

    x_j    = Encoder(symlog(o_j) * obs_mask)
    h_j    = GRU(h_{j-1}, In([z_{j-1}, a_{j-1}, symlog(r_{j-2}), tau_j]))    (RSSM extra_dim = 2)
    z_j    ~ q(z_j | h_j, x_j) (filtering) or p(z_j | h_j) (imagination)
    o_j    : symlog-MSE decoder on s_j = (h_j, z_j)
    r_j    : two-hot reward head on (s_j, a_j)

The reward input of step j is r_{j-2}, the reward of the transition INTO o_{j-1} (0 where there is
none), lagged one slot as MrCoM's context lags it: r_{j-1} is a function of o_j, so feeding it into
h_j would let the prior p(z_j | h_j) see what it is to predict. tau_j = j / T is the time since the
start of the filtered sequence, over the length T of a training meta-episode (`Mamba.horizon`, fixed
from the data when training starts). The reward is read from (s_j, a_j), not from s_{j+1} as in
DreamerV3: imagination predicts r_j from (s_j, a_j) and feeds it into the step after next.

The harness options (`HarnessConfig`) mean what they mean for DreamerV3 (`SymlogVectorModel`):
`obs_transform`, `obs_skip` (the decoder reads x_{j-1}; zeros at the start of a sequence), `lambda_pred`;
`reward_input` (default on, as MAMBA has always read the reward) False zeroes the reward column of the
extra input.

All methods act on ONE step or ONE sequence; callers vmap.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._harness import ObsNorm, lag_rewards, make_obs_norm, with_obs_stats
from .._jit import jit_by_config
from .._nets import MLP
from .._seam import symlog
from .._twohot import twohot_decode
from ..dreamerv3 import RSSM, State, rssm_from_config
from ..dreamerv3._model import SymlogVectorModel, skip_dim

__all__ = ["EXTRA_DIM", "Mamba", "init_model", "lag_rewards", "meta_inputs"]  # lag_rewards: its old home
from ._config import MambaConfig

EXTRA_DIM = 2  # symlog(lagged reward r_{j-2}), normalized time


class Mamba(SymlogVectorModel[MambaConfig]):
    """MAMBA's world model (all parameters in one pytree). Build with `init_model(config, key)`."""

    config: MambaConfig = eqx.field(static=True)
    encoder: MLP
    rssm: RSSM
    decoder: MLP
    reward_head: MLP
    horizon: Float[Array, ""]  # T of the normalized time (transitions of a training meta-episode)
    obs_norm: ObsNorm | None  # last: without standardization the leaves are those of the plain model

    def __init__(self, config: MambaConfig, horizon: float | Array = 1.0, *, key: PRNGKeyArray):
        c = config
        ks = jax.random.split(key, 4)
        self.config = c
        self.encoder = MLP(c.obs_dim, c.units, c.layers, None, key=ks[0])
        self.rssm = rssm_from_config(c, extra_dim=EXTRA_DIM, key=ks[1])
        self.decoder = MLP(c.latent_dim + skip_dim(c), c.units, c.layers, c.obs_dim, key=ks[2])
        self.reward_head = MLP(
            c.latent_dim + c.act_dim, c.units, c.layers, c.reward_bins, zero_out=True, key=ks[3]
        )
        self.horizon = jnp.asarray(horizon, jnp.float32)
        self.obs_norm = make_obs_norm(c)

    def reward_logits(self, feat: Float[Array, " Z"], action: Float[Array, " A"]) -> Float[Array, " K"]:
        return self.reward_head(jnp.concatenate([feat, action]))

    def reward(self, feat: Float[Array, " Z"], action: Float[Array, " A"]) -> Float[Array, ""]:
        """The expected reward r_j of (s_j, a_j) under the two-hot head."""
        return twohot_decode(jax.nn.softmax(self.reward_logits(feat, action)), self.bins)

    def extra(self, lag_reward: Float[Array, "*T"], index: Float[Array, "*T"]) -> Float[Array, "*T 2"]:
        """The extra recurrent input [symlog(r_{j-2}), j / T] of step j (reward 0 without `reward_input`)."""
        r = symlog(lag_reward) if self.config.reward_input else jnp.zeros_like(lag_reward)
        return jnp.stack([r, index / self.horizon], axis=-1)

    def filter(
        self,
        obs: Float[Array, "N O"],
        prev_action: Float[Array, "N A"],
        lag_reward: Float[Array, " N"],
        index: Float[Array, " N"],
        obs_mask: Float[Array, " O"],
        key: PRNGKeyArray,
        valid: Float[Array, " N"] | None = None,
        sample: bool = True,
        unroll: int | bool = 1,
    ) -> tuple[State, Array, Array]:
        """The posterior over a sequence from the initial state (see `RSSM.observe`).

        Arguments:
            obs: o_j. prev_action: a_{j-1}, leading into o_j (0 at the start). lag_reward: r_{j-2},
                the reward of the transition into o_{j-1} (0 for the first two steps).
            index: j, the time since the start of the sequence (normalized by `horizon`).
            valid: 1 where step j is real (0: an empty slot, the state is carried unchanged).

        Returns:
            (states (N, ...), posterior logits (N, S, K), prior logits (N, S, K)).
        """
        embeds = jax.vmap(self.embed, (0, None))(obs, obs_mask)
        extras = self.extra(lag_reward, index)
        rssm = self.rssm
        return rssm.observe(
            rssm.initial(), prev_action, embeds, key, extras=extras, valid=valid, sample=sample, unroll=unroll
        )


@jit_by_config(lambda config, key, horizon=1.0, obs_stats=None: config.fast_compile)
def init_model(config: MambaConfig, key: PRNGKeyArray, horizon: float | Array = 1.0, obs_stats=None) -> Mamba:
    """A freshly initialized MAMBA world model for `config` whose time input is j / `horizon`;
    `obs_stats`: (mean, std) of the training observations for `obs_transform="standardize"`."""
    return with_obs_stats(Mamba(config, horizon, key=key), obs_stats)


def meta_inputs(
    obs: Float[Array, "N1 O"], action: Float[Array, "N A"], reward: Float[Array, " N"], act_mask: Array
) -> tuple[Array, Array, Array]:
    """The RSSM inputs of a sequence from its start: (previous actions a_{j-1} (N+1, A), lagged
    rewards r_{j-2} (N+1,), time indices j (N+1,)); zero where the step does not exist."""
    prev_a = jnp.concatenate([jnp.zeros_like(action[:1]), action]) * act_mask
    return prev_a, lag_rewards(reward, obs.shape[0]), jnp.arange(obs.shape[0], dtype=jnp.float32)
