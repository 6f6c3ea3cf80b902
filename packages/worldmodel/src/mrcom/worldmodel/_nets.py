"""DreamerV3's dense layers, shared by the world models built on them (DreamerV3, MAMBA, MoW) and by the
imagination actor-critic of `mrcom.agents`."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class Dense(eqx.Module):
    """Linear (no bias) -> LayerNorm -> SiLU, DreamerV3's hidden layer."""

    linear: eqx.nn.Linear
    norm: eqx.nn.LayerNorm

    def __init__(self, in_size: int, out_size: int, *, key: PRNGKeyArray):
        self.linear = eqx.nn.Linear(in_size, out_size, use_bias=False, key=key)
        self.norm = eqx.nn.LayerNorm(out_size)

    def __call__(self, x: Float[Array, " I"]) -> Float[Array, " O"]:
        return jax.nn.silu(self.norm(self.linear(x)))


class MLP(eqx.Module):
    """`layers` Dense layers (Linear -> LayerNorm -> SiLU), then an optional linear output."""

    hidden: list[Dense]
    out: eqx.nn.Linear | None

    def __init__(
        self,
        in_size: int,
        units: int,
        layers: int,
        out_size: int | None,
        *,
        zero_out: bool = False,
        key: PRNGKeyArray,
    ):
        ks = jax.random.split(key, layers + 1)
        sizes = [in_size] + [units] * layers
        self.hidden = [Dense(i, o, key=k) for i, o, k in zip(sizes[:-1], sizes[1:], ks[:-1], strict=True)]
        if out_size is None:
            self.out = None
        else:
            out = eqx.nn.Linear(units, out_size, key=ks[-1])
            if zero_out:
                out = eqx.tree_at(
                    lambda m: (m.weight, m.bias), out, (jnp.zeros_like(out.weight), jnp.zeros(out_size))
                )
            self.out = out

    def __call__(self, x: Float[Array, " I"]) -> Float[Array, " O"]:
        for layer in self.hidden:
            x = layer(x)
        return x if self.out is None else self.out(x)
