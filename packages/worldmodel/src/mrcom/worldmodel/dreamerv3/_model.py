"""The DreamerV3 world model for vector observations: encoder, RSSM, decoder, reward head.

    e_t  = Encoder(symlog(o_t) * obs_mask)
    s_t  = (h_t, z_t) from the RSSM (`_rssm.py`), filtered on e_t; a_{t-1} padded dims zeroed
    o_t  : symlog-MSE decoder Decoder(s_t) on the real (masked) dims
    r_t  : two-hot reward head over symexp bins, read at s_{t+1} (see below)

Reward convention: DreamerV3's reward head at s_{t+1} predicts the reward that came with x_{t+1},
i.e. the reward of the transition (o_t, a_t) -> o_{t+1}; that is our r_t (docs/interfaces.md).
So `reward[t]` is always read from the latent of step t + 1. No continue head: episodes have a
fixed length and never terminate.

All methods act on ONE step; callers vmap.
"""

from __future__ import annotations

from typing import TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._baseline import WholeConfig
from .._config_base import DreamerHeadsConfig
from .._jit import jit_by_config
from .._nets import MLP
from .._seam import symlog
from .._twohot import symexp_bins, twohot_decode
from ._config import DreamerConfig
from ._rssm import RSSM


def rssm_from_config(c, *, extra_dim: int = 0, key: PRNGKeyArray) -> RSSM:
    """The RSSM of a DreamerV3-style config (`DreamerConfig`, `MambaConfig`) on `c.units`-wide
    embeddings: `deter`, `stoch` x `classes`, `rssm_hidden`, `gru_blocks`, `unimix`."""
    return RSSM(
        c.act_dim,
        c.units,
        deter=c.deter,
        stoch=c.stoch,
        classes=c.classes,
        hidden=c.rssm_hidden,
        blocks=c.gru_blocks,
        unimix=c.unimix,
        extra_dim=extra_dim,
        key=key,
    )


H = TypeVar("H", bound=DreamerHeadsConfig)


class SymlogVectorModel(WholeConfig[H]):
    """A DreamerV3-style model of vector observations (DreamerV3, MAMBA): `encoder` reads symlog(o),
    `decoder` predicts it, and rewards are two-hot over `bins`."""

    encoder: eqx.AbstractVar[MLP]  # declared in the order of the fields (the checkpoint's leaf order)
    rssm: eqx.AbstractVar[RSSM]
    decoder: eqx.AbstractVar[MLP]

    @property
    def bins(self) -> Float[Array, " K"]:
        return symexp_bins(self.config.reward_bins, self.config.reward_range)

    def embed(self, obs: Float[Array, " O"], obs_mask: Float[Array, " O"]) -> Float[Array, " E"]:
        """The encoder's embedding of symlog(o) with padded dims zeroed."""
        return self.encoder(symlog(obs) * obs_mask)

    def decode(self, feat: Float[Array, " Z"], obs_mask: Float[Array, " O"]) -> Float[Array, " O"]:
        """The predicted symlog(o) (the mean of the symlog-MSE decoder), zero on padded dims."""
        return self.decoder(feat) * obs_mask


class Dreamer(SymlogVectorModel[DreamerConfig]):
    """DreamerV3's world model (all parameters in one pytree). Build with `init_model(config, key)`."""

    config: DreamerConfig = eqx.field(static=True)
    encoder: MLP
    rssm: RSSM
    decoder: MLP
    reward_head: MLP

    def __init__(self, config: DreamerConfig, *, key: PRNGKeyArray):
        c = config
        ks = jax.random.split(key, 4)
        self.config = c
        self.encoder = MLP(c.obs_dim, c.units, c.layers, None, key=ks[0])
        self.rssm = rssm_from_config(c, key=ks[1])
        self.decoder = MLP(c.latent_dim, c.units, c.layers, c.obs_dim, key=ks[2])
        self.reward_head = MLP(c.latent_dim, c.units, c.layers, c.reward_bins, zero_out=True, key=ks[3])

    def reward_logits(self, feat: Float[Array, " Z"]) -> Float[Array, " K"]:
        return self.reward_head(feat)

    def reward(self, feat: Float[Array, " Z"]) -> Float[Array, ""]:
        """The expected reward under the two-hot head (read at s_{t+1} for our r_t)."""
        return twohot_decode(jax.nn.softmax(self.reward_logits(feat)), self.bins)


@jit_by_config(lambda config, key: config.fast_compile)
def init_model(config: DreamerConfig, key: PRNGKeyArray) -> Dreamer:
    """A freshly initialized DreamerV3 world model for `config` (jitted, like MrCoM's)."""
    return Dreamer(config, key=key)


def sequence_inputs(
    ctx_obs: Float[Array, "m O"],
    ctx_action: Float[Array, "m A"],
    ctx_valid: Float[Array, " m"],
    obs: Float[Array, "W1 O"],
    action: Float[Array, "W A"],
    act_mask: Float[Array, " A"],
) -> tuple[Array, Array, Array]:
    """The m context steps followed by the W+1 observations as one RSSM input sequence.

    Returns:
        (obs (m+W+1, O), previous actions (m+W+1, A): a_{t-1} leading into each observation, zero
        before the first and after an empty slot, padded dims zeroed; valid (m+W+1,)).
    """
    prev = jnp.concatenate([ctx_action * ctx_valid[:, None], action]) * act_mask
    prev = jnp.concatenate([jnp.zeros_like(prev[:1]), prev])
    valid = jnp.concatenate([ctx_valid, jnp.ones(obs.shape[0], ctx_valid.dtype)])
    return jnp.concatenate([ctx_obs, obs]), prev, valid
