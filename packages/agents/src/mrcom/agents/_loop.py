"""The SAC interaction loop shared by collection, adaptation and the model-free baseline.

B agents act in a batched environment (one env per agent, all in lockstep, fixed episode length).
Every `update_every` real steps one jitted call runs `update_every * updates_per_step` scanned SAC
updates for all agents. An optional `Augmenter` (MBPO) is called before each update call to push
model rollouts into its own buffer and supplies part of every batch.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ._buffer import EpisodeBuffer
from ._ring import episode_batch, explore_actions, sample_indices
from ._sac import Batch, HasActor, SACState, sac_act, sac_init, sac_update
from ._sac_config import SACConfig


class Augmenter(Protocol):
    """Source of extra (model-generated) training data, MBPO style."""

    def refresh(self, step: int, real: EpisodeBuffer, state: SACState, key: jax.Array) -> None:
        """Called before every update call with the real data gathered so far."""

    def batches(self, rng: np.random.Generator, real: EpisodeBuffer, shape: tuple[int, ...]) -> Batch:
        """Training transitions (B, *shape, ...) drawn from the real and model buffers."""


@dataclasses.dataclass
class LoopResult:
    """Final population state, all real experience and the evaluation curve."""

    state: HasActor  # SACState, or the imagination actor-critic's ACState
    buffer: EpisodeBuffer
    curve_steps: list[int]
    curve_returns: list[np.ndarray]  # each (B,) normalized returns
    metrics: dict[str, np.ndarray]


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


def run_sac(
    env,
    cfg: SACConfig,
    total_steps: int,
    seed: int,
    *,
    state: SACState | None = None,
    augmenter: Augmenter | None = None,
    eval_fn: Callable[[SACState], np.ndarray] | None = None,
    eval_every: int = 0,
    on_eval: Callable[[int, np.ndarray], None] | None = None,
    desc: str = "sac",
    progress: bool = True,
    device_rng: bool = False,
) -> LoopResult:
    """Train a population of SAC agents (one per env of `env`) for `total_steps` real steps each.

    Arguments:
        env: batched env (`reset(seed)`, `step(action)`, `act_mask`, `episode_length`, `num_envs`).
        cfg: SAC hyperparameters.
        total_steps: real environment steps per agent (the budget).
        seed: seeds the networks, the env reset and the replay sampling.
        state: initial population state (fresh agents when None).
        augmenter: MBPO model-data source, or None for model-free SAC.
        eval_fn: `eval_fn(state) -> (B,)` normalized returns, called every `eval_every` steps.
        eval_every: evaluation period in real steps (0: only at the end when eval_fn is given).
        on_eval: `on_eval(step, returns)` after each evaluation (logging; may raise to stop).
        desc: progress bar label.
        progress: show a tqdm bar.
        device_rng: draw the exploration actions and the replay indices from the loop's JAX key, as
            the fused mjx loop does (`mrcom.agents._fused`), instead of a numpy Generator: the two loops
            then follow the same trajectory (MBPO with a `DeviceModelAugmenter`, the fused loop's
            own augmentation).

    Returns:
        A `LoopResult`.
    """
    if device_rng and augmenter is not None and not hasattr(augmenter, "device_batches"):
        raise ValueError("device_rng=True: the augmenter must draw on the device (a DeviceModelAugmenter)")
    b = env.num_envs
    length = env.episode_length
    act_mask = np.asarray(env.act_mask, np.float32)
    obs = np.asarray(env.reset(seed), np.float32)
    key = jax.random.PRNGKey(seed)
    key, k_init = jax.random.split(key)
    if state is None:
        state = sac_init(k_init, b, obs.shape[-1], act_mask.shape[-1], cfg)
    rng = np.random.default_rng(seed)
    buffer = EpisodeBuffer(
        b, max(1, math.ceil(total_steps / length)), length, obs.shape[-1], act_mask.shape[-1]
    )
    buffer.start(obs)
    jmask = jnp.asarray(act_mask)
    curve_steps: list[int] = []
    curve_returns: list[np.ndarray] = []
    metrics: dict[str, np.ndarray] = {}

    def evaluate(step):
        ret = eval_fn(state)
        curve_steps.append(step)
        curve_returns.append(ret)
        if on_eval is not None:
            on_eval(step, ret)

    for step in tqdm(range(total_steps), desc=desc, disable=not progress, leave=False, mininterval=1.0):
        key, k_act = jax.random.split(key)
        if step < cfg.learning_starts and device_rng:
            action = np.asarray(explore_actions(k_act, jmask))
        elif step < cfg.learning_starts:
            action = rng.uniform(-1.0, 1.0, size=act_mask.shape).astype(np.float32) * act_mask
        else:
            action = np.asarray(sac_act(state.actor, jnp.asarray(obs[:, None]), jmask, k_act))[:, 0]
        next_obs, reward, done, info = env.step(action)
        next_obs = np.asarray(next_obs, np.float32)
        final = np.where(np.asarray(done)[:, None], np.asarray(info.get("final_obs", next_obs)), next_obs)
        ended = buffer.add(action, np.asarray(reward, np.float32), final)
        if ended != bool(np.all(done)) or (not ended and np.any(done)):
            raise ValueError(f"env episode_length={length}: envs must end episodes together at that length")
        if ended and step + 1 < total_steps:
            buffer.start(next_obs)
        obs = next_obs
        n = step + 1
        if n % cfg.update_every == 0 and n >= cfg.learning_starts:
            key, k_aug, k_up = jax.random.split(key, 3)
            shape = (cfg.update_every * cfg.updates_per_step, cfg.batch_size)
            if augmenter is not None and device_rng:
                batches = augmenter.device_batches(n, buffer, state, k_aug, shape)  # type: ignore[attr-defined]
            elif augmenter is not None:
                augmenter.refresh(n, buffer, state, k_aug)
                batches = augmenter.batches(rng, buffer, shape)
            elif device_rng:
                batches = episode_batch(buffer, np.asarray(sample_indices(k_aug, b, shape, buffer.size)))
            else:
                batches = buffer.sample(rng, shape)
            state, m = sac_update(state, Batch(*(jnp.asarray(x) for x in batches)), jmask, k_up, cfg)
            metrics = {k: np.asarray(v) for k, v in m.items()}
        if eval_fn is not None and eval_every > 0 and n % eval_every == 0 and n < total_steps:
            evaluate(n)
    if eval_fn is not None:
        evaluate(total_steps)
    return LoopResult(state, buffer, curve_steps, curve_returns, metrics)
