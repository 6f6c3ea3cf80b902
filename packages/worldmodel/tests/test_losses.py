"""Each loss against a small hand-computed case, and where its gradients go."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mrcom.worldmodel import (
    Normal,
    gaussian_kl,
    loss_meta_value,
    loss_recon,
    loss_reward,
    loss_state,
    loss_value_reg,
    loss_value_td,
    loss_var,
    symlog,
    total_loss,
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
    obs = jnp.array([[0.0, np.e - 1.0, 3.0]])  # symlog -> [0, 1, log 4]
    mask = jnp.array([[1.0, 1.0, 0.0]])
    assert float(loss_recon(pred, obs, mask)) == pytest.approx(0.5 * (1.0 + 1.0), rel=1e-6)


@pytest.mark.parametrize("literal", [False, True])
def test_loss_var_hand_case(literal):
    pred, obs, mask = (
        jnp.array([1.0, 2.0, 5.0]),
        jnp.array([0.0, np.e - 1.0, 3.0]),
        jnp.array([1.0, 1.0, 0.0]),
    )
    total, terms = loss_var(P, Q, Q, P, pred, obs, mask, free_nats=0.0, kl_balance=0.8, literal=literal)
    kl_qp = 0.5 * (4.0 + 1.0 - 1.0 - np.log(4.0))
    # the forward value is the same in both modes: KL(p_u||q_u) + KL(p_h||q_h) + recon
    assert float(total) == pytest.approx(KL_PQ + kl_qp + 1.0, rel=1e-5)
    assert float(terms["kl_u"]) == pytest.approx(KL_PQ, rel=1e-5)
    assert float(terms["recon"]) == pytest.approx(1.0, rel=1e-6)


def test_free_nats_floor():
    total, _ = loss_var(P, P, P, P, jnp.zeros(2), jnp.zeros(2), jnp.ones(2), free_nats=1.0)
    assert float(total) == pytest.approx(2.0)  # both KLs are 0, floored at 1 nat each
    assert float(loss_state(P, Q, free_nats=1.0)) == pytest.approx(1.0)
    assert float(loss_state(P, Q, free_nats=0.0)) == pytest.approx(KL_PQ, rel=1e-6)


def _grads(fn, literal):
    def f(mp, mq):
        return fn(Normal(mp, P.std), Normal(mq, Q.std), literal)

    return jax.grad(f, argnums=(0, 1))(P.mean, Q.mean)


def test_split_sends_u_kl_to_prior_and_state_reg_to_posterior():
    var_u = lambda p, q, lit: loss_var(
        p, q, P, P, jnp.zeros(1), jnp.zeros(1), jnp.ones(1), free_nats=0.0, literal=lit
    )[0]
    state = lambda p, q, lit: loss_state(p, q, free_nats=0.0, literal=lit)
    gp, gq = _grads(var_u, False)
    assert float(gp[0]) != 0.0 and float(gq[0]) == 0.0  # L_var's u-KL trains the prior only
    gp, gq = _grads(state, False)
    assert float(gp[0]) == 0.0 and float(gq[0]) != 0.0  # L_s trains the posterior only
    for fn in (var_u, state):  # literal: gradients into both sides
        gp, gq = _grads(fn, True)
        assert float(gp[0]) != 0.0 and float(gq[0]) != 0.0


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
    got = total_loss(terms, lambda_var=0.5, lambda_s=0.25, lambda_v=2.0, lambda_r=1.0)
    assert float(got) == pytest.approx(0.5 + 0.5 + 6.0 + 4.0 + 5.0 + 6.0)
