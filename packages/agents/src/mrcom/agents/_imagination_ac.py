"""Imagination actor-critic: DreamerV3's policy learning as a second adaptation method beside MBPO.

During adaptation to a target the agent acts in the real environment for `adapt.real_steps` steps
and keeps the same real data as MBPO (same seed, same random warm-up, same resets); the world model
is frozen, as in MBPO. Every update call samples real branch points from the real episodes (the
prefix of `adapt.prefix_len` real steps and the m-step context before it, prompt-filled near an
episode start, exactly like MBPO's branches), lets the model kind's `imagine` filter its posterior
over them and imagine `ac.horizon` steps under the current actor, then trains on the imagined
trajectory:

    R_t = r_t + gamma * ((1 - lam) * v(z_{t+1}) + lam * R_{t+1}),  R_H = v(z_H)   (lambda-returns)
    S   = EMA_rate(P95(R) - P5(R)),  advantage A_t = (R_t - v(z_t)) / max(1, S)
    actor:  -E[ A_t + eta * H(pi(. | o_t)) ], A_t differentiated through the model's imagined
            dynamics (`actor_grad="dynamics"`, the 2023 paper's continuous-action choice), or
            -E[ log pi(a_t | o_t) * sg(A_t) + eta * H ] (`"reinforce"`, DreamerV3's current code)
    critic: twohot-CE(v(z_t), sg(R_t)) + slow_reg * twohot-CE(v(z_t), sg(v_slow(z_t)))
    v_slow <- (1 - slow_rate) * v_slow + slow_rate * v                         (slow critic, EMA)

What each network reads (our reading, see docs): the critic reads the world model's latent z_t
(`Imagined.latent`), as DreamerV3's does; it is only used inside imagination. The actor reads the
observation: the decoded o~_t in imagination (the seam's policy input) and the real o_t when it
acts, so the adapted policy is evaluated like every other method's, without the world model. The
names are "<kind>-ac" (e.g. "dreamerv3-ac", "mrcom-ac"), one per model kind of the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from mrcom.worldmodel import Context, Imagined, Prefix, WorldModel, jit_by_config, kind_of, twohot_loss

from ._ac_config import ACConfig
from ._ac_nets import BoundedNormalActor, Critic
from ._ac_returns import ReturnNorm, ema_update, lambda_returns, return_scale, update_return_norm
from ._sac import optimizer_step, scan_updates


class ACState(eqx.Module):
    """Actor, critic, slow critic, optimizer states and return normalizer of one agent (or a population)."""

    actor: BoundedNormalActor
    critic: Critic
    slow_critic: Critic
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    norm: ReturnNorm
    step: Array


class ACPolicy(eqx.Module):
    """What acting and evaluation need of an adapted agent: its actor (`evaluate_policy` reads `.actor`)."""

    actor: BoundedNormalActor


def _optimizers(cfg: ACConfig):
    opt = lambda lr: optax.chain(optax.clip_by_global_norm(cfg.grad_clip), optax.adam(lr, eps=1e-5))
    return opt(cfg.actor_lr), opt(cfg.critic_lr)


def _actor(key, obs_dim: int, act_dim: int, cfg: ACConfig) -> BoundedNormalActor:
    return BoundedNormalActor(
        obs_dim, act_dim, cfg.units, cfg.layers, min_std=cfg.min_std, max_std=cfg.max_std, key=key
    )


def _init_one(key, obs_dim: int, act_dim: int, latent_dim: int, cfg: ACConfig) -> ACState:
    ka, kc = jax.random.split(key)
    actor = _actor(ka, obs_dim, act_dim, cfg)
    critic = Critic(latent_dim, cfg.units, cfg.layers, bins=cfg.bins, key=kc)
    a_opt, c_opt = _optimizers(cfg)
    zero = jnp.zeros((), jnp.float32)
    return ACState(
        actor=actor,
        critic=critic,
        slow_critic=critic,
        actor_opt=a_opt.init(eqx.filter(actor, eqx.is_array)),
        critic_opt=c_opt.init(eqx.filter(critic, eqx.is_array)),
        norm=ReturnNorm(zero, zero),
        step=jnp.zeros((), jnp.int32),
    )


@eqx.filter_jit
def ac_init(
    key: PRNGKeyArray, num_agents: int, obs_dim: int, act_dim: int, latent_dim: int, cfg: ACConfig
) -> ACState:
    """`num_agents` independent agents (leading axis on every array leaf); each gets its own key split.

    Arguments:
        key: PRNG key. num_agents: B. obs_dim, act_dim: padded widths.
        latent_dim: width of the world model's `Imagined.latent` (the critic's input). cfg: config.
    """
    keys = jax.random.split(key, num_agents)
    return eqx.filter_vmap(lambda k: _init_one(k, obs_dim, act_dim, latent_dim, cfg))(keys)


def policy_like(num_agents: int, obs_dim: int, act_dim: int, cfg: ACConfig) -> ACPolicy:
    """A population `ACPolicy` of the right structure, to deserialise a saved one into."""
    keys = jax.random.split(jax.random.PRNGKey(0), num_agents)
    return ACPolicy(eqx.filter_vmap(lambda k: _actor(k, obs_dim, act_dim, cfg))(keys))


class ActorPolicy(eqx.Module):
    """An agent's stochastic actor as the seam's policy(key, obs (N, O)) -> action (N, A).

    `reparam`: reparameterized samples that pass gradients to the actor (dynamics backpropagation).
    """

    actor: BoundedNormalActor
    act_mask: Float[Array, " A"]
    reparam: bool = eqx.field(static=True, default=False)

    def __call__(self, key: PRNGKeyArray, obs: Float[Array, "N O"]) -> Float[Array, "N A"]:
        keys = jax.random.split(key, obs.shape[0])
        draw = self.actor.rsample if self.reparam else (lambda o, m, k: self.actor.sample(o, m, k)[0])
        return jax.vmap(lambda o, k: draw(o, self.act_mask, k))(obs, keys)


def _finite_rows(*xs: Array) -> Array:
    """(N,) True where every entry of row n of every x (N, ...) is finite."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x.reshape(x.shape[0], -1)), axis=1) for x in xs]), axis=0)


def _clean(im: Imagined, reward_clip) -> tuple[Imagined, Array]:
    """Zero the rows of diverged branches (returned weight 0: MBPO drops them) and clip rewards."""
    ok = _finite_rows(im.obs, im.reward, im.latent)
    zero_bad = lambda x: jnp.where(ok.reshape(ok.shape + (1,) * (x.ndim - 1)), x, 0.0)
    im = Imagined(*map(zero_bad, im))
    if reward_clip is not None:
        im = im._replace(reward=jnp.clip(im.reward, *reward_clip))
    return im, ok


def _finite_or_zero(grads: Any) -> Any:
    """The gradients, or all zeros when any entry is not finite (a diverged branch cannot poison
    the weights or the optimizer's moments)."""
    leaves = [x for x in jax.tree.leaves(grads) if eqx.is_array(x)]
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
    return jax.tree.map(lambda x: jnp.where(finite, x, 0.0) if eqx.is_array(x) else x, grads)


def _update_one(
    state: ACState,
    model: WorldModel,
    imagine: Callable[..., Any],
    context: Context,
    prefix: Prefix,
    obs_mask: Float[Array, " O"],
    act_mask: Float[Array, " A"],
    key: PRNGKeyArray,
    cfg: ACConfig,
    sample: bool,
) -> tuple[ACState, dict[str, Array]]:
    """One imagination + actor-critic step of one agent from N real start windows."""
    a_opt, c_opt = _optimizers(cfg)
    n, h = prefix.obs.shape[0], cfg.horizon
    masks = (
        jnp.broadcast_to(obs_mask, (n,) + obs_mask.shape),
        jnp.broadcast_to(act_mask, (n,) + act_mask.shape),
    )
    dynamics = cfg.actor_grad == "dynamics"
    over_nt = lambda f: jax.vmap(jax.vmap(f))  # over (N, T)
    boot = state.slow_critic if cfg.slow_target else state.critic
    sg = jax.lax.stop_gradient

    def imagined(actor):
        im = imagine(
            model, context, prefix, masks, ActorPolicy(actor, act_mask, dynamics), h, key, sample=sample
        )
        im, ok = _clean(im, cfg.reward_clip)
        ret = lambda_returns(im.reward, over_nt(boot)(im.latent), cfg.gamma, cfg.lam)  # (N, H)
        valid = jnp.broadcast_to(ok[:, None], ret.shape)
        norm = update_return_norm(
            state.norm, sg(ret), valid, cfg.return_rate, cfg.return_low, cfg.return_high
        )
        base = sg(over_nt(state.critic)(im.latent[:, :-1]))
        adv = (ret - base) / sg(return_scale(norm, cfg.return_floor))
        weight = ok[:, None] / jnp.maximum(jnp.sum(ok) * h, 1.0)  # the mean over valid (N, H)
        return im, ok, ret, norm, adv, weight

    def actor_loss(actor):
        if dynamics:  # the 2023 paper's continuous-action gradient: through the model's dynamics
            im, ok, ret, norm, adv, weight = imagined(actor)
            objective = adv
        else:  # REINFORCE on the sampled actions (DreamerV3's current code)
            im, ok, ret, norm, adv, weight = jax.tree.map(sg, imagined(state.actor))
            objective = over_nt(lambda o, a: actor.log_prob(o, a, act_mask))(im.obs[:, :-1], im.action) * adv
        ent = over_nt(lambda o: actor.entropy(o, act_mask))(sg(im.obs[:, :-1]))
        loss = -jnp.sum(weight * (objective + cfg.entropy * ent))
        aux = (jax.tree.map(sg, im), ok, sg(ret), norm, jnp.sum(weight * ent), sg(weight))
        return loss, aux

    (p_loss, aux), p_grads = eqx.filter_value_and_grad(actor_loss, has_aux=True)(state.actor)
    im, ok, ret, norm, ent, weight = aux
    p_grads = _finite_or_zero(p_grads)
    actor, actor_opt = optimizer_step(a_opt, p_grads, state.actor_opt, state.actor)

    z = im.latent[:, :-1]
    slow = sg(over_nt(state.slow_critic)(z))

    def critic_loss(critic):
        logits = over_nt(critic.logits)(z)
        ce = twohot_loss(logits, ret, critic.support) + cfg.slow_reg * twohot_loss(
            logits, slow, critic.support
        )
        return jnp.sum(weight * ce)

    c_loss, c_grads = eqx.filter_value_and_grad(critic_loss)(state.critic)
    c_grads = _finite_or_zero(c_grads)
    critic, critic_opt = optimizer_step(c_opt, c_grads, state.critic_opt, state.critic)
    new = ACState(
        actor=actor,
        critic=critic,
        slow_critic=ema_update(state.slow_critic, critic, cfg.slow_rate),
        actor_opt=actor_opt,
        critic_opt=critic_opt,
        norm=norm,
        step=state.step + 1,
    )
    metrics = {
        "actor_loss": p_loss,
        "critic_loss": c_loss,
        "entropy": ent,
        "return_mean": jnp.sum(weight * ret),
        "return_scale": return_scale(norm, cfg.return_floor),
        "imagined_reward": jnp.sum(weight * im.reward),
        "valid_fraction": jnp.mean(ok.astype(jnp.float32)),
    }
    return new, metrics


def _fast_compile(state, model, *args, **kwargs) -> bool:
    return bool(getattr(model.spec, "fast_compile", False))


@jit_by_config(_fast_compile)
def ac_update(
    state: ACState,
    model: WorldModel,
    context: Context,
    prefix: Prefix,
    obs_mask: Float[Array, "B O"],
    act_mask: Float[Array, "B A"],
    key: PRNGKeyArray,
    cfg: ACConfig,
    sample: bool = False,
    imagine: Callable[..., Any] | None = None,
) -> tuple[ACState, dict[str, Array]]:
    """U scanned imagination actor-critic updates for every agent of a population in one jitted call.

    Arguments:
        state: population state (leading axis B).
        model: the frozen world model (shared by the agents).
        context: Context with obs (B, U, N, m, O), action (B, U, N, m, A), reward and valid (B, U, N, m).
        prefix: Prefix with obs (B, U, N, W+1, O), action (B, U, N, W, A), reward (B, U, N, W).
        obs_mask, act_mask: the agents' masks.
        key: PRNG key. cfg: hyperparameters (static). sample: sample the model's priors (static).
        imagine: the model's imagine (default `kind_of(model).imagine`; static).

    Returns:
        (new state, metrics averaged over the U updates, each (B,)).
    """
    imagine = kind_of(model).imagine if imagine is None else imagine

    def many(s, ctx, pre, om, am, k):
        one = lambda s1, x, k1: _update_one(s1, model, imagine, *x, om, am, k1, cfg, sample)
        return scan_updates(one, s, (ctx, pre), k)

    keys = jax.random.split(key, act_mask.shape[0])
    return eqx.filter_vmap(many)(state, context, prefix, obs_mask, act_mask, keys)
