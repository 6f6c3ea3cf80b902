"""Imagination actor-critic adaptation: the learner of a population (`ImaginationAC`) and its real loop."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray
from tqdm.auto import tqdm

from mrcom.worldmodel import Context, OpenLoop, Prefix, WorldModel, kind_of

from ._ac_config import ACConfig
from ._buffer import EpisodeBuffer
from ._imagination_ac import ACState, ac_init, ac_update
from ._loop import LoopResult
from ._sac import sac_act
from ._starts import StartSampler
from ._validate import check_positive


class ImaginationAC:
    """The learner of one population of adapting agents: frozen model, start sampler, state.

    Arguments:
        model: trained world model (any kind of the registry; frozen).
        prompts: per agent prompt or None (see `StartSampler`).
        obs_mask, act_mask: (B, O), (B, A).
        cfg: `ACConfig`. prefix_len, start_steps, sample: as in `AdaptConfig` (`model_sample`).
        imagine: the model's imagine (default: its registered kind's).
    """

    def __init__(
        self,
        model: WorldModel,
        prompts,
        obs_mask: np.ndarray,
        act_mask: np.ndarray,
        cfg: ACConfig,
        *,
        prefix_len: int,
        start_steps: int,
        sample: bool = False,
        imagine: Callable[..., Any] | None = None,
    ):
        self.model = model
        self.cfg = cfg
        self.imagine = kind_of(model).imagine if imagine is None else imagine
        self.obs_mask = np.asarray(obs_mask, np.float32)
        self.act_mask = np.asarray(act_mask, np.float32)
        self.sampler = StartSampler(prompts, model.spec.context_len, prefix_len)
        self.start_steps = int(start_steps)
        self.sample = bool(sample)
        self.rollouts_done = 0
        self.latent_dim = self._latent_dim()

    def _latent_dim(self) -> int:
        """Width of the model's `Imagined.latent`, from an abstract evaluation of its imagine."""
        m, w = self.model.spec.context_len, self.sampler.w
        o, a = self.obs_mask.shape[1], self.act_mask.shape[1]
        z = lambda *s: jnp.zeros(s, jnp.float32)
        context, prefix = (
            Context(z(1, m, o), z(1, m, a), z(1, m), z(1, m)),
            Prefix(z(1, w + 1, o), z(1, w, a), z(1, w)),
        )
        out = eqx.filter_eval_shape(
            self.imagine,
            self.model,
            context,
            prefix,
            (z(1, o), z(1, a)),
            OpenLoop(z(1, 1, a)),
            1,
            jax.random.PRNGKey(0),
        )
        return int(out.latent.shape[-1])

    def init(self, key: PRNGKeyArray) -> ACState:
        return ac_init(
            key,
            self.obs_mask.shape[0],
            self.obs_mask.shape[1],
            self.act_mask.shape[1],
            self.latent_dim,
            self.cfg,
        )

    def update(
        self,
        state: ACState,
        real: EpisodeBuffer,
        rng: np.random.Generator,
        step: int,
        updates: int,
        key: PRNGKeyArray,
    ) -> tuple[ACState, dict[str, np.ndarray]]:
        """`updates` actor-critic steps from real starts (none before `start_steps` or a first start)."""
        if step < self.start_steps:
            return state, {}
        starts = self.sampler.sample(real, rng, (updates, self.cfg.batch_size))
        if starts is None:
            return state, {}
        context, prefix = (type(x)(*(jnp.asarray(v) for v in x)) for x in starts)
        state, m = ac_update(
            state,
            self.model,
            context,
            prefix,
            jnp.asarray(self.obs_mask),
            jnp.asarray(self.act_mask),
            key,
            self.cfg,
            self.sample,
            self.imagine,
        )
        self.rollouts_done += self.act_mask.shape[0] * updates * self.cfg.batch_size
        return state, {k: np.asarray(v) for k, v in m.items()}


def run_imagination_ac(
    env,
    learner: ImaginationAC,
    total_steps: int,
    seed: int,
    *,
    learning_starts: int,
    update_every: int,
    eval_fn: Callable[[ACState], np.ndarray] | None = None,
    eval_every: int = 0,
    on_eval: Callable[[int, np.ndarray], None] | None = None,
    desc: str = "imagination ac",
    progress: bool = True,
) -> LoopResult:
    """Adapt a population (one agent per env of `env`) for `total_steps` real steps each.

    The real loop of `run_sac`: uniform random actions for the first `learning_starts` steps, then
    the actor's samples; every `update_every` real steps (from `learning_starts` on) one jitted call
    runs `update_every * ac.updates_per_step` imagination updates.

    Arguments:
        env: batched env (`reset(seed)`, `step(action)`, `act_mask`, `episode_length`, `num_envs`).
        learner: the `ImaginationAC` of the population.
        total_steps: real steps per agent. seed: seeds networks, resets and start sampling.
        learning_starts, update_every: as SAC's (`sac.learning_starts`, `sac.update_every`).
        eval_fn, eval_every, on_eval: the learning curve, as in `run_sac`.
        desc, progress: tqdm bar.

    Returns:
        A `LoopResult` whose `state` is the final `ACState`.
    """
    check_positive("update_every", update_every)
    b, length = env.num_envs, env.episode_length
    act_mask = np.asarray(env.act_mask, np.float32)
    obs = np.asarray(env.reset(seed), np.float32)
    key = jax.random.PRNGKey(seed)
    key, k_init = jax.random.split(key)
    state = learner.init(k_init)
    rng = np.random.default_rng(seed)
    buffer = EpisodeBuffer(
        b, max(1, math.ceil(total_steps / length)), length, obs.shape[-1], act_mask.shape[-1]
    )
    buffer.start(obs)
    jmask = jnp.asarray(act_mask)
    curve_steps: list[int] = []
    curve_returns: list[np.ndarray] = []
    metrics: dict[str, np.ndarray] = {}
    updates = update_every * learner.cfg.updates_per_step

    def evaluate(step):
        ret = eval_fn(state)
        curve_steps.append(step)
        curve_returns.append(ret)
        if on_eval is not None:
            on_eval(step, ret)

    for step in tqdm(range(total_steps), desc=desc, disable=not progress, leave=False, mininterval=1.0):
        key, k_act = jax.random.split(key)
        if step < learning_starts:
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
        if n % update_every == 0 and n >= learning_starts:
            key, k_up = jax.random.split(key)
            state, m = learner.update(state, buffer, rng, n, updates, k_up)
            metrics = m or metrics
        if eval_fn is not None and eval_every > 0 and n % eval_every == 0 and n < total_steps:
            evaluate(n)
    if eval_fn is not None:
        evaluate(total_steps)
    return LoopResult(state, buffer, curve_steps, curve_returns, metrics)
