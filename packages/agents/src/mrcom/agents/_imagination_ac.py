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

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray
from tqdm.auto import tqdm

from mrcom.worldmodel import Context, Imagined, OpenLoop, Prefix, WorldModel, jit_by_config, kind_of
from mrcom.worldmodel.dreamer import twohot_loss

from ._ac_nets import BoundedNormalActor, Critic
from ._buffer import EpisodeBuffer
from ._loop import LoopResult
from ._sac import sac_act
from ._starts import StartSampler
from ._validate import check_choice, check_positive, check_range

AC_SUFFIX = "-ac"
ACTOR_GRADS = ("dynamics", "reinforce")


def ac_method(kind: str) -> str:
    """The method name of `kind`'s imagination actor-critic ("dreamerv3" -> "dreamerv3-ac")."""
    return f"{kind}{AC_SUFFIX}"


def ac_base(method: str) -> str | None:
    """The world-model kind of an actor-critic method name, or None for any other name."""
    return method[: -len(AC_SUFFIX)] if method.endswith(AC_SUFFIX) else None


@dataclasses.dataclass(frozen=True)
class ACConfig:
    """Hyperparameters of the imagination actor-critic (DreamerV3's, Hafner et al. 2023, unless noted).

    Arguments:
        horizon: H imagined steps per start state (15).
        gamma: discount (1 - 1/333). lam: lambda of the lambda-returns (0.95).
        batch_size: imagined start states per agent and update (ours; DreamerV3 starts from every
            posterior state of its 16 x 64 replay batch).
        updates_per_step: gradient steps per real step (ours: the harness's budgets are small).
        units, layers: hidden width and depth of actor and critic.
        actor_lr, critic_lr: Adam learning rates (ours: SAC's 3e-4, Adam eps 1e-5; DreamerV3's code uses
            one LaProp-like optimizer at 4e-5 for ~1000x more updates than an adaptation run has).
        grad_clip: global-norm gradient clipping per network (the 2023 paper's 100).
        entropy: eta, the entropy bonus in normalized-return units (3e-4).
        min_std, max_std: std bounds of the bounded-normal actor (0.1, 1.0).
        return_rate: EMA rate of the percentile range (0.01). return_low, return_high: its
            percentiles (5, 95). return_floor: S is at least this (1).
        slow_rate: EMA rate of the slow critic (0.02). slow_reg: weight of the regularizer towards
            the slow critic's prediction (1). slow_target: bootstrap the returns with the slow critic
            (False: the current critic, DreamerV3's default).
        actor_grad: "dynamics" (back-propagate the normalized lambda-returns through the model's
            imagined dynamics and rewards: the 2023 paper's choice for continuous actions) or
            "reinforce" (score-function gradients, DreamerV3's current code).
        bins: two-hot bins of the critic (255, symexp of linspace(-20, 20)).
        reward_clip: (lo, hi) imagined rewards are clipped into, or None (ours: environment rewards
            lie in [0, 1], as MBPO's branches clip).
    """

    horizon: int = 15
    gamma: float = 1.0 - 1.0 / 333.0
    lam: float = 0.95
    batch_size: int = 64
    updates_per_step: int = 1
    units: int = 256
    layers: int = 2
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    grad_clip: float = 100.0
    entropy: float = 3e-4
    min_std: float = 0.1
    max_std: float = 1.0
    return_rate: float = 0.01
    return_low: float = 5.0
    return_high: float = 95.0
    return_floor: float = 1.0
    slow_rate: float = 0.02
    slow_reg: float = 1.0
    slow_target: bool = False
    actor_grad: str = "dynamics"
    bins: int = 255
    reward_clip: tuple[float, float] | None = (0.0, 1.0)

    def __post_init__(self):
        if self.reward_clip is not None:
            clip = tuple(float(x) for x in self.reward_clip)
            if len(clip) != 2 or not clip[0] < clip[1]:
                raise ValueError(
                    f"ac.reward_clip={self.reward_clip!r}: must be None or (lo, hi) with lo < hi"
                )
            object.__setattr__(self, "reward_clip", clip)
        for name in ("horizon", "batch_size", "updates_per_step", "units", "layers"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"ac.{name}={v!r}: must be an integer > 0")
        for name in ("actor_lr", "critic_lr", "grad_clip", "min_std", "return_floor"):
            check_positive(f"ac.{name}", getattr(self, name))
        check_range("ac.max_std", self.max_std, self.min_std, float("inf"), lo_open=True)
        check_range("ac.gamma", self.gamma, 0.0, 1.0)
        check_range("ac.lam", self.lam, 0.0, 1.0)
        check_range("ac.entropy", self.entropy, 0.0, float("inf"))
        check_range("ac.slow_reg", self.slow_reg, 0.0, float("inf"))
        check_range("ac.return_rate", self.return_rate, 0.0, 1.0, lo_open=True)
        check_range("ac.slow_rate", self.slow_rate, 0.0, 1.0, lo_open=True)
        check_range("ac.return_low", self.return_low, 0.0, 100.0)
        check_range("ac.return_high", self.return_high, self.return_low, 100.0, lo_open=True)
        check_choice("ac.slow_target", self.slow_target, (True, False))
        check_choice("ac.actor_grad", self.actor_grad, ACTOR_GRADS)
        if (
            isinstance(self.bins, bool)
            or not isinstance(self.bins, int)
            or self.bins < 3
            or self.bins % 2 == 0
        ):
            raise ValueError(f"ac.bins={self.bins!r}: must be an odd integer >= 3")


# ----------------------------------------------------------------------------- the pure pieces


def lambda_returns(
    reward: Float[Array, "*batch H"], value: Float[Array, "*batch H1"], gamma: float, lam: float
) -> Float[Array, "*batch H"]:
    """TD(lambda) returns of an imagined trajectory without terminals (episodes end by time limit).

    Arguments:
        reward: r_t of the step o_t -> o_{t+1}, t = 0..H-1.
        value: v(z_t), t = 0..H (the last one bootstraps).
        gamma, lam: discount and lambda.

    Returns:
        R_t = r_t + gamma * ((1 - lam) * v_{t+1} + lam * R_{t+1}) with R_H = v_H, t = 0..H-1.
    """
    if value.shape[-1] != reward.shape[-1] + 1:
        raise ValueError(f"value.shape={value.shape}: must have H+1={reward.shape[-1] + 1} steps")
    tm = lambda x: jnp.moveaxis(x, -1, 0)

    def step(nxt, x):
        r, v_next = x
        ret = r + gamma * ((1.0 - lam) * v_next + lam * nxt)
        return ret, ret

    _, rets = jax.lax.scan(step, value[..., -1], (tm(reward), tm(value[..., 1:])), reverse=True)
    return jnp.moveaxis(rets, 0, -1)


class ReturnNorm(NamedTuple):
    """EMAs of the low and high percentile of the lambda-returns (start at 0, as DreamerV3's)."""

    low: Array
    high: Array


def update_return_norm(
    norm: ReturnNorm, returns: Array, valid: Array, rate: float, low_pct: float, high_pct: float
) -> ReturnNorm:
    """One EMA step towards the percentiles of the `valid` returns (kept when none is valid)."""
    r = jnp.where(valid, returns, jnp.nan)
    lo, hi = jnp.nanpercentile(r, low_pct), jnp.nanpercentile(r, high_pct)
    any_valid = jnp.any(valid)
    new_low = jnp.where(any_valid, (1.0 - rate) * norm.low + rate * lo, norm.low)
    new_high = jnp.where(any_valid, (1.0 - rate) * norm.high + rate * hi, norm.high)
    return ReturnNorm(new_low, new_high)


def return_scale(norm: ReturnNorm, floor: float) -> Array:
    """S = max(floor, high - low): returns are divided by it (small returns are never scaled up)."""
    return jnp.maximum(floor, norm.high - norm.low)


def ema_update(slow: Any, fast: Any, rate: float) -> Any:
    """(1 - rate) * slow + rate * fast on every array leaf (the slow critic)."""
    return jax.tree.map(lambda s, f: (1.0 - rate) * s + rate * f if eqx.is_array(s) else s, slow, fast)


# ----------------------------------------------------------------------------- state and updates


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
    p_updates, actor_opt = a_opt.update(p_grads, state.actor_opt, eqx.filter(state.actor, eqx.is_array))
    actor = eqx.apply_updates(state.actor, p_updates)

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
    c_updates, critic_opt = c_opt.update(c_grads, state.critic_opt, eqx.filter(state.critic, eqx.is_array))
    critic = eqx.apply_updates(state.critic, c_updates)
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
        params, static = eqx.partition(s, eqx.is_array)

        def body(p, xs):
            c, q, ki = xs
            new, m = _update_one(eqx.combine(p, static), model, imagine, c, q, om, am, ki, cfg, sample)
            return eqx.filter(new, eqx.is_array), m

        keys = jax.random.split(k, pre.obs.shape[0])
        params, m = jax.lax.scan(body, params, (ctx, pre, keys))
        return eqx.combine(params, static), jax.tree.map(jnp.mean, m)

    keys = jax.random.split(key, act_mask.shape[0])
    return eqx.filter_vmap(many)(state, context, prefix, obs_mask, act_mask, keys)


# ----------------------------------------------------------------------------- the adaptation loop


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
