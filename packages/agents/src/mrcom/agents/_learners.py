"""What the interaction loop trains: a learner's state and its update step, as pure functions.

A learner (SAC, MBPO = SAC with `MBPOAugment`, the imagination actor-critic) is an Equinox module: its
arrays (a world model, prompt tails) are pytree leaves and its settings static fields, so one jitted
program serves every call. The loop (`mrcom.agents._interact`) owns acting, the replay ring and the
schedule; after the real steps the schedule names it calls `draw` (the reads of the real ring) and
`learn` with what was drawn (the host backend compiles `learn` once, whatever the ring's capacity).
"""

from __future__ import annotations

from typing import Any, Protocol

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from ._mbpo import MBPOAugment, mbpo_draw, mbpo_learn_batches, model_data_init
from ._ring import ReplayRing, ring_sample
from ._sac import HasActor, SACState, sac_init, sac_update
from ._sac_config import SACConfig

__all__ = ["Learner", "SACLearner"]


class Learner(Protocol):
    """A population learner the interaction loop can train."""

    @property
    def fast_compile(self) -> bool:
        """Compile the loop with XLA's fast-compile options."""
        ...

    def init(self, key: PRNGKeyArray, num_agents: int, obs_dim: int, act_dim: int) -> tuple[HasActor, Any]:
        """(fresh population state, the learner's own carried data: a model ring, counters, or None)."""
        ...

    def draw(self, ring: ReplayRing, k_data: PRNGKeyArray, step: Int[Array, ""], update_every: int) -> Any:
        """The first part of an update call after real step `step`: what it reads from the real ring
        (batches, start windows), drawn with `k_data`. Its program depends on the ring's capacity."""
        ...

    def learn(
        self,
        state: Any,
        data: Any,
        drawn: Any,
        act_mask: Float[Array, "B A"],
        k_update: PRNGKeyArray,
        step: Int[Array, ""],
        update_every: int,
    ) -> tuple[Any, Any, dict[str, Array], Bool[Array, ""]]:
        """The rest of the update call, from `drawn` (no real-ring reads: one program whatever the
        budget): (state, data, metrics each (B,), whether it ran). `update_every` is static."""
        ...


class SACLearner(eqx.Module):
    """SAC, or MBPO when `aug` is given (model rollouts mixed into every batch).

    Attributes:
        cfg: SAC hyperparameters (`update_every * updates_per_step` updates of `batch_size` per call).
        aug: MBPO's augmentation (world model, prompt tails, settings), or None for model-free SAC.
    """

    cfg: SACConfig = eqx.field(static=True)
    aug: MBPOAugment | None = None

    @property
    def fast_compile(self) -> bool:
        return self.cfg.fast_compile

    def init(self, key, num_agents, obs_dim, act_dim):
        state = sac_init(key, num_agents, obs_dim, act_dim, self.cfg)
        data = None if self.aug is None else model_data_init(num_agents, self.aug.settings, obs_dim, act_dim)
        return state, data

    def _shape(self, update_every: int) -> tuple[int, int]:
        return (update_every * self.cfg.updates_per_step, self.cfg.batch_size)

    def draw(self, ring, k_data, step, update_every):
        shape = self._shape(update_every)
        return (
            ring_sample(ring, k_data, shape) if self.aug is None else mbpo_draw(k_data, ring, self.aug, shape)
        )

    def learn(self, state: SACState, data, drawn, act_mask, k_update, step, update_every):
        batch = drawn
        if self.aug is not None:
            shape = self._shape(update_every)
            data, batch = mbpo_learn_batches(drawn, step, data, state, act_mask, self.aug, shape)
        state, metrics = sac_update(state, batch, act_mask, k_update, self.cfg)
        return state, data, metrics, jnp.ones((), bool)
