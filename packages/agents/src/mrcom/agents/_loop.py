"""The host backend of the interaction loop: a Python loop over a batched env stepped on the host.

The native engine's `VecEnv` (C MuJoCo) steps between jitted calls of the pieces of the interaction
loop's step (`mrcom.agents._interact`, the fused mjx loop's scan body): `act_with` every step (the
actor, not the whole carry), the steps since the last call written to the replay ring by one `record`
call (the ring donated, so updated in place) before each update call, and the update call itself
(`draw`, then `learn`) only after the steps the schedule names. `learn`, the costly program, does not
read the real ring, so a new budget (ring capacity) recompiles only `record` and `draw`. `run_sac`
trains SAC (MBPO with an `MBPOAugment`) with it; `evaluate_policy` and `record_episodes` roll out
deterministic policies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from mrcom.worldmodel import FAST_COMPILE_OPTIONS

from ._interact import (
    Learning,
    LoopCarry,
    LoopResult,
    act_with,
    check_lockstep,
    draw,
    learn,
    loop_init,
    record,
)
from ._learners import Learner, SACLearner
from ._mbpo import MBPOAugment
from ._sac import HasActor, SACState, sac_act
from ._sac_config import SACConfig
from ._schedule import Schedule

__all__ = ["LoopResult", "record_episodes", "evaluate_policy", "run_host", "run_sac"]


def _learn(fixed, donated) -> Learning:
    learner, cadence, act_mask, step, k_update, drawn, agent, key = fixed
    data, metrics = donated  # the model ring (MBPO) is updated in place
    return learn(learner, cadence, act_mask, step, k_update, drawn, Learning(key, agent, data, metrics))


# the host backend's jitted calls (the agents are never donated: a `state` passed in stays valid)
# every step (its step a host int32 array); plain and fast-compile copies, by `learner.fast_compile`
_ACT: tuple[Callable, Callable] = (
    eqx.filter_jit(act_with),
    eqx.filter_jit(act_with, compiler_options=FAST_COMPILE_OPTIONS),  # type: ignore[call-overload]
)
# the two programs that depend on the ring's capacity are small copies and gathers: compiled fast
_record = jax.jit(record, donate_argnums=0, compiler_options=FAST_COMPILE_OPTIONS)  # a chunk in place
_draw = eqx.filter_jit(draw, compiler_options=FAST_COMPILE_OPTIONS)  # type: ignore[call-overload]
# the rest: one program whatever the budget (plain and fast-compile copies, as the fused chunk's)
_LEARN: tuple[Callable, Callable] = (
    eqx.filter_jit(_learn, donate="all-except-first"),
    eqx.filter_jit(_learn, donate="all-except-first", compiler_options=FAST_COMPILE_OPTIONS),  # type: ignore[call-overload]
)


class _Chunk:
    """Steps since the last `record` call, on the host."""

    def __init__(self) -> None:
        self.steps: list[tuple[np.ndarray, ...]] = []

    def add(self, *step: np.ndarray) -> None:
        self.steps.append(step)

    def stacked(self) -> tuple[np.ndarray, ...]:
        """obs (N, B, O), action (N, B, A), reward (N, B), final (N, B, O): time-major."""
        return tuple(np.stack(x) for x in zip(*self.steps, strict=True))


def record_episodes(
    state: HasActor, make_env: Callable[[int], Any], num_agents: int, episodes: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Roll out each agent's deterministic policy for E whole episodes.

    Arguments:
        state: population state (B agents).
        make_env: `make_env(E)` returns a batched env of B*E envs, agent-major (env b*E+e is agent b's).
        num_agents: B.
        episodes: E.
        seed: reset seed of the episodes.

    Returns:
        obs (B, E, L+1, O), action (B, E, L, A), reward (B, E, L).
    """
    env = make_env(episodes)
    b, e, length = num_agents, episodes, env.episode_length
    obs = np.asarray(env.reset(seed), np.float32)
    mask = np.asarray(env.act_mask, np.float32).reshape(b, e, -1)[:, 0]
    all_obs = np.zeros((b * e, length + 1, obs.shape[-1]), np.float32)
    all_act = np.zeros((b * e, length, mask.shape[-1]), np.float32)
    all_rew = np.zeros((b * e, length), np.float32)
    all_obs[:, 0] = obs
    key = jax.random.PRNGKey(0)
    for t in range(length):
        a = np.asarray(sac_act(state.actor, jnp.asarray(obs.reshape(b, e, -1)), jnp.asarray(mask), key, True))
        a = a.reshape(b * e, -1)
        obs, reward, done, info = env.step(a)
        obs = np.asarray(obs, np.float32)
        all_act[:, t], all_rew[:, t] = a, reward
        all_obs[:, t + 1] = np.asarray(info["final_obs"]) if t == length - 1 else obs
    shape = lambda x: x.reshape(b, e, *x.shape[1:])
    return shape(all_obs), shape(all_act), shape(all_rew)


def evaluate_policy(
    state: HasActor, make_env: Callable[[int], Any], num_agents: int, episodes: int, seed: int
) -> np.ndarray:
    """Normalized return of each agent's deterministic policy, averaged over E episodes.

    Arguments:
        state: population state (B agents).
        make_env: `make_env(E)` returns a batched env of B*E envs, agent-major (env b*E+e is agent b's).
        num_agents: B.
        episodes: E.
        seed: reset seed of the evaluation episodes.

    Returns:
        (B,) mean normalized return 100 * return / length over the E episodes.
    """
    _, _, reward = record_episodes(state, make_env, num_agents, episodes, seed)
    return 100.0 * reward.astype(np.float64).mean(axis=(1, 2))


def run_host(
    env,
    learner: Learner,
    schedule: Schedule,
    seed: int,
    *,
    state: Any = None,
    eval_fn: Callable[[Any], np.ndarray] | None = None,
    on_eval: Callable[[int, np.ndarray], None] | None = None,
    desc: str = "loop",
    progress: bool = True,
) -> LoopResult:
    """Train `learner` on a host-stepped batched env for `schedule.total_steps` real steps per agent.

    Arguments:
        env: batched env (`reset(seed)`, `step(action)`, `act_mask`, `episode_length`, `num_envs`).
        learner: SAC, MBPO or the imagination actor-critic (`mrcom.agents._learners.Learner`).
        schedule: budget, cadence and evaluation points (`episode_length` must be the env's).
        seed: seeds the networks, the env reset and the loop key.
        state: initial population state (fresh agents when None).
        eval_fn: `eval_fn(state) -> (B,)` normalized returns at the schedule's evaluation steps.
        on_eval: `on_eval(step, returns)` after each evaluation (logging; may raise to stop).
        desc, progress: tqdm bar.

    Returns:
        A `LoopResult`.
    """
    schedule.check_env(env)
    length = env.episode_length
    obs = np.asarray(env.reset(seed), np.float32)
    carry = loop_init(learner, schedule.capacity, seed, obs.shape[-1], env.act_mask, state=state)
    cadence = schedule.cadence
    evals = set(schedule.eval_steps()) if eval_fn is not None else set()
    result = LoopResult(carry, None, {})  # type: ignore[arg-type]
    actor, mask, key = carry.agent.actor, carry.act_mask, carry.key
    learning = Learning(key, carry.agent, carry.data, carry.metrics)
    ring, chunk = carry.ring, _Chunk()
    fast = int(bool(learner.fast_compile))  # XLA's fast-compile options where the learner asks (smoke)
    _act, _learn_jit = _ACT[fast], _LEARN[fast]
    for step in tqdm(
        range(schedule.total_steps), desc=desc, disable=not progress, leave=False, mininterval=1.0
    ):
        key, action = _act(actor, mask, key, np.asarray(step, np.int32), obs, cadence)
        action = np.array(action)
        next_obs, reward, done, info = env.step(action)
        next_obs = np.asarray(next_obs, np.float32)
        final = np.where(np.asarray(done)[:, None], np.asarray(info.get("final_obs", next_obs)), next_obs)
        check_lockstep(np.asarray(done), step + 1, length)
        chunk.add(obs, action, np.asarray(reward, np.float32), final.astype(np.float32))
        obs, n = next_obs, step + 1
        updates = bool(cadence.updates_at(n))
        if not (updates or n % cadence.update_every == 0 or n in evals or n == schedule.total_steps):
            continue
        ring = _record(ring, *chunk.stacked())  # the chunk's steps in one call
        chunk = _Chunk()
        if updates:
            step_n = np.asarray(n, np.int32)
            key, k_update, drawn = _draw(learner, cadence, ring, step_n, key)
            fixed = (learner, cadence, mask, step_n, k_update, drawn, learning.agent, key)
            learning = _learn_jit(fixed, (learning.data, learning.metrics))
            actor = learning.agent.actor
        carry = LoopCarry(
            None, learning.agent, learning.data, ring, mask, key, jnp.asarray(n, jnp.int32), learning.metrics
        )
        if n in evals:
            result.carry = carry
            result.evaluate(n, eval_fn, on_eval)  # type: ignore[arg-type]
    return result.finish(carry, length)


def run_sac(
    env,
    cfg: SACConfig,
    total_steps: int,
    seed: int,
    *,
    state: SACState | None = None,
    aug: MBPOAugment | None = None,
    eval_fn: Callable[[SACState], np.ndarray] | None = None,
    eval_every: int = 0,
    on_eval: Callable[[int, np.ndarray], None] | None = None,
    desc: str = "sac",
    progress: bool = True,
) -> LoopResult:
    """Train a population of SAC agents (one per env of `env`; MBPO with `aug`) on the host backend.

    Arguments:
        env: batched env (`reset(seed)`, `step(action)`, `act_mask`, `episode_length`, `num_envs`).
        cfg: SAC hyperparameters (`learning_starts`, `update_every` set the cadence).
        total_steps: real environment steps per agent (the budget).
        seed: seeds the networks, the env reset and the loop key.
        state: initial population state (fresh agents when None).
        aug: MBPO's augmentation, or None for model-free SAC.
        eval_fn: `eval_fn(state) -> (B,)` normalized returns, every `eval_every` steps and at the end.
        eval_every: evaluation period in real steps (0: only at the end when eval_fn is given).
        on_eval: `on_eval(step, returns)` after each evaluation.
        desc, progress: tqdm bar.

    Returns:
        A `LoopResult`.
    """
    schedule = Schedule(total_steps, env.episode_length, cfg.learning_starts, cfg.update_every, eval_every)
    return run_host(
        env, SACLearner(cfg, aug), schedule, seed, state=state, eval_fn=eval_fn, on_eval=on_eval,
        desc=desc, progress=progress,
    )  # fmt: skip
