"""The MAMBA world model: DreamerV3's encoder, RSSM and decoder, with the previous reward and the
normalized time as an extra recurrent input.

    x_j    = Encoder(symlog(o_j) * obs_mask)
    h_j    = GRU(h_{j-1}, In([z_{j-1}, a_{j-1}, symlog(r_{j-1}), tau_j]))    (RSSM extra_dim = 2)
    z_j    ~ q(z_j | h_j, x_j) (filtering) or p(z_j | h_j) (imagination)
    o_j    : symlog-MSE decoder on s_j = (h_j, z_j)
    r_j    : two-hot reward head on (s_j, a_j)

tau_j = j / T is the time since the start of the filtered sequence, over the length T of a
training meta-episode (`Mamba.horizon`, fixed from the data when training starts). The reward is
read from (s_j, a_j), not from s_{j+1} as in DreamerV3: the previous reward is an input of the next
recurrent step, so imagination predicts r_j before it takes the step into s_{j+1}.

All methods act on ONE step or ONE sequence; callers vmap.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._jit import jit_by_config
from .._nets import MLP
from .._seam import symlog
from .._twohot import twohot_decode
from ..dreamerv3 import RSSM, State, rssm_from_config
from ..dreamerv3._model import SymlogVectorModel
from ._config import MambaConfig

EXTRA_DIM = 2  # symlog(previous reward), normalized time


class Mamba(SymlogVectorModel[MambaConfig]):
    """MAMBA's world model (all parameters in one pytree). Build with `init_model(config, key)`."""

    config: MambaConfig = eqx.field(static=True)
    encoder: MLP
    rssm: RSSM
    decoder: MLP
    reward_head: MLP
    horizon: Float[Array, ""]  # T of the normalized time (transitions of a training meta-episode)

    def __init__(self, config: MambaConfig, horizon: float | Array = 1.0, *, key: PRNGKeyArray):
        c = config
        ks = jax.random.split(key, 4)
        self.config = c
        self.encoder = MLP(c.obs_dim, c.units, c.layers, None, key=ks[0])
        self.rssm = rssm_from_config(c, extra_dim=EXTRA_DIM, key=ks[1])
        self.decoder = MLP(c.latent_dim, c.units, c.layers, c.obs_dim, key=ks[2])
        self.reward_head = MLP(
            c.latent_dim + c.act_dim, c.units, c.layers, c.reward_bins, zero_out=True, key=ks[3]
        )
        self.horizon = jnp.asarray(horizon, jnp.float32)

    def reward_logits(self, feat: Float[Array, " Z"], action: Float[Array, " A"]) -> Float[Array, " K"]:
        return self.reward_head(jnp.concatenate([feat, action]))

    def reward(self, feat: Float[Array, " Z"], action: Float[Array, " A"]) -> Float[Array, ""]:
        """The expected reward r_j of (s_j, a_j) under the two-hot head."""
        return twohot_decode(jax.nn.softmax(self.reward_logits(feat, action)), self.bins)

    def extra(self, prev_reward: Float[Array, "*T"], index: Float[Array, "*T"]) -> Float[Array, "*T 2"]:
        """The extra recurrent input [symlog(r_{j-1}), j / T] of step j."""
        return jnp.stack([symlog(prev_reward), index / self.horizon], axis=-1)

    def filter(
        self,
        obs: Float[Array, "N O"],
        prev_action: Float[Array, "N A"],
        prev_reward: Float[Array, " N"],
        index: Float[Array, " N"],
        obs_mask: Float[Array, " O"],
        key: PRNGKeyArray,
        valid: Float[Array, " N"] | None = None,
        sample: bool = True,
        unroll: int | bool = 1,
    ) -> tuple[State, Array, Array]:
        """The posterior over a sequence from the initial state (see `RSSM.observe`).

        Arguments:
            obs: o_j. prev_action, prev_reward: a_{j-1}, r_{j-1} leading into o_j (0 at the start).
            index: j, the time since the start of the sequence (normalized by `horizon`).
            valid: 1 where step j is real (0: an empty slot, the state is carried unchanged).

        Returns:
            (states (N, ...), posterior logits (N, S, K), prior logits (N, S, K)).
        """
        embeds = jax.vmap(self.embed, (0, None))(obs, obs_mask)
        extras = self.extra(prev_reward, index)
        rssm = self.rssm
        return rssm.observe(
            rssm.initial(), prev_action, embeds, key, extras=extras, valid=valid, sample=sample, unroll=unroll
        )


@jit_by_config(lambda config, key, horizon=1.0: config.fast_compile)
def init_model(config: MambaConfig, key: PRNGKeyArray, horizon: float | Array = 1.0) -> Mamba:
    """A freshly initialized MAMBA world model for `config` whose time input is j / `horizon`."""
    return Mamba(config, horizon, key=key)


def meta_inputs(
    obs: Float[Array, "N1 O"], action: Float[Array, "N A"], reward: Float[Array, " N"], act_mask: Array
) -> tuple[Array, Array, Array]:
    """The RSSM inputs of a sequence from its start: (previous actions (N+1, A), previous rewards
    (N+1,), time indices (N+1,)); zero action and reward before the first observation."""
    prev_a = jnp.concatenate([jnp.zeros_like(action[:1]), action]) * act_mask
    prev_r = jnp.concatenate([jnp.zeros_like(reward[:1]), reward])
    return prev_a, prev_r, jnp.arange(obs.shape[0], dtype=jnp.float32)
