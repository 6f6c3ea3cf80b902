"""The bound's constants measured on a trained ``mrcom.worldmodel.MrCoM``, its dataset and policies.

Windows of the dataset are filtered with ``mrcom.worldmodel.observe`` (the same windows and
prompt-filled contexts the model trains on, from ``make_source``/``sample_batch``). Then:

- ``eps_t``: per step, KL(prior || posterior) of u plus that of h (d is a deterministic function of u,
  so it adds no divergence), turned into a TV bound (``tv_from_kl``), averaged per scenario, max over
  scenarios (eq. 19).
- ``eps_s``: the same windows filtered twice with the same random key, once with the recorded
  observations and once with ``noise_std`` Gaussian noise added on the real dimensions (an Add-G
  probe); the mean distance of the latents, max over scenarios (eq. 20). Common random numbers make
  the difference due to the observations only.
- ``c_t``: the spectral norm of the Jacobian (``jax.jacfwd``) of the mean one-step latent transition
  s~_{t-1} -> (E[u_t], d_t(E[u_t]), E[h_t]) at posterior latents of the data, with context and action
  held fixed; max over the sampled states.
- ``eps_pi`` and ``c_pi`` (``policy_constants``): TV between two pre-squash Gaussian policies
  (``Actor.dist``-style callables) and the Jacobian norm of the first policy's mean action
  ``tanh(mean) * mask`` at observations of the dataset.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from analysis._estimators import gaussian_kl, max_over_groups, tv_from_kl

__all__ = [
    "sample_windows",
    "worldmodel_eps_t",
    "worldmodel_eps_s",
    "worldmodel_c_t",
    "mean_transition",
    "policy_constants",
]


def sample_windows(model, data, key: PRNGKeyArray, num_windows: int, seq_len: int | None = None):
    """``num_windows`` windows of the dataset with their contexts (a ``mrcom.worldmodel.Batch``)."""
    from mrcom.worldmodel import make_source, sample_batch

    if num_windows < 1:
        raise ValueError(f"num_windows={num_windows}: must be >= 1")
    c = model.config
    seq_len = seq_len or min(c.seq_len, int(np.asarray(data.action).shape[1]))
    src = make_source(data, c.context_len)
    return sample_batch(src, key, num_windows, seq_len, c.context_len)


@eqx.filter_jit
def _observe_many(model, ctx, obs, action, obs_mask, act_mask, keys):
    from mrcom.worldmodel import observe

    fn = lambda c, o, a, om, am, k: observe(model, c, o, a, om, am, k)
    return jax.vmap(fn)(ctx, obs, action, obs_mask, act_mask, keys)


def _observe_batch(model, batch, key: PRNGKeyArray, obs=None):
    obs = batch.obs if obs is None else obs
    keys = jax.random.split(key, obs.shape[0])
    return _observe_many(model, batch.ctx, obs, batch.action, batch.obs_mask, batch.act_mask, keys)


def worldmodel_eps_t(
    model, data, key: PRNGKeyArray, num_windows: int = 64, seq_len: int | None = None
) -> float:
    """epsilon_T of a trained world model (see the module docstring). Returns a value in [0, 1]."""
    kb, ko = jax.random.split(key)
    batch = sample_windows(model, data, kb, num_windows, seq_len)
    o = _observe_batch(model, batch, ko)
    kl = gaussian_kl(o.prior_u.mean, o.prior_u.std, o.post_u.mean, o.post_u.std) + gaussian_kl(
        o.prior_h.mean, o.prior_h.std, o.post_h.mean, o.post_h.std
    )  # (B, T+1)
    tv = np.asarray(tv_from_kl(kl))
    sid = np.repeat(np.asarray(batch.scenario_id)[:, None], tv.shape[1], axis=1)
    return max_over_groups(tv.reshape(-1), sid.reshape(-1))


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
    noise = noise_std * jax.random.normal(kn, batch.obs.shape) * batch.obs_mask[:, None, :]
    clean = _observe_batch(model, batch, ko)
    noisy = _observe_batch(model, batch, ko, obs=batch.obs + noise)
    dist = np.asarray(jnp.linalg.norm(noisy.latent - clean.latent, axis=-1))  # (B, T+1)
    sid = np.repeat(np.asarray(batch.scenario_id)[:, None], dist.shape[1], axis=1)
    return max_over_groups(dist.reshape(-1), sid.reshape(-1))


def worldmodel_c_t(
    model, data, key: PRNGKeyArray, num_windows: int = 16, seq_len: int | None = None, max_states: int = 256
) -> float:
    """C_T of a trained world model: max Jacobian spectral norm of the mean latent transition."""
    c = model.config
    kb, ko, ks = jax.random.split(key, 3)
    batch = sample_windows(model, data, kb, num_windows, seq_len)
    o = _observe_batch(model, batch, ko)
    t1 = o.latent.shape[1]
    # transition from s~_{t-1} (posterior latent) to step t, with e_t and a_{t-1} fixed
    prev = o.latent[:, :-1].reshape(-1, c.latent_dim)
    emb = o.embedding[:, 1:].reshape(-1, o.embedding.shape[-1])
    act = batch.action.reshape(-1, batch.action.shape[-1])
    am = jnp.repeat(batch.act_mask, t1 - 1, axis=0)
    o_prev = batch.obs[:, :-1].reshape(-1, batch.obs.shape[-1])
    om = jnp.repeat(batch.obs_mask, t1 - 1, axis=0)
    n = prev.shape[0]
    idx = jax.random.permutation(ks, n)[: min(max_states, n)]

    norms = _jacobian_norms(model, prev[idx], emb[idx], act[idx], am[idx], o_prev[idx], om[idx])
    return float(jnp.max(norms))


def mean_transition(model, s, e, a, act_mask, o_prev, obs_mask):
    """Mean one-step latent transition s~_{t-1} -> (E[u_t], d_t(E[u_t]), E[h_t]).

    e_t, a_{t-1} and o_{t-1} are held fixed.
    """
    from mrcom.worldmodel import Latent

    c = model.config
    d, h = s[c.u_dim : c.u_dim + c.d_dim], s[c.u_dim + c.d_dim :]
    # u_{t-1} does not enter: the prior of u_t depends on d_{t-1} (eq. 6 with the GRU state)
    pu = model.u_prior(e, d, a, o_prev, act_mask, obs_mask)
    ph = model.h_prior(e, h)
    return Latent(pu.mean, model.deterministic(d, pu.mean, a, act_mask), ph.mean).concat()


@eqx.filter_jit
def _jacobian_norms(model, states, emb, act, act_mask, o_prev, obs_mask):
    def norm_at(s, e, a, m, op, om):
        jac = jax.jacfwd(lambda x: mean_transition(model, x, e, a, m, op, om))(s)
        return jnp.linalg.norm(jac, ord=2)

    return jax.vmap(norm_at)(states, emb, act, act_mask, o_prev, obs_mask)


def policy_constants(
    dist_1: Callable[[Array], tuple[Array, Array]],
    dist_2: Callable[[Array], tuple[Array, Array]] | None,
    obs: Array,
    act_mask: Array,
) -> dict[str, float]:
    """epsilon_pi and C_pi from policies given as ``obs (O,) -> (mean, log_std)`` of a pre-tanh Gaussian.

    Arguments:
        dist_1: the policy whose sensitivity C_pi is measured (e.g. the adapted MrCoM policy).
        dist_2: the policy compared with it for epsilon_pi, or None (epsilon_pi not measured).
        obs: sampled observations (n, O).
        act_mask: (n, A) or (A,), 1 on real action dimensions.

    Returns:
        ``{"c_pi": ...}`` plus ``"eps_pi"`` when ``dist_2`` is given.
    """
    from analysis._estimators import jacobian_spectral_norms

    obs = jnp.asarray(obs)
    act_mask = jnp.broadcast_to(jnp.asarray(act_mask), (obs.shape[0], jnp.asarray(act_mask).shape[-1]))
    out = {}

    def action(o, m):
        return jnp.tanh(dist_1(o)[0]) * m

    norms = jax.vmap(lambda o, m: jacobian_spectral_norms(lambda x: action(x, m), o[None])[0])(obs, act_mask)
    out["c_pi"] = float(jnp.max(norms))
    if dist_2 is not None:

        def tv(o, m):
            m1, l1 = dist_1(o)
            m2, l2 = dist_2(o)
            keep = m > 0
            # padded dims: make both distributions identical there so they add no divergence
            m1, m2 = jnp.where(keep, m1, 0.0), jnp.where(keep, m2, 0.0)
            s1, s2 = jnp.where(keep, jnp.exp(l1), 1.0), jnp.where(keep, jnp.exp(l2), 1.0)
            return tv_from_kl(gaussian_kl(m1, s1, m2, s2))

        out["eps_pi"] = float(jnp.max(jax.vmap(tv)(obs, act_mask)))
    return out
