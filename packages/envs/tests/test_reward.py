import math

import numpy as np
import pytest

from mrcom.envs import V_MAX, Scenario, make, normalized_return, reward_fn, tolerance


def test_tolerance_hand_values():
    assert tolerance(np, 1.0, 0.5, 2.0, 1.0) == 1.0
    assert tolerance(np, 3.0, 0.5, 2.0, 1.0) == pytest.approx(0.1)  # at the margin
    # half the margin: exp(-0.5 * (0.5 * sqrt(-2 ln 0.1))^2) = 0.1 ** 0.25
    assert tolerance(np, 0.0, 0.5, 2.0, 1.0) == pytest.approx(0.1**0.25)


def test_reward_hand_computed():
    g = lambda d, m: 0.1 ** ((d / m) ** 2)  # the Gaussian tolerance at distance d for margin m
    # walker-like: 1 m/s target, v_max 4, moving 1 m/s, upright, high: reward 1
    r, v, stand = reward_fn(np, 0.0, 0.008, 1.25, 0.0, 0.008, 1.0, 4.0, 0.8, 1.0)
    assert v == pytest.approx(1.0) and r == pytest.approx(1.0) and stand == pytest.approx(1.0)
    # standing still with the same target: narrow peak (margin 0.07 * 4) and wide slope (margin 4)
    r, _, _ = reward_fn(np, 0.0, 0.0, 1.25, 0.0, 0.008, 1.0, 4.0, 0.8, 1.0)
    assert r == pytest.approx(0.9 * g(1.0, 0.28) + 0.1 * g(1.0, 4.0))
    # cheetah upside down: 0
    r, _, stand = reward_fn(np, 0.0, 0.05, 0.7, math.pi, 0.05, 1.0, 10.0, 1.0, 0.0)
    assert r == pytest.approx(0.0, abs=1e-12) and stand == pytest.approx(0.0, abs=1e-12)
    # fallen hopper (z = 0.4 = min_height - margin) lying flat, target 0 and still: height 0.1, upright 0.5
    r, _, stand = reward_fn(np, 0.0, 0.0, 0.4, math.pi / 2, 0.008, 0.0, 3.0, 0.8, 1.0)
    assert r == pytest.approx((3 * 0.1 + 0.5) / 4) == stand


def test_reward_is_dense_towards_any_target():
    """A still robot gets a gradient towards every target in (0, v_max]: d reward / d speed > 0 at 0."""
    v_max, dt = 5.0, 0.01
    for target in np.linspace(0.05, 1.0, 20) * v_max:
        r0, r1 = (reward_fn(np, 0.0, v * dt, 1.25, 0.0, dt, target, v_max, 0.8, 1.0)[0] for v in (0.0, 1e-3))
        assert (r1 - r0) / 1e-3 > 1e-4, target


@pytest.mark.parametrize("robot", ["hopper", "walker", "cheetah"])
def test_random_policy_reward_in_unit_interval_and_not_zero(robot):
    sc = [Scenario(robot, target_speed=f * V_MAX[robot]) for f in (0.0, 0.2, 0.5, 1.0)]
    env = make(sc, episode_length=200)
    env.reset(0)
    rng = np.random.default_rng(0)
    rs = np.stack([env.step(rng.uniform(-1, 1, (4, 6)))[1] for _ in range(200)])
    assert np.all(rs >= 0) and np.all(rs <= 1)
    per_env = rs.mean(0)
    assert np.all(per_env > 1e-3), per_env  # a learning agent gets signal, even at target v_max
    assert per_env[0] > per_env[-1]  # random flailing is closer to standing still than to v_max


def test_normalized_return():
    assert normalized_return(500.0, 1000) == 50.0
    with pytest.raises(ValueError, match="episode_length=0"):
        normalized_return(1.0, 0)
