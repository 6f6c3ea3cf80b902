"""Real start states for imagined branches: a real prefix and the m-step context before it, in JAX.

One sampler (`real_starts`) for MBPO's model rollouts and the imagination actor-critic's starts, on
the loop's real `ReplayRing` in episode layout; every draw comes from a JAX key.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from mrcom.worldmodel import Context, Prefix

from ._ring import ReplayRing, obs_at

__all__ = ["Windows", "StartSpec", "PromptTails", "prompt_tails", "real_starts"]


class Windows(Protocol):
    """The window sizes of a start: L (episode length), m (context length), W (prefix length)."""

    @property
    def episode_length(self) -> int: ...

    @property
    def context_len(self) -> int: ...

    @property
    def prefix_len(self) -> int: ...


@dataclasses.dataclass(frozen=True)
class StartSpec:
    """`Windows` as plain numbers: episode_length L, context_len m, prefix_len W."""

    episode_length: int
    context_len: int
    prefix_len: int


class PromptTails(eqx.Module):
    """The last m prompt steps per agent: obs (B, m, O), action (B, m, A), reward (B, m); `given` (B,)
    is False where the prompt is the agent's first real episode (read from the real data once complete)."""

    obs: Float[Array, "B m O"]
    action: Float[Array, "B m A"]
    reward: Float[Array, "B m"]
    given: Bool[Array, " B"]


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


def real_starts(
    key: PRNGKeyArray, ring: ReplayRing, tails: PromptTails, shape: tuple[int, ...], s: Windows
) -> tuple[Context, Prefix, Bool[Array, ""]]:
    """Branch points uniform over the real states with a full prefix, with the m-step context before each.

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
        obs_at(ring, ag, ee, tt - w + jnp.arange(w + 1), L),
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
