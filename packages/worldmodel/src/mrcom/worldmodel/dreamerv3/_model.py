"""The DreamerV3 world model for vector observations: encoder, RSSM, decoder, reward head.

    e_t  = Encoder(symlog(o_t) * obs_mask)
    s_t  = (h_t, z_t) from the RSSM (`_rssm.py`), filtered on e_t; a_{t-1} padded dims zeroed
    o_t  : symlog-MSE decoder Decoder(s_t) on the real (masked) dims
    r_t  : two-hot reward head over symexp bins, read at s_{t+1} (see below)

The harness options (`HarnessConfig`, all off by default): `obs_transform="standardize"` replaces
symlog by the training data's standardization (encoder input and decoder space); `obs_skip` decodes
x_t = x_{t-1} + Decoder(s_t, x_{t-1}) from the transformed previous observation; `reward_input` feeds
symlog(r_{t-2}) as an extra RSSM input of step t (lagged as MAMBA's: r_{t-1} is a function of o_t).

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
from .._harness import ObsNorm, make_obs_norm, transform, untransform, with_obs_stats
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
    """A DreamerV3-style model of vector observations (DreamerV3, MAMBA): `encoder` reads x = symlog(o)
    (or the standardized o: `obs_transform`), `decoder` predicts it (or its change from x_{t-1}:
    `obs_skip`), and rewards are two-hot over `bins`."""

    encoder: eqx.AbstractVar[MLP]  # declared in the order of the fields (the checkpoint's leaf order)
    rssm: eqx.AbstractVar[RSSM]
    decoder: eqx.AbstractVar[MLP]
    obs_norm: eqx.AbstractVar[ObsNorm | None]  # None: symlog (no leaves)

    @property
    def bins(self) -> Float[Array, " K"]:
        return symexp_bins(self.config.reward_bins, self.config.reward_range)

    def transform(self, obs: Float[Array, "*N O"]) -> Float[Array, "*N O"]:
        """x = the observation in the networks' space (`obs_transform`)."""
        return transform(self.obs_norm, obs)

    def embed(self, obs: Float[Array, " O"], obs_mask: Float[Array, " O"]) -> Float[Array, " E"]:
        """The encoder's embedding of the transformed o with padded dims zeroed."""
        return self.encoder(self.transform(obs) * obs_mask)

    def decode(
        self, feat: Float[Array, " Z"], obs_mask: Float[Array, " O"], prev: Float[Array, " O"] | None = None
    ) -> Float[Array, " O"]:
        """The predicted x_t (the mean of the MSE decoder in the transformed space), zero on padded dims.

        `prev`: with `obs_skip`, x_{t-1} (`previous_inputs`: masked, zeros where there is none), read by
        the decoder, whose output is the change from it; ignored without `obs_skip`.
        """
        if not self.config.obs_skip:
            return self.decoder(feat) * obs_mask
        if prev is None:
            raise ValueError("prev=None: obs_skip=True decodes the change from the previous observation")
        return (prev + self.decoder(jnp.concatenate([feat, prev]))) * obs_mask

    def decode_obs(
        self, feat: Float[Array, " Z"], obs_mask: Float[Array, " O"], o_prev: Float[Array, " O"]
    ) -> Float[Array, " O"]:
        """The decoded observation o^_t itself, after the real or imagined o_{t-1} (zero on padded dims)."""
        prev = self.transform(o_prev) * obs_mask
        return untransform(self.obs_norm, self.decode(feat, obs_mask, prev)) * obs_mask


class Dreamer(SymlogVectorModel[DreamerConfig]):
    """DreamerV3's world model (all parameters in one pytree). Build with `init_model(config, key)`."""

    config: DreamerConfig = eqx.field(static=True)
    encoder: MLP
    rssm: RSSM
    decoder: MLP
    reward_head: MLP
    obs_norm: ObsNorm | None  # last: without standardization the leaves are those of the plain model

    def __init__(self, config: DreamerConfig, *, key: PRNGKeyArray):
        c = config
        ks = jax.random.split(key, 4)
        self.config = c
        self.encoder = MLP(c.obs_dim, c.units, c.layers, None, key=ks[0])
        self.rssm = rssm_from_config(c, extra_dim=1 if c.reward_input else 0, key=ks[1])
        self.decoder = MLP(c.latent_dim + skip_dim(c), c.units, c.layers, c.obs_dim, key=ks[2])
        self.reward_head = MLP(c.latent_dim, c.units, c.layers, c.reward_bins, zero_out=True, key=ks[3])
        self.obs_norm = make_obs_norm(c)

    def extra(self, lag_reward: Float[Array, "*T"]) -> Float[Array, "*T X"] | None:
        """The extra RSSM input of step t, [symlog r_{t-2}] (`reward_input`; None without)."""
        if not self.config.reward_input:
            return None
        return symlog(lag_reward)[..., None]

    def reward_logits(self, feat: Float[Array, " Z"]) -> Float[Array, " K"]:
        return self.reward_head(feat)

    def reward(self, feat: Float[Array, " Z"]) -> Float[Array, ""]:
        """The expected reward under the two-hot head (read at s_{t+1} for our r_t)."""
        return twohot_decode(jax.nn.softmax(self.reward_logits(feat)), self.bins)


def skip_dim(config) -> int:
    """The decoder's extra input width: O with `obs_skip` (x_{t-1}), else 0."""
    return config.obs_dim if config.obs_skip else 0


@jit_by_config(lambda config, key, obs_stats=None: config.fast_compile)
def init_model(config: DreamerConfig, key: PRNGKeyArray, obs_stats=None) -> Dreamer:
    """A freshly initialized DreamerV3 world model for `config` (jitted, like MrCoM's); `obs_stats`:
    (mean, std) of the training observations for `obs_transform="standardize"` (None: 0 and 1)."""
    return with_obs_stats(Dreamer(config, key=key), obs_stats)


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
