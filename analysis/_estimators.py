"""Estimators of the constants of Theorem 6, written against plain callables and arrays.

Each estimator says what it approximates and in which direction it is biased; the same text is in
``docs/choices.md``. ``analysis._wm_constants`` wires them to ``mrcom.worldmodel``.

- ``eps_t``: eq. 19 is a total variation between the true and the learned transition. The true
  latent transition is unknown; the filtered posterior (which has seen the next observation) stands in
  for it, and the TV between the one-step prior and the posterior is bounded from the Gaussian KL
  (Pinsker, or Bretagnolle-Huber when tighter). Bias: an upper bound on TV(prior, posterior) per step,
  but the posterior is itself a model, so the estimate measures how surprised the prior is by the data.
- ``eps_s``: eq. 20 compares the representation f(o) with the true latent state, which is unknown.
  We use the latent of the clean observation of the same state as the reference and measure the
  distance to the latent of the perturbed observation. Bias: it ignores the error of the clean
  representation itself (a lower bound on eq. 20 if the clean latent were exact), and it depends on the
  latent's scale (so compare it across runs of one architecture only).
- ``eps_pi``: TV between two Gaussian policies at sampled states, from their Gaussian KL (tanh squashing
  is a bijection, so it leaves the TV unchanged). Bias: a max over finitely many sampled states
  under-estimates the paper's max over all states; Pinsker over-estimates each TV.
- ``C_T``, ``C_pi``: the largest spectral norm of the Jacobian (``jax.jacfwd``) of the mean latent
  transition / mean policy action over sampled states. Bias: a max over samples under-estimates the
  supremum; it is a Lipschitz constant of the mean map, not of the distribution (see
  ``gaussian_tv_lipschitz`` for the conversion used when a TV sensitivity is wanted).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

__all__ = [
    "gaussian_kl",
    "tv_from_kl",
    "max_over_groups",
    "estimate_eps_t",
    "estimate_eps_s",
    "estimate_eps_pi",
    "jacobian_spectral_norms",
    "estimate_lipschitz",
    "gaussian_tv_lipschitz",
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


def estimate_eps_t(
    prior_mean: Float[ArrayLike, "n d"],
    prior_std: Float[ArrayLike, "n d"],
    post_mean: Float[ArrayLike, "n d"],
    post_std: Float[ArrayLike, "n d"],
    scenario_id: Int[ArrayLike, " n"] | None = None,
) -> float:
    """Dynamics error eq. 19: ``max_i E[TV(prior || posterior)]`` with TV bounded from the Gaussian KL.

    Arguments:
        prior_mean, prior_std: the one-step prediction of the latent (before seeing o_t).
        post_mean, post_std: the filtered latent (after seeing o_t).
        scenario_id: scenario of each sample (the max over scenarios), or None.

    Returns:
        epsilon_T in [0, 1].
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


def estimate_eps_pi(
    policy_1: Callable[[Array], tuple[Array, Array]],
    policy_2: Callable[[Array], tuple[Array, Array]],
    states: Float[ArrayLike, "n s"],
) -> float:
    """Policy difference of Lemma 4: ``max_s TV(pi_1(.|s) || pi_2(.|s))`` over sampled states.

    Arguments:
        policy_1, policy_2: map states (n, s) to (mean, std) of a diagonal Gaussian over
            pre-squash actions (n, a).
        states: sampled states.

    Returns:
        epsilon_pi in [0, 1].
    """
    states = jnp.asarray(states)
    m1, s1 = policy_1(states)
    m2, s2 = policy_2(states)
    return float(jnp.max(tv_from_kl(gaussian_kl(m1, s1, m2, s2))))


def jacobian_spectral_norms(
    fn: Callable[[Array], Array], states: Float[ArrayLike, "n s"]
) -> Float[Array, " n"]:
    """Spectral norm (largest singular value) of the Jacobian of ``fn`` at each sampled state.

    Arguments:
        fn: maps one state (s,) to one output (k,); differentiated with ``jax.jacfwd``.
        states: the points, (n, s).

    Returns:
        ``||d fn / d s (states[j])||_2`` for each j.
    """
    states = jnp.asarray(states)
    if states.ndim != 2:
        raise ValueError(f"states has shape {states.shape}: must be (n, state_dim)")
    jac = jax.vmap(jax.jacfwd(fn))(states)
    if jac.ndim != 3:
        raise ValueError(f"fn returns shape {jac.shape[1:-1]}: must return a vector (k,)")
    return jnp.linalg.norm(jac, ord=2, axis=(-2, -1))


def estimate_lipschitz(fn: Callable[[Array], Array], states: Float[ArrayLike, "n s"]) -> float:
    """C_T / C_pi: the largest Jacobian spectral norm of ``fn`` over sampled states.

    A lower bound on the Lipschitz constant of ``fn`` on the sampled region (exact for a linear map).
    """
    return float(jnp.max(jacobian_spectral_norms(fn, states)))


def gaussian_tv_lipschitz(jacobian_norm: float, std: float, *, l1: bool = False) -> float:
    """Lipschitz constant of ``s -> N(mu(s), std^2 I)`` in TV, from that of ``mu``.

    ``TV(N(m1, v), N(m2, v)) = 2 Phi(|m1-m2| / (2 std)) - 1 <= |m1-m2| / (std sqrt(2 pi))``.

    Arguments:
        jacobian_norm: Lipschitz constant of the mean (e.g. from ``estimate_lipschitz``).
        std: the smallest standard deviation of the distribution (> 0).
        l1: return the L1 (= 2 TV) constant, the reading of C_pi in Lemma 4.

    Returns:
        The TV (or L1) Lipschitz constant.
    """
    if not std > 0:
        raise ValueError(f"std={std!r}: must be > 0")
    if not jacobian_norm >= 0:
        raise ValueError(f"jacobian_norm={jacobian_norm!r}: must be >= 0")
    tv = jacobian_norm / (std * math.sqrt(2.0 * math.pi))
    return 2.0 * tv if l1 else tv
