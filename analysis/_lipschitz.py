"""Lipschitz constants for the bound: Jacobian spectral norms of a map, and the TV-Lipschitz constant of a
Gaussian whose mean (and std) depend on the state (C_T, C_pi; units as in ``analysis._estimators``)."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

__all__ = [
    "jacobian_spectral_norms",
    "estimate_lipschitz",
    "gaussian_tv_lipschitz",
    "gaussian_map_tv_lipschitz",
]

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def jacobian_spectral_norms(
    fn: Callable[[Array], Array], states: Float[ArrayLike, "n s"]
) -> Float[Array, " n"]:
    """Spectral norm (largest singular value) of the Jacobian of ``fn`` at each sampled state.

    Arguments:
        fn: maps one state (s,) to one output (k,); differentiated with ``jax.jacfwd``.
        states: the points, (n, s).

    Returns:
        ``||d fn / d s (states[j])||_2`` for each j.
    """
    states = jnp.asarray(states)
    if states.ndim != 2:
        raise ValueError(f"states has shape {states.shape}: must be (n, state_dim)")
    jac = jax.vmap(jax.jacfwd(fn))(states)
    if jac.ndim != 3:
        raise ValueError(f"fn returns shape {jac.shape[1:-1]}: must return a vector (k,)")
    return jnp.linalg.norm(jac, ord=2, axis=(-2, -1))


def estimate_lipschitz(fn: Callable[[Array], Array], states: Float[ArrayLike, "n s"]) -> float:
    """The largest Jacobian spectral norm of ``fn`` over sampled states (of a mean map, not a TV).

    A lower bound on the Lipschitz constant of ``fn`` on the sampled region (exact for a linear map).
    """
    return float(jnp.max(jacobian_spectral_norms(fn, states)))


def gaussian_tv_lipschitz(jacobian_norm: float, std: float, *, l1: bool = False) -> float:
    """Lipschitz constant of ``s -> N(mu(s), std^2 I)`` in TV, from that of ``mu``.

    ``TV(N(m1, v), N(m2, v)) = 2 Phi(|m1-m2| / (2 std)) - 1 <= |m1-m2| / (std sqrt(2 pi))``.

    Arguments:
        jacobian_norm: Lipschitz constant of the mean (e.g. from ``estimate_lipschitz``).
        std: the smallest standard deviation of the distribution (> 0).
        l1: return the L1 (= 2 TV) constant, the reading of C_pi in Lemma 4.

    Returns:
        The TV (or L1) Lipschitz constant.
    """
    if not std > 0:
        raise ValueError(f"std={std!r}: must be > 0")
    if not jacobian_norm >= 0:
        raise ValueError(f"jacobian_norm={jacobian_norm!r}: must be >= 0")
    tv = jacobian_norm / (std * _SQRT_2PI)
    return 2.0 * tv if l1 else tv


def gaussian_map_tv_lipschitz(
    dist: Callable[[Array], tuple[Array, Array]],
    states: Float[ArrayLike, "n s"],
    out_mask: Float[ArrayLike, "*n k"] | None = None,
) -> Float[Array, " n"]:
    """Local TV-Lipschitz constant of ``s -> N(mean(s), diag std(s)^2)`` at each sampled state.

    ``||diag(1/std) J_mean||_2 / sqrt(2 pi) + ||J_log std||_2 / sqrt(2)`` (see the module docstring):
    exact when std does not depend on s, a first-order upper bound otherwise.

    Arguments:
        dist: one state (s,) -> (mean (k,), std (k,)), std > 0; differentiated with ``jax.jacfwd``.
        states: (n, s) points.
        out_mask: (k,) or (n, k), 1 on the output dimensions that belong to the distribution
            (padded ones are dropped), or None.

    Returns:
        (n,) constants in TV per unit of L2 distance in s (double them for L1).
    """
    states = jnp.asarray(states)
    if states.ndim != 2:
        raise ValueError(f"states has shape {states.shape}: must be (n, state_dim)")
    mask = None if out_mask is None else jnp.asarray(out_mask, jnp.float32)

    def at(s, m):
        def whitened(x):
            mean, std = dist(x)
            return mean, jnp.log(std)

        mean, std = dist(s)
        j_mean, j_log_std = jax.jacfwd(whitened)(s)
        keep = jnp.ones_like(mean) if m is None else m
        j_mean = j_mean * (keep / std)[:, None]
        j_log_std = j_log_std * keep[:, None]
        return jnp.linalg.norm(j_mean, ord=2) / _SQRT_2PI + jnp.linalg.norm(j_log_std, ord=2) / math.sqrt(2.0)

    if mask is None:
        return jax.vmap(lambda s: at(s, None))(states)
    mask = jnp.broadcast_to(mask, (states.shape[0], mask.shape[-1]))
    return jax.vmap(at)(states, mask)
