"""The pieces of `HarnessConfig`'s options that DreamerV3, MAMBA and MoW share.

The observation transform is MrCoM's `ObsNorm` (imported, not copied); a model with the symlog
transform holds none (`obs_norm` None), so its parameters, and its checkpoints, are those of the
model before the options existed. A standardizing model holds the training data's per-dimension
mean and std (`observation_stats`, set by each `train`'s setup), never trained, saved and loaded
with its checkpoint like every other leaf.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._seam import symexp, symlog
from .mrcom._context import ObsNorm


def make_obs_norm(config) -> ObsNorm | None:
    """The model's `obs_norm` for a `HarnessConfig`: None for "symlog", else a standardizer with mean 0
    and std 1 (the data's statistics replace them: `with_obs_stats`)."""
    if config.obs_transform == "symlog":
        return None
    return ObsNorm(jnp.zeros(config.obs_dim), jnp.ones(config.obs_dim), config.obs_transform)


def with_obs_stats(model, obs_stats: tuple[np.ndarray, np.ndarray] | None):
    """`model` with the (mean (O,), std (O,)) of the training observations in its `obs_norm`
    (unchanged when it has none or `obs_stats` is None)."""
    if model.obs_norm is None or obs_stats is None:
        return model
    loc, scale = (jnp.asarray(x, jnp.float32) for x in obs_stats)
    return eqx.tree_at(lambda m: (m.obs_norm.loc, m.obs_norm.scale), model, (loc, scale))


def obs_stats_for(config, data) -> tuple[np.ndarray, np.ndarray] | None:
    """The statistics a model of `config` needs from its training data: `observation_stats` when it
    standardizes, else None."""
    from ._data import observation_stats

    return observation_stats(data) if config.obs_transform == "standardize" else None


def transform(norm: ObsNorm | None, o: Array) -> Array:
    """o in the networks' space: symlog(o) (norm None) or the standardization."""
    return symlog(o) if norm is None else norm.forward(o)


def untransform(norm: ObsNorm | None, x: Array) -> Array:
    """The inverse of `transform`."""
    return symexp(x) if norm is None else norm.inverse(x)


def previous_inputs(
    norm: ObsNorm | None, obs: Float[Array, "N O"], valid: Float[Array, " N"], obs_mask: Float[Array, " O"]
) -> Float[Array, "N O"]:
    """The skip input of each step of a sequence: the transformed previous observation x_{j-1}, zero at
    the first step and after an empty slot (valid 0), padded dims zeroed. Row j never reads o_j."""
    x = transform(norm, obs) * obs_mask * valid[:, None]
    return jnp.concatenate([jnp.zeros_like(x[:1]), x[:-1]])


def lag_rewards(reward: Float[Array, " N"], steps: int) -> Float[Array, " S"]:
    """The reward input of each of `steps` observations o_0 .. o_{S-1} of a sequence whose
    transitions have rewards `reward` (r_j of o_j -> o_{j+1}): r_{j-2} at step j, 0 for j < 2.

    r_{j-1} is the reward of the transition into o_j, a function of o_j: the input of the step
    that predicts o_j must not hold it (MrCoM's context lags it the same way)."""
    return jnp.concatenate([jnp.zeros(2, reward.dtype), reward])[:steps]
