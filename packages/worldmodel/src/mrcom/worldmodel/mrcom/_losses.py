"""The MrCoM losses, one named function per equation (docs/design.md, section 5).

Each function takes plain arrays (any leading batch/time dims) and returns the mean over them,
so each can be checked against a hand computation. `sg` is `jax.lax.stop_gradient`.
"""

from __future__ import annotations

import functools
import operator

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._config import KL_DIRECTIONS, VALUE_REG_SCALES
from ._model import Normal

sg = jax.lax.stop_gradient


def gaussian_kl(p: Normal, q: Normal) -> Float[Array, "*batch"]:
    """KL(p || q) of diagonal Gaussians, summed over the last axis.

    KL = sum_i log(sq_i / sp_i) + (sp_i^2 + (mp_i - mq_i)^2) / (2 sq_i^2) - 1/2.
    """
    var_ratio = (p.std / q.std) ** 2
    mahal = ((p.mean - q.mean) / q.std) ** 2
    return 0.5 * jnp.sum(var_ratio + mahal - 1.0 - jnp.log(var_ratio), axis=-1)


def _stop(d: Normal) -> Normal:
    return Normal(sg(d.mean), sg(d.std))


def _free(kl: Array, free_nats: float | Array) -> Array:
    """Free nats: no pressure on a KL already below `free_nats` (per step)."""
    return jnp.maximum(kl, free_nats)


def latent_kl(prior: Normal, post: Normal, direction: str = "posterior_prior") -> Float[Array, "*batch"]:
    """The prior-posterior KL of one latent, per step, in `direction`.

    "posterior_prior": KL(q || p), the bound on I(u; o | C, a) of eq. 11 (and the KL of the ELBO).
    "prior_posterior": KL(p || q) as printed in eqs. 10 and 12 (eq. 11's approximation near p = q).
    """
    if direction == "posterior_prior":
        return gaussian_kl(post, prior)
    if direction == "prior_posterior":
        return gaussian_kl(prior, post)
    raise ValueError(f"direction={direction!r}: must be one of {KL_DIRECTIONS}")


def balanced_kl(
    prior: Normal,
    post: Normal,
    *,
    free_nats: float | Array = 1.0,
    kl_balance: float | Array = 0.8,
    direction: str = "posterior_prior",
) -> Array:
    """One KL of eq. 10 with DreamerV3's balance, mean over steps.

    kl_balance * max(KL[p, sg q], free_nats) + (1 - kl_balance) * max(KL[sg p, q], free_nats), with
    KL[p, q] = `latent_kl(p, q, direction)`: the first side trains the prior toward the posterior,
    the second the posterior toward the prior. The forward value is the (floored) KL itself; only
    the gradients are shared out.
    """
    to_prior = _free(latent_kl(prior, _stop(post), direction), free_nats)
    to_post = _free(latent_kl(_stop(prior), post, direction), free_nats)
    return jnp.mean(kl_balance * to_prior + (1.0 - kl_balance) * to_post)


def loss_recon(
    pred: Float[Array, "*batch O"],
    target: Float[Array, "*batch O"],
    obs_mask: Float[Array, "*batch O"],
    obs_std: float = 1.0,
) -> Array:
    """-log p(o_t | s~_t) of a Gaussian with fixed std `obs_std`, without the constant.

    Only the real (mask = 1) dimensions count: 0.5 * sum_i mask_i ((pred_i - target_i) / obs_std)^2.
    `pred` is the decoder output and `target` the observation, both in the decoder's space
    (`ObsNorm.forward`).
    """
    return jnp.mean(0.5 * jnp.sum(obs_mask * ((pred - target) / obs_std) ** 2, axis=-1))


def loss_var(
    prior_u: Normal,
    post_u: Normal,
    prior_h: Normal,
    post_h: Normal,
    pred: Float[Array, "*batch O"],
    obs: Float[Array, "*batch O"],
    obs_mask: Float[Array, "*batch O"],
    *,
    free_nats: float | Array = 1.0,
    kl_balance: float | Array = 0.8,
    kl_direction: str = "posterior_prior",
    obs_std: float = 1.0,
) -> tuple[Array, dict[str, Array]]:
    """Eq. 10, the whole variational loss: L_var = KL_u + KL_h - log p(o | u, d, h).

    Both KLs train both sides (`balanced_kl`: `kl_balance` of each to the prior, the rest to the
    posterior), each floored at `free_nats` per step and per side. `kl_direction`: see `latent_kl`
    (default KL(q || p); "prior_posterior" is the direction printed in eq. 10). L_s (`loss_state`)
    comes on top of this, so with lambda_s = 0 this alone is the plain variational bound.
    `obs_std`: std of the decoder Gaussian (`loss_recon`).

    Returns:
        (L_var, {"kl_u", "kl_h", "recon"}) where kl_u / kl_h are the raw (unfloored) KLs in
        `kl_direction`.
    """
    kl = lambda p, q: balanced_kl(p, q, free_nats=free_nats, kl_balance=kl_balance, direction=kl_direction)
    recon = loss_recon(pred, obs, obs_mask, obs_std)
    total = kl(prior_u, post_u) + kl(prior_h, post_h) + recon
    return total, {
        "kl_u": jnp.mean(latent_kl(prior_u, post_u, kl_direction)),
        "kl_h": jnp.mean(latent_kl(prior_h, post_h, kl_direction)),
        "recon": recon,
    }


def loss_state(
    prior_u: Normal,
    post_u: Normal,
    *,
    free_nats: float | Array = 1.0,
    kl_direction: str = "posterior_prior",
    literal: bool = False,
) -> Array:
    """Eq. 12, meta-state regularization: L_s = KL between q(u | C, a, o) and p(u | C, a).

    An extra posterior-side term on top of L_var, an information bottleneck on u (it bounds
    I(u; o | C, a), eq. 11): default KL(q_u || sg p_u), which pulls the posterior toward what the
    context and action predict and leaves the prior to L_var. `kl_direction="prior_posterior"`:
    KL(sg p_u || q_u), the direction printed in eq. 12. `literal=True`: no stop-gradient, the
    KL reaches both sides. Floored at `free_nats` per step.
    """
    p = prior_u if literal else _stop(prior_u)
    return jnp.mean(_free(latent_kl(p, post_u, kl_direction), free_nats))


def td_target(
    reward: Float[Array, "*batch"], next_value: Float[Array, "*batch"], gamma: float | Array
) -> Float[Array, "*batch"]:
    """Normalized one-step target (1 - gamma) r_t + gamma v(s~_{t+1}), stop-gradient.

    Values are scaled by (1 - gamma) so that they live on the reward's scale.
    """
    return sg((1.0 - gamma) * reward + gamma * next_value)


def loss_value_td(
    value: Float[Array, "*batch"],
    reward: Float[Array, "*batch"],
    next_value: Float[Array, "*batch"],
    gamma: float | Array,
) -> Array:
    """Eq. 14: || v_psi_i(s~_t) - ((1 - gamma) r_t + gamma v_target_i(s~_{t+1})) ||^2 (mean)."""
    return jnp.mean((value - td_target(reward, next_value, gamma)) ** 2)


def loss_meta_value(meta: Float[Array, "*batch"], scenario_value: Float[Array, "*batch"]) -> Array:
    """Eq. 13: || v_psi_i(s~_t) - v_psi(s~_t) ||^2; trains the meta-value only (sg on v_psi_i)."""
    return jnp.mean((meta - sg(scenario_value)) ** 2)


def loss_value_reg(
    meta_true_next: Float[Array, "*batch"],
    meta_pred_next: Float[Array, "*batch K"],
    scale: float | Array = 1.0,
) -> Array:
    """Eq. 15, meta-value regularization: || v_psi(s~_{t+1}) - E_{s^ ~ T_theta} v_psi(s^_{t+1}) ||^2 / scale.

    `meta_true_next` = v_psi of the posterior latent (a stop-gradient target); `meta_pred_next` =
    v_psi of K samples of the predicted latent, averaged for the expectation. Call it with psi
    frozen so that gradients reach theta only through s^. `scale` (stop-gradient): the squared unit
    the error is measured in (`value_reg_scale`); 1 is the heads' own scale.
    """
    err = jnp.mean((sg(meta_true_next) - jnp.mean(meta_pred_next, axis=-1)) ** 2)
    return err / sg(scale)


# The floor of the "variance" scale (in squared (1 - gamma)-scaled value units): only guards the
# division when the meta-value is constant over the batch (then the error and its gradient are 0 too).
VALUE_VAR_FLOOR = 1e-8


def value_reg_scale(
    meta_true_next: Float[Array, "*batch"],
    gamma: float | Array,
    mode: str = "variance",
    obs_std: float = 1.0,
) -> Array:
    """The squared unit of L_v (eq. 15) for `loss_value_reg`, stop-gradient; `mode` one of
    `VALUE_REG_SCALES` (docs/choices.md, "The scale of L_v"):

    - "variance" (ours, the default): obs_std^2 * Var over the batch of v_psi(s~_{t+1})
      (+ `VALUE_VAR_FLOOR`). The meta-value is standardized over the batch and its error measured
      in the decoder's unit, as the decoder measures a standardized observation dimension
      (`loss_recon`, std `obs_std`): L_v's gradient is then invariant to the values' scale
      (rewards, gamma, how far the heads have trained) and keeps its ratio to the reconstruction,
      prediction and open-loop terms when `obs_std` changes, so lambda_v weighs the same thing at
      every step and in every setting.
    - "reward": 1, the heads' values scaled by (1 - gamma) (`td_target`): L_v of a 400-step quick
      run ~1e-4, under 1e-4 of the gradient at any lambda_v <= 10.
    - "return": (1 - gamma)^2, i.e. L_v on the unscaled values r + gamma v of eqs. 13-15 as printed
      (a fixed factor 1e4 at gamma = 0.99, the same as a lambda_v 1e4 times larger).
    """
    if mode == "variance":
        return sg((jnp.var(meta_true_next) + VALUE_VAR_FLOOR) * obs_std**2)
    if mode == "reward":
        return jnp.ones(())
    if mode == "return":
        return sg(jnp.square(1.0 - jnp.asarray(gamma, jnp.float32)))
    raise ValueError(f"value_reg_scale={mode!r}: must be one of {VALUE_REG_SCALES}")


def loss_prediction(
    pred: Float[Array, "*batch O"],
    obs: Float[Array, "*batch O"],
    obs_mask: Float[Array, "*batch O"],
    obs_std: float,
) -> Array:
    """One-step prediction: -log p(o_t | s^_t) of the decoded PRIOR latent s^_t ~ T(. | s~_{t-1}, C_t).

    The same Gaussian as `loss_recon`, on the latent that imagination decodes instead of the
    posterior's: L_var trains the prior only to match the posterior in KL (with free nats), which
    leaves the decoded prediction untrained (docs/choices.md, "World-model accuracy").
    """
    return loss_recon(pred, obs, obs_mask, obs_std)


def loss_open_loop(
    pred: Float[Array, "*batch K O"],
    obs: Float[Array, "*batch K O"],
    obs_mask: Float[Array, "*batch K O"],
    obs_std: float,
    pred_reward: Float[Array, "*batch K"],
    reward: Float[Array, "*batch K"],
) -> Array:
    """Open-loop prediction of the prior rolled K steps from s~_t: -log p(o_{t+j} | s^_{t+j}), j = 1..K,
    plus the squared error of the imagined rewards r^_{t+j-1} = R(s^_{t+j-1}, a_{t+j-1}, e).

    Observations in the decoder space. The prior is rolled under the real actions on its own
    decoded observations and context (as imagination runs it), so multi-step errors that compound
    through o_{t-1} and C_t are trained, not only the one-step error of `loss_prediction`; the
    reward head learns to read the imagined latents it is applied to in MBPO's branches. Averaged
    over the K steps, so the scales match `loss_prediction` and `loss_reward` (docs/choices.md,
    "World-model accuracy").
    """
    return loss_recon(pred, obs, obs_mask, obs_std) + loss_reward(pred_reward, reward)


def loss_reward(pred: Float[Array, "*batch"], reward: Float[Array, "*batch"]) -> Array:
    """Reward head: mean squared error."""
    return jnp.mean((pred - reward) ** 2)


class LossWeights(eqx.Module):
    """The loss's coefficients as traced float32 scalars (changing them does not recompile): the
    weights of eq. 16, the free nats and KL balance of L_var and L_s, the value heads' discount
    (eq. 14) and the target heads' EMA rate.

    Build with `LossWeights.from_config(config)` (`WEIGHT_FIELDS` of a `WorldModelConfig`): the
    ablations wo_ls / wo_lv give weight 0.
    """

    lambda_var: Float[Array, ""]
    lambda_s: Float[Array, ""]
    lambda_v: Float[Array, ""]
    lambda_r: Float[Array, ""]
    lambda_pred: Float[Array, ""]
    lambda_open_loop: Float[Array, ""]
    free_nats: Float[Array, ""]
    kl_balance: Float[Array, ""]
    gamma: Float[Array, ""]
    target_tau: Float[Array, ""]

    @classmethod
    def from_config(cls, config) -> LossWeights:
        return cls(**{name: jnp.asarray(w, jnp.float32) for name, w in config.weights.items()})


# The terms of `total_loss`, each with its weight (`weighted_terms`); their gradients are what
# `gradient_shares` compares.
WEIGHTED_TERMS = ("var", "state", "value_reg", "reward", "prediction", "open_loop", "value_td", "meta_value")


def weighted_terms(terms: dict[str, Array], w: LossWeights) -> dict[str, Array]:
    """Each summand of `total_loss` (`WEIGHTED_TERMS`): its term times its weight (L_td and L_meta
    weigh 1; a missing "prediction" or "open_loop" is 0)."""
    weight = {
        "var": w.lambda_var,
        "state": w.lambda_s,
        "value_reg": w.lambda_v,
        "reward": w.lambda_r,
        "prediction": w.lambda_pred,
        "open_loop": w.lambda_open_loop,
    }
    return {name: weight.get(name, 1.0) * jnp.asarray(terms.get(name, 0.0)) for name in WEIGHTED_TERMS}


def total_loss(terms: dict[str, Array], w: LossWeights) -> Array:
    """Eq. 16 plus the heads: lambda_var L_var + lambda_s L_s + lambda_v L_v + lambda_r L_r
    + lambda_pred L_pred + lambda_open_loop L_open_loop + L_td + L_meta (`weighted_terms`, summed).

    L_td and L_meta only reach psi (their inputs are stop-gradient latents) and L_v only reaches
    theta (psi frozen), so summing them is the same as separate updates with one optimizer.
    """
    parts = weighted_terms(terms, w)
    return functools.reduce(operator.add, (parts[name] for name in WEIGHTED_TERMS))
