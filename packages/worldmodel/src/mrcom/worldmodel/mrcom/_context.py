"""MrCoM's inputs and its context encoder (eq. 4): the observation transform, the masked input
vectors, and the transformer over the m steps before t whose pooled output e_t conditions every prior
and posterior. Token j of C_t is (o_j, a_j, r_{j-1}): the reward enters one slot late (docs/design.md).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._seam import Context, symexp, symlog
from ._config import ModelSpec


class ObsNorm(eqx.Module):
    """The observation transform into the networks' space, and back (`WorldModelConfig.obs_transform`).

    "standardize": (o - loc) / scale with the per-dimension mean and std of the training data
    (set by `train`; 0 and 1 at init), so that every dimension weighs in the decoder's loss as in
    the per-dimension-normalized error that evaluation reports. "symlog": sign(o) log(1 + |o|)
    (loc and scale unused). `loc` and `scale` are data statistics, never trained (stop-gradient).
    """

    loc: Float[Array, " O"]
    scale: Float[Array, " O"]
    kind: str = eqx.field(static=True)

    def forward(self, o: Array) -> Array:
        if self.kind == "symlog":
            return symlog(o)
        return (o - jax.lax.stop_gradient(self.loc)) / jax.lax.stop_gradient(self.scale)

    def inverse(self, x: Array) -> Array:
        if self.kind == "symlog":
            return symexp(x)
        return x * jax.lax.stop_gradient(self.scale) + jax.lax.stop_gradient(self.loc)


def _obs_in(o: Float[Array, " O"], obs_mask: Float[Array, " O"], norm: ObsNorm) -> Float[Array, " 2O"]:
    return jnp.concatenate([norm.forward(o) * obs_mask, obs_mask])


def _act_in(a: Float[Array, " A"], act_mask: Float[Array, " A"]) -> Float[Array, " 2A"]:
    return jnp.concatenate([a * act_mask, act_mask])


class _Block(eqx.Module):
    """Pre-norm transformer encoder layer with key-padding mask."""

    norm1: eqx.nn.LayerNorm
    attn: eqx.nn.MultiheadAttention
    norm2: eqx.nn.LayerNorm
    mlp: eqx.nn.MLP

    def __init__(self, dim: int, heads: int, *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        self.norm1 = eqx.nn.LayerNorm(dim)
        self.attn = eqx.nn.MultiheadAttention(heads, dim, key=k1)
        self.norm2 = eqx.nn.LayerNorm(dim)
        self.mlp = eqx.nn.MLP(dim, dim, 2 * dim, 1, activation=jax.nn.gelu, key=k2)

    def __call__(self, x: Float[Array, "m E"], valid: Float[Array, " m"]) -> Float[Array, "m E"]:
        y = jax.vmap(self.norm1)(x)
        mask = jnp.broadcast_to(valid[None, :] > 0, (x.shape[0], x.shape[0]))
        x = x + self.attn(y, y, y, mask=mask)
        return x + jax.vmap(self.mlp)(jax.vmap(self.norm2)(x))


class ContextEncoder(eqx.Module):
    """Tokens of the last m steps -> transformer -> newest + mean pool.

    Token j = [norm(o_j) * obs_mask, obs_mask, a_j * act_mask, act_mask, symlog(r_{j-1}), has_r]:
    the reward is lagged one slot within the window, so that C_t (steps t-m .. t-1) holds no
    function of o_t (r_{t-1} is one). `has_r` is 1 where the previous slot is filled; the oldest
    slot has no reward (0, has_r = 0). `context_reward=False` zeroes both reward columns.
    """

    embed: eqx.nn.Linear
    position: Float[Array, "m E"]
    blocks: list[_Block]
    norm: eqx.nn.LayerNorm
    use_reward: bool = eqx.field(static=True)

    def __init__(self, spec: ModelSpec, *, key: PRNGKeyArray):
        keys = jax.random.split(key, spec.num_layers + 2)
        token = 2 * spec.obs_dim + 2 * spec.act_dim + 2
        self.embed = eqx.nn.Linear(token, spec.embed_dim, key=keys[0])
        self.position = 0.02 * jax.random.normal(keys[1], (spec.context_len, spec.embed_dim))
        self.blocks = [_Block(spec.embed_dim, spec.num_heads, key=k) for k in keys[2:]]
        self.norm = eqx.nn.LayerNorm(spec.embed_dim)
        self.use_reward = spec.context_reward

    def __call__(
        self, ctx: Context, obs_mask: Float[Array, " O"], act_mask: Float[Array, " A"], norm: ObsNorm
    ) -> Float[Array, " E"]:
        # lag the reward one slot: token j gets r_{j-1} (a function of o_j), never r_j
        lag = lambda x: jnp.concatenate([jnp.zeros_like(x[:1]), x[:-1]])
        has_r = lag(ctx.valid) * (1.0 if self.use_reward else 0.0)
        reward = lag(symlog(ctx.reward)) * has_r
        tokens = jnp.concatenate(
            [
                jax.vmap(_obs_in, (0, None, None))(ctx.obs, obs_mask, norm),
                jax.vmap(_act_in, (0, None))(ctx.action, act_mask),
                reward[:, None],
                has_r[:, None],
            ],
            axis=-1,
        )
        x = jax.vmap(self.embed)(tokens) + self.position
        for block in self.blocks:
            x = block(x, ctx.valid)
        x = jax.vmap(self.norm)(x)
        w = ctx.valid[:, None]
        # the newest slot (FIFO end) plus the masked mean of all slots
        return x[-1] * w[-1] + jnp.sum(x * w, axis=0) / jnp.maximum(jnp.sum(w), 1.0)
