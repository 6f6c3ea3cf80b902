"""The bound's constants measured on a trained ``mrcom.worldmodel.MrCoM``, its data and a policy.

Windows of the dataset are filtered with ``mrcom.worldmodel.observe`` (the same windows and
prompt-filled contexts the model trains on, from ``make_source``/``sample_batch``). The latent
distance is the L2 norm on s~ = (u, d, h) throughout. Then:

- ``eps_t`` (``worldmodel_eps_t``): whitened residuals of the posterior samples of the stochastic
  coordinates (u_t, h_t) against their one-step priors, after ``burn_in`` steps of each window;
  per scenario, the TV between their diagonal Gaussian fit and N(0, I); max over scenarios
  (``analysis._estimators.estimate_eps_t``). d_t = GRU(d_{t-1}, u_t, a_{t-1}) is a deterministic
  function of u_t given s~_{t-1}, so the TV over (u, d, h) equals the TV over (u, h).
- ``eps_s`` (``worldmodel_eps_s``): the same windows filtered twice with the same random key, once
  with the recorded observations and once with ``noise_std`` Gaussian noise added on the real
  dimensions (an Add-G probe); the mean L2 distance of the latents, max over scenarios (eq. 20).
- ``c_t`` (``worldmodel_c_t``): the TV-Lipschitz constant (``gaussian_map_tv_lipschitz``) of the
  one-step transition s~_{t-1} -> N over (u_t, h_t) (means and stds of both priors), w.r.t. the L2
  distance on s~_{t-1}, with context embedding, action and o_{t-1} held fixed; max over sampled
  posterior latents of the data.
- ``eps_pi``, ``c_pi`` (``policy_constants``): for one policy pi acting on observations, the model's
  rendition of a state is the decoded observation o^_t = decode(s~_t, o_{t-1}) of the filtered
  latent; eps_pi is the mean TV between pi(.|o^_t) and pi(.|o_t) over real steps (Lemma 4's
  policy difference at the same state: what the policy sees in the model against what it sees in
  the world), and C_pi the L1 (= 2 TV) Lipschitz constant of s -> pi(.|decode(s, o_{t-1})) w.r.t.
  the L2 latent distance (so C_pi eps_S / 2 is a TV, as Lemma 4 needs).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from analysis._estimators import (
    estimate_eps_t,
    max_over_groups,
    null_floor,
    policy_tv_per_state,
    tv_prior_posterior,
)
from analysis._lipschitz import gaussian_map_tv_lipschitz
from mrcom.worldmodel import WorldModelConfig, jit_by_config

# Windows sampled from the data: the default training window and evaluation burn-in of MrCoM (the
# model holds only its static spec, so they cannot come from the model; the quick preset uses them).
WINDOW_LEN = WorldModelConfig().seq_len
BURN_IN = WorldModelConfig().eval_burn_in

__all__ = [
    "sample_windows",
    "worldmodel_eps_t",
    "worldmodel_eps_t_details",
    "worldmodel_constants",
    "worldmodel_eps_s",
    "worldmodel_c_t",
    "mean_transition",
    "transition_dist",
    "filter_episodes",
    "policy_constants",
]


def sample_windows(model, data, key: PRNGKeyArray, num_windows: int, seq_len: int | None = None):
    """``num_windows`` windows of the dataset with their contexts (a ``mrcom.worldmodel.Batch``)."""
    from mrcom.worldmodel import make_source, sample_batch

    if num_windows < 1:
        raise ValueError(f"num_windows={num_windows}: must be >= 1")
    c = model.spec
    seq_len = seq_len or min(WINDOW_LEN, int(np.asarray(data.action).shape[1]))
    src = make_source(data, c.context_len)
    return _jitted(sample_batch)(src, key, num_windows, seq_len, c.context_len)


@functools.cache
def _jitted(fn):
    return eqx.filter_jit(fn)


_by_config = jit_by_config(lambda model, *args, **kwargs: model.spec.fast_compile)


@_by_config
def _observe_many(model, ctx, obs, action, obs_mask, act_mask, keys):
    from mrcom.worldmodel import observe

    fn = lambda c, o, a, om, am, k: observe(model, c, o, a, om, am, k)
    return jax.vmap(fn)(ctx, obs, action, obs_mask, act_mask, keys)


def _observe_batch(model, batch, key: PRNGKeyArray, obs=None):
    obs = batch.obs if obs is None else obs
    keys = jax.random.split(key, obs.shape[0])
    return _observe_many(model, batch.ctx, obs, batch.action, batch.obs_mask, batch.act_mask, keys)


def _stochastic(model, x: Array) -> Array:
    """The (u, h) coordinates of latents (..., Z)."""
    c = model.spec
    return jnp.concatenate([x[..., : c.u_dim], x[..., c.u_dim + c.d_dim :]], axis=-1)


def _eps_t_from(model, batch, o, key: PRNGKeyArray, burn_in: int | None) -> dict[str, float]:
    kt, kf = jax.random.split(key)
    t1 = o.latent.shape[1]
    b0 = min(BURN_IN, t1 // 2) if burn_in is None else int(burn_in)
    if not 0 <= b0 < t1:
        raise ValueError(f"burn_in={burn_in}: must be in [0, {t1 - 1}]")
    sl = slice(b0, None)
    cat = lambda a, b: np.concatenate([np.asarray(a[:, sl]), np.asarray(b[:, sl])], axis=-1)
    nxt = np.asarray(_stochastic(model, o.latent[:, sl]))
    d = nxt.shape[-1]
    flat = lambda x: x.reshape(-1, d)
    sid = np.repeat(np.asarray(batch.scenario_id)[:, None], nxt.shape[1], axis=1).reshape(-1)
    prior_mean, prior_std = cat(o.prior_u.mean, o.prior_h.mean), cat(o.prior_u.std, o.prior_h.std)
    eps_t = estimate_eps_t(flat(nxt), flat(prior_mean), flat(prior_std), kt, sid)
    counts = [int(np.sum(sid == g)) for g in np.unique(sid)]
    pp = tv_prior_posterior(
        flat(prior_mean),
        flat(prior_std),
        flat(cat(o.post_u.mean, o.post_h.mean)),
        flat(cat(o.post_u.std, o.post_h.std)),
        sid,
    )
    return {
        "eps_t": eps_t,
        "eps_t_floor": null_floor(max(2, min(counts)), d, kf, repeats=4),
        "prior_posterior_tv": pp,
        "residuals_per_scenario": float(np.mean(counts)),
    }


def _eps_s_from(model, batch, clean, key: PRNGKeyArray, ko: PRNGKeyArray, noise_std: float) -> float:
    if not noise_std >= 0:
        raise ValueError(f"noise_std={noise_std!r}: must be >= 0")
    noise = noise_std * jax.random.normal(key, batch.obs.shape) * batch.obs_mask[:, None, :]
    noisy = _observe_batch(model, batch, ko, obs=batch.obs + noise)
    dist = np.asarray(jnp.linalg.norm(noisy.latent - clean.latent, axis=-1))  # (B, T+1)
    sid = np.repeat(np.asarray(batch.scenario_id)[:, None], dist.shape[1], axis=1)
    return max_over_groups(dist.reshape(-1), sid.reshape(-1))


def _c_t_from(model, batch, o, key: PRNGKeyArray, max_states: int) -> Array:
    c = model.spec
    t1 = o.latent.shape[1]
    # transition from s~_{t-1} (posterior latent) to step t, with e_t, a_{t-1} and o_{t-1} fixed
    prev = o.latent[:, :-1].reshape(-1, c.latent_dim)
    emb = o.embedding[:, 1:].reshape(-1, o.embedding.shape[-1])
    act = batch.action.reshape(-1, batch.action.shape[-1])
    am = jnp.repeat(batch.act_mask, t1 - 1, axis=0)
    o_prev = batch.obs[:, :-1].reshape(-1, batch.obs.shape[-1])
    om = jnp.repeat(batch.obs_mask, t1 - 1, axis=0)
    n = prev.shape[0]
    idx = jax.random.permutation(key, n)[: min(max_states, n)]
    return _transition_tv_lipschitz(model, prev[idx], emb[idx], act[idx], am[idx], o_prev[idx], om[idx])


def worldmodel_constants(
    model,
    data,
    key: PRNGKeyArray,
    *,
    noise_std: float = 0.1,
    num_windows: int = 64,
    max_states: int = 256,
    burn_in: int | None = None,
) -> dict[str, float]:
    """eps_T, eps_S and C_T of a trained world model on one shared sample of windows.

    Arguments:
        model, data: a trained MrCoM and its ``MultiScenarioData``.
        key: PRNG key (windows, filtering, probe noise, Monte Carlo).
        noise_std: std of the Add-G probe of eps_S.
        num_windows: windows of the data.
        max_states: sampled latents for C_T.
        burn_in: first steps of each window left out of eps_T (the filter starts from the zero
            latent); default ``min(BURN_IN, T // 2)``.

    Returns:
        ``{"eps_t", "eps_t_floor" (what an exactly calibrated model reads with as many residuals),
        "prior_posterior_tv" (the former eps_T, a diagnostic), "residuals_per_scenario", "eps_s",
        "c_t", "c_t_median"}``.
    """
    kb, ko, kt, kn, kc = jax.random.split(key, 5)
    batch = sample_windows(model, data, kb, num_windows)
    clean = _observe_batch(model, batch, ko)
    out = _eps_t_from(model, batch, clean, kt, burn_in)
    out["eps_s"] = _eps_s_from(model, batch, clean, kn, ko, noise_std)
    lip = np.asarray(_c_t_from(model, batch, clean, kc, max_states))
    out["c_t"], out["c_t_median"] = float(lip.max()), float(np.median(lip))
    return out


def worldmodel_eps_t_details(
    model,
    data,
    key: PRNGKeyArray,
    num_windows: int = 64,
    seq_len: int | None = None,
    burn_in: int | None = None,
) -> dict[str, float]:
    """eps_T and its diagnostics (keys ``eps_t*``, ``prior_posterior_tv`` of ``worldmodel_constants``)."""
    kb, ko, kt = jax.random.split(key, 3)
    batch = sample_windows(model, data, kb, num_windows, seq_len)
    return _eps_t_from(model, batch, _observe_batch(model, batch, ko), kt, burn_in)


def worldmodel_eps_t(
    model, data, key: PRNGKeyArray, num_windows: int = 64, seq_len: int | None = None
) -> float:
    """epsilon_T of a trained world model (see the module docstring). Returns a value in [0, 1]."""
    return worldmodel_eps_t_details(model, data, key, num_windows, seq_len)["eps_t"]


def worldmodel_eps_s(
    model,
    data,
    key: PRNGKeyArray,
    noise_std: float = 0.1,
    num_windows: int = 64,
    seq_len: int | None = None,
) -> float:
    """epsilon_S of a trained world model under an Add-G probe of ``noise_std`` (latent units)."""
    if not noise_std >= 0:
        raise ValueError(f"noise_std={noise_std!r}: must be >= 0")
    kb, ko, kn = jax.random.split(key, 3)
    batch = sample_windows(model, data, kb, num_windows, seq_len)
    return _eps_s_from(model, batch, _observe_batch(model, batch, ko), kn, ko, noise_std)


def worldmodel_c_t(
    model, data, key: PRNGKeyArray, num_windows: int = 16, seq_len: int | None = None, max_states: int = 256
) -> float:
    """C_T of a trained world model: max TV-Lipschitz constant of the transition (module docstring)."""
    kb, ko, ks = jax.random.split(key, 3)
    batch = sample_windows(model, data, kb, num_windows, seq_len)
    return float(jnp.max(_c_t_from(model, batch, _observe_batch(model, batch, ko), ks, max_states)))


def transition_dist(model, s, e, a, act_mask, o_prev, obs_mask) -> tuple[Array, Array]:
    """The one-step transition s~_{t-1} -> Gaussian over (u_t, h_t): (mean, std), each (u_dim + h_dim,).

    e_t, a_{t-1} and o_{t-1} are held fixed; d_t follows deterministically from u_t.
    """
    c = model.spec
    d, h = s[c.u_dim : c.u_dim + c.d_dim], s[c.u_dim + c.d_dim :]
    # u_{t-1} does not enter: the prior of u_t depends on d_{t-1} (eq. 6 with the GRU state)
    pu = model.u_prior(e, d, a, o_prev, act_mask, obs_mask)
    ph = model.h_prior(e, h)
    return jnp.concatenate([pu.mean, ph.mean]), jnp.concatenate([pu.std, ph.std])


def mean_transition(model, s, e, a, act_mask, o_prev, obs_mask):
    """Mean one-step latent transition s~_{t-1} -> (E[u_t], d_t(E[u_t]), E[h_t]) (a diagnostic)."""
    from mrcom.worldmodel import Latent

    c = model.spec
    d, h = s[c.u_dim : c.u_dim + c.d_dim], s[c.u_dim + c.d_dim :]
    pu = model.u_prior(e, d, a, o_prev, act_mask, obs_mask)
    ph = model.h_prior(e, h)
    return Latent(pu.mean, model.deterministic(d, pu.mean, a, act_mask), ph.mean).concat()


@_by_config
def _transition_tv_lipschitz(model, states, emb, act, act_mask, o_prev, obs_mask):
    def at(s, e, a, m, op, om):
        return gaussian_map_tv_lipschitz(lambda x: transition_dist(model, x, e, a, m, op, om), s[None])[0]

    return jax.vmap(at)(states, emb, act, act_mask, o_prev, obs_mask)


@_by_config
def _filter_episodes(model, ctx, obs, action, obs_mask, act_mask, keys):
    from mrcom.worldmodel import observe

    def one(c, o, a, om, am, k):
        seq = observe(model, c, o, a, om, am, k)
        decoded = jax.vmap(lambda s, op: model.decode_obs(s, op, om))(seq.latent, seq.prev_obs)
        return seq.latent, seq.prev_obs, decoded

    return jax.vmap(one)(ctx, obs, action, obs_mask, act_mask, keys)


def filter_episodes(model, context, obs, action, reward, obs_mask, act_mask, key: PRNGKeyArray):
    """Filter the model over real episodes that follow a context of m steps.

    Arguments:
        model: a trained MrCoM.
        context: ``mrcom.worldmodel.Context`` of the m steps before each episode, (N, m, .).
        obs (N, T+1, O), action (N, T, A), reward (N, T): the episodes.
        obs_mask (N, O), act_mask (N, A): masks.
        key: PRNG key.

    Returns:
        (latent (N, T+1, Z), prev_obs (N, T+1, O), decoded o^_t (N, T+1, O)).
    """
    from mrcom.worldmodel import Context

    f32 = lambda x: jnp.asarray(x, jnp.float32)
    obs, action, reward = f32(obs), f32(action), f32(reward)
    n, t = action.shape[:2]
    ctx = Context(
        jnp.concatenate([f32(context.obs), obs[:, :t]], axis=1),
        jnp.concatenate([f32(context.action), action], axis=1),
        jnp.concatenate([f32(context.reward), reward], axis=1),
        jnp.concatenate([f32(context.valid), jnp.ones((n, t), jnp.float32)], axis=1),
    )
    keys = jax.random.split(key, n)
    return _filter_episodes(model, ctx, obs, action, f32(obs_mask), f32(act_mask), keys)


@_by_config
def _policy_lipschitz(model, dist, states, o_prev, obs_mask, act_mask):
    def at(s, op, om, am):
        def through_decoder(x):
            mean, log_std = dist(model.decode_obs(x, op, om))
            return mean, jnp.exp(log_std)

        return gaussian_map_tv_lipschitz(through_decoder, s[None], am[None])[0]

    return jax.vmap(at)(states, o_prev, obs_mask, act_mask)


def policy_constants(
    model,
    dist: Callable[[Array], tuple[Array, Array]],
    latent: Float[Array, "n Z"],
    prev_obs: Float[Array, "n O"],
    decoded: Float[Array, "n O"],
    obs: Float[Array, "n O"],
    obs_mask: Float[Array, "*n O"],
    act_mask: Float[Array, "*n A"],
    key: PRNGKeyArray,
    max_states: int = 256,
) -> dict[str, float]:
    """eps_pi and C_pi of one policy ``obs (O,) -> (mean, log_std)`` of a pre-tanh Gaussian.

    Arguments:
        model: the world model whose decoder renders the latent for the policy.
        dist: the policy (e.g. ``Actor.dist`` of one adapted agent).
        latent, prev_obs, decoded, obs: per real step, the filtered latent s~_t, o_{t-1}, the
            decoded o^_t and the real o_t (from ``filter_episodes``, flattened).
        obs_mask, act_mask: (O,)/(A,) or per step.
        key: PRNG key (Monte Carlo TV and the subsample for C_pi).
        max_states: states at which the Jacobians for C_pi are taken.

    Returns:
        ``{"eps_pi", "eps_pi_max", "c_pi"}``: mean and max TV over the steps, and the L1 constant.
    """
    latent, prev_obs, decoded, obs = (jnp.asarray(x, jnp.float32) for x in (latent, prev_obs, decoded, obs))
    n = obs.shape[0]
    om = jnp.broadcast_to(jnp.asarray(obs_mask, jnp.float32), obs.shape)
    am = jnp.asarray(act_mask, jnp.float32)
    am = jnp.broadcast_to(am, (n, am.shape[-1]))
    k_tv, k_idx = jax.random.split(key)
    tv = policy_tv_per_state(dist, decoded, obs, k_tv, am)
    idx = jax.random.permutation(k_idx, n)[: min(max_states, n)]
    lip = _policy_lipschitz(model, dist, latent[idx], prev_obs[idx], om[idx], am[idx])
    return {
        "eps_pi": float(jnp.mean(tv)),
        "eps_pi_max": float(jnp.max(tv)),
        "c_pi": 2.0 * float(jnp.max(lip)),
    }
