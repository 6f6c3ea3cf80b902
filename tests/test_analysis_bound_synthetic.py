"""The bound's estimators on a linear-Gaussian system whose constants are known in closed form.

True latent transition: s' = A s + w, w ~ N(0, q^2 I). Learned models: N(A s + delta, q^2 I) (a constant
error, TV known exactly: 2 Phi(|delta| / 2q) - 1) or N((A + eps B) s, q^2 I) (a state-dependent error).
Representation: f(o) = C^{-1} o of o = C s, perturbed by a known latent error e. Policy: N(W x, sigma^2 I).
Each estimate must move the right way as its true quantity grows and recover the known value within the
tolerance stated in each test (Monte Carlo and finite-sample error).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import gammaln
from scipy.stats import norm

from analysis.bound import (
    estimate_eps_pi,
    estimate_eps_s,
    estimate_eps_t,
    gaussian_map_tv_lipschitz,
    gaussian_tv_equal_std,
    gaussian_tv_mc,
    lemma3,
    lemma4,
    null_floor,
)

D, Q, N = 4, 0.5, 4000
RNG = np.random.default_rng(0)
A = (0.9 * np.linalg.qr(RNG.normal(size=(D, D)))[0] @ np.diag([1.0, 0.8, 0.5, 0.3])).astype(np.float32)
B = RNG.normal(size=(D, D)).astype(np.float32)
C_OBS = (np.eye(D) + 0.3 * RNG.normal(size=(D, D))).astype(np.float32)


def exact_tv_shift(shift_norm: float, std: float) -> float:
    return 2.0 * norm.cdf(shift_norm / (2.0 * std)) - 1.0


def rollout(seed: int, n: int = N):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(n, D)).astype(np.float32)
    s_next = s @ A.T + Q * rng.normal(size=(n, D)).astype(np.float32)
    return s, s_next


@pytest.mark.parametrize("target_tv", [0.1, 0.3, 0.6])
def test_eps_t_recovers_a_constant_model_error(target_tv):
    # delta such that TV(N(A s + delta, q^2), N(A s, q^2)) = target_tv exactly, at every state
    shift = 2 * Q * norm.ppf((1 + target_tv) / 2)
    delta = shift * np.ones(D, np.float32) / math.sqrt(D)
    s, s_next = rollout(1)
    est = estimate_eps_t(s_next, s @ A.T + delta, np.full((N, D), Q, np.float32), jax.random.key(0))
    # tolerance: Monte Carlo (8192 samples, se <= 0.006) + the fit of 4000 residuals (~0.02)
    assert est == pytest.approx(target_tv, abs=0.03)


def test_eps_t_is_near_zero_for_the_true_model_and_grows_with_the_error():
    s, s_next = rollout(2)
    std = np.full((N, D), Q, np.float32)
    calibrated = estimate_eps_t(s_next, s @ A.T, std, jax.random.key(1))
    floor = null_floor(N, D, jax.random.key(2))
    assert calibrated < 0.05 and calibrated == pytest.approx(floor, abs=0.03)
    # a state-dependent error (A + eps B): pooled residuals are over-dispersed, eps_T grows with eps ...
    values = [estimate_eps_t(s_next, s @ (A + e * B).T, std, jax.random.key(3)) for e in (0.05, 0.15, 0.4)]
    assert values[0] < values[1] < values[2]
    # ... and stays below the true E_s TV of eq. 19 (pooling over states is a lower bound, up to noise)
    for e, v in zip((0.05, 0.15, 0.4), values, strict=True):
        per_state = exact_tv_shift(np.linalg.norm(s @ (e * B).T, axis=-1), Q)
        assert v <= per_state.mean() + 0.03
    # an over-confident model (its std half the true noise) is an error too: eps_T far above the floor
    assert estimate_eps_t(s_next, s @ A.T, std / 2, jax.random.key(4)) > 0.4
    # per scenario: the max over scenarios picks the worse one
    sid = np.repeat([0, 1], N // 2)
    mean = s @ A.T + np.where(sid[:, None] == 1, 0.8, 0.0).astype(np.float32)
    both = estimate_eps_t(s_next, mean, std, jax.random.key(5), sid)
    worse = estimate_eps_t(s_next[sid == 1], mean[sid == 1], std[sid == 1], jax.random.key(5))
    assert both == pytest.approx(worse, abs=0.03) and both > 0.5


def test_c_t_is_the_tv_lipschitz_constant_of_the_gaussian_transition():
    states = RNG.normal(size=(16, D)).astype(np.float32)
    for scale, q in ((1.0, Q), (2.0, Q), (1.0, Q / 2)):
        a = scale * A
        lip = np.asarray(gaussian_map_tv_lipschitz(lambda x, a=a, q=q: (a @ x, jnp.full(D, q)), states))
        expected = np.linalg.svd(a, compute_uv=False)[0] / (q * math.sqrt(2 * math.pi))
        np.testing.assert_allclose(lip, expected, rtol=1e-4)
    # it bounds the TV quotient of the transitions at two states, and is attained for a small step along
    # the top right singular vector
    c_t = float(gaussian_map_tv_lipschitz(lambda x: (A @ x, jnp.full(D, Q)), states[:1])[0])
    v = np.linalg.svd(A)[2][0]
    for h in (1e-3, 0.1, 1.0, 3.0):
        s1, s2 = states[0], states[0] + h * v
        tv = float(gaussian_tv_equal_std(A @ s1, A @ s2, np.full(D, Q)))
        assert tv / h <= c_t * (1 + 1e-4)
    assert float(gaussian_tv_equal_std(A @ s1, A @ (s1 + 1e-3 * v), np.full(D, Q))) / 1e-3 == pytest.approx(
        c_t, rel=1e-2
    )


def test_c_t_with_a_state_dependent_std_bounds_the_tv_quotient():
    w = np.array([0.3, -0.2, 0.1, 0.4], np.float32)
    dist = lambda x: (A @ x, Q * jnp.exp(w * x))
    s0 = np.zeros((1, D), np.float32)
    c = float(gaussian_map_tv_lipschitz(dist, s0)[0])
    mean_only = np.linalg.svd(A, compute_uv=False)[0] / (Q * math.sqrt(2 * math.pi))
    assert c > mean_only  # the std's dependence on s adds sensitivity
    rng = np.random.default_rng(3)
    for _ in range(5):
        v = rng.normal(size=D).astype(np.float32)
        v /= np.linalg.norm(v)
        h = 0.05
        m1, s1 = dist(s0[0])
        m2, s2 = dist(s0[0] + h * v)
        tv = float(gaussian_tv_mc(jax.random.key(7), m1, s1, m2, s2, 200_000))
        assert tv / h <= c * 1.05  # first order, plus Monte Carlo error


def test_eps_s_recovers_a_known_representation_error():
    s, _ = rollout(4)
    obs = s @ C_OBS.T
    encode = lambda o: o @ np.linalg.inv(C_OBS).T
    rng = np.random.default_rng(5)
    values = []
    for sigma in (0.05, 0.2, 0.8):
        e = sigma * rng.normal(size=(N, D)).astype(np.float32)
        est = estimate_eps_s(encode, obs, obs + e @ C_OBS.T)
        # E||e|| for e ~ N(0, sigma^2 I_D): sigma sqrt(2) Gamma((D+1)/2) / Gamma(D/2); 3% for 4000 draws
        expected = sigma * math.sqrt(2) * math.exp(gammaln((D + 1) / 2) - gammaln(D / 2))
        assert est == pytest.approx(expected, rel=0.03)
        values.append(est)
    assert values[0] < values[1] < values[2]
    # stated bias: an error the clean representation shares (a constant offset) is not seen
    biased = lambda o: encode(o) + 1.0
    e = 0.2 * rng.normal(size=(N, D)).astype(np.float32)
    assert estimate_eps_s(biased, obs, obs + e @ C_OBS.T) == pytest.approx(
        estimate_eps_s(encode, obs, obs + e @ C_OBS.T), rel=1e-4
    )


def test_eps_pi_and_c_pi_of_one_linear_gaussian_policy():
    w = RNG.normal(size=(3, D)).astype(np.float32)
    sigma = 0.4
    policy = lambda x: (w @ x, jnp.full(3, math.log(sigma)))
    x, _ = rollout(6, 200)
    values = []
    for size in (0.02, 0.1, 0.3):
        e = (size * np.ones(D) / math.sqrt(D)).astype(np.float32)
        est = estimate_eps_pi(policy, x + e, x, jax.random.key(8))
        expected = exact_tv_shift(np.linalg.norm(w @ e), sigma)
        assert est == pytest.approx(expected, abs=0.01)  # 200 states x 1024 samples: se ~ 0.002
        values.append(est)
    assert values[0] < values[1] < values[2]
    assert estimate_eps_pi(policy, x, x, jax.random.key(8)) == pytest.approx(0.0, abs=1e-6)
    # a padded action dimension is left out
    mask = np.array([1.0, 1.0, 0.0], np.float32)
    e = (0.3 * np.ones(D) / math.sqrt(D)).astype(np.float32)
    masked = estimate_eps_pi(policy, x + e, x, jax.random.key(8), mask)
    assert masked == pytest.approx(exact_tv_shift(np.linalg.norm((w @ e)[:2]), sigma), abs=0.01)
    # C_pi (L1 = 2 TV) of x -> N(W x, sigma^2): 2 ||W|| / (sigma sqrt(2 pi))
    dist = lambda z: (w @ z, jnp.full(3, sigma))
    c_pi = 2 * float(gaussian_map_tv_lipschitz(dist, x[:4]).max())
    assert c_pi == pytest.approx(
        2 * np.linalg.svd(w, compute_uv=False)[0] / (sigma * math.sqrt(2 * math.pi)), rel=1e-4
    )


def test_lemmas_3_and_4_hold_with_the_estimated_constants():
    # a model with a constant error delta, evaluated at a representation f(o) = s + e with |e| = r
    s, s_next = rollout(7)
    delta = np.array([0.3, 0.0, -0.2, 0.1], np.float32)
    eps_t = estimate_eps_t(s_next, s @ A.T + delta, np.full((N, D), Q, np.float32), jax.random.key(9))
    c_t = float(gaussian_map_tv_lipschitz(lambda x: (A @ x, jnp.full(D, Q)), s[:8]).max())
    rng = np.random.default_rng(8)
    e = rng.normal(size=(N, D)).astype(np.float32)
    e *= 0.3 / np.linalg.norm(e, axis=-1, keepdims=True)
    eps_s = estimate_eps_s(lambda o: o, s, s + e)
    # left side of eq. 21 at each state: TV(T~(f(o)), T(s)), exact for equal covariances
    lhs = np.asarray(gaussian_tv_equal_std((s + e) @ A.T + delta, s @ A.T, np.full(D, Q))).mean()
    assert lhs <= float(lemma3(eps_t, eps_s, c_t)) + 0.02
    # eq. 22 for one policy pi (eps_pi = 0 between pi and itself): TV(pi(f(o)), pi(s)) <= C_pi eps_S / 2
    w = RNG.normal(size=(3, D)).astype(np.float32)
    policy = lambda x: (w @ x, jnp.full(3, math.log(0.4)))
    tv = estimate_eps_pi(policy, s[:500] + e[:500], s[:500], jax.random.key(10))
    c_pi = 2 * float(gaussian_map_tv_lipschitz(lambda x: (w @ x, jnp.full(3, 0.4)), s[:4]).max())
    assert tv <= float(lemma4(0.0, eps_s, c_pi)) + 0.01
