"""MBPO-style data augmentation with a trained world model (paper section 3.4, scenario adaptation).

Before every SAC update call, `ModelAugmenter.refresh` branches `rollouts_per_step * update_every`
k-step rollouts per agent from uniformly drawn real states via the world model's `imagine` (any
kind of the `mrcom.worldmodel` registry: MrCoM or a baseline); the
world model's context (eq. 4) is the m real steps before the branch prefix, FIFO-filled from the
agent's prompt near the start of an episode. SAC batches mix `real_ratio` real transitions with
model transitions.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from mrcom.worldmodel import Context, Prefix, WorldModel, jit_by_config, kind_of

from ._buffer import EpisodeBuffer, TransitionBuffer
from ._nets import Actor
from ._sac import Batch, SACState
from ._starts import StartSampler


class PopulationPolicy(eqx.Module):
    """The stochastic SAC policy of every agent, for R rollouts per agent stacked agent-major.

    A pytree (not a closure), so jitting `branch` does not recompile when the weights change.
    """

    actor: Actor
    act_mask: Float[Array, "B A"]
    rollouts: int = eqx.field(static=True)

    def __call__(self, key: PRNGKeyArray, obs: Float[Array, "BR O"]) -> Float[Array, "BR A"]:
        b = self.act_mask.shape[0]
        o = obs.reshape(b, self.rollouts, -1)
        keys = jax.random.split(key, (b, self.rollouts))

        def one(actor, oi, m, ki):
            return jax.vmap(lambda x, k: actor.sample(x, m, k)[0])(oi, ki)

        return eqx.filter_vmap(one)(self.actor, o, self.act_mask, keys).reshape(obs.shape[0], -1)


@jit_by_config(lambda model, *args, **kwargs: model.spec.fast_compile)
def branch(
    model: WorldModel,
    context: Context,
    prefix: Prefix,
    masks,
    policy: PopulationPolicy,
    horizon: int,
    key,
    sample: bool = False,
):
    """The model kind's jitted `imagine` (horizon and sample static)."""
    return kind_of(model).imagine(model, context, prefix, masks, policy, horizon, key, sample=sample)


class ModelAugmenter:
    """MBPO model buffer for a population of adapting agents.

    Arguments:
        model: trained world model.
        prompts: per agent (obs (P+1, O), action (P, A), reward (P,)), or None where the prompt is
            the agent's first real episode (taken when it completes).
        obs_mask, act_mask: (B, O), (B, A).
        real_ratio, rollout_length, rollouts_per_step, model_buffer_steps, prefix_len, start_steps:
            as in `AdaptConfig`.
        update_every: real steps between two refreshes (SAC's update_every).
        sample: sample the model's priors (False: prior means).
    """

    def __init__(
        self,
        model: WorldModel,
        prompts: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None],
        obs_mask: np.ndarray,
        act_mask: np.ndarray,
        *,
        real_ratio: float,
        rollout_length: int,
        rollouts_per_step: int,
        model_buffer_steps: int,
        prefix_len: int,
        start_steps: int,
        update_every: int,
        sample: bool = False,
    ):
        self.model = model
        self.sample = bool(sample)
        self.m = model.spec.context_len
        self.prompts = list(prompts)
        self.obs_mask = np.asarray(obs_mask, np.float32)
        self.act_mask = np.asarray(act_mask, np.float32)
        b = self.obs_mask.shape[0]
        self.real_ratio = real_ratio
        self.horizon = rollout_length
        self.per_refresh = rollouts_per_step * update_every
        self.prefix_len = prefix_len
        self.start_steps = start_steps
        self.starts = StartSampler(self.prompts, self.m, prefix_len)
        cap = max(model_buffer_steps * rollouts_per_step * rollout_length, self.per_refresh * rollout_length)
        self.buffer = TransitionBuffer(b, cap, self.obs_mask.shape[1], self.act_mask.shape[1])
        self.rollouts_done = 0
        self.last_reward_mean = float("nan")

    def refresh(self, step: int, real: EpisodeBuffer, state: SACState, key: jax.Array) -> None:
        """Branch new model rollouts from real states into the model buffer."""
        if step < self.start_steps:
            return
        b, r = real.num_agents, self.per_refresh
        rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel()[-1])
        # branch points uniform over real states with a full prefix (`StartSampler`)
        starts = self.starts.sample(real, rng, (r,))
        if starts is None:
            return
        flat = lambda x: jnp.asarray(x.reshape(b * r, *x.shape[2:]))
        context = Context(*(flat(x) for x in starts[0]))
        prefix = Prefix(*(flat(x) for x in starts[1]))
        masks = (
            jnp.asarray(np.repeat(self.obs_mask, r, axis=0)),
            jnp.asarray(np.repeat(self.act_mask, r, axis=0)),
        )
        policy = PopulationPolicy(state.actor, jnp.asarray(self.act_mask), r)
        im = branch(self.model, context, prefix, masks, policy, self.horizon, key, self.sample)
        obs = np.asarray(im.obs).reshape(b, r, self.horizon + 1, -1) * self.obs_mask[:, None, None]
        act = np.asarray(im.action).reshape(b, r, self.horizon, -1)
        # Environment rewards lie in [0, 1]; clip the reward head's predictions to that range.
        rew = np.clip(np.asarray(im.reward).reshape(b, r, self.horizon), 0.0, 1.0)
        if not (np.all(np.isfinite(obs)) and np.all(np.isfinite(rew))):
            return  # a diverged branch is dropped rather than poisoning the SAC buffer
        n = r * self.horizon
        self.buffer.add(
            Batch(
                obs=obs[:, :, :-1].reshape(b, n, -1),
                action=act.reshape(b, n, -1),
                reward=rew.reshape(b, n),
                next_obs=obs[:, :, 1:].reshape(b, n, -1),
            )
        )
        self.rollouts_done += b * r
        self.last_reward_mean = float(rew.mean())

    def batches(self, rng: np.random.Generator, real: EpisodeBuffer, shape: tuple[int, ...]) -> Batch:
        """Batches with `real_ratio` real transitions (all real until the model buffer has data)."""
        if self.buffer.size == 0 or self.real_ratio >= 1.0:
            return real.sample(rng, shape)
        n_real = int(round(self.real_ratio * shape[-1]))
        parts = []
        if n_real > 0:
            parts.append(real.sample(rng, (*shape[:-1], n_real)))
        parts.append(self.buffer.sample(rng, (*shape[:-1], shape[-1] - n_real)))
        return Batch(*(np.concatenate(xs, axis=len(shape)) for xs in zip(*parts, strict=True)))
