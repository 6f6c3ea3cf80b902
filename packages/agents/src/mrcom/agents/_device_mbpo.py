"""MBPO's model data as pure JAX functions, for the fused mjx loop (`mrcom.agents._fused`).

The same augmentation as `ModelAugmenter` (branch points uniform over real states with a full prefix,
the m-step context before the prefix FIFO-filled from the prompt's tail, k-step `imagine` rollouts
with each agent's SAC policy, rewards clipped to [0, 1], a diverged refresh dropped, batches mixing
`real_ratio` real with model transitions), but on the device: real data is the fused loop's
`ReplayRing` (capacity = the whole budget, so slot e*L + t is step t of episode e and the ring is in
episode layout), model data another `ReplayRing`, and every draw comes from a JAX key. `mbpo_batches`
is one traced function, called inside the fused scan and, for the host loop's `device_rng=True` mode,
by `DeviceModelAugmenter` on a view of its `EpisodeBuffer` (so the two loops follow one trajectory).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from mrcom.worldmodel import Context, Prefix, WorldModel, kind_of

from ._buffer import EpisodeBuffer
from ._mbpo import PopulationPolicy
from ._ring import ReplayRing, ring_init, ring_sample
from ._sac import Batch, SACState

__all__ = [
    "MBPOSettings",
    "PromptTails",
    "ModelData",
    "FusedAugment",
    "prompt_tails",
    "model_data_init",
    "ring_add_many",
    "real_starts",
    "model_refresh",
    "mixed_batch",
    "mbpo_batches",
    "ring_of_episodes",
    "DeviceModelAugmenter",
]


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
        """The settings of `AdaptConfig` `adapt` for `model` (model buffer sized as `ModelAugmenter`)."""
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


class PromptTails(eqx.Module):
    """The last m prompt steps per agent: obs (B, m, O), action (B, m, A), reward (B, m); `given` (B,)
    is False where the prompt is the agent's first real episode (read from the real data once complete)."""

    obs: Float[Array, "B m O"]
    action: Float[Array, "B m A"]
    reward: Float[Array, "B m"]
    given: Bool[Array, " B"]


class ModelData(eqx.Module):
    """The model ring and its counters (part of the fused carry, so it checkpoints with it)."""

    ring: ReplayRing
    rollouts: Int[Array, ""]  # rollouts added, summed over agents
    reward_mean: Float[Array, ""]  # mean reward of the last kept refresh (nan before)


class FusedAugment(eqx.Module):
    """What the fused loop's MBPO needs besides its carry: the world model, prompt tails and masks."""

    model: WorldModel
    tails: PromptTails
    obs_mask: Float[Array, "B O"]
    settings: MBPOSettings = eqx.field(static=True)


def prompt_tails(prompts, context_len: int, obs_dim: int, act_dim: int) -> PromptTails:
    """`PromptTails` of per-agent prompts (obs (P+1, O), action (P, A), reward (P,)) or None.

    Raises:
        ValueError: a prompt shorter than the context.
    """
    m, b = int(context_len), len(prompts)
    obs = np.zeros((b, m, obs_dim), np.float32)
    act = np.zeros((b, m, act_dim), np.float32)
    rew = np.zeros((b, m), np.float32)
    given = np.zeros((b,), bool)
    for i, p in enumerate(prompts):
        if p is None:
            continue
        o, a, r = p
        if a.shape[0] < m:
            raise ValueError(f"prompt of agent {i}: {a.shape[0]} steps, must be >= context_len={m}")
        obs[i], act[i], rew[i], given[i] = o[-m - 1 : -1], a[-m:], r[-m:], True
    return PromptTails(jnp.asarray(obs), jnp.asarray(act), jnp.asarray(rew), jnp.asarray(given))


def model_data_init(num_agents: int, settings: MBPOSettings, obs_dim: int, act_dim: int) -> ModelData:
    """An empty model ring."""
    ring = ring_init(num_agents, settings.capacity, obs_dim, act_dim)
    return ModelData(ring, jnp.zeros((), jnp.int32), jnp.full((), jnp.nan, jnp.float32))


def ring_add_many(ring: ReplayRing, batch: Batch) -> ReplayRing:
    """Append (B, n, ...) transitions per agent at the pointer, overwriting the oldest (n <= capacity)."""
    c, n = ring.reward.shape[1], batch.reward.shape[1]
    if n > c:
        raise ValueError(f"ring_add_many: {n} transitions, more than the capacity {c}")
    idx = (ring.ptr + jnp.arange(n)) % c
    put = lambda buf, x: buf.at[:, idx].set(x.astype(buf.dtype))
    return ReplayRing(
        obs=put(ring.obs, batch.obs),
        action=put(ring.action, batch.action),
        reward=put(ring.reward, batch.reward),
        next_obs=put(ring.next_obs, batch.next_obs),
        ptr=(ring.ptr + n) % c,
        size=jnp.minimum(ring.size + n, c),
    )


def _obs_at(ring: ReplayRing, ag, e, t, length: int):
    """obs of step t in [0, L] of episode e: slot e*L's obs at t = 0, else slot e*L + t - 1's next_obs
    (the final obs at t = L; the running episode's newest obs is not yet an `obs` slot)."""
    first = t == 0
    x = ring.obs[ag, e * length]
    nx = ring.next_obs[ag, e * length + jnp.maximum(t - 1, 0)]
    return jnp.where(first[..., None], x, nx)


def real_starts(
    key: PRNGKeyArray, ring: ReplayRing, tails: PromptTails, shape: tuple[int, ...], s: MBPOSettings
) -> tuple[Context, Prefix, Bool[Array, ""]]:
    """Branch points uniform over the real states with a full prefix, as `StartSampler.sample`.

    A start (e, t) has t in [W, L-1] of complete episodes and [W, t_run] of the running one; its
    prefix is steps t-W..t, its context the m steps before, from the prompt tail where the episode has none.

    Returns:
        (context, prefix) shaped (B, *shape, ...) and `ok`: False when no start exists (no complete
        episode where a prompt is the first one, or no full prefix yet); the windows are then garbage.
    """
    L, w, m = s.episode_length, s.prefix_len, s.context_len
    per_episode = L - w
    size = ring.size
    complete, t_run = size // L, size % L
    total = complete * per_episode + jnp.maximum(0, t_run - w + 1)
    tails_ok = jnp.all(tails.given | (complete >= 1))
    ok = (per_episode > 0) & (total > 0) & tails_ok
    b = ring.reward.shape[0]
    idx = jax.random.randint(key, (b, *shape), 0, jnp.maximum(total, 1))
    e, t = jnp.divmod(idx, max(per_episode, 1))
    in_run = idx >= complete * per_episode
    e = jnp.where(in_run, complete, e)
    t = jnp.where(in_run, idx - complete * per_episode, t) + w
    ag = jnp.arange(b).reshape((b,) + (1,) * (len(shape) + 1))
    ee, tt = e[..., None], t[..., None]
    steps = tt - w + jnp.arange(w)
    prefix = Prefix(
        _obs_at(ring, ag, ee, tt - w + jnp.arange(w + 1), L),
        ring.action[ag, ee * L + steps],
        ring.reward[ag, ee * L + steps],
    )
    # the prompt tails: given ones, else the first real episode's last m steps
    first = (jnp.arange(b)[:, None], jnp.arange(L - m, L)[None])
    tail_obs = jnp.where(tails.given[:, None, None], tails.obs, ring.obs[first])
    tail_act = jnp.where(tails.given[:, None, None], tails.action, ring.action[first])
    tail_rew = jnp.where(tails.given[:, None], tails.reward, ring.reward[first])
    cidx = tt - w - m + jnp.arange(m)  # < 0: from the prompt tail
    from_prompt = cidx < 0
    pidx, slot = jnp.where(from_prompt, cidx + m, 0), ee * L + jnp.maximum(cidx, 0)

    def ctx(x_ep, tail):
        x_pr = tail[ag, pidx]
        sel = from_prompt.reshape(from_prompt.shape + (1,) * (x_ep.ndim - from_prompt.ndim))
        return jnp.where(sel, x_pr, x_ep)

    context = Context(
        ctx(ring.obs[ag, slot], tail_obs),
        ctx(ring.action[ag, slot], tail_act),
        ctx(ring.reward[ag, slot], tail_rew),
        jnp.ones(from_prompt.shape, jnp.float32),
    )
    return context, prefix, ok


def model_refresh(
    key: PRNGKeyArray,
    step: Int[Array, ""],
    real: ReplayRing,
    data: ModelData,
    actor,
    act_mask: Float[Array, "B A"],
    aug: FusedAugment,
) -> ModelData:
    """Branch `per_refresh` k-step rollouts per agent into the model ring (`ModelAugmenter.refresh`).

    Nothing is added before `start_steps`, while no start exists, or when the rollouts are not finite.
    """
    s = aug.settings
    k_start, k_branch = jax.random.split(key)
    context, prefix, ok = real_starts(k_start, real, aug.tails, (s.per_refresh,), s)
    branch = lambda d: _branch(k_branch, context, prefix, d, actor, act_mask, aug)
    return jax.lax.cond(ok & (step >= s.start_steps), branch, lambda d: d, data)


def _branch(key, context, prefix, data: ModelData, actor, act_mask, aug: FusedAugment) -> ModelData:
    s = aug.settings
    b, r, k = act_mask.shape[0], s.per_refresh, s.rollout_length
    flat = lambda x: x.reshape(b * r, *x.shape[2:])
    context = Context(*(flat(x) for x in context))
    prefix = Prefix(*(flat(x) for x in prefix))
    masks = (jnp.repeat(aug.obs_mask, r, axis=0), jnp.repeat(act_mask, r, axis=0))
    policy = PopulationPolicy(actor, act_mask, r)
    im = kind_of(aug.model).imagine(aug.model, context, prefix, masks, policy, k, key, sample=s.sample)
    obs = im.obs.reshape(b, r, k + 1, -1) * aug.obs_mask[:, None, None]
    act = im.action.reshape(b, r, k, -1)
    rew = jnp.clip(im.reward.reshape(b, r, k), 0.0, 1.0)
    keep = jnp.all(jnp.isfinite(obs)) & jnp.all(jnp.isfinite(rew))
    n = r * k
    batch = Batch(
        obs=obs[:, :, :-1].reshape(b, n, -1),
        action=act.reshape(b, n, -1),
        reward=rew.reshape(b, n),
        next_obs=obs[:, :, 1:].reshape(b, n, -1),
    )
    added = ModelData(ring_add_many(data.ring, batch), data.rollouts + b * r, rew.mean())
    return jax.tree.map(lambda new, old: jnp.where(keep, new, old), added, data)


def mixed_batch(
    key: PRNGKeyArray, real: ReplayRing, model: ReplayRing, shape: tuple[int, ...], real_ratio: float
) -> Batch:
    """`real_ratio` real transitions (the first ones along the last axis), the rest model ones; all
    real while the model ring is empty (`ModelAugmenter.batches`)."""
    k_real, k_model = jax.random.split(key)
    real_b = ring_sample(real, k_real, shape)
    if real_ratio >= 1.0:
        return real_b
    model_b = ring_sample(model, k_model, shape)
    n_real = int(round(real_ratio * shape[-1]))
    cols = jnp.arange(shape[-1]) < n_real
    use_real = cols | (model.size == 0)
    pick = lambda x, y: jnp.where(use_real.reshape(use_real.shape + (1,) * (x.ndim - 1 - len(shape))), x, y)
    return Batch(*(pick(x, y) for x, y in zip(real_b, model_b, strict=True)))


def mbpo_batches(
    key: PRNGKeyArray,
    step: Int[Array, ""],
    real: ReplayRing,
    data: ModelData,
    sac: SACState,
    act_mask: Float[Array, "B A"],
    aug: FusedAugment,
    shape: tuple[int, ...],
) -> tuple[ModelData, Batch]:
    """One MBPO update call's data: refresh the model ring, then draw the SAC batches (B, *shape, ...)."""
    k_refresh, k_batch = jax.random.split(key)
    data = model_refresh(k_refresh, step, real, data, sac.actor, act_mask, aug)
    return data, mixed_batch(k_batch, real, data.ring, shape, aug.settings.real_ratio)


def ring_of_episodes(buffer: EpisodeBuffer) -> ReplayRing:
    """A host `EpisodeBuffer` as the fused loop's real ring (slot e*L + t), on the device."""
    b, e, length = buffer.num_agents, buffer.max_episodes, buffer.episode_length
    flat = lambda x: jnp.asarray(x.reshape(b, e * length, *x.shape[3:]))
    size = jnp.asarray(buffer.size, jnp.int32)
    return ReplayRing(
        obs=flat(buffer.obs[:, :, :-1]),
        action=flat(buffer.action),
        reward=flat(buffer.reward),
        next_obs=flat(buffer.obs[:, :, 1:]),
        ptr=size % (e * length),
        size=size,
    )


_mbpo_batches = eqx.filter_jit(mbpo_batches)


class DeviceModelAugmenter:
    """The host loop's MBPO on the fused loop's functions (`run_sac(..., device_rng=True)`): the same
    draws and model ring as the fused mjx loop, so the two loops can be compared step for step.

    Arguments:
        model, prompts, obs_mask, act_mask: as `ModelAugmenter`'s.
        settings: `MBPOSettings`.
    """

    def __init__(
        self, model: WorldModel, prompts, obs_mask: np.ndarray, act_mask: np.ndarray, settings: MBPOSettings
    ):
        obs_mask, act_mask = np.asarray(obs_mask, np.float32), np.asarray(act_mask, np.float32)
        tails = prompt_tails(prompts, settings.context_len, obs_mask.shape[1], act_mask.shape[1])
        self.aug = FusedAugment(model, tails, jnp.asarray(obs_mask), settings)
        self.act_mask = jnp.asarray(act_mask)
        self.data = model_data_init(obs_mask.shape[0], settings, obs_mask.shape[1], act_mask.shape[1])

    @property
    def rollouts_done(self) -> int:
        return int(self.data.rollouts)

    def device_batches(self, step: int, real: EpisodeBuffer, state: SACState, key: jax.Array, shape) -> Batch:
        """The update call's batches (`mbpo_batches` on the real buffer)."""
        step_arr = jnp.asarray(step, jnp.int32)
        self.data, batch = _mbpo_batches(
            key, step_arr, ring_of_episodes(real), self.data, state, self.act_mask, self.aug, tuple(shape)
        )
        return batch
