"""One interaction loop, two backends: the loop state and its step, shared by the host and fused loops.

B agents act in a batched environment (one env per agent, all in lockstep, fixed episode length). A
step is `act` (uniform random actions before `learning_starts`, then the policy's samples), the env
step (the backend's: native MuJoCo on the host in `mrcom.agents._loop`, MJX inside `lax.scan` in
`mrcom.agents._fused`), then `observe` (insert into the replay ring and, where the `Cadence` says, one
update call of the learner). Everything the loop carries is one `LoopCarry` pytree, so both backends
follow the same trajectory from a seed (up to float rounding: their compiled programs differ) and a
checkpoint of the carry resumes exactly.

Key streams: the loop key splits into (key, k_act) every step; an update call splits (key, k_data,
k_update): the learner draws its batches (and MBPO its rollouts) from k_data and updates with k_update.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ._learners import Learner
from ._ring import Episodes, ReplayRing, explore_actions, ring_add, ring_init
from ._sac import HasActor, sac_act
from ._schedule import Cadence

__all__ = ["LoopCarry", "LoopResult", "loop_init", "act", "observe", "check_lockstep"]


class LoopCarry(eqx.Module):
    """Everything the loop carries between steps (one pytree; a checkpoint is its leaves).

    Attributes:
        env_state: the `brax.envs.State` of the batched `MjxEnv` (fused backend), or None (host backend).
        agent: the population state (`SACState`, `ACState`), B agents.
        data: the learner's own data (MBPO's `ModelData`, the actor-critic's counter) or None.
        ring: real replay, every step (episode layout).
        act_mask: (B, A) action masks.
        key: the loop's PRNG key.
        step: environment steps taken so far.
        metrics: metrics of the last update call that ran, each (B,) (zeros before the first).
    """

    env_state: Any
    agent: Any
    data: Any
    ring: ReplayRing
    act_mask: Float[Array, "B A"]
    key: PRNGKeyArray
    step: Int[Array, ""]
    metrics: dict[str, Array]


def loop_init(
    learner: Learner,
    capacity: int,
    seed: int,
    obs_dim: int,
    act_mask,
    env_state: Any = None,
    state: Any = None,
) -> LoopCarry:
    """The carry at step 0: fresh agents from `seed` (or `state`), an empty ring, zero metrics.

    Arguments:
        learner: what the loop trains.
        capacity: real replay slots per agent (`Schedule.capacity`).
        seed: seeds the networks and the loop key.
        obs_dim: padded observation width. act_mask: (B, A).
        env_state: the fused backend's env state (None on the host).
        state: initial population state (fresh agents from the learner when None).

    Returns:
        A `LoopCarry`.
    """
    mask = jnp.asarray(act_mask, jnp.float32)
    b, act_dim = mask.shape
    key, k_init = jax.random.split(jax.random.PRNGKey(seed))
    fresh, data = learner.init(k_init, b, obs_dim, act_dim)
    agent = fresh if state is None else state
    ring = ring_init(b, capacity, obs_dim, act_dim)
    step = jnp.zeros((), jnp.int32)
    update = lambda *a: learner.update(*a, 1)  # metric shapes do not depend on the cadence
    shapes = eqx.filter_eval_shape(update, agent, data, ring, mask, key, key, step)[2]
    metrics = {k: jnp.zeros(v.shape, v.dtype) for k, v in shapes.items()}
    return LoopCarry(env_state, agent, data, ring, mask, key, step, metrics)


def act(carry: LoopCarry, obs: Float[Array, "B O"], cadence: Cadence) -> tuple[PRNGKeyArray, Array]:
    """The actions of one step: (the loop's next key, (B, A) actions)."""
    key, k_act = jax.random.split(carry.key)
    explore = explore_actions(k_act, carry.act_mask)
    policy = sac_act(carry.agent.actor, obs[:, None], carry.act_mask, k_act)[:, 0]
    return key, jnp.where(carry.step < cadence.learning_starts, explore, policy)


def observe(
    learner: Learner,
    carry: LoopCarry,
    cadence: Cadence,
    key: PRNGKeyArray,
    obs: Float[Array, "B O"],
    action: Float[Array, "B A"],
    reward: Float[Array, " B"],
    final: Float[Array, "B O"],
) -> LoopCarry:
    """Record one step (`final`: the next observation, the episode's last one where it ended) and run
    the update call the cadence schedules after it.

    Arguments:
        learner: what the loop trains. carry: the state before the step. cadence: random actions and
        updates. key: the loop key after `act`. obs, action, reward, final: the step.

    Returns:
        The carry after the step.
    """
    ring = ring_add(carry.ring, obs, action, reward, final)
    n = carry.step + 1
    agent_p, agent_static = eqx.partition(carry.agent, eqx.is_array)

    def update(args):
        key, agent_p, data, metrics = args
        key, k_data, k_update = jax.random.split(key, 3)
        agent = eqx.combine(agent_p, agent_static)
        agent, data, m, ran = learner.update(
            agent, data, ring, carry.act_mask, k_data, k_update, n, cadence.update_every
        )
        metrics = jax.tree.map(lambda new, old: jnp.where(ran, new, old), m, metrics)
        return key, eqx.filter(agent, eqx.is_array), data, metrics

    args = (key, agent_p, carry.data, carry.metrics)
    key, agent_p, data, metrics = jax.lax.cond(cadence.updates_at(n), update, lambda a: a, args)
    agent = eqx.combine(agent_p, agent_static)
    return LoopCarry(carry.env_state, agent, data, ring, carry.act_mask, key, n, metrics)


@dataclasses.dataclass
class LoopResult:
    """Final carry, all real experience as episodes, the last update's metrics and the learning curve."""

    carry: LoopCarry
    buffer: Episodes
    metrics: dict[str, np.ndarray]
    curve_steps: list[int] = dataclasses.field(default_factory=list)
    curve_returns: list[np.ndarray] = dataclasses.field(default_factory=list)  # each (B,)

    @property
    def state(self) -> HasActor:
        """The final population state (`SACState`, or the imagination actor-critic's `ACState`)."""
        return self.carry.agent

    @property
    def rollouts_done(self) -> int:
        """Imagined rollouts (MBPO) or start states (actor-critic), summed over agents (0: SAC)."""
        data = self.carry.data
        return 0 if data is None else int(data.rollouts)

    def evaluate(self, step: int, eval_fn: Callable, on_eval: Callable | None) -> None:
        """Add the point (step, eval_fn(state)) to the learning curve and pass it to `on_eval`."""
        returns = eval_fn(self.state)
        self.curve_steps.append(step)
        self.curve_returns.append(returns)
        if on_eval is not None:
            on_eval(step, returns)


def check_lockstep(done: np.ndarray, step: int, length: int) -> None:
    """Raise unless every env ended its episode exactly when step `step` (1-based) closed one of L."""
    ended = step % length == 0
    if ended != bool(np.all(done)) or (not ended and np.any(done)):
        raise ValueError(f"env episode_length={length}: envs must end episodes together at that length")
