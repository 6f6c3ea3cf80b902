"""Real start states for imagined branches: a real prefix and the m-step context before it.

One sampler for MBPO's model rollouts (`ModelAugmenter.refresh`) and the imagination actor-critic.
"""

from __future__ import annotations

import numpy as np

from mrcom.worldmodel import Context, Prefix

from ._buffer import EpisodeBuffer


class StartSampler:
    """Real branch points for imagination (MBPO's branches and the imagination actor-critic's starts).

    A start is (episode e, time t) uniform over the real states with a full prefix of W steps:
    t in [W, L-1] of complete episodes and [W, real.t] of the running one. Its prefix is steps
    t-W..t; its context the m steps before the prefix, taken from the last m prompt steps where the
    episode has none (FIFO-filled from the prompt near an episode start).

    Arguments:
        prompts: per agent (obs (P+1, O), action (P, A), reward (P,)), or None: the agent's first
            real episode (once complete).
        context_len: m. prefix_len: W.
    """

    def __init__(self, prompts, context_len: int, prefix_len: int):
        self.prompts = list(prompts)
        self.m = int(context_len)
        self.w = int(prefix_len)

    def _tails(self, real: EpisodeBuffer):
        tails = []
        for b, p in enumerate(self.prompts):
            if p is None:
                if real.num_complete < 1:
                    return None
                p = (real.obs[b, 0], real.action[b, 0], real.reward[b, 0])
            obs, act, rew = p
            if act.shape[0] < self.m:
                raise ValueError(
                    f"prompt of agent {b}: {act.shape[0]} steps, must be >= context_len={self.m}"
                )
            tails.append((obs[-self.m - 1 : -1], act[-self.m :], rew[-self.m :]))
        return tuple(np.stack(x).astype(np.float32) for x in zip(*tails, strict=True))

    def available(self, real: EpisodeBuffer) -> int:
        """Number of start states per agent (0 also while a needed prompt is missing)."""
        per_episode = real.episode_length - self.w
        if per_episode <= 0 or self._tails(real) is None:
            return 0
        return real.num_complete * per_episode + max(0, real.t - self.w + 1)

    def sample(
        self, real: EpisodeBuffer, rng: np.random.Generator, shape: tuple[int, ...]
    ) -> tuple[Context, Prefix] | None:
        """Context and prefix windows (B, *shape, ...) as numpy float32, or None if no start exists."""
        total = self.available(real)
        if total == 0:
            return None
        tails = self._tails(real)
        w, m, per_episode = self.w, self.m, real.episode_length - self.w
        complete = real.num_complete * per_episode
        b = real.num_agents
        idx = rng.integers(0, total, size=(b, *shape))
        e, t = np.divmod(idx, per_episode)
        in_run = idx >= complete
        e = np.where(in_run, real.episode, e)
        t = np.where(in_run, idx - complete, t) + w
        ag = np.arange(b).reshape((b,) + (1,) * (len(shape) + 1))
        ee, tt = e[..., None], t[..., None]
        prefix = Prefix(
            real.obs[ag, ee, tt - w + np.arange(w + 1)],
            real.action[ag, ee, tt - w + np.arange(w)],
            real.reward[ag, ee, tt - w + np.arange(w)],
        )
        cidx = tt - w - m + np.arange(m)  # < 0: from the prompt tail
        from_prompt = cidx < 0
        pidx, eidx = np.where(from_prompt, cidx + m, 0), np.where(from_prompt, 0, cidx)

        def ctx(ep_arr, tail):
            x_ep, x_pr = ep_arr[ag, ee, eidx], tail[ag, pidx]
            sel = from_prompt.reshape(from_prompt.shape + (1,) * (x_ep.ndim - from_prompt.ndim))
            return np.where(sel, x_pr, x_ep)

        context = Context(
            ctx(real.obs, tails[0]),
            ctx(real.action, tails[1]),
            ctx(real.reward, tails[2]),
            np.ones(from_prompt.shape, np.float32),
        )
        return context, prefix
