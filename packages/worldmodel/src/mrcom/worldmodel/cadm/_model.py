"""The CaDM world model (Lee et al. 2020): context encoder, forward, backward and reward heads.

    c_t      = g_e(tau_{t-K..t-1})                 one context vector per member e, from the K past
                                                   transitions (s_j, a_j, r_j, s_{j+1})
    Δs_t     ~ N(f_e(s_t, a_t, c_t))               forward model, normalized state delta
    s_t      ~ s_{t+1} + N(b_e(s_{t+1}, a_t, c_t)) backward model (normalized -Δs_t), training only
    r_t      = R_e(s_t, a_t, s_{t+1}, c_t)         learned reward head

Every network is an ensemble of E members stored with a leading member axis (vmapped). Inputs
are normalized by training-data statistics (`Normalizer`, constants stored in the model) and
masked; the padded-width masks are extra inputs (they tell the robot apart); scenarios are never
named, so what tells them apart must come through the context.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._baseline import WholeConfig
from .._data import MultiScenarioData
from .._ensemble import MAX_LOGVAR_INIT, MIN_LOGVAR_INIT, EnsembleMembers, _masked_stats, _transitions
from .._jit import jit_by_config
from ._config import CaDMConfig


class History(NamedTuple):
    """K past transitions, oldest first (leading batch dims allowed).

    obs (..., K, O) = s_j; action (..., K, A) = a_j; reward (..., K) = r_j; next_obs (..., K, O) =
    s_{j+1}; valid (..., K): 1 for a real transition, 0 for an empty slot.
    """

    obs: Array
    action: Array
    reward: Array
    next_obs: Array
    valid: Array


def push_history(h: History, obs: Array, action: Array, reward: Array, next_obs: Array) -> History:
    """First in, first out: drop the oldest transition of every history, append (s, a, r, s')."""
    roll = lambda x, new, axis: jnp.concatenate(
        [jnp.delete(x, 0, axis=axis), jnp.expand_dims(new, axis)], axis
    )
    reward = jnp.asarray(reward, h.reward.dtype)
    return History(
        roll(h.obs, obs, -2),
        roll(h.action, action, -2),
        roll(h.reward, reward, -1),
        roll(h.next_obs, next_obs, -2),
        roll(h.valid, jnp.ones_like(reward, h.valid.dtype), -1),
    )


class Normalizer(eqx.Module):
    """Training-data statistics (constants, never trained: read under stop_gradient).

    Masked means / standard deviations of s_t, a_t, Δs_t = s_{t+1} - s_t and r_t over all training
    transitions (`_reference._masked_stats`: variance floored at 1e-6, padded dims 0 / 1);
    `real_dims` (O,) is 1 where some training scenario has the dimension.
    """

    obs_mean: Float[Array, " O"]
    obs_std: Float[Array, " O"]
    act_mean: Float[Array, " A"]
    act_std: Float[Array, " A"]
    delta_mean: Float[Array, " O"]
    delta_std: Float[Array, " O"]
    reward_mean: Float[Array, ""]
    reward_std: Float[Array, ""]
    real_dims: Float[Array, " O"]

    def _get(self, name: str) -> Array:
        return jax.lax.stop_gradient(getattr(self, name))

    def obs(self, o: Array, obs_mask: Array) -> Array:
        return (o - self._get("obs_mean")) / self._get("obs_std") * obs_mask

    def action(self, a: Array, act_mask: Array) -> Array:
        return (a - self._get("act_mean")) / self._get("act_std") * act_mask

    def delta(self, d: Array, obs_mask: Array) -> Array:
        return (d - self._get("delta_mean")) / self._get("delta_std") * obs_mask

    def reward(self, r: Array) -> Array:
        return (r - self._get("reward_mean")) / self._get("reward_std")

    def delta_out(self, d_n: Array, obs_mask: Array) -> Array:
        """Normalized delta -> Δs (zero on padded dims)."""
        return (self._get("delta_mean") + self._get("delta_std") * d_n) * obs_mask

    def reward_out(self, r_n: Array) -> Array:
        return self._get("reward_mean") + self._get("reward_std") * r_n


def identity_normalizer(config: CaDMConfig) -> Normalizer:
    """Zero means, unit scales (the shapes of a real one; a placeholder for checkpoint skeletons)."""
    o, a = config.obs_dim, config.act_dim
    z, one = jnp.zeros, jnp.ones
    return Normalizer(z(o), one(o), z(a), one(a), z(o), one(o), z(()), one(()), one(o))


def compute_normalizer(data: MultiScenarioData) -> Normalizer:
    """The `Normalizer` of the training transitions of `data` (all episodes, all scenarios pooled)."""
    d = data.validate()
    o, a, o2, r, om, am = _transitions(d, np.arange(d.obs.shape[0]))
    obs_mean, obs_std = _masked_stats(o, om)
    act_mean, act_std = _masked_stats(a, am)
    delta_mean, delta_std = _masked_stats(o2 - o, om)
    reward_mean, reward_std = (s[0] for s in _masked_stats(r[:, None], np.ones((len(r), 1), np.float32)))
    real = (d.obs_mask.max(0) > 0).astype(np.float32)
    arrays = (obs_mean, obs_std, act_mean, act_std, delta_mean, delta_std, reward_mean, reward_std, real)
    return Normalizer(*(jnp.asarray(x, jnp.float32) for x in arrays))


class Encoder(eqx.Module):
    """The context encoder g: MLP with ReLU hidden layers and a linear output."""

    layers: tuple[eqx.nn.Linear, ...]

    def __init__(self, in_size: int, hidden: tuple[int, ...], out_size: int, *, key: PRNGKeyArray):
        sizes = (in_size, *hidden, out_size)
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = tuple(
            eqx.nn.Linear(i, o, key=k) for i, o, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
        )

    def __call__(self, x: Float[Array, " F"]) -> Float[Array, " Z"]:
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return self.layers[-1](x)


def per_member(module: eqx.Module, x: Float[Array, "E *batch I"]) -> Float[Array, "E *batch J"]:
    """Member e of a stacked `module` on x[e] (any batch dims in between)."""

    def member(m, xe):
        flat = xe.reshape(-1, xe.shape[-1])
        return jax.vmap(m)(flat).reshape(xe.shape[:-1] + (-1,))

    return eqx.filter_vmap(member)(module, x)


def _cat(*xs: Array) -> Array:
    """Concatenate on the last axis after broadcasting the leading dims."""
    lead = jnp.broadcast_shapes(*(x.shape[:-1] for x in xs))
    return jnp.concatenate([jnp.broadcast_to(x, lead + x.shape[-1:]) for x in xs], axis=-1)


class CaDM(WholeConfig[CaDMConfig]):
    """A CaDM ensemble: per member a context encoder, forward, backward and reward heads.

    Fields: encoder (stacked `Encoder`), forward_model / backward_model (`EnsembleMembers` over
    the O state dims: mean and soft-bounded log-variance), reward_model (stacked eqx.nn.MLP -> 1),
    norm (`Normalizer`), config (static).
    """

    encoder: Encoder
    forward_model: EnsembleMembers
    backward_model: EnsembleMembers
    reward_model: eqx.nn.MLP
    norm: Normalizer
    config: CaDMConfig = eqx.field(static=True)

    def __init__(self, config: CaDMConfig, norm: Normalizer | None = None, *, key: PRNGKeyArray):
        c = config
        o, a, z, e = c.obs_dim, c.act_dim, c.context_dim, c.ensemble_size
        per_step = o + a + (o if c.context_state else 0) + (1 if c.context_reward else 0) + 1
        history_in = c.context_len * per_step + o + a
        k_enc, k_fwd, k_bwd, k_rew = (jax.random.split(k, e) for k in jax.random.split(key, 4))
        stack = lambda make, keys: eqx.filter_vmap(make)(keys)
        mlp = lambda i, out, width, depth: (
            lambda k: eqx.nn.MLP(i, out, width, depth, activation=jax.nn.silu, key=k)
        )
        bounds = lambda v: jnp.full((e, o), v, jnp.float32)
        head_in = 2 * o + 2 * a + z
        self.encoder = stack(lambda k: Encoder(history_in, c.encoder_hidden, z, key=k), k_enc)
        self.forward_model = EnsembleMembers(
            stack(mlp(head_in, 2 * o, c.hidden, c.num_layers), k_fwd),
            bounds(MAX_LOGVAR_INIT),
            bounds(MIN_LOGVAR_INIT),
        )
        self.backward_model = EnsembleMembers(
            stack(mlp(head_in, 2 * o, c.hidden, c.num_layers), k_bwd),
            bounds(MAX_LOGVAR_INIT),
            bounds(MIN_LOGVAR_INIT),
        )
        self.reward_model = stack(mlp(head_in + o, 1, c.reward_hidden, 2), k_rew)
        self.norm = identity_normalizer(c) if norm is None else norm
        self.config = c

    # ------------------------------------------------------------------ inputs (any leading dims)

    def history_features(self, h: History, obs_mask: Array, act_mask: Array) -> Array:
        """Encoder input (..., F): per transition [Δs_n, a_n, (s_n), (r_n)] * valid and valid, flat; masks."""
        c, n = self.config, self.norm
        om, am = obs_mask[..., None, :], act_mask[..., None, :]
        parts = [n.delta(h.next_obs - h.obs, om), n.action(h.action, am)]
        if c.context_state:
            parts.append(n.obs(h.obs, om))
        if c.context_reward:
            parts.append(n.reward(h.reward)[..., None])
        valid = h.valid[..., None]
        step = jnp.concatenate([_cat(*parts) * valid, valid], axis=-1)  # (..., K, per_step)
        return _cat(step.reshape(step.shape[:-2] + (-1,)), obs_mask, act_mask)

    def forward_inputs(self, obs, action, context, obs_mask, act_mask) -> Array:
        n = self.norm
        return _cat(n.obs(obs, obs_mask), n.action(action, act_mask), obs_mask, act_mask, context)

    def backward_inputs(self, next_obs, action, context, obs_mask, act_mask) -> Array:
        n = self.norm
        return _cat(n.obs(next_obs, obs_mask), n.action(action, act_mask), obs_mask, act_mask, context)

    def reward_inputs(self, obs, action, next_obs, context, obs_mask, act_mask) -> Array:
        n = self.norm
        return _cat(
            n.obs(obs, obs_mask),
            n.action(action, act_mask),
            n.delta(next_obs - obs, obs_mask),
            obs_mask,
            act_mask,
            context,
        )

    # ------------------------------------------------------------------ heads (member axis first)

    def forward_dist(self, obs, action, context, obs_mask, act_mask) -> tuple[Array, Array]:
        """Per member (mean, logvar) (E, ..., O) of the normalized Δs; `context` (E, ..., Z)."""
        return self.forward_model(self.forward_inputs(obs, action, context, obs_mask, act_mask))

    def reward_members(self, obs, action, next_obs, context, obs_mask, act_mask) -> Array:
        """Per member predicted reward (E, ...), in reward units."""
        x = self.reward_inputs(obs, action, next_obs, context, obs_mask, act_mask)
        return self.norm.reward_out(per_member(self.reward_model, x)[..., 0])


def contexts_of(model: CaDM, h: History, obs_mask: Array, act_mask: Array, member_first: bool) -> Array:
    """Context vectors (E, ..., Z): shared inputs are broadcast to every member; with `member_first`
    the leading axis of `h` and the masks is the member axis (each member its own batch)."""
    x = model.history_features(h, obs_mask, act_mask)
    if not member_first:
        x = jnp.broadcast_to(x, (model.config.ensemble_size,) + x.shape)
    return per_member(model.encoder, x)


def predict(
    model: CaDM,
    history: History,
    obs: Float[Array, "*B O"],
    action: Float[Array, "*B A"],
    obs_mask: Float[Array, "*B O"],
    act_mask: Float[Array, "*B A"],
) -> tuple[Array, Array]:
    """Ensemble-mean one-step prediction (mean over members of each member's mean).

    Arguments:
        history: the K transitions before `obs` (leading dims as `obs`).

    Returns:
        (next obs (*B, O), zero on padded dims; reward (*B,)).
    """
    ctx = contexts_of(model, history, obs_mask, act_mask, member_first=False)
    obs, action = obs * obs_mask, action * act_mask
    mean, _ = model.forward_dist(obs, action, ctx, obs_mask, act_mask)
    next_obs = obs + model.norm.delta_out(jnp.mean(mean, axis=0), obs_mask)
    reward = jnp.mean(model.reward_members(obs, action, next_obs, ctx, obs_mask, act_mask), axis=0)
    return next_obs, reward


@jit_by_config(lambda config, key, norm=None: config.fast_compile)
def init_model(config: CaDMConfig, key: PRNGKeyArray, norm: Normalizer | None = None) -> CaDM:
    """A freshly initialized CaDM for `config` with statistics `norm` (default: identity)."""
    return CaDM(config, norm, key=key)
