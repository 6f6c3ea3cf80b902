"""Each loss against a small hand-computed case, and where its gradients go."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mrcom.worldmodel import (
    LossWeights,
    Normal,
    WorldModelConfig,
    gaussian_kl,
    latent_kl,
    loss_meta_value,
    loss_recon,
    loss_reward,
    loss_state,
    loss_value_reg,
    loss_value_td,
    loss_var,
    symlog,
    total_loss,
    value_reg_scale,
    weighted_terms,
)

P = Normal(jnp.array([0.0]), jnp.array([1.0]))
Q = Normal(jnp.array([1.0]), jnp.array([2.0]))
KL_PQ = np.log(2.0) + (1.0 + 1.0) / 8.0 - 0.5  # log(sq/sp) + (sp^2 + dm^2) / (2 sq^2) - 1/2


def test_gaussian_kl_hand_case_nonnegative_and_zero_on_identity():
    assert float(gaussian_kl(P, Q)) == pytest.approx(KL_PQ, rel=1e-6)
    # KL(q || p) is a different number: the direction matters
    assert float(gaussian_kl(Q, P)) == pytest.approx(0.5 * (4.0 + 1.0 - 1.0 - np.log(4.0)), rel=1e-6)
    k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(0), 4)
    p = Normal(jax.random.normal(k1, (64, 5)), jnp.exp(jax.random.normal(k2, (64, 5))))
    q = Normal(jax.random.normal(k3, (64, 5)), jnp.exp(jax.random.normal(k4, (64, 5))))
    assert float(jnp.min(gaussian_kl(p, q))) >= 0.0
    np.testing.assert_allclose(gaussian_kl(p, p), 0.0, atol=1e-6)


def test_symlog():
    np.testing.assert_allclose(symlog(jnp.array([-(np.e - 1), 0.0, np.e - 1])), [-1.0, 0.0, 1.0], atol=1e-6)


def test_loss_recon_counts_only_real_dims():
    pred = jnp.array([[1.0, 2.0, 5.0]])
    obs = jnp.array([[0.0, 1.0, np.log(4.0)]])  # targets in the decoder space
    mask = jnp.array([[1.0, 1.0, 0.0]])
    assert float(loss_recon(pred, obs, mask)) == pytest.approx(0.5 * (1.0 + 1.0), rel=1e-6)


KL_QP = 0.5 * (4.0 + 1.0 - 1.0 - np.log(4.0))  # KL(Q || P)


def test_latent_kl_direction():
    # prior P, posterior Q: the default is KL(posterior || prior), eq. 11's bound
    assert float(latent_kl(P, Q)) == pytest.approx(KL_QP, rel=1e-6)
    assert float(latent_kl(P, Q, "posterior_prior")) == pytest.approx(KL_QP, rel=1e-6)
    assert float(latent_kl(P, Q, "prior_posterior")) == pytest.approx(KL_PQ, rel=1e-6)  # as printed
    with pytest.raises(ValueError, match="direction='forward'"):
        latent_kl(P, Q, "forward")


@pytest.mark.parametrize("direction, kl", [("posterior_prior", KL_QP), ("prior_posterior", KL_PQ)])
def test_loss_var_hand_case(direction, kl):
    pred, obs, mask = (
        jnp.array([1.0, 2.0, 5.0]),
        jnp.array([0.0, 1.0, 3.0]),  # the target in the decoder's space
        jnp.array([1.0, 1.0, 0.0]),
    )
    # priors P, posteriors Q for both u and h
    total, terms = loss_var(
        P, Q, P, Q, pred, obs, mask, free_nats=0.0, kl_balance=0.8, kl_direction=direction
    )
    # the balance only shares out gradients: the forward value is KL_u + KL_h + recon
    assert float(total) == pytest.approx(2 * kl + 1.0, rel=1e-5)
    assert float(terms["kl_u"]) == pytest.approx(kl, rel=1e-5)
    assert float(terms["kl_h"]) == pytest.approx(kl, rel=1e-5)
    assert float(terms["recon"]) == pytest.approx(1.0, rel=1e-6)
    assert float(loss_state(P, Q, free_nats=0.0, kl_direction=direction)) == pytest.approx(kl, rel=1e-5)


def test_free_nats_floor():
    total, _ = loss_var(P, P, P, P, jnp.zeros(2), jnp.zeros(2), jnp.ones(2), free_nats=1.0)
    assert float(total) == pytest.approx(2.0)  # both KLs are 0, floored at 1 nat each
    assert float(loss_state(P, Q, free_nats=2.0)) == pytest.approx(2.0)  # KL_QP = 1.31 < 2
    assert float(loss_state(P, Q, free_nats=1.0)) == pytest.approx(KL_QP, rel=1e-6)
    assert float(loss_state(P, Q, free_nats=0.0)) == pytest.approx(KL_QP, rel=1e-6)


def _grads(fn):
    """d fn / d (prior mean, posterior mean) at prior P, posterior Q."""
    return jax.grad(lambda mp, mq: fn(Normal(mp, P.std), Normal(mq, Q.std)), argnums=(0, 1))(P.mean, Q.mean)


@pytest.mark.parametrize("direction", ["posterior_prior", "prior_posterior"])
def test_l_var_trains_both_sides_and_l_s_only_the_posterior(direction):
    zeros, ones = jnp.zeros(1), jnp.ones(1)
    full_p, full_q = _grads(lambda p, q: jnp.mean(latent_kl(p, q, direction)))  # no stop-gradient
    assert float(full_p[0]) != 0.0 and float(full_q[0]) != 0.0
    var_u = lambda p, q: loss_var(p, q, P, P, zeros, zeros, ones, free_nats=0.0, kl_direction=direction)[0]
    var_h = lambda p, q: loss_var(P, P, p, q, zeros, zeros, ones, free_nats=0.0, kl_direction=direction)[0]
    for var in (var_u, var_h):  # L_var alone (lambda_s = 0) trains the prior AND the posterior
        gp, gq = _grads(var)
        np.testing.assert_allclose(gp, 0.8 * full_p, rtol=1e-5)
        np.testing.assert_allclose(gq, 0.2 * full_q, rtol=1e-5)
        assert float(gq[0]) != 0.0
    # L_s is an extra posterior-side term: KL(q || sg p), nothing reaches the prior
    gp, gq = _grads(lambda p, q: loss_state(p, q, free_nats=0.0, kl_direction=direction))
    assert float(gp[0]) == 0.0
    np.testing.assert_allclose(gq, full_q, rtol=1e-5)
    # literal (eq. 12 without stop-gradient): both sides
    gp, gq = _grads(lambda p, q: loss_state(p, q, free_nats=0.0, kl_direction=direction, literal=True))
    np.testing.assert_allclose(gp, full_p, rtol=1e-5)
    np.testing.assert_allclose(gq, full_q, rtol=1e-5)


def test_value_losses_hand_cases():
    v, r, v_next = jnp.array([0.5, 0.0]), jnp.array([1.0, 0.0]), jnp.array([0.2, 1.0])
    gamma = 0.9
    target = np.array([0.1 * 1.0 + 0.9 * 0.2, 0.9 * 1.0])
    expect = np.mean((np.array([0.5, 0.0]) - target) ** 2)
    assert float(loss_value_td(v, r, v_next, gamma)) == pytest.approx(expect, rel=1e-6)
    assert float(jax.grad(lambda n: loss_value_td(v, r, n, gamma))(v_next).sum()) == 0.0  # target is sg

    meta, scen = jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0])
    assert float(loss_meta_value(meta, scen)) == pytest.approx((1.0 + 4.0) / 2)
    g_meta, g_scen = jax.grad(loss_meta_value, argnums=(0, 1))(meta, scen)
    assert float(jnp.abs(g_meta).sum()) > 0 and float(jnp.abs(g_scen).sum()) == 0.0

    true_next, pred = jnp.array([1.0]), jnp.array([[0.0, 1.0, 2.0, 5.0]])  # mean over K = 2
    assert float(loss_value_reg(true_next, pred)) == pytest.approx(1.0)
    g_true, g_pred = jax.grad(loss_value_reg, argnums=(0, 1))(true_next, pred)
    assert float(jnp.abs(g_true).sum()) == 0.0
    np.testing.assert_allclose(g_pred, [[0.5, 0.5, 0.5, 0.5]])  # 2 (2 - 1) / K

    assert float(loss_reward(jnp.array([1.0, 3.0]), jnp.array([0.0, 1.0]))) == pytest.approx(2.5)


def test_total_loss_weights():
    terms = {"var": 1.0, "state": 2.0, "value_reg": 3.0, "reward": 4.0, "value_td": 5.0, "meta_value": 6.0}
    terms |= {"prediction": 7.0, "open_loop": 8.0}
    config = WorldModelConfig(
        lambda_var=0.5, lambda_s=0.25, lambda_v=2.0, lambda_r=1.0, lambda_pred=0.1, lambda_open_loop=0.01
    )
    full = 0.5 + 0.5 + 6.0 + 4.0 + 0.7 + 0.08 + 5.0 + 6.0
    assert float(total_loss(terms, LossWeights.from_config(config))) == pytest.approx(full)
    # an ablation's weight is 0 in the loss (w/o L_s drops 0.25 * 2, w/o L_v drops 2 * 3)
    for ablation, dropped in (("wo_ls", 0.5), ("wo_lv", 6.0)):
        ablated = total_loss(terms, LossWeights.from_config(config.replace(ablation=ablation)))
        assert float(ablated) == pytest.approx(full - dropped)


def test_value_reg_scales():
    """Scales of L_v. "variance": over obs_std^2 times the batch variance of the meta-value, unchanged
    when the values are scaled; "reward": the heads' own scale; "return": the values of eqs. 13-15 as
    printed, that is over (1 - gamma)^2."""
    true_next = jnp.array([0.0, 1.0, 2.0, 3.0])
    pred = true_next[:, None] + jnp.array([[0.5, -0.5, 1.0, 0.0]])  # mean offset 0.25 per row
    gamma = 0.9
    raw = float(loss_value_reg(true_next, pred))
    assert raw == pytest.approx(0.0625)
    assert float(value_reg_scale(true_next, gamma, "reward")) == 1.0
    returns = loss_value_reg(true_next, pred, value_reg_scale(true_next, gamma, "return"))
    assert float(returns) == pytest.approx(raw / 0.01, rel=1e-5)
    rel = lambda c: float(loss_value_reg(c * true_next, c * pred, value_reg_scale(c * true_next, gamma)))
    assert rel(1.0) == pytest.approx(0.0625 / 1.25, rel=1e-5)  # np.var([0, 1, 2, 3]) = 1.25
    assert rel(0.01) == pytest.approx(rel(1.0), rel=1e-3) and rel(100.0) == pytest.approx(rel(1.0), rel=1e-5)
    # ...in the decoder's unit: obs_std^2 times that variance (obs_std = 0.1: 100x)
    decoder_unit = loss_value_reg(true_next, pred, value_reg_scale(true_next, gamma, "variance", obs_std=0.1))
    assert float(decoder_unit) == pytest.approx(100 * rel(1.0), rel=1e-5)
    # the scale is a stop-gradient unit: the gradient still reaches only the prediction
    g_true, g_pred = jax.grad(lambda t, p: loss_value_reg(t, p, value_reg_scale(t, gamma)), argnums=(0, 1))(
        true_next, pred
    )
    assert float(jnp.abs(g_true).sum()) == 0.0
    np.testing.assert_allclose(g_pred, jnp.full((4, 4), 2 * 0.25 / 4 / 4 / 1.25), rtol=1e-5)
    with pytest.raises(ValueError, match="value_reg_scale='bogus'"):
        value_reg_scale(true_next, gamma, "bogus")


def test_value_reg_scale_config_and_old_checkpoints():
    assert WorldModelConfig().value_reg_scale == "variance"
    assert WorldModelConfig().spec.value_reg_scale == "variance"
    with pytest.raises(ValueError, match="value_reg_scale"):
        WorldModelConfig(value_reg_scale="bogus")
    # a checkpoint written before the field existed trained L_v on the (1 - gamma)-scaled values
    assert WorldModelConfig.CHECKPOINT_DEFAULTS["value_reg_scale"] == "reward"


def test_weighted_terms_sum_to_total_loss():
    terms = {"var": 1.0, "state": 2.0, "value_reg": 3.0, "reward": 4.0, "value_td": 5.0, "meta_value": 6.0}
    w = LossWeights.from_config(WorldModelConfig(lambda_v=2.0, lambda_s=0.5))
    parts = weighted_terms(terms, w)
    assert float(parts["value_reg"]) == 6.0 and float(parts["state"]) == 1.0
    assert float(parts["prediction"]) == 0.0 and float(parts["open_loop"]) == 0.0  # missing: 0
    assert float(sum(parts.values())) == pytest.approx(float(total_loss(terms, w)))
