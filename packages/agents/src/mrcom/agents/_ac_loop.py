"""Imagination actor-critic adaptation: the learner of a population (`ImaginationAC`) in the interaction loop.

The loop (`mrcom.agents._interact`, host or fused backend) acts in the real environment and keeps the
same real data as MBPO; every update call draws real start windows from the real ring (`real_starts`,
the same branch points as MBPO's) and runs `update_every * ac.updates_per_step` imagination
actor-critic updates (`ac_update`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from mrcom.worldmodel import Context, OpenLoop, Prefix, WorldModel, kind_of

from ._ac_config import ACConfig
from ._imagination_ac import ACState, ac_init, ac_update
from ._interact import LoopResult
from ._loop import run_host
from ._schedule import Schedule
from ._starts import PromptTails, StartSpec, prompt_tails, real_starts

__all__ = ["ACData", "ImaginationAC", "run_imagination_ac"]


class ACData(eqx.Module):
    """The actor-critic's carried counter: imagined start states used, summed over agents."""

    rollouts: Int[Array, ""]


class ImaginationAC(eqx.Module):
    """The learner of one population of adapting agents: frozen model, prompt tails, settings.

    Arguments:
        model: trained world model (any kind of the registry; frozen).
        prompts: per agent (obs (P+1, O), action (P, A), reward (P,)), or None: the agent's first real
            episode (once complete).
        obs_mask, act_mask: (B, O), (B, A).
        cfg: `ACConfig`.
        episode_length: L of the real episodes.
        prefix_len, start_steps, sample: as in `AdaptConfig` (`model_sample`).
        imagine: the model's imagine (default: its registered kind's).
    """

    model: WorldModel
    tails: PromptTails
    obs_mask: Float[Array, "B O"]
    cfg: ACConfig = eqx.field(static=True)
    windows: StartSpec = eqx.field(static=True)
    start_steps: int = eqx.field(static=True)
    sample: bool = eqx.field(static=True)
    imagine: Callable[..., Any] = eqx.field(static=True)
    latent_dim: int = eqx.field(static=True)

    def __init__(
        self,
        model: WorldModel,
        prompts,
        obs_mask: np.ndarray,
        act_mask: np.ndarray,
        cfg: ACConfig,
        *,
        episode_length: int,
        prefix_len: int,
        start_steps: int,
        sample: bool = False,
        imagine: Callable[..., Any] | None = None,
    ):
        obs_mask = np.asarray(obs_mask, np.float32)
        m = int(model.spec.context_len)
        self.model = model
        self.tails = prompt_tails(prompts, m, obs_mask.shape[1], np.shape(act_mask)[1])
        self.obs_mask = jnp.asarray(obs_mask)
        self.cfg = cfg
        self.windows = StartSpec(int(episode_length), m, int(prefix_len))
        self.start_steps = int(start_steps)
        self.sample = bool(sample)
        self.imagine = kind_of(model).imagine if imagine is None else imagine
        self.latent_dim = _latent_dim(
            self.imagine, model, m, int(prefix_len), obs_mask.shape[1], np.shape(act_mask)[1]
        )

    @property
    def fast_compile(self) -> bool:
        return bool(getattr(self.model.spec, "fast_compile", False))

    def init(self, key, num_agents, obs_dim, act_dim):
        state = ac_init(key, num_agents, obs_dim, act_dim, self.latent_dim, self.cfg)
        return state, ACData(jnp.zeros((), jnp.int32))

    def _shape(self, update_every: int) -> tuple[int, int]:
        return (update_every * self.cfg.updates_per_step, self.cfg.batch_size)

    def draw(self, ring, k_data, step, update_every):
        return real_starts(k_data, ring, self.tails, self._shape(update_every), self.windows)

    def learn(self, state: ACState, data: ACData, drawn, act_mask, k_update, step, update_every):
        shape = self._shape(update_every)
        context, prefix, ok = drawn
        ok = ok & (step >= self.start_steps)

        def run(s):
            return ac_update(
                s, self.model, context, prefix, self.obs_mask, act_mask, k_update, self.cfg, self.sample,
                self.imagine,
            )  # fmt: skip

        zeros = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), jax.eval_shape(run, state)[1])
        state, metrics = jax.lax.cond(ok, run, lambda s: (s, zeros), state)
        starts = act_mask.shape[0] * shape[0] * shape[1]
        return state, ACData(data.rollouts + jnp.where(ok, starts, 0)), metrics, ok


def _latent_dim(imagine, model: WorldModel, m: int, w: int, o: int, a: int) -> int:
    """Width of the model's `Imagined.latent`, from an abstract evaluation of its imagine."""
    z = lambda *s: jnp.zeros(s, jnp.float32)
    context, prefix = (
        Context(z(1, m, o), z(1, m, a), z(1, m), z(1, m)),
        Prefix(z(1, w + 1, o), z(1, w, a), z(1, w)),
    )
    out = eqx.filter_eval_shape(
        imagine, model, context, prefix, (z(1, o), z(1, a)), OpenLoop(z(1, 1, a)), 1, jax.random.PRNGKey(0)
    )
    return int(out.latent.shape[-1])


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
    """Adapt a population (one agent per env of `env`) for `total_steps` real steps each (host backend).

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
    schedule = Schedule(total_steps, env.episode_length, learning_starts, update_every, eval_every)
    return run_host(
        env, learner, schedule, seed, eval_fn=eval_fn, on_eval=on_eval, desc=desc, progress=progress
    )
