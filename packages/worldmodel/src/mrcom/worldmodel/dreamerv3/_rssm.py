"""The RSSM of DreamerV3: a deterministic (block) GRU state and a categorical stochastic state.

Step convention (one step per observation x_t):

    h_t = GRU(h_{t-1}, In([z_{t-1}, a_{t-1}, extra_{t-1}]))      deterministic state
    z_t ~ p(z_t | h_t)                                           prior (dynamics predictor)
    z_t ~ q(z_t | h_t, e_t)                                      posterior, e_t = embedding of x_t

`a_{t-1}` is the action that leads INTO x_t. `extra` is an optional vector fed to the recurrent
input next to the action (none in DreamerV3; MAMBA feeds a lagged reward r_{t-2} and the normalized
time there). z_t holds `stoch` categoricals of `classes` classes; every categorical is mixed with
1% uniform (`unimix`) on both the prior and the posterior, and samples are one-hot with
straight-through gradients. The RSSM knows nothing of observations, rewards or losses.

All methods act on ONE step or ONE sequence; callers vmap over the batch.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._nets import Dense

sg = jax.lax.stop_gradient


class State(NamedTuple):
    """An RSSM state: deter (..., D) and stoch (..., S, K) (one-hot samples or modes)."""

    deter: Array
    stoch: Array

    def feat(self) -> Float[Array, "... Z"]:
        """concat(deter, flattened stoch): what the heads read (Z = D + S * K)."""
        flat = self.stoch.reshape(self.stoch.shape[:-2] + (-1,))
        return jnp.concatenate([self.deter, flat], axis=-1)


def unimix_probs(logits: Float[Array, "... K"], unimix: float) -> Float[Array, "... K"]:
    """(1 - unimix) * softmax(logits) + unimix / K: every class keeps at least unimix / K."""
    k = logits.shape[-1]
    return (1.0 - unimix) * jax.nn.softmax(logits, axis=-1) + unimix / k


def categorical_kl(
    p_logits: Float[Array, "... S K"], q_logits: Float[Array, "... S K"], unimix: float
) -> Array:
    """KL(p || q) of the unimix categoricals, summed over the S groups."""
    p, q = unimix_probs(p_logits, unimix), unimix_probs(q_logits, unimix)
    return jnp.sum(p * (jnp.log(p) - jnp.log(q)), axis=(-2, -1))


class BlockGRU(eqx.Module):
    """LayerNorm GRU whose recurrent weights are block-diagonal (`blocks` blocks of D / blocks).

    Block g reads its own slice of h and the whole input x:
    [r, c, u] = LayerNorm(W_g [h_g, x]); h_g' = sigmoid(u - 1) * tanh(sigmoid(r) * c)
    + (1 - sigmoid(u - 1)) * h_g (Hafner's GRU, update gate biased towards keeping h).
    blocks = 1 is a plain LayerNorm GRU.
    """

    weight: Float[Array, "G I3 O3"]
    scale: Float[Array, "G O3"]
    offset: Float[Array, "G O3"]
    blocks: int = eqx.field(static=True)

    def __init__(self, in_size: int, size: int, blocks: int, *, key: PRNGKeyArray):
        if size % blocks:
            raise ValueError(f"size={size}: must be divisible by blocks={blocks}")
        part = size // blocks
        fan_in = part + in_size
        lim = 1.0 / jnp.sqrt(fan_in)
        self.weight = jax.random.uniform(key, (blocks, fan_in, 3 * part), minval=-lim, maxval=lim)
        self.scale = jnp.ones((blocks, 3 * part))
        self.offset = jnp.zeros((blocks, 3 * part))
        self.blocks = blocks

    def __call__(self, x: Float[Array, " I"], h: Float[Array, " D"]) -> Float[Array, " D"]:
        hg = h.reshape(self.blocks, -1)
        inp = jnp.concatenate([hg, jnp.broadcast_to(x, (self.blocks, x.shape[0]))], axis=-1)
        parts = jnp.einsum("gi,gio->go", inp, self.weight)
        mean = jnp.mean(parts, axis=-1, keepdims=True)
        var = jnp.var(parts, axis=-1, keepdims=True)
        parts = (parts - mean) * jax.lax.rsqrt(var + 1e-5) * self.scale + self.offset
        reset, cand, update = jnp.split(parts, 3, axis=-1)
        cand = jnp.tanh(jax.nn.sigmoid(reset) * cand)
        update = jax.nn.sigmoid(update - 1.0)
        return (update * cand + (1.0 - update) * hg).reshape(h.shape)


class RSSM(eqx.Module):
    """Recurrent state-space model with categorical latents (configurable, reusable).

    Arguments (constructor):
        action_dim: A of the action input. embed_dim: E of the observation embedding.
        deter: D of the GRU state. stoch, classes: S categoricals of K classes. hidden: width of
        the input, prior and posterior layers. blocks: GRU blocks. unimix: uniform mix.
        extra_dim: X of an extra recurrent input next to the action (0: none).
    """

    img_in: Dense
    gru: BlockGRU
    img_out: Dense
    prior_logits: eqx.nn.Linear
    obs_out: Dense
    post_logits: eqx.nn.Linear
    deter: int = eqx.field(static=True)
    stoch: int = eqx.field(static=True)
    classes: int = eqx.field(static=True)
    unimix: float = eqx.field(static=True)
    action_dim: int = eqx.field(static=True)
    extra_dim: int = eqx.field(static=True)

    def __init__(
        self,
        action_dim: int,
        embed_dim: int,
        *,
        deter: int,
        stoch: int,
        classes: int,
        hidden: int,
        blocks: int = 1,
        unimix: float = 0.01,
        extra_dim: int = 0,
        key: PRNGKeyArray,
    ):
        ks = jax.random.split(key, 6)
        z = stoch * classes
        self.img_in = Dense(z + action_dim + extra_dim, hidden, key=ks[0])
        self.gru = BlockGRU(hidden, deter, blocks, key=ks[1])
        self.img_out = Dense(deter, hidden, key=ks[2])
        self.prior_logits = eqx.nn.Linear(hidden, z, key=ks[3])
        self.obs_out = Dense(deter + embed_dim, hidden, key=ks[4])
        self.post_logits = eqx.nn.Linear(hidden, z, key=ks[5])
        self.deter, self.stoch, self.classes = deter, stoch, classes
        self.unimix, self.action_dim, self.extra_dim = float(unimix), action_dim, extra_dim

    @property
    def feat_dim(self) -> int:
        return self.deter + self.stoch * self.classes

    def initial(self) -> State:
        """The state before the first observation: zeros (deter and stoch)."""
        return State(jnp.zeros(self.deter), jnp.zeros((self.stoch, self.classes)))

    # --- distributions
    def probs(self, logits: Float[Array, "S K"]) -> Float[Array, "S K"]:
        return unimix_probs(logits, self.unimix)

    def prior(self, deter: Float[Array, " D"]) -> Float[Array, "S K"]:
        """Prior logits p(z | h)."""
        return self.prior_logits(self.img_out(deter)).reshape(self.stoch, self.classes)

    def posterior(self, deter: Float[Array, " D"], embed: Float[Array, " E"]) -> Float[Array, "S K"]:
        """Posterior logits q(z | h, e)."""
        x = self.obs_out(jnp.concatenate([deter, embed]))
        return self.post_logits(x).reshape(self.stoch, self.classes)

    def draw(
        self, logits: Float[Array, "S K"], key: PRNGKeyArray, sample: bool = True
    ) -> Float[Array, "S K"]:
        """A one-hot sample with straight-through gradients (sample=True), or the mode (argmax)."""
        probs = self.probs(logits)
        if not sample:
            return jax.nn.one_hot(jnp.argmax(probs, axis=-1), self.classes, dtype=probs.dtype)
        index = jax.random.categorical(key, jnp.log(probs), axis=-1)
        onehot = jax.nn.one_hot(index, self.classes, dtype=probs.dtype)
        return onehot + probs - sg(probs)

    # --- steps
    def recurrent(
        self, state: State, action: Float[Array, " A"], extra: Float[Array, " X"] | None = None
    ) -> Float[Array, " D"]:
        """h_t from h_{t-1}, z_{t-1}, a_{t-1} (and the extra input)."""
        parts = [state.stoch.reshape(-1), action]
        if self.extra_dim:
            if extra is None or extra.shape != (self.extra_dim,):
                raise ValueError(f"extra.shape={getattr(extra, 'shape', None)}: must be ({self.extra_dim},)")
            parts.append(extra)
        return self.gru(self.img_in(jnp.concatenate(parts)), state.deter)

    def img_step(
        self,
        state: State,
        action: Float[Array, " A"],
        key: PRNGKeyArray,
        extra: Float[Array, " X"] | None = None,
        sample: bool = True,
    ) -> tuple[State, Float[Array, "S K"]]:
        """One prior step: (state_{t-1}, a_{t-1}) -> (state_t with z_t from the prior, prior logits)."""
        deter = self.recurrent(state, action, extra)
        logits = self.prior(deter)
        return State(deter, self.draw(logits, key, sample)), logits

    def obs_step(
        self,
        state: State,
        action: Float[Array, " A"],
        embed: Float[Array, " E"],
        key: PRNGKeyArray,
        extra: Float[Array, " X"] | None = None,
        sample: bool = True,
    ) -> tuple[State, Float[Array, "S K"], Float[Array, "S K"]]:
        """One posterior step: (state_{t-1}, a_{t-1}, e_t) -> (state_t, z_t from q; post, prior logits)."""
        deter = self.recurrent(state, action, extra)
        prior, post = self.prior(deter), self.posterior(deter, embed)
        return State(deter, self.draw(post, key, sample)), post, prior

    # --- scans
    def observe(
        self,
        state: State,
        actions: Float[Array, "T A"],
        embeds: Float[Array, "T E"],
        key: PRNGKeyArray,
        extras: Float[Array, "T X"] | None = None,
        valid: Float[Array, " T"] | None = None,
        sample: bool = True,
        unroll: int | bool = 1,
    ) -> tuple[State, Float[Array, "T S K"], Float[Array, "T S K"]]:
        """Filter the posterior over T observations from `state`.

        Arguments:
            actions: a_{t-1} leading into each observation. embeds: e_t. extras: optional (T, X).
            valid: 1 where step t is real; at 0 the state is carried unchanged (an empty slot).

        Returns:
            (states (T, ...) after each step, posterior logits (T, S, K), prior logits (T, S, K)).
        """
        steps = actions.shape[0]
        valid = jnp.ones(steps) if valid is None else valid
        extras = jnp.zeros((steps, 0)) if extras is None else extras

        def step(carry: State, inputs):
            a, e, x, v, k = inputs
            new, post, prior = self.obs_step(carry, a, e, k, x if self.extra_dim else None, sample)
            new = jax.tree.map(lambda n, c: jnp.where(v > 0, n, c), new, carry)
            return new, (new, post, prior)

        inputs = (actions, embeds, extras, valid, jax.random.split(key, steps))
        _, (states, post, prior) = jax.lax.scan(step, state, inputs, unroll=unroll)
        return states, post, prior

    def imagine(
        self,
        state: State,
        actions: Float[Array, "H A"],
        key: PRNGKeyArray,
        extras: Float[Array, "H X"] | None = None,
        sample: bool = True,
    ) -> tuple[State, Float[Array, "H S K"]]:
        """Roll the prior H steps from `state` under given actions (a_t leads into step t+1).

        Returns:
            (states (H, ...) = s_1 .. s_H, prior logits (H, S, K)).
        """
        steps = actions.shape[0]
        extras = jnp.zeros((steps, 0)) if extras is None else extras

        def step(carry: State, inputs):
            a, x, k = inputs
            new, logits = self.img_step(carry, a, k, x if self.extra_dim else None, sample)
            return new, (new, logits)

        _, out = jax.lax.scan(step, state, (actions, extras, jax.random.split(key, steps)))
        return out
