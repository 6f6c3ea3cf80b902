"""Estimators of the bound's constants on systems whose answer is known."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analysis.bound import (
    estimate_eps_pi,
    estimate_eps_s,
    estimate_eps_t,
    estimate_lipschitz,
    gaussian_kl,
    gaussian_map_tv_lipschitz,
    gaussian_tv_equal_std,
    gaussian_tv_lipschitz,
    gaussian_tv_mc,
    jacobian_spectral_norms,
    max_over_groups,
    tv_from_kl,
    tv_prior_posterior,
)


def test_linear_system_jacobian_recovers_spectral_norm():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 6)).astype(np.float32)
    b = rng.normal(size=(6,)).astype(np.float32)
    states = rng.normal(size=(32, 6)).astype(np.float32)
    expected = np.linalg.svd(a, compute_uv=False)[0]
    norms = jacobian_spectral_norms(lambda s: a @ s + b, states)
    np.testing.assert_allclose(np.asarray(norms), expected, rtol=1e-4)
    assert estimate_lipschitz(lambda s: a @ s + b, states) == pytest.approx(expected, rel=1e-4)
    # not square: a (3, 6) map
    c = a[:3]
    assert estimate_lipschitz(lambda s: c @ s, states) == pytest.approx(
        np.linalg.svd(c, compute_uv=False)[0], rel=1e-4
    )


def test_lipschitz_of_nonlinear_map_is_max_over_samples():
    # f(s) = tanh(w s): Jacobian diag(w (1 - tanh^2)), largest at s = 0 where it is |w|
    w = 3.0
    states = jnp.array([[0.0], [1.0], [-2.0]])
    assert estimate_lipschitz(lambda s: jnp.tanh(w * s), states) == pytest.approx(3.0)
    far = jnp.array([[1.0], [2.0]])
    assert estimate_lipschitz(lambda s: jnp.tanh(w * s), far) == pytest.approx(
        w * (1 - math.tanh(3.0) ** 2), rel=1e-4
    )


def test_gaussian_kl_and_tv():
    # KL(N(0,1) || N(1,2^2)) = log 2 + (1 + 1)/8 - 1/2
    kl = gaussian_kl(jnp.array([0.0]), jnp.array([1.0]), jnp.array([1.0]), jnp.array([2.0]))
    assert float(kl) == pytest.approx(math.log(2.0) + 0.25 - 0.5, rel=1e-6)
    assert float(gaussian_kl(jnp.ones(3), jnp.ones(3), jnp.ones(3), jnp.ones(3))) == pytest.approx(0.0)
    # Pinsker for small KL, Bretagnolle-Huber for large KL, never above 1
    assert float(tv_from_kl(0.02)) == pytest.approx(0.1)
    assert float(tv_from_kl(4.0)) == pytest.approx(math.sqrt(1 - math.exp(-4.0)))
    assert float(tv_from_kl(1e6)) <= 1.0


def test_tv_bound_is_above_exact_tv_of_equal_variance_gaussians():
    # exact TV(N(0,1), N(d,1)) = 2 Phi(d/2) - 1
    for d in (0.1, 0.5, 1.0, 3.0):
        exact = math.erf(d / (2 * math.sqrt(2)))
        kl = gaussian_kl(jnp.array([0.0]), jnp.array([1.0]), jnp.array([d]), jnp.array([1.0]))
        assert float(tv_from_kl(kl)) >= exact - 1e-6
        # and the TV-Lipschitz conversion bounds it: d / sqrt(2 pi)
        assert gaussian_tv_lipschitz(1.0, 1.0) * d >= exact - 1e-9


def test_max_over_groups():
    values = np.array([1.0, 3.0, 10.0, 0.0, 2.0])
    group = np.array([0, 0, 1, 1, 2])
    assert max_over_groups(values, group) == pytest.approx(5.0)
    assert max_over_groups(values, None) == pytest.approx(3.2)
    with pytest.raises(ValueError, match="group"):
        max_over_groups(values, group[:3])


def test_prior_posterior_tv_zero_when_equal_and_grows_with_gap():
    m = np.zeros((10, 4), np.float32)
    s = np.ones((10, 4), np.float32)
    assert tv_prior_posterior(m, s, m, s) == pytest.approx(0.0, abs=1e-6)
    sid = np.array([0] * 5 + [1] * 5)
    post = m.copy()
    post[5:, 0] = 0.2  # scenario 1 is worse: KL = 0.02 -> TV <= 0.1
    assert tv_prior_posterior(m, s, post, s, sid) == pytest.approx(0.1, rel=1e-5)


def test_prior_posterior_tv_is_pinned_for_an_exact_model_but_eps_t_is_not():
    # exact model: prior N(0, 1); an informative observation gives the posterior N(z, 0.1^2) around the
    # true draw z ~ prior. The former estimator (TV(prior, posterior)) sits near 1; eps_T near 0.
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 6)).astype(np.float32)
    zeros, ones = np.zeros_like(z), np.ones_like(z)
    assert tv_prior_posterior(zeros, ones, z, 0.1 * ones) > 0.99
    assert estimate_eps_t(z, zeros, ones, jax.random.key(0)) < 0.08


def test_gaussian_tv_exact_and_monte_carlo():
    # equal stds: 2 Phi(delta / 2) - 1
    for d in (0.0, 0.5, 2.0):
        exact = math.erf(d / (2 * math.sqrt(2)))
        tv = gaussian_tv_equal_std(jnp.array([0.0, 0.0]), jnp.array([d, 0.0]), jnp.ones(2))
        assert float(tv) == pytest.approx(exact, abs=1e-6)
        mc = gaussian_tv_mc(
            jax.random.key(1), jnp.zeros(2), jnp.ones(2), jnp.array([d, 0.0]), jnp.ones(2), 50_000
        )
        assert float(mc) == pytest.approx(exact, abs=0.01)
    # different stds, 1-d: TV(N(0,1), N(0,2^2)) = 2 (Phi(x) - Phi(x/2)), x = sqrt(8 ln 2 / 3)
    x = math.sqrt(8 * math.log(2) / 3)
    phi = lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2)))
    mc = gaussian_tv_mc(jax.random.key(2), jnp.zeros(1), jnp.ones(1), jnp.zeros(1), 2 * jnp.ones(1), 100_000)
    assert float(mc) == pytest.approx(2 * (phi(x) - phi(x / 2)), abs=0.01)
    with pytest.raises(ValueError, match="num_samples"):
        gaussian_tv_mc(jax.random.key(0), jnp.zeros(1), jnp.ones(1), jnp.zeros(1), jnp.ones(1), 0)


def test_eps_t_inputs_validated():
    z = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="prior_mean"):
        estimate_eps_t(z, z[:3], np.ones((4, 2)), jax.random.key(0))
    with pytest.raises(ValueError, match="prior_std"):
        estimate_eps_t(z, z, np.zeros((4, 2)), jax.random.key(0))
    with pytest.raises(ValueError, match="scenario_id"):
        estimate_eps_t(z, z, np.ones((4, 2)), jax.random.key(0), np.arange(4))


def test_eps_s_linear_encoder():
    w = np.diag([2.0, 0.5]).astype(np.float32)
    clean = np.zeros((4, 2), np.float32)
    noisy = clean + np.array([[1.0, 0.0]], np.float32)  # latent moves by |2 * 1| = 2
    assert estimate_eps_s(lambda o: o @ w.T, clean, noisy) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="perturbed_obs"):
        estimate_eps_s(lambda o: o, clean, noisy[:2])


def test_eps_pi_one_policy_at_two_inputs():
    states = jnp.linspace(-1, 1, 11)[:, None]
    policy = lambda s: (2.0 * s, jnp.zeros_like(s))  # N(2 s, 1)
    assert estimate_eps_pi(policy, states, states, jax.random.key(0)) == pytest.approx(0.0, abs=1e-6)
    # the represented input is off by 0.25: the means differ by 0.5 everywhere, TV = 2 Phi(0.25) - 1
    eps = estimate_eps_pi(policy, states + 0.25, states, jax.random.key(0), num_samples=20_000)
    assert eps == pytest.approx(math.erf(0.25 / math.sqrt(2)), abs=0.01)
    with pytest.raises(ValueError, match="represented"):
        estimate_eps_pi(policy, states[:3], states, jax.random.key(0))


def test_estimator_inputs_validated():
    with pytest.raises(ValueError, match="std"):
        gaussian_tv_lipschitz(1.0, 0.0)
    with pytest.raises(ValueError, match="states"):
        jacobian_spectral_norms(lambda s: s, jnp.zeros(3))
    with pytest.raises(ValueError, match="states"):
        gaussian_map_tv_lipschitz(lambda s: (s, jnp.ones_like(s)), jnp.zeros(3))


def test_gaussian_map_tv_lipschitz_agrees_with_gaussian_tv_lipschitz_and_masks():
    a = jnp.array([[3.0, 0.0], [0.0, 1.0]])
    states = jnp.ones((2, 2))
    lip = gaussian_map_tv_lipschitz(lambda s: (a @ s, jnp.full(2, 0.5)), states)
    np.testing.assert_allclose(np.asarray(lip), gaussian_tv_lipschitz(3.0, 0.5), rtol=1e-5)
    # masking the first output leaves the second row: ||[0, 1]|| / (0.5 sqrt(2 pi))
    lip = gaussian_map_tv_lipschitz(lambda s: (a @ s, jnp.full(2, 0.5)), states, jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(np.asarray(lip), gaussian_tv_lipschitz(1.0, 0.5), rtol=1e-5)


def test_jacobian_under_jit_composes():
    a = jnp.array([[0.0, 2.0], [0.5, 0.0]])
    f = jax.jit(lambda st: jacobian_spectral_norms(lambda s: a @ s, st))
    np.testing.assert_allclose(np.asarray(f(jnp.ones((3, 2)))), 2.0, rtol=1e-5)
