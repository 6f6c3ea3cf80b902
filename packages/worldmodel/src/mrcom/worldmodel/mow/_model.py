"""The Mixture-of-World-Models world model for vector observations (adapted from arXiv 2602.01270).

    z_t  ~ q_g(z_t | o_t)               modular VAE: encoder/decoder module g of the scenario's group
    x_t  = Token([z_t, a_t, symlog r_{t-1}])
    h_t  = Transformer(x_{t-N+1..t})     causal, relative-position bias; in every block
           x <- x + Attn(LN x);  x <- x + FFN_shared(LN x) + gate * FFN_expert[e](LN x)
    z_{t+1} ~ p(z_{t+1} | h_t)          prior head;   r_t: two-hot reward head on h_t
    o_t  : symlog-MSE decoder_g(z_t)    on the real (masked) dims

With the harness options (`HarnessConfig`): `obs_transform="standardize"` replaces symlog by the
training data's standardization (VAE input and decoder space); `obs_skip` decodes
x_t = x_{t-1} + decoder_g(z_t, x_{t-1}) from the transformed previous observation; `lambda_pred`
(`_losses.py`); `reward_input` (on by default) is the reward slot of the token.

`e` is the expert of the scenario's cluster (`Routing.assignment`, set by the gradient-based task
clustering of `_cluster.py`); gate = 0 until the first clustering (no expert yet). Experts are
stacked arrays gathered by index, so only the selected expert's parameters get gradients.

All methods act on ONE step or ONE sequence; callers vmap.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._baseline import WholeConfig
from .._harness import ObsNorm, make_obs_norm, transform, untransform, with_obs_stats
from .._jit import jit_by_config
from .._nets import MLP
from .._seam import symlog
from .._twohot import symexp_bins, twohot_decode
from ..dreamerv3._rssm import unimix_probs
from ._config import MoWConfig

sg = jax.lax.stop_gradient
NEG = -1e9  # attention logit of a masked key (finite: a query without keys gets a uniform mean)


def pick(stack, index: Int[Array, ""]):
    """Member `index` of a module stacked along a leading axis (`eqx.filter_vmap` of a constructor)."""
    arrays, static = eqx.partition(stack, eqx.is_array)
    return eqx.combine(jax.tree.map(lambda x: x[index], arrays), static)


def draw(logits: Float[Array, "S K"], key: PRNGKeyArray, unimix: float, sample: bool = True) -> Array:
    """A one-hot sample of the unimix categoricals with straight-through gradients, or the mode."""
    probs = unimix_probs(logits, unimix)
    k = logits.shape[-1]
    if not sample:
        return jax.nn.one_hot(jnp.argmax(probs, axis=-1), k, dtype=probs.dtype)
    onehot = jax.nn.one_hot(jax.random.categorical(key, jnp.log(probs), axis=-1), k, dtype=probs.dtype)
    return onehot + probs - sg(probs)


class Routing(eqx.Module):
    """Which VAE module and which expert each training scenario uses (integer arrays, not trained).

    group_of (S,): VAE module of each scenario (by its mask layout); assignment (S,): expert of
    each scenario, -1 before the first clustering; obs_sig (G, O), act_sig (G, A): the masks of
    each module's layout (-1 rows: unused module); clustered_at (): step of the last clustering.
    """

    group_of: Int[Array, " S"]
    assignment: Int[Array, " S"]
    obs_sig: Int[Array, "G O"]
    act_sig: Int[Array, "G A"]
    clustered_at: Int[Array, ""]


def empty_routing(config: MoWConfig) -> Routing:
    """Every scenario in module 0, no expert, no layout known (a checkpoint's skeleton)."""
    c = config
    return Routing(
        jnp.zeros(c.num_scenarios, jnp.int32),
        jnp.full(c.num_scenarios, -1, jnp.int32),
        jnp.full((c.num_groups, c.obs_dim), -1, jnp.int32),
        jnp.full((c.num_groups, c.act_dim), -1, jnp.int32),
        jnp.asarray(-1, jnp.int32),
    )


def routing_from_masks(config: MoWConfig, obs_mask: np.ndarray, act_mask: np.ndarray) -> Routing:
    """One VAE module per distinct (obs_mask, act_mask) layout, in order of first scenario.

    Raises:
        ValueError: more distinct layouts than `config.num_groups` modules.
    """
    sig = np.concatenate([np.asarray(obs_mask) > 0, np.asarray(act_mask) > 0], axis=1).astype(np.int32)
    layouts: list[tuple[int, ...]] = []
    group_of = np.zeros(sig.shape[0], np.int32)
    for s, row in enumerate(map(tuple, sig)):
        if row not in layouts:
            layouts.append(row)
        group_of[s] = layouts.index(row)
    if len(layouts) > config.num_groups:
        raise ValueError(
            f"num_groups={config.num_groups}: the data has {len(layouts)} distinct observation/action "
            f"layouts (mask patterns); must be >= {len(layouts)}"
        )
    r = empty_routing(config)
    table = np.asarray(layouts, np.int32)
    obs_sig = np.asarray(r.obs_sig).copy()
    act_sig = np.asarray(r.act_sig).copy()
    obs_sig[: len(layouts)] = table[:, : config.obs_dim]
    act_sig[: len(layouts)] = table[:, config.obs_dim :]
    return Routing(
        jnp.asarray(group_of), r.assignment, jnp.asarray(obs_sig), jnp.asarray(act_sig), r.clustered_at
    )


class Attention(eqx.Module):
    """Multi-head causal self-attention with a learned bias per head and relative distance 0..N-1."""

    qkv: eqx.nn.Linear
    out: eqx.nn.Linear
    rel_bias: Float[Array, "H N"]
    num_heads: int = eqx.field(static=True)

    def __init__(self, d: int, num_heads: int, window: int, *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        self.qkv = eqx.nn.Linear(d, 3 * d, use_bias=False, key=k1)
        self.out = eqx.nn.Linear(d, d, key=k2)
        self.rel_bias = jnp.zeros((num_heads, window))
        self.num_heads = num_heads

    def project(self, x: Float[Array, "T D"]) -> tuple[Array, Array, Array]:
        """Queries, keys, values (T, H, D/H)."""
        t, d = x.shape
        q, k, v = jnp.split(jax.vmap(self.qkv)(x), 3, axis=-1)
        shape = (t, self.num_heads, d // self.num_heads)
        return q.reshape(shape), k.reshape(shape), v.reshape(shape)

    def attend(self, q: Array, k: Array, v: Array, dist: Int[Array, "Q K"], mask: Array) -> Array:
        """Outputs (Q, D) of queries q (Q, H, d) over keys/values (K, H, d) at distances `dist`."""
        scale = 1.0 / np.sqrt(q.shape[-1])
        logits = jnp.einsum("qhd,khd->hqk", q, k) * scale
        logits = logits + self.rel_bias[:, jnp.clip(dist, 0, self.rel_bias.shape[1] - 1)]
        logits = jnp.where(mask[None], logits, NEG)
        out = jnp.einsum("hqk,khd->qhd", jax.nn.softmax(logits, axis=-1), v)
        return jax.vmap(self.out)(out.reshape(q.shape[0], -1))


class Block(eqx.Module):
    """One pre-LayerNorm Transformer block of the shared backbone (attention + shared feed-forward)."""

    norm1: eqx.nn.LayerNorm
    attn: Attention
    norm2: eqx.nn.LayerNorm
    ffn1: eqx.nn.Linear
    ffn2: eqx.nn.Linear

    def __init__(self, d: int, num_heads: int, hidden: int, window: int, *, key: PRNGKeyArray):
        ks = jax.random.split(key, 3)
        self.norm1, self.norm2 = eqx.nn.LayerNorm(d), eqx.nn.LayerNorm(d)
        self.attn = Attention(d, num_heads, window, key=ks[0])
        self.ffn1 = eqx.nn.Linear(d, hidden, key=ks[1])
        self.ffn2 = eqx.nn.Linear(hidden, d, key=ks[2])

    def ffn(self, y: Float[Array, " D"]) -> Float[Array, " D"]:
        return self.ffn2(jax.nn.gelu(self.ffn1(y)))


class Experts(eqx.Module):
    """`num_experts` task feed-forward experts of one block, stacked (E, ...); zero output layers."""

    w1: Float[Array, "E D F"]
    b1: Float[Array, "E F"]
    w2: Float[Array, "E F D"]
    b2: Float[Array, "E D"]

    def __init__(self, num_experts: int, d: int, hidden: int, *, key: PRNGKeyArray):
        self.w1 = jax.random.normal(key, (num_experts, d, hidden)) / np.sqrt(d)
        self.b1 = jnp.zeros((num_experts, hidden))
        self.w2 = jnp.zeros((num_experts, hidden, d))
        self.b2 = jnp.zeros((num_experts, d))

    def __call__(self, y: Float[Array, "... D"], expert: Int[Array, ""], gate: Array) -> Array:
        """gate * FFN_expert(y): the gathered expert only (the others get no gradient)."""
        e = jnp.clip(expert, 0, self.w1.shape[0] - 1)
        hidden = jax.nn.gelu(y @ self.w1[e] + self.b1[e])
        return gate * (hidden @ self.w2[e] + self.b2[e])


class Cache(NamedTuple):
    """Keys and values of the last N-1 tokens of every block (L, N-1, H, d) and their validity (N-1,)."""

    k: Array
    v: Array
    valid: Array


class Dynamics(eqx.Module):
    """The hybrid Transformer: token embedding, shared blocks with per-block task experts, final norm."""

    token: eqx.nn.Linear
    token_norm: eqx.nn.LayerNorm
    blocks: list[Block]
    experts: list[Experts]
    out_norm: eqx.nn.LayerNorm
    window: int = eqx.field(static=True)

    def __init__(self, in_size: int, c: MoWConfig, *, key: PRNGKeyArray):
        ks = jax.random.split(key, 2 * c.num_layers + 1)
        self.token = eqx.nn.Linear(in_size, c.d_model, key=ks[0])
        self.token_norm = eqx.nn.LayerNorm(c.d_model)
        self.blocks = [
            Block(c.d_model, c.num_heads, c.ffn_hidden, c.window, key=k) for k in ks[1 : 1 + c.num_layers]
        ]
        self.experts = [
            Experts(c.num_experts, c.d_model, c.expert_hidden, key=k) for k in ks[1 + c.num_layers :]
        ]
        self.out_norm = eqx.nn.LayerNorm(c.d_model)
        self.window = c.window

    def embed(self, tokens: Float[Array, "T I"]) -> Float[Array, "T D"]:
        return jax.vmap(lambda x: self.token_norm(self.token(x)))(tokens)

    def forward(
        self, tokens: Float[Array, "T I"], valid: Float[Array, " T"], expert: Array, gate: Array
    ) -> tuple[Float[Array, "T D"], Cache]:
        """All T tokens in parallel; token j attends to the valid tokens j-N+1 .. j.

        Returns:
            (outputs h (T, D), the cache of the last N-1 tokens for `step`).
        """
        x = self.embed(tokens)
        pos = jnp.arange(x.shape[0])
        dist = pos[:, None] - pos[None, :]
        mask = (dist >= 0) & (dist < self.window) & (valid[None, :] > 0)
        ks, vs = [], []
        for block, experts in zip(self.blocks, self.experts, strict=True):
            q, k, v = block.attn.project(jax.vmap(block.norm1)(x))
            ks.append(k)
            vs.append(v)
            x = x + block.attn.attend(q, k, v, dist, mask)
            y = jax.vmap(block.norm2)(x)
            x = x + jax.vmap(block.ffn)(y) + experts(y, expert, gate)
        h = jax.vmap(self.out_norm)(x)
        return h, self._cache(jnp.stack(ks), jnp.stack(vs), valid)

    def empty_cache(self) -> Cache:
        """A cache without tokens (every slot invalid)."""
        attn = self.blocks[0].attn
        d = int(attn.qkv.in_features)  # an int for a vector layer (not "scalar")
        shape = (len(self.blocks), self.window - 1, attn.num_heads, d // attn.num_heads)
        return Cache(jnp.zeros(shape), jnp.zeros(shape), jnp.zeros(self.window - 1))

    def _cache(self, k: Array, v: Array, valid: Array) -> Cache:
        """The last N-1 tokens of (L, T, H, d) keys/values, front-padded with invalid slots."""
        n, t = self.window - 1, k.shape[1]
        if t < n:
            pad = lambda x: jnp.concatenate([jnp.zeros(x.shape[:1] + (n - t,) + x.shape[2:], x.dtype), x], 1)
            k, v = pad(k), pad(v)
            valid = jnp.concatenate([jnp.zeros(n - t, valid.dtype), valid])
        return Cache(k[:, -n:], v[:, -n:], valid[-n:])

    def step(
        self, cache: Cache, token: Float[Array, " I"], expert: Array, gate: Array
    ) -> tuple[Float[Array, " D"], Cache]:
        """One new (valid) token after the cached ones: its output h and the shifted cache."""
        x = self.embed(token[None])
        n = self.window
        dist = jnp.arange(n - 1, -1, -1)[None, :]
        mask = jnp.concatenate([cache.valid > 0, jnp.ones(1, bool)])[None, :]
        ks, vs = [], []
        for i, (block, experts) in enumerate(zip(self.blocks, self.experts, strict=True)):
            q, k, v = block.attn.project(jax.vmap(block.norm1)(x))
            keys = jnp.concatenate([cache.k[i], k])
            values = jnp.concatenate([cache.v[i], v])
            ks.append(keys[1:])
            vs.append(values[1:])
            x = x + block.attn.attend(q, keys, values, dist, mask)
            y = jax.vmap(block.norm2)(x)
            x = x + jax.vmap(block.ffn)(y) + experts(y, expert, gate)
        valid = jnp.concatenate([cache.valid[1:], jnp.ones(1, cache.valid.dtype)])
        return self.out_norm(x[0]), Cache(jnp.stack(ks), jnp.stack(vs), valid)


class MoW(WholeConfig[MoWConfig]):
    """Mixture-of-World-Models (all parameters in one pytree). Build with `init_model(config, key)`."""

    config: MoWConfig = eqx.field(static=True)
    encoders: MLP  # stacked over the num_groups VAE modules
    decoders: MLP
    dynamics: Dynamics
    prior_head: MLP
    reward_head: MLP
    routing: Routing
    obs_norm: ObsNorm | None  # last: without standardization the leaves are those of the plain model

    def __init__(self, config: MoWConfig, *, key: PRNGKeyArray, routing: Routing | None = None):
        c = config
        ks = jax.random.split(key, 5)
        z = c.stoch * c.classes
        self.config = c
        groups = jax.random.split(ks[0], c.num_groups)
        self.encoders = eqx.filter_vmap(lambda k: MLP(c.obs_dim, c.vae_units, c.vae_layers, z, key=k))(groups)
        groups = jax.random.split(ks[1], c.num_groups)
        dec_in = z + (c.obs_dim if c.obs_skip else 0)
        self.decoders = eqx.filter_vmap(lambda k: MLP(dec_in, c.vae_units, c.vae_layers, c.obs_dim, key=k))(
            groups
        )
        self.dynamics = Dynamics(z + c.act_dim + 1, c, key=ks[2])
        self.prior_head = MLP(c.d_model, c.head_units, 1, z, key=ks[3])
        self.reward_head = MLP(c.d_model, c.head_units, 1, c.reward_bins, zero_out=True, key=ks[4])
        self.routing = empty_routing(c) if routing is None else routing
        self.obs_norm = make_obs_norm(c)

    @property
    def bins(self) -> Float[Array, " K"]:
        return symexp_bins(self.config.reward_bins, self.config.reward_range)

    # --- modular VAE
    def transform(self, obs: Float[Array, "*N O"]) -> Float[Array, "*N O"]:
        """x = the observation in the networks' space (`obs_transform`: symlog or standardized)."""
        return transform(self.obs_norm, obs)

    def encode(self, group: Array, obs: Float[Array, " O"], obs_mask: Float[Array, " O"]) -> Array:
        """Posterior logits q_g(z | o) (S, K) of module `group`, from x = transform(o), padded dims zeroed."""
        c = self.config
        return pick(self.encoders, group)(self.transform(obs) * obs_mask).reshape(c.stoch, c.classes)

    def decode(
        self, group: Array, z: Float[Array, "S K"], obs_mask: Float[Array, " O"], prev: Array | None = None
    ) -> Array:
        """The predicted x of module `group` (zero on padded dims); with `obs_skip`, x_{t-1} = `prev`
        (`previous_inputs`) plus the decoded change, else `prev` is ignored."""
        if not self.config.obs_skip:
            return pick(self.decoders, group)(z.reshape(-1)) * obs_mask
        if prev is None:
            raise ValueError("prev=None: obs_skip=True decodes the change from the previous observation")
        return (prev + pick(self.decoders, group)(jnp.concatenate([z.reshape(-1), prev]))) * obs_mask

    def decode_obs(self, group: Array, z: Float[Array, "S K"], obs_mask: Array, o_prev: Array) -> Array:
        """The decoded observation o^_t itself, after the real or imagined o_{t-1} (zero on padded dims)."""
        prev = self.transform(o_prev) * obs_mask
        return untransform(self.obs_norm, self.decode(group, z, obs_mask, prev)) * obs_mask

    def draw(self, logits: Array, key: PRNGKeyArray, sample: bool = True) -> Array:
        return draw(logits, key, self.config.unimix, sample)

    # --- dynamics inputs and heads
    def tokens(self, z: Float[Array, "T S K"], action: Float[Array, "T A"], prev_reward: Array) -> Array:
        """Token inputs [z_t, a_t, symlog r_{t-1}] (T, S K + A + 1); reward slot 0 without `reward_input`."""
        r = symlog(prev_reward)[:, None] * float(self.config.reward_input)
        return jnp.concatenate([z.reshape(z.shape[0], -1), action, r], axis=-1)

    def prior_logits(self, h: Float[Array, " D"]) -> Float[Array, "S K"]:
        c = self.config
        return self.prior_head(h).reshape(c.stoch, c.classes)

    def reward_logits(self, h: Float[Array, " D"]) -> Float[Array, " K"]:
        return self.reward_head(h)

    def reward(self, h: Float[Array, " D"]) -> Float[Array, ""]:
        """The expected reward r_t under the two-hot head at h_t."""
        return twohot_decode(jax.nn.softmax(self.reward_logits(h)), self.bins)

    # --- routing
    def expert_of(self, scenario_id: Array) -> tuple[Array, Array]:
        """(expert index, gate) of a training scenario: gate 0 before its first clustering."""
        e = self.routing.assignment[scenario_id]
        return jnp.maximum(e, 0), (e >= 0).astype(jnp.float32)

    def group_of_masks(self, obs_mask: Float[Array, " O"], act_mask: Float[Array, " A"]) -> Array:
        """The VAE module whose layout is nearest (fewest differing dims) to the masks; unused ones never."""
        r = self.routing
        sig = jnp.concatenate([r.obs_sig, r.act_sig], axis=1)
        masks = jnp.concatenate([obs_mask > 0, act_mask > 0]).astype(jnp.int32)
        dist = jnp.sum(sig != masks[None], axis=1)
        used = sig[:, 0] >= 0
        return jnp.argmin(jnp.where(used, dist, jnp.iinfo(jnp.int32).max)).astype(jnp.int32)

    def candidates(self, group: Array) -> Array:
        """(E,) bool: the experts allocated to a training scenario of `group` (all allocated experts if
        none is; all experts if nothing is allocated yet)."""
        r, e = self.routing, self.config.num_experts
        alloc = r.assignment[:, None] == jnp.arange(e)[None, :]  # (S, E)
        mine = jnp.any(alloc & (r.group_of == group)[:, None], axis=0)
        anywhere = jnp.any(alloc, axis=0)
        return jnp.where(jnp.any(mine), mine, jnp.where(jnp.any(anywhere), anywhere, True))


class Sequence(NamedTuple):
    """One sequence through the model: outputs h (T, D), posterior logits and samples (T+1, S, K), cache."""

    h: Array
    post: Array
    z: Array
    cache: Cache


def run_sequence(
    model: MoW,
    group: Array,
    expert: Array,
    gate: Array,
    obs: Float[Array, "T1 O"],
    action: Float[Array, "T A"],
    reward: Float[Array, " T"],
    valid: Float[Array, " T"],
    obs_mask: Float[Array, " O"],
    act_mask: Float[Array, " A"],
    key: PRNGKeyArray,
    sample: bool = True,
) -> Sequence:
    """Encode T+1 observations, run the Transformer over the T tokens (step t: o_t, a_t, r_{t-1}).

    `valid` (T,): 0 marks an empty slot (masked as a key; its action and reward read as 0).
    h[t] predicts z_{t+1} (prior head) and r_t (reward head).
    """
    keys = jax.random.split(key, obs.shape[0])
    post = jax.vmap(model.encode, (None, 0, None))(group, obs, obs_mask)
    z = jax.vmap(lambda lg, k: model.draw(lg, k, sample))(post, keys)
    action = action * act_mask * valid[:, None]
    prev = jnp.concatenate([jnp.zeros(1, reward.dtype), (reward * valid)[:-1]])
    h, cache = model.dynamics.forward(model.tokens(z[:-1], action, prev), valid, expert, gate)
    return Sequence(h, post, z, cache)


@jit_by_config(lambda config, key, routing=None, obs_stats=None: config.fast_compile)
def init_model(config: MoWConfig, key: PRNGKeyArray, routing: Routing | None = None, obs_stats=None) -> MoW:
    """A freshly initialized MoW for `config` (routing: `empty_routing` unless given; `obs_stats`: (mean,
    std) of the training observations for `obs_transform="standardize"`)."""
    return with_obs_stats(MoW(config, key=key, routing=routing), obs_stats)
