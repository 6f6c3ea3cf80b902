"""Soft actor-critic (twin critics, target networks, automatic entropy tuning) for a population of agents.

Every function works on a *population*: a `SACState` whose array leaves have a leading agent axis
(one independent agent per scenario), so B behaviour policies, or N targets x S seeds of adaptation,
train in one jitted call. A single update is written for one agent, `lax.scan` runs several of them,
`eqx.filter_vmap` maps over the agents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from mrcom.worldmodel import jit_by_config

from ._ac_returns import ema_update
from ._nets import Actor, TwinCritic
from ._sac_config import SACConfig


class PolicyActor(Protocol):
    """What acting needs of an actor (SAC's `Actor`, the imagination actor-critic's bounded normal)."""

    def mode(self, obs: Float[Array, " O"], act_mask: Float[Array, " A"]) -> Float[Array, " A"]: ...

    def sample(
        self, obs: Float[Array, " O"], act_mask: Float[Array, " A"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], Float[Array, ""]]: ...


class HasActor(Protocol):
    """A population's policy state: anything with a (population) `actor`."""

    @property
    def actor(self) -> PolicyActor: ...


class Transitions(NamedTuple):
    """SAC transitions (o, a, r, o'); leading axes arbitrary, usually (updates, batch)."""

    obs: Float[Array, "... O"]
    action: Float[Array, "... A"]
    reward: Float[Array, ...]
    next_obs: Float[Array, "... O"]


class SACState(eqx.Module):
    """Networks, target critics, temperature and optimizer states of one agent (or a population)."""

    actor: Actor
    critic: TwinCritic
    target_critic: TwinCritic
    log_alpha: Float[Array, ""]
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    alpha_opt: optax.OptState
    step: Array


def optimizer_step(
    opt: optax.GradientTransformation, grads: Any, opt_state: optax.OptState, module: Any
) -> tuple[Any, optax.OptState]:
    """One optax step on the array leaves of `module`: (the updated module, the new optimizer state)."""
    updates, opt_state = opt.update(grads, opt_state, eqx.filter(module, eqx.is_array))
    return eqx.apply_updates(module, updates), opt_state


def scan_updates(
    update_one: Callable[[Any, Any, PRNGKeyArray], tuple[Any, dict[str, Array]]],
    state: Any,
    xs: Any,
    key: PRNGKeyArray,
) -> tuple[Any, dict[str, Array]]:
    """`update_one(state, x, key) -> (state, metrics)` for each x along the leading axis of `xs` (a key
    split each) under `lax.scan`, the state's array leaves carried: (final state, metrics averaged)."""
    params, static = eqx.partition(state, eqx.is_array)
    keys = jax.random.split(key, jax.tree.leaves(xs)[0].shape[0])

    def body(p, x_k):
        x, k = x_k
        new, metrics = update_one(eqx.combine(p, static), x, k)
        return eqx.filter(new, eqx.is_array), metrics

    params, metrics = jax.lax.scan(body, params, (xs, keys))
    return eqx.combine(params, static), jax.tree.map(jnp.mean, metrics)


def _optimizers(cfg: SACConfig):
    return optax.adam(cfg.actor_lr), optax.adam(cfg.critic_lr), optax.adam(cfg.alpha_lr)


def _init_one(key: PRNGKeyArray, obs_dim: int, act_dim: int, cfg: SACConfig) -> SACState:
    ka, kc = jax.random.split(key)
    actor = Actor(obs_dim, act_dim, cfg.hidden, key=ka)
    critic = TwinCritic(obs_dim, act_dim, cfg.hidden, key=kc)
    log_alpha = jnp.log(jnp.asarray(cfg.init_alpha, jnp.float32))
    a_opt, c_opt, al_opt = _optimizers(cfg)
    return SACState(
        actor=actor,
        critic=critic,
        target_critic=critic,
        log_alpha=log_alpha,
        actor_opt=a_opt.init(eqx.filter(actor, eqx.is_array)),
        critic_opt=c_opt.init(eqx.filter(critic, eqx.is_array)),
        alpha_opt=al_opt.init(log_alpha),
        step=jnp.zeros((), jnp.int32),
    )


def sac_init(key: PRNGKeyArray, num_agents: int, obs_dim: int, act_dim: int, cfg: SACConfig) -> SACState:
    """Initialise `num_agents` independent agents.

    Arguments:
        key: PRNG key; each agent gets its own split.
        num_agents: size of the population (leading axis of every array leaf).
        obs_dim, act_dim: padded widths.
        cfg: hyperparameters.

    Returns:
        A population `SACState`.
    """
    return _init_many(jax.random.split(key, num_agents), obs_dim, act_dim, cfg)


@jit_by_config(lambda keys, obs_dim, act_dim, cfg: cfg.fast_compile)
def _init_many(keys, obs_dim: int, act_dim: int, cfg: SACConfig) -> SACState:
    return eqx.filter_vmap(lambda k: _init_one(k, obs_dim, act_dim, cfg))(keys)


def _update_one(
    state: SACState, batch: Transitions, act_mask: Float[Array, " A"], key: PRNGKeyArray, cfg: SACConfig
) -> tuple[SACState, dict[str, Array]]:
    a_opt, c_opt, al_opt = _optimizers(cfg)
    k_next, k_pi = jax.random.split(key)
    alpha = jnp.exp(state.log_alpha)
    target_entropy = -cfg.target_entropy_scale * jnp.sum(act_mask)
    n = batch.reward.shape[0]

    # Critic: clipped double-Q soft Bellman target (no terminal: time-limit truncation only).
    next_a, next_logp = jax.vmap(state.actor.sample, in_axes=(0, None, 0))(
        batch.next_obs, act_mask, jax.random.split(k_next, n)
    )
    q_next = jax.vmap(state.target_critic)(batch.next_obs, next_a)
    target = batch.reward + cfg.gamma * (jnp.min(q_next, axis=-1) - alpha * next_logp)
    target = jax.lax.stop_gradient(target)

    def critic_loss(critic):
        q = jax.vmap(critic)(batch.obs, batch.action)
        return jnp.mean((q - target[:, None]) ** 2), jnp.mean(q)

    (c_loss, q_mean), c_grads = eqx.filter_value_and_grad(critic_loss, has_aux=True)(state.critic)
    critic, critic_opt = optimizer_step(c_opt, c_grads, state.critic_opt, state.critic)

    # Actor: minimise alpha * log pi - min Q under the updated critics.
    def actor_loss(actor):
        a, logp = jax.vmap(actor.sample, in_axes=(0, None, 0))(batch.obs, act_mask, jax.random.split(k_pi, n))
        q = jnp.min(jax.vmap(critic)(batch.obs, a), axis=-1)
        return jnp.mean(alpha * logp - q), logp

    (p_loss, logp), p_grads = eqx.filter_value_and_grad(actor_loss, has_aux=True)(state.actor)
    actor, actor_opt = optimizer_step(a_opt, p_grads, state.actor_opt, state.actor)

    # Temperature: match the policy entropy to the target.
    entropy_gap = jax.lax.stop_gradient(jnp.mean(logp) + target_entropy)
    al_grad = -entropy_gap  # d/d log_alpha of -log_alpha * (logp + H_target)
    al_update, alpha_opt = al_opt.update(al_grad, state.alpha_opt, state.log_alpha)
    log_alpha = optax.apply_updates(state.log_alpha, al_update)

    new = SACState(
        actor=actor,
        critic=critic,
        target_critic=ema_update(state.target_critic, critic, cfg.tau),
        log_alpha=log_alpha,
        actor_opt=actor_opt,
        critic_opt=critic_opt,
        alpha_opt=alpha_opt,
        step=state.step + 1,
    )
    metrics = {
        "critic_loss": c_loss,
        "actor_loss": p_loss,
        "alpha": jnp.exp(log_alpha),
        "entropy": -jnp.mean(logp),
        "q_mean": q_mean,
    }
    return new, metrics


def _update_many(state: SACState, batches: Transitions, act_mask, key, cfg: SACConfig):
    return scan_updates(lambda s, batch, k: _update_one(s, batch, act_mask, k, cfg), state, batches, key)


@jit_by_config(lambda state, batches, act_mask, key, cfg: cfg.fast_compile)
def sac_update(
    state: SACState,
    batches: Transitions,
    act_mask: Float[Array, "B A"],
    key: PRNGKeyArray,
    cfg: SACConfig,
) -> tuple[SACState, dict[str, Array]]:
    """Run several SAC gradient steps for every agent of a population in one jitted call.

    Arguments:
        state: population state (leading axis B).
        batches: transitions shaped (B, U, batch_size, ...) for U scanned updates.
        act_mask: (B, A) action masks of the agents' robots.
        key: PRNG key.
        cfg: hyperparameters (static).

    Returns:
        (new state, metrics averaged over the U updates, each shaped (B,)).
    """
    keys = jax.random.split(key, act_mask.shape[0])
    fn = eqx.filter_vmap(lambda s, b, m, k: _update_many(s, b, m, k, cfg))
    return fn(state, batches, act_mask, keys)


@eqx.filter_jit
def sac_act(
    actor: PolicyActor,
    obs: Float[Array, "B N O"],
    act_mask: Float[Array, "B A"],
    key: PRNGKeyArray,
    deterministic: bool = False,
) -> Float[Array, "B N A"]:
    """Actions of every agent for N observations each.

    Arguments:
        actor: population actor (leading axis B).
        obs: (B, N, O) padded observations; row b is acted on by agent b.
        act_mask: (B, A) action masks.
        key: sampling key (unused when deterministic).
        deterministic: tanh(mean) instead of a sample.

    Returns:
        (B, N, A) padded actions.
    """
    num_agents, n = obs.shape[:2]
    keys = jax.random.split(key, (num_agents, n))

    def one_agent(act, o, m, k):
        if deterministic:
            return jax.vmap(act.mode, in_axes=(0, None))(o, m)
        return jax.vmap(lambda oi, ki: act.sample(oi, m, ki)[0])(o, k)

    return eqx.filter_vmap(one_agent)(actor, obs, act_mask, keys)
