"""Actor and twin-critic networks of SAC on padded observations and actions."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

LOG_STD_MIN = -5.0
LOG_STD_MAX = 2.0


def _mlp(in_size: int, out_size: int, hidden: tuple[int, ...], key: PRNGKeyArray) -> eqx.nn.MLP:
    if len(set(hidden)) > 1:
        raise ValueError(f"sac.hidden={hidden}: all hidden layers must have the same width")
    return eqx.nn.MLP(in_size, out_size, hidden[0], len(hidden), activation=jax.nn.relu, key=key)


def _log1m_tanh_sq(u: Array) -> Array:
    """Numerically stable log(1 - tanh(u)^2)."""
    return 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))


class Actor(eqx.Module):
    """Tanh-squashed diagonal Gaussian policy over the padded action vector.

    Padded action entries are forced to 0 and left out of the log-probability, so the
    entropy target of a robot counts only its real action dimensions.
    """

    net: eqx.nn.MLP

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], *, key: PRNGKeyArray):
        self.net = _mlp(obs_dim, 2 * act_dim, hidden, key)

    def dist(self, obs: Float[Array, " O"]) -> tuple[Float[Array, " A"], Float[Array, " A"]]:
        """Mean and log-std of the pre-tanh Gaussian for one observation."""
        out = self.net(obs)
        mean, raw = jnp.split(out, 2)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (jnp.tanh(raw) + 1.0)
        return mean, log_std

    def sample(
        self, obs: Float[Array, " O"], act_mask: Float[Array, " A"], key: PRNGKeyArray
    ) -> tuple[Float[Array, " A"], Float[Array, ""]]:
        """Reparameterized action and its masked log-probability.

        Arguments:
            obs: padded observation.
            act_mask: 1 for the robot's real action dimensions.
            key: sampling key.

        Returns:
            (action in [-1, 1] with padded entries 0, log pi(action | obs)).
        """
        mean, log_std = self.dist(obs)
        std = jnp.exp(log_std)
        eps = jax.random.normal(key, mean.shape)
        u = mean + std * eps
        logp = -0.5 * eps**2 - log_std - 0.5 * jnp.log(2.0 * jnp.pi) - _log1m_tanh_sq(u)
        return jnp.tanh(u) * act_mask, jnp.sum(logp * act_mask)

    def mode(self, obs: Float[Array, " O"], act_mask: Float[Array, " A"]) -> Float[Array, " A"]:
        """Deterministic action tanh(mean) used for evaluation."""
        mean, _ = self.dist(obs)
        return jnp.tanh(mean) * act_mask


class TwinCritic(eqx.Module):
    """Two independent Q networks Q_1, Q_2(o, a) (clipped double-Q)."""

    q1: eqx.nn.MLP
    q2: eqx.nn.MLP

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        self.q1 = _mlp(obs_dim + act_dim, 1, hidden, k1)
        self.q2 = _mlp(obs_dim + act_dim, 1, hidden, k2)

    def __call__(self, obs: Float[Array, " O"], action: Float[Array, " A"]) -> Float[Array, " 2"]:
        x = jnp.concatenate([obs, action])
        return jnp.concatenate([self.q1(x), self.q2(x)])
