"""Two-hot encoding over symexp-spaced bins (DreamerV3's reward head)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._seam import symexp


def symexp_bins(num_bins: int, limit: float = 20.0) -> Float[Array, " K"]:
    """symexp(linspace(-limit, limit, num_bins)) (odd `num_bins`): dense near 0, exponentially wide far out.

    Built from one half and its mirror, so the bins are exactly symmetric with an exact 0 in the middle.
    """
    half = symexp(jnp.linspace(0.0, limit, num_bins // 2 + 1, dtype=jnp.float32)[1:])
    return jnp.concatenate([-jnp.flip(half), jnp.zeros(1, jnp.float32), half])


def twohot_encode(x: Float[Array, "*batch"], bins: Float[Array, " K"]) -> Float[Array, "*batch K"]:
    """Weights on the two bins enclosing each value, linear in its distance to them (sum 1).

    A value outside [bins[0], bins[-1]] puts all its weight on the nearest end bin.
    """
    x = jnp.asarray(x, bins.dtype)[..., None]
    k = bins.shape[0]
    below = jnp.clip(jnp.sum(bins <= x, axis=-1) - 1, 0, k - 1)
    above = jnp.clip(below + 1, 0, k - 1)
    lo, hi = bins[below][..., None], bins[above][..., None]
    span = hi - lo
    inside = (span > 0) & (x >= lo) & (x <= hi)
    w_hi = jnp.where(inside, (x - lo) / jnp.where(span > 0, span, 1.0), jnp.where(x > hi, 1.0, 0.0))
    w_hi = jnp.where(below == above, 0.0, w_hi[..., 0])[..., None]
    onehot = lambda i: (jnp.arange(k) == i[..., None]).astype(bins.dtype)
    return (1.0 - w_hi) * onehot(below) + w_hi * onehot(above)


def twohot_decode(probs: Float[Array, "*batch K"], bins: Float[Array, " K"]) -> Float[Array, "*batch"]:
    """The expectation sum_k p_k bins_k, summed from both ends towards the middle bin (0).

    With symmetric bins and symmetric probabilities (e.g. the uniform output of a zero-initialized
    head) the two halves cancel exactly, so the prediction starts at exactly 0.
    """
    k = bins.shape[0]
    m = k // 2
    lower = jnp.sum(probs[..., :m] * bins[:m], axis=-1)
    upper = jnp.sum(jnp.flip(probs[..., m + 1 :] * bins[m + 1 :], axis=-1), axis=-1)
    return lower + upper + probs[..., m] * bins[m]


def twohot_loss(logits: Float[Array, "*batch K"], target: Float[Array, "*batch"], bins: Float[Array, " K"]):
    """Cross-entropy of the two-hot target against softmax(logits), per element (*batch)."""
    return -jnp.sum(twohot_encode(target, bins) * jax.nn.log_softmax(logits, axis=-1), axis=-1)
