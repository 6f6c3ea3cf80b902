"""The MrCoM losses, one named function per equation (DESIGN.md section 5).

Each function takes plain arrays (any leading batch/time dims) and returns the mean over them,
so each can be checked against a hand computation. `sg` is `jax.lax.stop_gradient`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

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


def _free(kl: Array, free_nats: float) -> Array:
    """Free nats: no pressure on a KL already below `free_nats` (per step)."""
    return jnp.maximum(kl, free_nats)


def loss_recon(
    pred: Float[Array, "*batch O"],
    obs: Float[Array, "*batch O"],
    obs_mask: Float[Array, "*batch O"],
    obs_std: float = 1.0,
) -> Array:
    """-log p(o_t | s~_t) of a Gaussian with fixed std `obs_std` in symlog space, without the constant.

    Only the real (mask = 1) dimensions count: 0.5 * sum_i mask_i ((pred_i - symlog(o)_i) / obs_std)^2.
    `pred` is the decoder output (already in symlog space).
    """
    target = jnp.sign(obs) * jnp.log1p(jnp.abs(obs))
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
    free_nats: float = 1.0,
    kl_balance: float = 0.8,
    literal: bool = False,
    obs_std: float = 1.0,
) -> tuple[Array, dict[str, Array]]:
    """Eq. 10: L_var = KL(p_u || q_u) + KL(p_h || q_h) - log p(o | u, d, h), KL direction as printed.

    Default (split, `literal=False`): the u-KL here trains only the prior, KL(p_u || sg q_u); the
    posterior side is `loss_state` (eq. 12). The h-KL is balanced: `kl_balance` * KL(p_h || sg q_h)
    + (1 - kl_balance) * KL(sg p_h || q_h). With `literal=True` both KLs carry full gradients.
    Each KL is floored at `free_nats` per step. `obs_std`: std of the decoder Gaussian (`loss_recon`).

    Returns:
        (L_var, {"kl_u", "kl_h", "recon"}) where kl_u / kl_h are the raw (unfloored) KLs.
    """
    kl_u_raw = gaussian_kl(prior_u, post_u)
    kl_h_raw = gaussian_kl(prior_h, post_h)
    if literal:
        kl_u = _free(kl_u_raw, free_nats)
        kl_h = _free(kl_h_raw, free_nats)
    else:
        kl_u = _free(gaussian_kl(prior_u, _stop(post_u)), free_nats)
        kl_h = kl_balance * _free(gaussian_kl(prior_h, _stop(post_h)), free_nats) + (
            1.0 - kl_balance
        ) * _free(gaussian_kl(_stop(prior_h), post_h), free_nats)
    recon = loss_recon(pred, obs, obs_mask, obs_std)
    total = jnp.mean(kl_u) + jnp.mean(kl_h) + recon
    return total, {"kl_u": jnp.mean(kl_u_raw), "kl_h": jnp.mean(kl_h_raw), "recon": recon}


def loss_state(prior_u: Normal, post_u: Normal, *, free_nats: float = 1.0, literal: bool = False) -> Array:
    """Eq. 12, meta-state regularization: L_s = KL(p(u | C, a) || q(u | C, a, o)).

    Default (split): KL(sg p_u || q_u), an information bottleneck on the posterior (it bounds
    I(u; o | C, a), eq. 11) while the prior is trained by `loss_var`. `literal=True`: the KL as
    printed with gradients into both sides (then it equals the u-term of eq. 10).
    """
    p = prior_u if literal else _stop(prior_u)
    return jnp.mean(_free(gaussian_kl(p, post_u), free_nats))


def td_target(
    reward: Float[Array, "*batch"], next_value: Float[Array, "*batch"], gamma: float
) -> Float[Array, "*batch"]:
    """Normalized one-step target (1 - gamma) r_t + gamma v(s~_{t+1}), stop-gradient.

    Values are scaled by (1 - gamma) so that they live on the reward's scale.
    """
    return sg((1.0 - gamma) * reward + gamma * next_value)


def loss_value_td(
    value: Float[Array, "*batch"],
    reward: Float[Array, "*batch"],
    next_value: Float[Array, "*batch"],
    gamma: float,
) -> Array:
    """Eq. 14: || v_psi_i(s~_t) - ((1 - gamma) r_t + gamma v_target_i(s~_{t+1})) ||^2 (mean)."""
    return jnp.mean((value - td_target(reward, next_value, gamma)) ** 2)


def loss_meta_value(meta: Float[Array, "*batch"], scenario_value: Float[Array, "*batch"]) -> Array:
    """Eq. 13: || v_psi_i(s~_t) - v_psi(s~_t) ||^2; trains the meta-value only (sg on v_psi_i)."""
    return jnp.mean((meta - sg(scenario_value)) ** 2)


def loss_value_reg(meta_true_next: Float[Array, "*batch"], meta_pred_next: Float[Array, "*batch K"]) -> Array:
    """Eq. 15, meta-value regularization: || v_psi(s~_{t+1}) - E_{s^ ~ T_theta} v_psi(s^_{t+1}) ||^2.

    `meta_true_next` = v_psi of the posterior latent (a stop-gradient target); `meta_pred_next` =
    v_psi of K samples of the predicted latent, averaged for the expectation. Call it with psi
    frozen so that gradients reach theta only through s^.
    """
    return jnp.mean((sg(meta_true_next) - jnp.mean(meta_pred_next, axis=-1)) ** 2)


def loss_reward(pred: Float[Array, "*batch"], reward: Float[Array, "*batch"]) -> Array:
    """Reward head: mean squared error."""
    return jnp.mean((pred - reward) ** 2)


class LossWeights(eqx.Module):
    """The weights of eq. 16 as traced float32 scalars (changing them does not recompile).

    Build with `LossWeights.from_config(config)`: the ablations wo_ls / wo_lv give weight 0.
    """

    lambda_var: Float[Array, ""]
    lambda_s: Float[Array, ""]
    lambda_v: Float[Array, ""]
    lambda_r: Float[Array, ""]

    @classmethod
    def from_config(cls, config) -> LossWeights:
        f = lambda x: jnp.asarray(x, jnp.float32)
        return cls(
            f(config.lambda_var),
            f(config.effective_lambda_s),
            f(config.effective_lambda_v),
            f(config.lambda_r),
        )


def total_loss(
    terms: dict[str, Array],
    *,
    lambda_var: float | Array,
    lambda_s: float | Array,
    lambda_v: float | Array,
    lambda_r: float | Array,
) -> Array:
    """Eq. 16 plus the heads: lambda_var L_var + lambda_s L_s + lambda_v L_v + lambda_r L_r + L_td + L_meta.

    L_td and L_meta only reach psi (their inputs are stop-gradient latents) and L_v only reaches
    theta (psi frozen), so summing them is the same as separate updates with one optimizer.
    """
    return (
        lambda_var * terms["var"]
        + lambda_s * terms["state"]
        + lambda_v * terms["value_reg"]
        + lambda_r * terms["reward"]
        + terms["value_td"]
        + terms["meta_value"]
    )
