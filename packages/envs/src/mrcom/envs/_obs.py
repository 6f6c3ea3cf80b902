"""Observation functions (paper Table 3), batched and written once for numpy and jax.numpy.

- identity: the base observation.
- add_g: every base dimension gets N(0, obs_noise^2) noise, fresh each step.
- add_d: ``extra_dims(n)`` extra dimensions of pure N(0, obs_noise^2) noise (10% of n, rounded, >= 1).
- msk_r: each step, ``extra_dims(n)`` base dimensions chosen uniformly at random are set to 0.
- msk_f: a fixed set of ``extra_dims(n)`` base dimensions, drawn once from ``Scenario.seed``, is always 0.

Randomness: the engine draws one standard normal and one uniform array of shape (B, OBS_DIM) per step
from its own seeded generator (numpy Generator or jax key) and `apply_obs_fn` turns them into the noise
and the Msk-R choice, so a run is reproducible from the reset seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ._layout import BASE_OBS_DIM, OBS_DIM, extra_dims, obs_mask
from ._scenario import Scenario

__all__ = ["ObsParams", "obs_params", "apply_obs_fn", "apply_obs_fn_np", "obs_parts", "fixed_mask"]


class ObsParams(NamedTuple):
    """Per-env arrays that define the observation function of a batch (float32, numpy or jax).

    base_mask (B, O): 1 on the base dims. extra_mask (B, O): 1 on the Add-D dims.
    g_std (B,): Add-G std (0 when not add_g). d_std (B,): Add-D std. n_rand (B,): Msk-R count (0 if not).
    keep (B, O): 0 on the Msk-F dims, 1 elsewhere.
    """

    base_mask: Any
    extra_mask: Any
    g_std: Any
    d_std: Any
    n_rand: Any
    keep: Any


def fixed_mask(scenario: Scenario) -> np.ndarray:
    """Indices of the base dims Msk-F zeroes for ``scenario`` (drawn from its seed)."""
    n = BASE_OBS_DIM[scenario.robot]
    rng = np.random.default_rng([scenario.seed, 0x4D534B46])  # "MSKF"
    return np.sort(rng.choice(n, size=extra_dims(n), replace=False))


def obs_params(scenarios: Sequence[Scenario]) -> ObsParams:
    """Build the `ObsParams` of a batch of scenarios (numpy)."""
    b = len(scenarios)
    base = np.zeros((b, OBS_DIM), np.float32)
    extra = np.zeros((b, OBS_DIM), np.float32)
    keep = np.ones((b, OBS_DIM), np.float32)
    g = np.zeros(b, np.float32)
    d = np.zeros(b, np.float32)
    k = np.zeros(b, np.float32)
    for i, s in enumerate(scenarios):
        n = BASE_OBS_DIM[s.robot]
        base[i, :n] = 1.0
        extra[i] = obs_mask(s) - base[i]
        if s.obs_fn == "add_g":
            g[i] = s.obs_noise
        elif s.obs_fn == "add_d":
            d[i] = s.obs_noise
        elif s.obs_fn == "msk_r":
            k[i] = extra_dims(n)
        elif s.obs_fn == "msk_f":
            keep[i, fixed_mask(s)] = 0.0
    return ObsParams(base, extra, g, d, k, keep)


def apply_obs_fn(xp: Any, base_obs, params: ObsParams, normal, uniform):
    """Turn padded base observations into what the agent sees.

    Arguments:
        xp: ``numpy`` or ``jax.numpy``.
        base_obs: (B, OBS_DIM) base observation, zero outside the base dims.
        params: `ObsParams` of the batch.
        normal: (B, OBS_DIM) standard normal draws.
        uniform: (B, OBS_DIM) uniform [0, 1) draws (pick the Msk-R dims).

    Returns:
        (B, OBS_DIM) float32 observation.
    """
    obs = base_obs + params.g_std[:, None] * normal * params.base_mask
    obs = obs + params.d_std[:, None] * normal * params.extra_mask
    # Msk-R: zero the n_rand base dims with the smallest uniform draw.
    score = xp.where(params.base_mask > 0, uniform, 2.0)
    rank = xp.argsort(xp.argsort(score, axis=-1), axis=-1)
    obs = xp.where(rank < params.n_rand[:, None], 0.0, obs)
    return (obs * params.keep).astype(xp.float32)


class ObsParts(NamedTuple):
    """Which parts of `apply_obs_fn` a batch uses (any env with add_g noise, add_d noise, msk_r, msk_f)."""

    add_g: bool
    add_d: bool
    msk_r: bool
    msk_f: bool


def obs_parts(params: ObsParams) -> ObsParts:
    """The `ObsParts` of a batch from its numpy `ObsParams`."""
    return ObsParts(
        bool(np.any(params.g_std != 0)),
        bool(np.any(params.d_std != 0)),
        bool(np.any(params.n_rand > 0)),
        bool(np.any(params.keep != 1)),
    )


def apply_obs_fn_np(base_obs: np.ndarray, params: ObsParams, normal, uniform, parts: ObsParts) -> np.ndarray:
    """`apply_obs_fn` for numpy that skips the parts no env of the batch uses (the native engine).

    The parts it runs are the same operations in the same order, and a skipped part only adds ``0 * noise``
    or multiplies by 1, so the result is the same value (an exact zero may differ in sign).

    Arguments:
        base_obs, params, normal, uniform: as in `apply_obs_fn`.
        parts: ``obs_parts(params)``.

    Returns:
        (B, OBS_DIM) float32 observation, a new array (``base_obs`` is not modified: the native engine's
        single-env path passes a view of its state).
    """
    obs = base_obs
    if parts.add_g:
        obs = obs + params.g_std[:, None] * normal * params.base_mask
    if parts.add_d:
        obs = obs + params.d_std[:, None] * normal * params.extra_mask
    if parts.msk_r:
        score = np.where(params.base_mask > 0, uniform, 2.0)
        rank = np.argsort(np.argsort(score, axis=-1), axis=-1)
        obs = np.where(rank < params.n_rand[:, None], 0.0, obs)
    if parts.msk_f:
        obs = obs * params.keep
    return obs.astype(np.float32)
