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
    # walker-like: 1 m/s target, v_max 4, moving 1 m/s, upright, high: reward 1
    r, v = reward_fn(np, 0.0, 0.008, 1.25, 0.0, 0.008, 1.0, 4.0, 0.8, 1.0)
    assert v == pytest.approx(1.0) and r == pytest.approx(1.0)
    # standing still with the same target: move = 0.1 ** ((1/2)^2) at half the margin (2 m/s)
    r, _ = reward_fn(np, 0.0, 0.0, 1.25, 0.0, 0.008, 1.0, 4.0, 0.8, 1.0)
    assert r == pytest.approx((1 + 5 * 0.1**0.25) / 6)
    # cheetah upside down: 0
    r, _ = reward_fn(np, 0.0, 0.05, 0.7, math.pi, 0.05, 1.0, 10.0, 1.0, 0.0)
    assert r == pytest.approx(0.0, abs=1e-12)
    # fallen hopper (z = 0.4 = min_height - margin) lying flat: height 0.1, upright 0.5
    r, _ = reward_fn(np, 0.0, 0.0, 0.4, math.pi / 2, 0.008, 0.0, 3.0, 0.8, 1.0)
    assert r == pytest.approx((3 * 0.1 + 0.5) / 4)


@pytest.mark.parametrize("robot", ["hopper", "walker", "cheetah"])
def test_random_policy_reward_in_unit_interval_and_not_zero(robot):
    sc = [Scenario(robot, target_speed=f * V_MAX[robot]) for f in (0.0, 0.2, 0.5, 1.0)]
    env = make(sc, episode_length=200)
    env.reset(0)
    rng = np.random.default_rng(0)
    rs = np.stack([env.step(rng.uniform(-1, 1, (4, 6)))[1] for _ in range(200)])
    assert np.all(rs >= 0) and np.all(rs <= 1)
    per_env = rs.mean(0)
    assert np.all(per_env > 0.02), per_env  # a learning agent gets signal
    assert per_env[0] > per_env[-1]  # random flailing is closer to standing still than to v_max


def test_normalized_return():
    assert normalized_return(500.0, 1000) == 50.0
    with pytest.raises(ValueError, match="episode_length=0"):
        normalized_return(1.0, 0)
