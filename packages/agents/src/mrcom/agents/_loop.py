"""The host backend of the interaction loop: a Python loop over a batched env stepped on the host.

The native engine's `VecEnv` (C MuJoCo) steps between two jitted calls per step: `act` and `observe`
of `mrcom.agents._interact` (the same step as the fused mjx loop's scan body), with the loop carry
donated to `observe` so the replay ring is updated in place. `run_sac` trains SAC (MBPO with an
`MBPOAugment`) with it; `evaluate_policy` and `record_episodes` roll out deterministic policies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ._interact import LoopResult, act, check_lockstep, loop_init, observe
from ._learners import Learner, SACLearner
from ._mbpo import MBPOAugment
from ._ring import ring_episodes
from ._sac import HasActor, SACState, sac_act
from ._sac_config import SACConfig
from ._schedule import Schedule

__all__ = ["LoopResult", "record_episodes", "evaluate_policy", "run_host", "run_sac"]

_act = eqx.filter_jit(act)
_observe = eqx.filter_jit(observe, donate="all-except-first")


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
    length = env.episode_length
    if length != schedule.episode_length:
        raise ValueError(f"schedule.episode_length={schedule.episode_length}: the env's is {length}")
    obs = np.asarray(env.reset(seed), np.float32)
    carry = loop_init(learner, schedule.capacity, seed, obs.shape[-1], env.act_mask, state=state)
    cadence = schedule.cadence
    evals = set(schedule.eval_steps()) if eval_fn is not None else set()
    result = LoopResult(carry, None, {})  # type: ignore[arg-type]
    for step in tqdm(
        range(schedule.total_steps), desc=desc, disable=not progress, leave=False, mininterval=1.0
    ):
        key, action = _act(carry, obs, cadence)
        action = np.array(action)
        next_obs, reward, done, info = env.step(action)
        next_obs = np.asarray(next_obs, np.float32)
        final = np.where(np.asarray(done)[:, None], np.asarray(info.get("final_obs", next_obs)), next_obs)
        check_lockstep(np.asarray(done), step + 1, length)
        reward = np.asarray(reward, np.float32)
        carry = _observe(learner, carry, cadence, key, obs, action, reward, final.astype(np.float32))
        obs = next_obs
        if step + 1 in evals:
            result.carry = carry
            result.evaluate(step + 1, eval_fn, on_eval)  # type: ignore[arg-type]
    result.carry = carry
    result.buffer = ring_episodes(carry.ring, length)
    result.metrics = {k: np.asarray(v) for k, v in carry.metrics.items()}
    return result


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
