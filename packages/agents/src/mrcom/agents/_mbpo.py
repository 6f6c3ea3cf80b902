"""MBPO-style data augmentation with a trained world model (paper section 3.4), in JAX, for both backends.

Before every SAC update call, `mbpo_batches` branches `rollouts_per_step * update_every` k-step
rollouts per agent from real states (`real_starts`: uniform over the states with a full prefix of W
steps, the m-step context before it FIFO-filled from the prompt's tail near an episode start) via the
world model's `imagine` (any kind of the `mrcom.worldmodel` registry), with each agent's SAC policy;
rewards are clipped to [0, 1] and a diverged refresh is dropped. The model transitions go to a model
`ReplayRing`; SAC batches mix `real_ratio` real transitions with model ones. Real data is the loop's
real ring (episode layout); every draw comes from a JAX key. One traced function, called inside the
interaction loop's update step on both backends (`mrcom.agents._interact`), in two parts: `mbpo_draw`
reads the real ring (its program depends on the ring's capacity) and `mbpo_learn_batches` does the rest
(the host backend compiles it once, whatever the budget).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from mrcom.worldmodel import Context, Prefix, WorldModel, kind_of

from ._nets import Actor
from ._ring import ReplayRing, ring_add_many, ring_init, ring_sample
from ._sac import SACState, Transitions
from ._starts import PromptTails, real_starts

__all__ = [
    "PopulationPolicy",
    "MBPOSettings",
    "ModelData",
    "MBPOAugment",
    "model_data_init",
    "model_refresh",
    "mixed_batch",
    "MBPODraw",
    "mbpo_draw",
    "mbpo_learn_batches",
    "mbpo_batches",
]


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


@dataclasses.dataclass(frozen=True)
class MBPOSettings:
    """The static numbers of MBPO's augmentation (the fields of `AdaptConfig` it reads, plus L and m).

    Attributes:
        episode_length: L. context_len: m (the world model's). prefix_len: W.
        rollout_length: k. per_refresh: rollouts per agent per refresh (rollouts_per_step * update_every).
        real_ratio: share of real transitions in a batch. start_steps: real steps before rollouts.
        sample: sample the model's priors. capacity: model ring transitions per agent.
    """

    episode_length: int
    context_len: int
    prefix_len: int
    rollout_length: int
    per_refresh: int
    real_ratio: float
    start_steps: int
    sample: bool
    capacity: int

    @classmethod
    def from_adapt(cls, adapt, model: WorldModel, episode_length: int, update_every: int) -> MBPOSettings:
        """The settings of `AdaptConfig` `adapt` for `model` (the model ring holds the rollouts of
        `model_buffer_steps` real steps)."""
        per = adapt.rollouts_per_step * update_every
        cap = max(
            adapt.model_buffer_steps * adapt.rollouts_per_step * adapt.rollout_length,
            per * adapt.rollout_length,
        )
        return cls(
            episode_length=int(episode_length),
            context_len=int(model.spec.context_len),
            prefix_len=int(adapt.prefix_len),
            rollout_length=int(adapt.rollout_length),
            per_refresh=int(per),
            real_ratio=float(adapt.real_ratio),
            start_steps=int(adapt.start_steps),
            sample=bool(adapt.model_sample),
            capacity=int(cap),
        )


class ModelData(eqx.Module):
    """The model ring and its counters (part of the loop carry, so it checkpoints with it)."""

    ring: ReplayRing
    rollouts: Int[Array, ""]  # rollouts added, summed over agents
    reward_mean: Float[Array, ""]  # mean reward of the last kept refresh (nan before)


class MBPOAugment(eqx.Module):
    """What MBPO needs besides the loop carry: the world model, prompt tails, observation masks and
    settings; `imagine` replaces the model kind's (default: `kind_of(model).imagine`)."""

    model: WorldModel
    tails: PromptTails
    obs_mask: Float[Array, "B O"]
    settings: MBPOSettings = eqx.field(static=True)
    imagine: Callable[..., Any] | None = eqx.field(static=True, default=None)


def model_data_init(num_agents: int, settings: MBPOSettings, obs_dim: int, act_dim: int) -> ModelData:
    """An empty model ring."""
    ring = ring_init(num_agents, settings.capacity, obs_dim, act_dim)
    return ModelData(ring, jnp.zeros((), jnp.int32), jnp.full((), jnp.nan, jnp.float32))


def model_refresh(
    key: PRNGKeyArray,
    step: Int[Array, ""],
    real: ReplayRing,
    data: ModelData,
    actor,
    act_mask: Float[Array, "B A"],
    aug: MBPOAugment,
) -> ModelData:
    """Branch `per_refresh` k-step rollouts per agent into the model ring.

    Nothing is added before `start_steps`, while no start exists, or when the rollouts are not finite.
    """
    s = aug.settings
    k_start, k_branch = jax.random.split(key)
    context, prefix, ok = real_starts(k_start, real, aug.tails, (s.per_refresh,), s)
    return _refresh(k_branch, context, prefix, ok, step, data, actor, act_mask, aug)


def _refresh(key, context, prefix, ok, step, data: ModelData, actor, act_mask, aug: MBPOAugment) -> ModelData:
    branch = lambda d: _branch(key, context, prefix, d, actor, act_mask, aug)
    return jax.lax.cond(ok & (step >= aug.settings.start_steps), branch, lambda d: d, data)


def _branch(key, context, prefix, data: ModelData, actor, act_mask, aug: MBPOAugment) -> ModelData:
    s = aug.settings
    b, r, k = act_mask.shape[0], s.per_refresh, s.rollout_length
    flat = lambda x: x.reshape(b * r, *x.shape[2:])
    context = Context(*(flat(x) for x in context))
    prefix = Prefix(*(flat(x) for x in prefix))
    masks = (jnp.repeat(aug.obs_mask, r, axis=0), jnp.repeat(act_mask, r, axis=0))
    policy = PopulationPolicy(actor, act_mask, r)
    imagine = kind_of(aug.model).imagine if aug.imagine is None else aug.imagine
    im = imagine(aug.model, context, prefix, masks, policy, k, key, sample=s.sample)
    obs = im.obs.reshape(b, r, k + 1, -1) * aug.obs_mask[:, None, None]
    act = im.action.reshape(b, r, k, -1)
    rew = jnp.clip(im.reward.reshape(b, r, k), 0.0, 1.0)
    keep = jnp.all(jnp.isfinite(obs)) & jnp.all(jnp.isfinite(rew))
    n = r * k
    batch = Transitions(
        obs=obs[:, :, :-1].reshape(b, n, -1),
        action=act.reshape(b, n, -1),
        reward=rew.reshape(b, n),
        next_obs=obs[:, :, 1:].reshape(b, n, -1),
    )
    added = ModelData(ring_add_many(data.ring, batch), data.rollouts + b * r, rew.mean())
    return jax.tree.map(lambda new, old: jnp.where(keep, new, old), added, data)


def mixed_batch(
    key: PRNGKeyArray, real: ReplayRing, model: ReplayRing, shape: tuple[int, ...], real_ratio: float
) -> Transitions:
    """`real_ratio` real transitions (the first ones along the last axis), the rest model ones; all
    real while the model ring is empty."""
    k_real, k_model = jax.random.split(key)
    return _mix(ring_sample(real, k_real, shape), k_model, model, shape, real_ratio)


def _mix(
    real_b: Transitions, key: PRNGKeyArray, model: ReplayRing, shape: tuple[int, ...], real_ratio: float
) -> Transitions:
    if real_ratio >= 1.0:
        return real_b
    model_b = ring_sample(model, key, shape)
    n_real = int(round(real_ratio * shape[-1]))
    cols = jnp.arange(shape[-1]) < n_real
    use_real = cols | (model.size == 0)
    pick = lambda x, y: jnp.where(use_real.reshape(use_real.shape + (1,) * (x.ndim - 1 - len(shape))), x, y)
    return Transitions(*(pick(x, y) for x, y in zip(real_b, model_b, strict=True)))


class MBPODraw(NamedTuple):
    """What an MBPO update call reads from the real ring (`mbpo_draw`): the branch windows (`ok`: a
    start exists), the real part of the SAC batches, and the keys of the branch and of the model draws."""

    context: Context
    prefix: Prefix
    ok: Bool[Array, ""]
    real: Transitions
    k_branch: PRNGKeyArray
    k_model: PRNGKeyArray


def mbpo_draw(key: PRNGKeyArray, real: ReplayRing, aug: MBPOAugment, shape: tuple[int, ...]) -> MBPODraw:
    """The real-ring reads of `mbpo_batches` (the only part of it whose program depends on the ring's
    capacity, i.e. on the run's budget)."""
    k_refresh, k_batch = jax.random.split(key)
    k_start, k_branch = jax.random.split(k_refresh)
    k_real, k_model = jax.random.split(k_batch)
    context, prefix, ok = real_starts(k_start, real, aug.tails, (aug.settings.per_refresh,), aug.settings)
    return MBPODraw(context, prefix, ok, ring_sample(real, k_real, shape), k_branch, k_model)


def mbpo_learn_batches(
    drawn: MBPODraw,
    step: Int[Array, ""],
    data: ModelData,
    sac: SACState,
    act_mask: Float[Array, "B A"],
    aug: MBPOAugment,
    shape: tuple[int, ...],
) -> tuple[ModelData, Transitions]:
    """The rest of `mbpo_batches` from its draw: refresh the model ring, then mix the SAC batches."""
    data = _refresh(
        drawn.k_branch, drawn.context, drawn.prefix, drawn.ok, step, data, sac.actor, act_mask, aug
    )
    return data, _mix(drawn.real, drawn.k_model, data.ring, shape, aug.settings.real_ratio)


def mbpo_batches(
    key: PRNGKeyArray,
    step: Int[Array, ""],
    real: ReplayRing,
    data: ModelData,
    sac: SACState,
    act_mask: Float[Array, "B A"],
    aug: MBPOAugment,
    shape: tuple[int, ...],
) -> tuple[ModelData, Transitions]:
    """One MBPO update call's data: refresh the model ring, then draw the SAC batches (B, *shape, ...)."""
    return mbpo_learn_batches(mbpo_draw(key, real, aug, shape), step, data, sac, act_mask, aug, shape)
