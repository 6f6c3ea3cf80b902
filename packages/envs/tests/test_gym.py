import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from mrcom.envs import GymEnv, Scenario


@pytest.mark.parametrize(
    "scenario", [Scenario("hopper", 1.1, 0.9, 1.0), Scenario("walker", obs_fn="add_d", seed=3)]
)
def test_check_env(scenario):
    check_env(GymEnv(scenario, episode_length=50), skip_render_check=True)


def test_truncation_and_final_obs():
    env = GymEnv(Scenario("cheetah", target_speed=2.0, obs_fn="msk_f", seed=1), episode_length=4)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (17,) and obs.dtype == np.float32
    for t in range(4):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        assert not term and trunc == (t == 3) and 0 <= r <= 1
    assert np.abs(obs).max() > 0.05  # the moved robot, not a fresh start
    with pytest.raises(ValueError, match=r"action.shape=\(6, 1\)"):
        env.reset(seed=0)
        env.step(np.zeros((6, 1)))
