"""Actor and critic of the imagination actor-critic (DreamerV3's policy learning).

The actor is DreamerV3's bounded normal: mean tanh(.), std in [min_std, max_std] through a sigmoid;
a sample is clipped to [-1, 1], and its log-probability is that of the *censored* normal (the mass
beyond a bound sits on the bound), so REINFORCE gradients are exact for the action the world model
and the environment receive. The actor reads symlog(observation), DreamerV3's treatment of vector
inputs. The critic reads a world model's latent and outputs two-hot logits over symexp bins.
Both use DreamerV3's hidden layers (Linear -> LayerNorm -> SiLU, `mrcom.worldmodel.MLP`).

All methods act on ONE input; callers vmap.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.scipy.stats import norm
from jaxtyping import Array, Float, PRNGKeyArray

from mrcom.worldmodel import MLP, symexp_bins, symlog, twohot_decode


class BoundedNormalActor(eqx.Module):
    """DreamerV3's continuous actor over padded actions; padded entries are 0 and carry no log-prob.

    Arguments:
        obs_dim, act_dim: padded widths. units, layers: hidden width and depth.
        min_std, max_std: the bounds of the standard deviation.
    """

    net: MLP
    min_std: float = eqx.field(static=True)
    max_std: float = eqx.field(static=True)

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        units: int,
        layers: int,
        *,
        min_std: float = 0.1,
        max_std: float = 1.0,
        key: PRNGKeyArray,
    ):
        self.net = MLP(obs_dim, units, layers, 2 * act_dim, key=key)
        self.min_std = float(min_std)
        self.max_std = float(max_std)

    def dist(self, obs: Float[Array, " O"]) -> tuple[Float[Array, " A"], Float[Array, " A"]]:
        """Mean in (-1, 1) and standard deviation in (min_std, max_std) for one observation."""
        raw_mean, raw_std = jnp.split(self.net(symlog(obs)), 2)
        std = (self.max_std - self.min_std) * jax.nn.sigmoid(raw_std + 2.0) + self.min_std
        return jnp.tanh(raw_mean), std

    def log_prob(
        self, obs: Float[Array, " O"], action: Float[Array, " A"], act_mask: Float[Array, " A"]
    ) -> Float[Array, ""]:
        """Log-probability of a clipped action under the censored normal, summed over real dims.

        An entry at exactly +-1 has the probability mass of the normal beyond that bound.
        """
        mean, std = self.dist(obs)
        lo, hi = (-1.0 - mean) / std, (1.0 - mean) / std
        z = (action - mean) / std
        inner = norm.logpdf(z) - jnp.log(std)
        logp = jnp.where(action >= 1.0, norm.logsf(hi), jnp.where(action <= -1.0, norm.logcdf(lo), inner))
        return jnp.sum(logp * act_mask)

    def entropy(self, obs: Float[Array, " O"], act_mask: Float[Array, " A"]) -> Float[Array, ""]:
        """Entropy of the (unclipped) normal over the real action dims, DreamerV3's regularizer."""
        _, std = self.dist(obs)
        return jnp.sum((0.5 * jnp.log(2.0 * jnp.pi * jnp.e) + jnp.log(std)) * act_mask)

    def sample(
        self, obs: Float[Array, " O"], act_mask: Float[Array, " A"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], Float[Array, ""]]:
        """A clipped sample in [-1, 1] (padded entries 0) and its censored log-probability.

        Gradients of the action are stopped (`rsample` passes them).
        """
        mean, std = self.dist(obs)
        a = jnp.clip(mean + std * jax.random.normal(key, mean.shape), -1.0, 1.0) * act_mask
        a = jax.lax.stop_gradient(a)
        return a, self.log_prob(obs, a, act_mask)

    def rsample(
        self, obs: Float[Array, " O"], act_mask: Float[Array, " A"], key: PRNGKeyArray
    ) -> Float[Array, " A"]:
        """A reparameterized clipped sample (gradients reach the actor inside the bounds)."""
        mean, std = self.dist(obs)
        return jnp.clip(mean + std * jax.random.normal(key, mean.shape), -1.0, 1.0) * act_mask

    def mode(self, obs: Float[Array, " O"], act_mask: Float[Array, " A"]) -> Float[Array, " A"]:
        """The deterministic action (the mean) used for evaluation."""
        mean, _ = self.dist(obs)
        return mean * act_mask


class Critic(eqx.Module):
    """A distributional value v(latent): two-hot logits over `bins` symexp-spaced bins (output zeroed).

    Arguments:
        latent_dim: width of the world model's latent. units, layers: hidden width and depth.
        bins: number of bins (odd). limit: bins = symexp(linspace(-limit, limit)).
    """

    net: MLP
    bins: int = eqx.field(static=True)
    limit: float = eqx.field(static=True)

    def __init__(
        self,
        latent_dim: int,
        units: int,
        layers: int,
        *,
        bins: int = 255,
        limit: float = 20.0,
        key: PRNGKeyArray,
    ):
        self.net = MLP(latent_dim, units, layers, bins, zero_out=True, key=key)
        self.bins = int(bins)
        self.limit = float(limit)

    @property
    def support(self) -> Float[Array, " K"]:
        return symexp_bins(self.bins, self.limit)

    def logits(self, latent: Float[Array, " Z"]) -> Float[Array, " K"]:
        return self.net(latent)

    def __call__(self, latent: Float[Array, " Z"]) -> Float[Array, ""]:
        """The expected value under the two-hot distribution (exactly 0 at initialization)."""
        return twohot_decode(jax.nn.softmax(self.logits(latent)), self.support)
