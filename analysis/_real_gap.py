"""The gap Theorem 6 bounds, measured: one adapted policy's return in the real target scenario against
its return in the world model's rollouts from the same start states.

For each target scenario of a pipeline run, its adapted agent (``adapt/<method>/policy.eqx``) acts
deterministically (tanh of the mean, as in evaluation) for ``episodes`` real episodes of the run's
episode length (``mrcom.agents.record_episodes``). The world model then rolls out the same policy
from the same start observations for as many steps (``kind_of(model).imagine`` with an empty
prefix), its FIFO context filled from the target's prompt: the dataset's prompt of that scenario
when it holds one, else the agent's first real episode (as MBPO adaptation does; that episode is
then used only as the prompt). Returns are discounted with the bound's gamma; model rewards are
clipped to the environment's reward range [0, 1], as MBPO does with the model's data.

G_real and G_model are each averaged over the start states (the paper's G is an expectation), and
the gap is ``|mean G_real - mean G_model|`` per target. The same real episodes, filtered by the
model, give the policy constants eps_pi and C_pi at the target's own states
(``analysis._wm_constants.policy_constants``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from analysis._policies import agent, load_population
from analysis._wm_constants import filter_episodes, policy_constants

__all__ = ["DeterministicPopulation", "discounted_return", "model_returns", "TargetGap", "measure_adapted"]

REWARD_RANGE = (0.0, 1.0)


class DeterministicPopulation(eqx.Module):
    """Each agent's deterministic action tanh(mean), for R rows per agent stacked agent-major."""

    actor: eqx.Module
    act_mask: Float[Array, "B A"]
    rows: int = eqx.field(static=True)

    def __call__(self, key: PRNGKeyArray, obs: Float[Array, "BR O"]) -> Float[Array, "BR A"]:
        b = self.act_mask.shape[0]
        o = obs.reshape(b, self.rows, -1)
        one = lambda actor, oi, m: jax.vmap(lambda x: actor.mode(x, m))(oi)
        return eqx.filter_vmap(one)(self.actor, o, self.act_mask).reshape(obs.shape[0], -1)


def discounted_return(reward: Float[np.ndarray, "*b T"], gamma: float) -> Float[np.ndarray, "*b"]:
    """``sum_t gamma^t r_t`` over the last axis."""
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma={gamma!r}: must be in [0, 1)")
    reward = np.asarray(reward, np.float64)
    return reward @ (gamma ** np.arange(reward.shape[-1]))


@eqx.filter_jit
def _imagine(model, context, prefix, masks, policy, horizon, key, sample):
    from mrcom.worldmodel import kind_of

    return kind_of(model).imagine(model, context, prefix, masks, policy, horizon, key, sample=sample)


def model_returns(
    model,
    context,
    start_obs: Float[np.ndarray, "N O"],
    masks: tuple[np.ndarray, np.ndarray],
    policy,
    horizon: int,
    key: PRNGKeyArray,
    gamma: float,
    sample: bool = False,
) -> Float[np.ndarray, " N"]:
    """Discounted return of ``policy`` in the world model's rollouts of ``horizon`` steps from ``start_obs``.

    Arguments:
        model: a registered world model.
        context: ``Context`` (N, m, .) of the m steps before each start.
        start_obs: (N, O) real start observations.
        masks: (obs_mask (N, O), act_mask (N, A)).
        policy: ``policy(key, obs (N, O)) -> action (N, A)``.
        horizon: rollout length. key: PRNG key. gamma: discount. sample: sample the model's priors.

    Returns:
        (N,) returns, rewards clipped to ``REWARD_RANGE``.
    """
    from mrcom.worldmodel import Prefix

    n = start_obs.shape[0]
    a_dim = masks[1].shape[-1]
    prefix = Prefix(
        jnp.asarray(start_obs, jnp.float32)[:, None],
        jnp.zeros((n, 0, a_dim), jnp.float32),
        jnp.zeros((n, 0), jnp.float32),
    )
    jmasks = tuple(jnp.asarray(m, jnp.float32) for m in masks)
    im = _imagine(model, context, prefix, jmasks, policy, int(horizon), key, bool(sample))
    reward = np.clip(np.asarray(im.reward), *REWARD_RANGE)
    return discounted_return(reward, gamma)


@dataclasses.dataclass(frozen=True)
class TargetGap:
    """Real and model returns of one target's adapted policy, and its policy constants there."""

    target: dict
    g_real: float
    g_model: float
    episodes: int
    eps_pi: float
    eps_pi_max: float
    c_pi: float

    @property
    def gap(self) -> float:
        return abs(self.g_real - self.g_model)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"gap": self.gap}


def _prompt_tail(prompt, m: int):
    obs, act, rew = prompt
    if act.shape[0] < m:
        raise ValueError(f"prompt has {act.shape[0]} steps: must be >= context_len={m}")
    return obs[-m - 1 : -1], act[-m:], rew[-m:]


def measure_adapted(
    workdir: str | Path,
    dataset_dir: str | Path | None,
    model,
    key: PRNGKeyArray,
    gamma: float,
    *,
    episodes: int = 2,
    method: str = "mrcom",
    max_states: int = 256,
) -> list[TargetGap]:
    """Real gap and policy constants of every target's adapted ``method`` agent (module docstring).

    Arguments:
        workdir: pipeline workdir with ``config.json`` and ``adapt/<method>/policy.eqx``.
        dataset_dir: its dataset (for the targets' prompts), or None.
        model: the trained MrCoM the policy was adapted with.
        key: PRNG key.
        gamma: discount of the returns (the bound's).
        episodes: real episodes per target (>= 2: one may be needed as the prompt).
        method: the adapted method whose policy is measured.
        max_states: states per target for the Jacobians of C_pi.

    Returns:
        One ``TargetGap`` per target.
    """
    from mrcom.agents import find_prompt, record_episodes
    from mrcom.envs import make
    from mrcom.worldmodel import Context

    if episodes < 2:
        raise ValueError(f"episodes={episodes}: must be >= 2")
    cfg, targets, state = load_population(workdir, method)
    b, m, length = len(targets), model.spec.context_len, cfg.envs.episode_length
    if length < m:
        raise ValueError(f"episode_length={length}: must be >= context_len={m} to prompt the model")
    env_of = lambda e: make(
        [t for t in targets for _ in range(e)], engine=cfg.envs.engine, episode_length=length
    )
    obs, act, rew = record_episodes(state, env_of, b, episodes, seed=int(cfg.seed) + 7919)
    env = env_of(1)
    obs_mask, act_mask = np.asarray(env.obs_mask, np.float32), np.asarray(env.act_mask, np.float32)
    prompts = [None] * b if dataset_dir is None else [find_prompt(Path(dataset_dir), t) for t in targets]
    first = 0 if all(p is not None for p in prompts) else 1  # episodes used for the gap: first..E-1
    tails = []
    for i, p in enumerate(prompts):
        if p is None:
            p = (obs[i, 0], act[i, 0], rew[i, 0])
        tails.append(_prompt_tail(p, m))
    e = episodes - first
    rep = lambda x: np.repeat(np.stack(x), e, axis=0)  # (B*E, ...) agent-major
    context = Context(
        jnp.asarray(rep([t[0] for t in tails])),
        jnp.asarray(rep([t[1] for t in tails])),
        jnp.asarray(rep([t[2] for t in tails])),
        jnp.ones((b * e, m), jnp.float32),
    )
    ep_obs = obs[:, first:].reshape(b * e, length + 1, -1)
    ep_act = act[:, first:].reshape(b * e, length, -1)
    ep_rew = rew[:, first:].reshape(b * e, length)
    om, am = np.repeat(obs_mask, e, axis=0), np.repeat(act_mask, e, axis=0)
    policy = DeterministicPopulation(state.actor, jnp.asarray(act_mask), e)
    k_model, k_filter, k_pol = jax.random.split(key, 3)
    g_model = model_returns(
        model, context, ep_obs[:, 0], (om, am), policy, length, k_model, gamma, sample=cfg.adapt.model_sample
    ).reshape(b, e)
    g_real = discounted_return(ep_rew, gamma).reshape(b, e)
    latent, prev_obs, decoded = (
        np.asarray(x) for x in filter_episodes(model, context, ep_obs, ep_act, ep_rew, om, am, k_filter)
    )
    out = []
    for i, target in enumerate(targets):
        rows = slice(i * e, (i + 1) * e)

        def flat(x, rows=rows):
            return x[rows].reshape(-1, x.shape[-1])

        pc = policy_constants(
            model,
            agent(state.actor, i).dist,
            flat(latent),
            flat(prev_obs),
            flat(decoded),
            flat(ep_obs),
            obs_mask[i],
            act_mask[i],
            jax.random.fold_in(k_pol, i),
            max_states,
        )
        out.append(
            TargetGap(
                target=target.to_dict(),
                g_real=float(g_real[i].mean()),
                g_model=float(g_model[i].mean()),
                episodes=e,
                eps_pi=pc["eps_pi"],
                eps_pi_max=pc["eps_pi_max"],
                c_pi=pc["c_pi"],
            )
        )
    return out
