"""The MrCoM world model, top to bottom.

Step convention (docs/interfaces.md): step t is (o_t, a_t, r_t); a_t is chosen after seeing o_t,
r_t is its reward, then o_{t+1} is shown. The latent at step t is s~_t = concat(u_t, d_t, h_t)
and explains o_t. The paper's "a_t" in p(u_t | C_t, a_t) is the action that leads INTO step t,
i.e. our a_{t-1} (see docs/choices.md).

    e_t   = ContextEncoder(C_t)            C_t = steps t-m .. t-1, token j = (o_j, a_j, r_{j-1})  (eq. 4)
    u_t   ~ p(u | e_t, d_{t-1}, a_{t-1})   prior;   q(u | e_t, d_{t-1}, a_{t-1}, o_t)    (eqs. 6, 9)
    d_t   = GRU(d_{t-1}, [u_t, a_{t-1}])                                              (eq. 7)
    h_t   ~ p(h | e_t, h_{t-1})            prior;   q(h | e_t, h_{t-1}, o_t)             (eqs. 8, 9)
    o_t   ~ N(norm(o_{t-1}) + Decoder(s~_t, o_{t-1}), obs_std^2) on the real (masked) dimensions,
            in the standardized space norm(o) = (o - mean) / std of the training data (eq. 9)
    r_t   = Reward(s~_t, o_t, a_t, e_t)

`obs_skip=False` gives the decoder of s~_t alone and `obs_transform="symlog"` the symlog space
(the printed eq. 9 and DreamerV3's input transform); why the defaults differ: docs/choices.md,
"World-model accuracy".
    v_i   = per-scenario value heads, v_psi = shared meta-value, both on sg(s~_t)      (eqs. 13, 14)

The reward enters the context one slot late: r_{t-1} is computed from the state reached after
step t-1, i.e. it is a function of o_t, so it must not sit in C_t, which conditions the prior of
o_t. A `Context` stores steps as (o_j, a_j, r_j) everywhere (data, `push`, imagination); the
`ContextEncoder` lags the reward column inside the window (the oldest slot gets none).

All functions here act on ONE sequence; callers vmap over the batch.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._jit import jit_by_config
from .._seam import Context
from ._config import ModelSpec, WorldModelConfig
from ._context import ContextEncoder, ObsNorm, _act_in, _obs_in

# ----------------------------------------------------------------------------- small pieces


class Normal(NamedTuple):
    """Diagonal Gaussian; `mean` and `std` have the same shape (..., D)."""

    mean: Array
    std: Array

    def sample(self, key: PRNGKeyArray) -> Array:
        return self.mean + self.std * jax.random.normal(key, self.mean.shape, self.mean.dtype)


class Latent(NamedTuple):
    u: Array
    d: Array
    h: Array

    def concat(self) -> Array:
        return jnp.concatenate([self.u, self.d, self.h], axis=-1)


def _mlp(in_size: int, out_size: int, width: int, key: PRNGKeyArray, depth: int = 2) -> eqx.nn.MLP:
    return eqx.nn.MLP(in_size, out_size, width, depth, activation=jax.nn.silu, key=key)


class GaussianHead(eqx.Module):
    """MLP -> diagonal Gaussian with std = 2 * sigmoid(x / 2) + min_std (bounded both ways) and, with
    `mean_bound` b > 0, mean = b * tanh(x / b) (the identity near 0, bounded by b)."""

    mlp: eqx.nn.MLP
    min_std: float = eqx.field(static=True)
    mean_bound: float = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int,
        width: int,
        min_std: float,
        *,
        key: PRNGKeyArray,
        mean_bound: float = 0.0,
    ):
        self.mlp = _mlp(in_size, 2 * out_size, width, key)
        self.min_std = min_std
        self.mean_bound = mean_bound

    def __call__(self, x: Float[Array, " I"]) -> Normal:
        mean, raw = jnp.split(self.mlp(x), 2)
        if self.mean_bound > 0:
            mean = self.mean_bound * jnp.tanh(mean / self.mean_bound)
        return Normal(mean, 2.0 * jax.nn.sigmoid(raw / 2.0) + self.min_std)


# ----------------------------------------------------------------------------- the model


class MrCoM(eqx.Module):
    """Meta-Regularized Contextual World-Model (all parameters theta and psi in one pytree).

    Build with `init_model(config, key)`. Methods act on one sequence (vmap for batches). The model
    holds only the static part of its config (`spec`, a `ModelSpec`): loss weights and training
    settings reach the loss and the training step as arguments.
    """

    spec: ModelSpec = eqx.field(static=True)
    obs_norm: ObsNorm
    context: ContextEncoder
    prior_u: GaussianHead
    post_u: GaussianHead
    gru: eqx.nn.GRUCell
    prior_h: GaussianHead
    post_h: GaussianHead
    decoder: eqx.nn.MLP
    reward_head: eqx.nn.MLP
    value_heads: eqx.nn.MLP  # stacked: one MLP per training scenario (leading axis S)
    meta_value: eqx.nn.MLP

    def __init__(self, spec: ModelSpec, *, key: PRNGKeyArray):
        c = spec
        ks = jax.random.split(key, 10)
        a_in, o_in, e, z = 2 * c.act_dim, 2 * c.obs_dim, c.embed_dim, c.latent_dim
        self.spec = c
        self.obs_norm = ObsNorm(jnp.zeros(c.obs_dim), jnp.ones(c.obs_dim), c.obs_transform)
        self.context = ContextEncoder(c, key=ks[0])
        skip = o_in if c.obs_skip else 0  # the previous observation o_{t-1}, read directly
        self.prior_u = GaussianHead(e + c.d_dim + a_in + skip, c.u_dim, c.hidden, c.min_std, key=ks[1])
        self.post_u = GaussianHead(e + c.d_dim + a_in + skip + o_in, c.u_dim, c.hidden, c.min_std, key=ks[2])
        self.gru = eqx.nn.GRUCell(c.u_dim + a_in, c.d_dim, key=ks[3])
        # h_t reads h_{t-1}: bounded means keep the recurrence from running away (docs/choices.md)
        bound = c.h_mean_bound
        self.prior_h = GaussianHead(e + c.h_dim, c.h_dim, c.hidden, c.min_std, key=ks[4], mean_bound=bound)
        self.post_h = GaussianHead(
            e + c.h_dim + o_in, c.h_dim, c.hidden, c.min_std, key=ks[5], mean_bound=bound
        )
        self.decoder = _mlp(z + skip, c.obs_dim, c.hidden, ks[6])
        self.reward_head = _mlp(z + skip + a_in + e, 1, c.hidden, ks[7])
        self.value_heads = eqx.filter_vmap(lambda k: _mlp(z, 1, c.value_hidden, k))(
            jax.random.split(ks[8], c.num_scenarios)
        )
        self.meta_value = _mlp(z, 1, c.value_hidden, ks[9])

    # --- eq. 4: context embedding (zeros under the w/o C ablation)
    def embed_context(
        self, ctx: Context, obs_mask: Float[Array, " O"], act_mask: Float[Array, " A"]
    ) -> Float[Array, " E"]:
        if not self.spec.use_context:
            return jnp.zeros(self.spec.embed_dim)
        return self.context(ctx, obs_mask, act_mask, self.obs_norm)

    # --- eq. 6 and eq. 9 (u): prior and posterior of the stochastic state
    #     (with `obs_skip`, both also read o_{t-1}, the newest step of C_t)
    def u_prior(self, e, d_prev, a_prev, o_prev, act_mask, obs_mask) -> Normal:
        return self.prior_u(
            jnp.concatenate([e, d_prev, _act_in(a_prev, act_mask), self._skip(o_prev, obs_mask)])
        )

    def u_posterior(self, e, d_prev, a_prev, o_prev, o, act_mask, obs_mask) -> Normal:
        inputs = [e, d_prev, _act_in(a_prev, act_mask), self._skip(o_prev, obs_mask), self._obs(o, obs_mask)]
        return self.post_u(jnp.concatenate(inputs))

    def _skip(self, o_prev: Float[Array, " O"], obs_mask: Float[Array, " O"]) -> Float[Array, " S"]:
        """The previous observation's input (2O values), or nothing without `obs_skip`."""
        return self._obs(o_prev, obs_mask) if self.spec.obs_skip else jnp.zeros(0)

    def _obs(self, o: Float[Array, " O"], obs_mask: Float[Array, " O"]) -> Float[Array, " 2O"]:
        return _obs_in(o, obs_mask, self.obs_norm)

    # --- eq. 7: deterministic state (all zeros under the w/o d ablation)
    def deterministic(self, d_prev, u, a_prev, act_mask) -> Float[Array, " D"]:
        if not self.spec.use_d:
            return jnp.zeros_like(d_prev)
        return self.gru(jnp.concatenate([u, _act_in(a_prev, act_mask)]), d_prev)

    # --- eq. 8 and eq. 9 (h): prior and posterior of the auxiliary state
    def h_prior(self, e, h_prev) -> Normal:
        return self.prior_h(jnp.concatenate([e, h_prev]))

    def h_posterior(self, e, h_prev, o, obs_mask) -> Normal:
        return self.post_h(jnp.concatenate([e, h_prev, self._obs(o, obs_mask)]))

    # --- eq. 9: decoder (mean of a Gaussian of std obs_std in the `obs_norm` space, zero on padded dims)
    def decode(
        self, s: Float[Array, " Z"], o_prev: Float[Array, " O"], obs_mask: Float[Array, " O"]
    ) -> Float[Array, " O"]:
        """The mean of norm(o_t) given s~_t; with `obs_skip`, norm(o_{t-1}) plus a decoded change."""
        if not self.spec.obs_skip:
            return self.decoder(s) * obs_mask
        base = self.obs_norm.forward(o_prev) * obs_mask
        return (base + self.decoder(jnp.concatenate([s, self._obs(o_prev, obs_mask)]))) * obs_mask

    def decode_obs(
        self, s: Float[Array, " Z"], o_prev: Float[Array, " O"], obs_mask: Float[Array, " O"]
    ) -> Float[Array, " O"]:
        """The decoded observation o^_t itself (the decoder mean mapped back), zero on padded dims."""
        return self.obs_norm.inverse(self.decode(s, o_prev, obs_mask)) * obs_mask

    # --- reward head: r_t from (s~_t, a_t, e_t) (and o_t with `obs_skip`); e_t carries the
    #     scenario's reward function
    def reward(
        self,
        s: Float[Array, " Z"],
        o: Float[Array, " O"],
        a: Float[Array, " A"],
        obs_mask: Float[Array, " O"],
        act_mask: Float[Array, " A"],
        e: Float[Array, " E"],
    ) -> Array:
        inputs = [s, self._skip(o, obs_mask), _act_in(a, act_mask), e]
        return self.reward_head(jnp.concatenate(inputs))[0]

    # --- eqs. 13, 14: per-scenario value heads (gathered by id) and the meta-value
    def scenario_value(self, s: Float[Array, " Z"], scenario_id: Int[Array, ""]) -> Array:
        return apply_value_head(self.value_heads, s, scenario_id)

    def meta(self, s: Float[Array, " Z"]) -> Array:
        return self.meta_value(s)[0]

    def initial_latent(self) -> Latent:
        c = self.spec
        return Latent(jnp.zeros(c.u_dim), jnp.zeros(c.d_dim), jnp.zeros(c.h_dim))


def apply_value_head(heads: eqx.nn.MLP, s: Float[Array, " Z"], scenario_id: Int[Array, ""]) -> Array:
    """Apply head `scenario_id` of a stacked ensemble of value MLPs to latent `s` (gathers the params)."""
    params, static = eqx.partition(heads, eqx.is_array)
    one = jax.tree.map(lambda x: x[scenario_id], params)
    return eqx.combine(one, static)(s)[0]


def init_model(config: WorldModelConfig | ModelSpec, key: PRNGKeyArray) -> MrCoM:
    """A freshly initialized MrCoM for `config` (a whole config or its `spec`).

    Jitted on the spec alone: run eagerly, each layer's initializer would be compiled as its own
    small program (about 10 s in all for the smoke model on a CPU); configs that differ only in
    loss weights or training settings share the compiled initializer.
    """
    return _init_model(config.spec if isinstance(config, WorldModelConfig) else config, key)


@jit_by_config(lambda spec, key: spec.fast_compile)
def _init_model(spec: ModelSpec, key: PRNGKeyArray) -> MrCoM:
    return MrCoM(spec, key=key)


# ----------------------------------------------------------------------------- filtering a sequence


class Observed(NamedTuple):
    """What `observe` returns for T+1 observations (all leading dims (T+1,))."""

    prior_u: Normal
    post_u: Normal
    prior_h: Normal
    post_h: Normal
    latent: Float[Array, "T1 Z"]  # posterior samples s~_t
    prev_obs: Float[Array, "T1 O"]  # o_{t-1} (the context's newest step at t = 0)
    predicted: Float[Array, "T1 K Z"]  # K prior samples s^_t from the posterior state at t-1
    embedding: Float[Array, "T1 E"]


def context_windows(ctx: Context, m: int, count: int) -> Context:
    """The `count` sliding windows of length m of a context sequence: window t = ctx[t : t+m]."""
    starts = jnp.arange(count)
    take = lambda x: jax.vmap(lambda s: jax.lax.dynamic_slice_in_dim(x, s, m, axis=0))(starts)
    return Context(*(take(x) for x in ctx))


def observe(
    model: MrCoM,
    ctx: Context,
    obs: Float[Array, "T1 O"],
    action: Float[Array, "T A"],
    obs_mask: Float[Array, " O"],
    act_mask: Float[Array, " A"],
    key: PRNGKeyArray,
    num_predicted: int = 1,
    unroll: int | bool = 1,
) -> Observed:
    """Filter the posterior over one sequence.

    Arguments:
        ctx: steps t-m .. T-1 of the sequence, length m + T (`valid` marks filled slots); the
            context of observation t is ctx[t : t+m] (prompt-filled at episode starts).
        obs: o_0 .. o_T. action: a_0 .. a_{T-1}. The action leading into o_0 is ctx's last one.
        num_predicted: K prior samples of the next latent per step (for eq. 15).
        unroll: passed to `lax.scan` (True unrolls fully, e.g. for XLA cost analysis).

    Returns:
        `Observed` with per-step prior/posterior Gaussians, posterior latents and prior predictions.
    """
    c = model.spec
    m, steps = c.context_len, obs.shape[0]
    windows = context_windows(ctx, m, steps)
    e = jax.vmap(model.embed_context, (0, None, None))(windows, obs_mask, act_mask)
    # the action leading into o_0 is the context's last step (none under w/o C)
    first = ctx.valid[m - 1] * (1.0 if c.use_context else 0.0)
    a_prev = jnp.concatenate([(ctx.action[m - 1] * first)[None], action], axis=0)
    o_prev = jnp.concatenate([(ctx.obs[m - 1] * first)[None], obs[:-1]], axis=0)

    def step(carry: Latent, inputs):
        e_t, a_t, op_t, o_t, k = inputs
        ku, kh, kp = jax.random.split(k, 3)
        pu = model.u_prior(e_t, carry.d, a_t, op_t, act_mask, obs_mask)
        qu = model.u_posterior(e_t, carry.d, a_t, op_t, o_t, act_mask, obs_mask)
        ph = model.h_prior(e_t, carry.h)
        qh = model.h_posterior(e_t, carry.h, o_t, obs_mask)
        u = qu.sample(ku)
        new = Latent(u, model.deterministic(carry.d, u, a_t, act_mask), qh.sample(kh))

        def predict(k):  # s^_t ~ T_theta(. | s~_{t-1}, a_{t-1}): the prior's own next latent
            k1, k2 = jax.random.split(k)
            u_hat = pu.sample(k1)
            d_hat = model.deterministic(carry.d, u_hat, a_t, act_mask)
            return Latent(u_hat, d_hat, ph.sample(k2)).concat()

        predicted = jax.vmap(predict)(jax.random.split(kp, num_predicted))
        return new, (pu, qu, ph, qh, new.concat(), predicted)

    keys = jax.random.split(key, steps)
    _, (pu, qu, ph, qh, latent, predicted) = jax.lax.scan(
        step, model.initial_latent(), (e, a_prev, o_prev, obs, keys), unroll=unroll
    )
    return Observed(pu, qu, ph, qh, latent, o_prev, predicted, e)


def split_latent(model: MrCoM, s: Float[Array, "... Z"]) -> Latent:
    c = model.spec
    return Latent(s[..., : c.u_dim], s[..., c.u_dim : c.u_dim + c.d_dim], s[..., c.u_dim + c.d_dim :])


def prior_step(
    model: MrCoM,
    ctx: Context,
    state: Latent,
    action: Float[Array, " A"],
    obs_mask: Float[Array, " O"],
    act_mask: Float[Array, " A"],
    key: PRNGKeyArray,
    sample: bool = True,
) -> tuple[Latent, Float[Array, " O"]]:
    """One step of the learned dynamics: s~_t, a_t and C_{t+1} -> s^_{t+1} and its decoded o^_{t+1}.

    `ctx` must already hold step t (its r_t, a function of o_{t+1}, is not read: the encoder lags
    the reward). With `sample=False` the prior means are used.
    """
    ku, kh = jax.random.split(key)
    e = model.embed_context(ctx, obs_mask, act_mask)
    o_prev = ctx.obs[-1]  # o_t, the step just pushed
    pu = model.u_prior(e, state.d, action, o_prev, act_mask, obs_mask)
    ph = model.h_prior(e, state.h)
    u = pu.sample(ku) if sample else pu.mean
    h = ph.sample(kh) if sample else ph.mean
    new = Latent(u, model.deterministic(state.d, u, action, act_mask), h)
    obs = model.decode_obs(new.concat(), o_prev, obs_mask)
    return new, obs
