"""The imagination actor-critic's return arithmetic: lambda-returns, the percentile return scale, EMAs."""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def lambda_returns(
    reward: Float[Array, "*batch H"], value: Float[Array, "*batch H1"], gamma: float, lam: float
) -> Float[Array, "*batch H"]:
    """TD(lambda) returns of an imagined trajectory without terminals (episodes end by time limit).

    Arguments:
        reward: r_t of the step o_t -> o_{t+1}, t = 0..H-1.
        value: v(z_t), t = 0..H (the last one bootstraps).
        gamma, lam: discount and lambda.

    Returns:
        R_t = r_t + gamma * ((1 - lam) * v_{t+1} + lam * R_{t+1}) with R_H = v_H, t = 0..H-1.
    """
    if value.shape[-1] != reward.shape[-1] + 1:
        raise ValueError(f"value.shape={value.shape}: must have H+1={reward.shape[-1] + 1} steps")
    tm = lambda x: jnp.moveaxis(x, -1, 0)

    def step(nxt, x):
        r, v_next = x
        ret = r + gamma * ((1.0 - lam) * v_next + lam * nxt)
        return ret, ret

    _, rets = jax.lax.scan(step, value[..., -1], (tm(reward), tm(value[..., 1:])), reverse=True)
    return jnp.moveaxis(rets, 0, -1)


class ReturnNorm(NamedTuple):
    """EMAs of the low and high percentile of the lambda-returns (start at 0, as DreamerV3's)."""

    low: Array
    high: Array


def update_return_norm(
    norm: ReturnNorm, returns: Array, valid: Array, rate: float, low_pct: float, high_pct: float
) -> ReturnNorm:
    """One EMA step towards the percentiles of the `valid` returns (kept when none is valid)."""
    r = jnp.where(valid, returns, jnp.nan)
    lo, hi = jnp.nanpercentile(r, low_pct), jnp.nanpercentile(r, high_pct)
    any_valid = jnp.any(valid)
    new_low = jnp.where(any_valid, (1.0 - rate) * norm.low + rate * lo, norm.low)
    new_high = jnp.where(any_valid, (1.0 - rate) * norm.high + rate * hi, norm.high)
    return ReturnNorm(new_low, new_high)


def return_scale(norm: ReturnNorm, floor: float) -> Array:
    """S = max(floor, high - low): returns are divided by it (small returns are never scaled up)."""
    return jnp.maximum(floor, norm.high - norm.low)


def ema_update(slow: Any, fast: Any, rate: float) -> Any:
    """(1 - rate) * slow + rate * fast on every array leaf (the slow critic, SAC's target critics)."""
    return jax.tree.map(lambda s, f: (1.0 - rate) * s + rate * f if eqx.is_array(s) else s, slow, fast)
