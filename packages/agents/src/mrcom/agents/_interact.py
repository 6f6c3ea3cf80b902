"""One interaction loop, two backends: the loop state and its step, shared by the host and fused loops.

B agents act in a batched environment (one env per agent, all in lockstep, fixed episode length). A
step is `act` (uniform random actions before `learning_starts`, then the policy's samples), the env
step (the backend's: native MuJoCo on the host in `mrcom.agents._loop`, MJX inside `lax.scan` in
`mrcom.agents._fused`), then `observe` (insert into the replay ring and, where the `Cadence` says, one
update call of the learner). Everything the loop carries is one `LoopCarry` pytree, so both backends
follow the same trajectory from a seed (up to float rounding: their compiled programs differ) and a
checkpoint of the carry resumes exactly.

`observe` is `record` (the ring) then, under `lax.cond`, `update` = `draw` (the learner's reads of the
real ring) then `learn`. The fused backend scans `act`, the env step and `observe`; the host backend
runs the same pieces as separate jitted calls: `act_with` every step, `record` once per chunk of steps
(up to the next update call), and `draw` and `learn` only after the steps the schedule names, so that
only the small `record` and `draw` programs depend on the ring's capacity (the run's budget).

Key streams: the loop key splits into (key, k_act) every step; an update call splits (key, k_data,
k_update): the learner draws its batches (and MBPO its rollouts) from k_data and updates with k_update.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ._learners import Learner
from ._ring import Episodes, ReplayRing, explore_actions, ring_add, ring_episodes, ring_init
from ._sac import HasActor, sac_act
from ._schedule import Cadence

__all__ = [
    "LoopCarry",
    "LoopResult",
    "Learning",
    "loop_init",
    "act",
    "act_with",
    "record",
    "draw",
    "learn",
    "update",
    "observe",
    "check_lockstep",
]


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
    update = lambda r, k, n: learner.learn(agent, data, learner.draw(r, k, n, 1), mask, key, n, 1)
    shapes = eqx.filter_eval_shape(update, ring, key, step)[2]  # metric shapes: whatever the cadence
    metrics = {k: jnp.zeros(v.shape, v.dtype) for k, v in shapes.items()}
    return LoopCarry(env_state, agent, data, ring, mask, key, step, metrics)


def act(carry: LoopCarry, obs: Float[Array, "B O"], cadence: Cadence) -> tuple[PRNGKeyArray, Array]:
    """The actions of one step: (the loop's next key, (B, A) actions)."""
    return act_with(carry.agent.actor, carry.act_mask, carry.key, carry.step, obs, cadence)


def act_with(
    actor, act_mask: Float[Array, "B A"], key: PRNGKeyArray, step: Int[Array, ""], obs, cadence: Cadence
) -> tuple[PRNGKeyArray, Array]:
    """`act` from the parts of the carry it reads (the host backend jits this: a small argument list)."""
    key, k_act = jax.random.split(key)
    explore = explore_actions(k_act, act_mask)
    policy = sac_act(actor, obs[:, None], act_mask, k_act)[:, 0]
    return key, jnp.where(step < cadence.learning_starts, explore, policy)


def record(
    ring: ReplayRing,
    obs: Float[Array, "*N B O"],
    action: Float[Array, "*N B A"],
    reward: Float[Array, "*N B"],
    final: Float[Array, "*N B O"],
) -> ReplayRing:
    """Insert one step into the ring, or (time-major, with a leading N) N steps one after the other."""
    if reward.ndim == 1:
        return ring_add(ring, obs, action, reward, final)
    return jax.lax.scan(lambda r, x: (ring_add(r, *x), None), ring, (obs, action, reward, final))[0]


class Learning(NamedTuple):
    """The part of the carry an update call changes: the loop key, agents, learner data, metrics."""

    key: PRNGKeyArray
    agent: Any
    data: Any
    metrics: dict[str, Array]


def draw(
    learner: Learner, cadence: Cadence, ring: ReplayRing, step: Int[Array, ""], key: PRNGKeyArray
) -> tuple[PRNGKeyArray, PRNGKeyArray, Any]:
    """The first part of an update call after real step `step`: (the loop's next key, k_update, what the
    learner drew from the real ring with k_data)."""
    key, k_data, k_update = jax.random.split(key, 3)
    return key, k_update, learner.draw(ring, k_data, step, cadence.update_every)


def learn(
    learner: Learner,
    cadence: Cadence,
    act_mask: Float[Array, "B A"],
    step: Int[Array, ""],
    k_update: PRNGKeyArray,
    drawn: Any,
    learning: Learning,
) -> Learning:
    """The rest of the update call (no real-ring reads): agents, learner data and metrics after it."""
    agent, data, m, ran = learner.learn(
        learning.agent, learning.data, drawn, act_mask, k_update, step, cadence.update_every
    )
    metrics = jax.tree.map(lambda new, old: jnp.where(ran, new, old), m, learning.metrics)
    return Learning(learning.key, agent, data, metrics)


def update(
    learner: Learner,
    cadence: Cadence,
    ring: ReplayRing,
    act_mask: Float[Array, "B A"],
    step: Int[Array, ""],
    learning: Learning,
) -> Learning:
    """One update call after real step `step` (the schedule's: `cadence.updates_at(step)`): `draw`,
    then `learn`."""
    key, k_update, drawn = draw(learner, cadence, ring, step, learning.key)
    return learn(learner, cadence, act_mask, step, k_update, drawn, learning._replace(key=key))


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
    the update call the cadence schedules after it (`record`, then `update` under `lax.cond`).

    Arguments:
        learner: what the loop trains. carry: the state before the step. cadence: random actions and
        updates. key: the loop key after `act`. obs, action, reward, final: the step.

    Returns:
        The carry after the step.
    """
    ring = record(carry.ring, obs, action, reward, final)
    n = carry.step + 1
    agent_p, agent_static = eqx.partition(carry.agent, eqx.is_array)

    def run(parts):
        learning = update(
            learner,
            cadence,
            ring,
            carry.act_mask,
            n,
            parts._replace(agent=eqx.combine(parts.agent, agent_static)),
        )
        return learning._replace(agent=eqx.filter(learning.agent, eqx.is_array))

    parts = Learning(key, agent_p, carry.data, carry.metrics)
    key, agent_p, data, metrics = jax.lax.cond(cadence.updates_at(n), run, lambda a: a, parts)
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

    def finish(self, carry: LoopCarry, episode_length: int) -> LoopResult:
        """Set the final carry, its real replay as episodes of L steps and its last metrics (numpy)."""
        self.carry = carry
        self.buffer = ring_episodes(carry.ring, episode_length)
        self.metrics = {k: np.asarray(v) for k, v in carry.metrics.items()}
        return self

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
