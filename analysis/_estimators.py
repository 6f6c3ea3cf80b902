"""Estimators of the constants of Theorem 6, written against plain callables and arrays.

Units (the point of this module): eps_S is a distance in the latent space (L2); C_T and C_pi are
Lipschitz constants in total variation (TV; L1 = 2 TV for C_pi, as Lemma 4 halves it) with respect
to that same L2 distance, so ``C_T eps_S`` and ``C_pi eps_S / 2`` are TVs, and eps_T, eps_pi are
TVs. Each estimator says what it approximates and in which direction it is biased; the same text
is in ``docs/choices.md``. ``analysis._wm_constants`` wires them to ``mrcom.worldmodel``.

- ``estimate_eps_t`` (eq. 19, TV between the learned and the true transition): the true transition
  is unknown; the filtered posterior sample s~_t (which has seen o_t) stands in for a draw of the
  true next latent. If the model's one-step prior N(mu(s), sigma(s)^2) were the true transition, the
  whitened residuals ``(s~_t - mu) / sigma`` would be N(0, I). We fit a diagonal Gaussian to the
  residuals of each scenario and report ``max_i TV(N(m_i, S_i), N(0, I))`` (Monte Carlo, not a KL
  bound). A systematic prediction error shows as a shift m, an over- or under-confident prior and
  state-dependent errors show as S != I. Biases: pooling over states bounds the per-state mean TV
  of eq. 19 from below (convexity), except that state-dependent mean errors do inflate S; the
  diagonal Gaussian fit misses correlations and non-Gaussian shape (also downwards); the
  posterior's own errors enter; with n residuals of dimension D, a perfectly calibrated model reads
  about ``null_floor(n, D)`` (upwards, ~sqrt(D / n)).
- ``tv_prior_posterior`` (the previous eps_T, kept as a diagnostic): ``E TV(prior, posterior)``
  bounded from the KL. It is the information the observation adds, not a model error: a well
  calibrated model with informative observations sits near 1.
- ``estimate_eps_s`` (eq. 20): ``E ||f(o') - f(o)||_2`` between the representation of a perturbed
  and of the clean observation of the same state, the clean representation standing in for the
  true latent. Bias: it ignores the error of the clean representation itself (downwards), and it is
  in latent units (it rescales with the latent; C_T eps_S and C_pi eps_S do not).
- ``gaussian_map_tv_lipschitz`` (C_T, C_pi): for a map ``s -> N(mu(s), diag sigma(s)^2)``, the local
  slope of the TV at s along the worst direction, to first order:
  ``||diag(1/sigma) J_mu||_2 / sqrt(2 pi) + ||J_log sigma||_2 / sqrt(2)``, max over sampled states.
  Exact for a fixed sigma (TV of equal-covariance Gaussians is ``2 Phi(delta / 2) - 1``, concave,
  slope 1/sqrt(2 pi) at 0); an upper bound on the slope when sigma varies (triangle inequality,
  Cauchy-Schwarz on the std part). Bias: a max over finitely many samples under-estimates the
  supremum.
- ``estimate_eps_pi`` (Lemma 4): the mean over states of ``TV(pi(.|x_hat), pi(.|x))`` for ONE policy pi
  given the represented input x_hat and the true one x (Monte Carlo TV of the pre-squash Gaussians;
  tanh is a bijection, so it leaves the TV unchanged). The paper writes a max over states; the mean
  is what eq. 24 needs for an expected gap and is less noisy (the max is returned by
  ``policy_tv_per_state`` for reference). Bias: Monte Carlo noise only (unbiased for given states).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

__all__ = [
    "gaussian_kl",
    "tv_from_kl",
    "gaussian_tv_equal_std",
    "gaussian_tv_mc",
    "max_over_groups",
    "whitened_residuals",
    "calibration_tv",
    "null_floor",
    "estimate_eps_t",
    "tv_prior_posterior",
    "estimate_eps_s",
    "policy_tv_per_state",
    "estimate_eps_pi",
]


def gaussian_kl(
    mean_p: Float[ArrayLike, "*b d"],
    std_p: Float[ArrayLike, "*b d"],
    mean_q: Float[ArrayLike, "*b d"],
    std_q: Float[ArrayLike, "*b d"],
) -> Float[Array, "*b"]:
    """KL(p || q) between diagonal Gaussians, summed over the last axis.

    Arguments:
        mean_p, std_p: mean and standard deviation of p (std > 0).
        mean_q, std_q: mean and standard deviation of q (std > 0).

    Returns:
        The KL per leading index.
    """
    mean_p, std_p, mean_q, std_q = (jnp.asarray(x) for x in (mean_p, std_p, mean_q, std_q))
    var_ratio = (std_p / std_q) ** 2
    term = var_ratio + ((mean_p - mean_q) / std_q) ** 2 - 1.0 - jnp.log(var_ratio)
    return 0.5 * jnp.sum(term, axis=-1)


def tv_from_kl(kl: Float[ArrayLike, "*b"]) -> Float[Array, "*b"]:
    """Upper bound on total variation from a KL: ``min(sqrt(KL/2), sqrt(1 - exp(-KL)), 1)``.

    The first is Pinsker's inequality, the second Bretagnolle-Huber's (tighter for large KL).
    """
    kl = jnp.maximum(jnp.asarray(kl), 0.0)
    return jnp.minimum(jnp.minimum(jnp.sqrt(0.5 * kl), jnp.sqrt(-jnp.expm1(-kl))), 1.0)


def gaussian_tv_equal_std(
    mean_p: Float[ArrayLike, "*b d"], mean_q: Float[ArrayLike, "*b d"], std: Float[ArrayLike, "*b d"]
) -> Float[Array, "*b"]:
    """Exact TV between ``N(mean_p, diag std^2)`` and ``N(mean_q, diag std^2)``: ``2 Phi(delta/2) - 1``.

    ``delta`` is the Mahalanobis distance ``||(mean_p - mean_q) / std||_2``.
    """
    delta = jnp.linalg.norm((jnp.asarray(mean_p) - jnp.asarray(mean_q)) / jnp.asarray(std), axis=-1)
    return 2.0 * norm.cdf(0.5 * delta) - 1.0


def _log_normal(x, mean, std):
    z = (x - mean) / std
    return jnp.sum(-0.5 * z**2 - jnp.log(std), axis=-1)


def gaussian_tv_mc(
    key: PRNGKeyArray,
    mean_p: Float[ArrayLike, "*b d"],
    std_p: Float[ArrayLike, "*b d"],
    mean_q: Float[ArrayLike, "*b d"],
    std_q: Float[ArrayLike, "*b d"],
    num_samples: int = 1024,
) -> Float[Array, "*b"]:
    """TV between diagonal Gaussians p and q by Monte Carlo: ``E_{x~p} [1 - q(x)/p(x)]_+``.

    Unbiased, standard error at most ``0.5 / sqrt(num_samples)``; never a bound from the KL.

    Arguments:
        key: PRNG key (the same standard-normal draws are used for every leading index).
        mean_p, std_p, mean_q, std_q: (..., d) parameters (std > 0).
        num_samples: Monte Carlo samples from p.

    Returns:
        The TV per leading index, in [0, 1].
    """
    if num_samples < 1:
        raise ValueError(f"num_samples={num_samples}: must be >= 1")
    args = (jnp.asarray(x, jnp.float32) for x in (mean_p, std_p, mean_q, std_q))
    return _tv_mc(key, *args, num_samples=int(num_samples))


@functools.partial(jax.jit, static_argnames="num_samples")
def _tv_mc(key, mean_p, std_p, mean_q, std_q, num_samples):
    d = mean_p.shape[-1]
    eps = jax.random.normal(key, (num_samples, d))
    x = mean_p[..., None, :] + std_p[..., None, :] * eps  # (..., n, d)
    log_ratio = _log_normal(x, mean_q[..., None, :], std_q[..., None, :]) - _log_normal(
        x, mean_p[..., None, :], std_p[..., None, :]
    )
    return jnp.mean(-jnp.expm1(jnp.minimum(log_ratio, 0.0)), axis=-1)


def max_over_groups(values: Float[ArrayLike, " n"], group: Int[ArrayLike, " n"] | None) -> float:
    """``max_i E[values | group == i]``: the paper's ``max_i E_{T^i}`` (eqs. 19-20) on samples.

    Arguments:
        values: one value per sample.
        group: scenario id per sample, or None for a single group.

    Returns:
        The largest per-group mean.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("values has 0 samples: need at least one")
    if group is None:
        return float(values.mean())
    group = np.asarray(group).reshape(-1)
    if group.shape != values.shape:
        raise ValueError(f"group has shape {group.shape}: must match values {values.shape}")
    return float(max(values[group == g].mean() for g in np.unique(group)))


def whitened_residuals(
    next_latent: Float[ArrayLike, "n d"],
    prior_mean: Float[ArrayLike, "n d"],
    prior_std: Float[ArrayLike, "n d"],
) -> Float[np.ndarray, "n d"]:
    """``(next_latent - prior_mean) / prior_std``: N(0, I) when the prior is the true transition."""
    next_latent, prior_mean, prior_std = (
        np.asarray(x, np.float64) for x in (next_latent, prior_mean, prior_std)
    )
    if not next_latent.shape == prior_mean.shape == prior_std.shape or next_latent.ndim != 2:
        raise ValueError(
            f"next_latent {next_latent.shape}, prior_mean {prior_mean.shape}, prior_std {prior_std.shape}: "
            "must be equal (n, d) shapes"
        )
    if np.any(prior_std <= 0):
        raise ValueError("prior_std: must be > 0")
    return (next_latent - prior_mean) / prior_std


def calibration_tv(residuals: Float[ArrayLike, "n d"], key: PRNGKeyArray, num_samples: int = 8192) -> float:
    """``TV(N(m, diag s^2), N(0, I))`` for the diagonal Gaussian fit (m, s) of whitened residuals.

    Arguments:
        residuals: (n, d) whitened residuals, n >= 2.
        key: PRNG key of the Monte Carlo TV.
        num_samples: Monte Carlo samples.

    Returns:
        The TV in [0, 1].
    """
    r = np.asarray(residuals, np.float64)
    if r.ndim != 2 or r.shape[0] < 2:
        raise ValueError(f"residuals has shape {r.shape}: must be (n >= 2, d)")
    m, s = r.mean(axis=0), np.maximum(r.std(axis=0, ddof=1), 1e-6)
    zeros, ones = np.zeros_like(m), np.ones_like(s)
    return float(gaussian_tv_mc(key, m, s, zeros, ones, num_samples))


def null_floor(n: int, d: int, key: PRNGKeyArray, num_samples: int = 8192, repeats: int = 8) -> float:
    """What ``calibration_tv`` reads on n exact N(0, I) residuals of dimension d (its upward bias)."""
    keys = jax.random.split(key, 2 * repeats)
    vals = [
        calibration_tv(np.asarray(jax.random.normal(keys[2 * i], (n, d))), keys[2 * i + 1], num_samples)
        for i in range(repeats)
    ]
    return float(np.mean(vals))


def estimate_eps_t(
    next_latent: Float[ArrayLike, "n d"],
    prior_mean: Float[ArrayLike, "n d"],
    prior_std: Float[ArrayLike, "n d"],
    key: PRNGKeyArray,
    scenario_id: Int[ArrayLike, " n"] | None = None,
    num_samples: int = 8192,
) -> float:
    """Dynamics error eq. 19: ``max_i TV(law of the whitened residuals of scenario i, N(0, I))``.

    Arguments:
        next_latent: a draw of the true next latent per sample (in a world model: the posterior sample).
        prior_mean, prior_std: the model's one-step Gaussian prediction of it.
        key: PRNG key of the Monte Carlo TV.
        scenario_id: scenario of each sample (max over scenarios), or None.
        num_samples: Monte Carlo samples per scenario.

    Returns:
        epsilon_T in [0, 1] (see the module docstring for its biases).
    """
    r = whitened_residuals(next_latent, prior_mean, prior_std)
    if scenario_id is None:
        return calibration_tv(r, key, num_samples)
    sid = np.asarray(scenario_id).reshape(-1)
    if sid.shape[0] != r.shape[0]:
        raise ValueError(f"scenario_id has shape {sid.shape}: must be ({r.shape[0]},)")
    groups = [g for g in np.unique(sid) if np.sum(sid == g) >= 2]
    if not groups:
        raise ValueError("scenario_id: every scenario has fewer than 2 samples")
    keys = jax.random.split(key, len(groups))
    return max(calibration_tv(r[sid == g], k, num_samples) for g, k in zip(groups, keys, strict=True))


def tv_prior_posterior(
    prior_mean: Float[ArrayLike, "n d"],
    prior_std: Float[ArrayLike, "n d"],
    post_mean: Float[ArrayLike, "n d"],
    post_std: Float[ArrayLike, "n d"],
    scenario_id: Int[ArrayLike, " n"] | None = None,
) -> float:
    """``max_i E[TV(prior, posterior)]`` bounded from the Gaussian KL: a diagnostic, not eps_T.

    It measures how much each observation moves the belief (near 1 for informative observations
    even when the model is exact); the former eps_T estimator.
    """
    kl = gaussian_kl(prior_mean, prior_std, post_mean, post_std)
    return max_over_groups(np.asarray(tv_from_kl(kl)), scenario_id)


def estimate_eps_s(
    encode: Callable[[Array], Array],
    clean_obs: Float[ArrayLike, "n o"],
    perturbed_obs: Float[ArrayLike, "n o"],
    scenario_id: Int[ArrayLike, " n"] | None = None,
) -> float:
    """Representation error eq. 20: ``max_i E ||f(o_perturbed) - f(o_clean)||_2`` over the same states.

    Arguments:
        encode: f, maps a batch of observations (n, o) to latents (n, z).
        clean_obs: observations of the states under the identity observation function.
        perturbed_obs: observations of the same states under the perturbed observation function.
        scenario_id: scenario of each sample, or None.

    Returns:
        epsilon_S >= 0 (in latent units).
    """
    clean_obs, perturbed_obs = jnp.asarray(clean_obs), jnp.asarray(perturbed_obs)
    if clean_obs.shape != perturbed_obs.shape:
        raise ValueError(
            f"perturbed_obs has shape {perturbed_obs.shape}: must equal clean_obs {clean_obs.shape}"
        )
    dist = jnp.linalg.norm(encode(perturbed_obs) - encode(clean_obs), axis=-1)
    return max_over_groups(np.asarray(dist), scenario_id)


def _masked(mean, log_std, mask):
    keep = mask > 0
    return jnp.where(keep, mean, 0.0), jnp.where(keep, jnp.exp(log_std), 1.0)


def policy_tv_per_state(
    policy: Callable[[Array], tuple[Array, Array]],
    represented: Float[ArrayLike, "n s"],
    true_states: Float[ArrayLike, "n s"],
    key: PRNGKeyArray,
    act_mask: Float[ArrayLike, "*n a"] | None = None,
    num_samples: int = 1024,
) -> Float[Array, " n"]:
    """``TV(pi(.|represented_j), pi(.|true_j))`` per state j, for ONE policy at two inputs (Monte Carlo).

    Arguments:
        policy: one input (s,) -> (mean, log_std) of a diagonal pre-squash Gaussian (a,).
        represented: what the policy is given (e.g. the model's rendition of the state), (n, s).
        true_states: the true input of the same states, (n, s).
        key: PRNG key of the Monte Carlo TV (independent draws per state).
        act_mask: (a,) or (n, a), 1 on real action dimensions (padded ones are left out), or None.
        num_samples: Monte Carlo samples per state.

    Returns:
        (n,) TVs in [0, 1].
    """
    represented, true_states = jnp.asarray(represented), jnp.asarray(true_states)
    if represented.shape != true_states.shape or represented.ndim != 2:
        raise ValueError(
            f"represented has shape {represented.shape}: must equal true_states {true_states.shape}, (n, s)"
        )
    m1, l1 = jax.vmap(policy)(represented)
    m2, l2 = jax.vmap(policy)(true_states)
    mask = jnp.ones_like(m1) if act_mask is None else jnp.broadcast_to(jnp.asarray(act_mask), m1.shape)
    (m1, s1), (m2, s2) = _masked(m1, l1, mask), _masked(m2, l2, mask)
    keys = jax.random.split(key, m1.shape[0])  # independent draws per state: the mean over states averages
    return jax.vmap(lambda k, a, b, c, d: _tv_mc(k, a, b, c, d, num_samples=int(num_samples)))(
        keys, m1, s1, m2, s2
    )


def estimate_eps_pi(
    policy: Callable[[Array], tuple[Array, Array]],
    represented: Float[ArrayLike, "n s"],
    true_states: Float[ArrayLike, "n s"],
    key: PRNGKeyArray,
    act_mask: Float[ArrayLike, "*n a"] | None = None,
    num_samples: int = 1024,
) -> float:
    """Policy difference of Lemma 4 for one policy: ``E_j TV(pi(.|represented_j), pi(.|true_j))``.

    Arguments: as ``policy_tv_per_state``.

    Returns:
        epsilon_pi in [0, 1].
    """
    return float(jnp.mean(policy_tv_per_state(policy, represented, true_states, key, act_mask, num_samples)))
