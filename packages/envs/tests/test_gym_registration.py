import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mrcom.envs as e

IDS = ["mrcom/Hopper-v0", "mrcom/Walker-v0", "mrcom/Cheetah-v0"]


def _rollout(env, seed, n=5):
    obs, _ = env.reset(seed=seed)
    out, rewards = [obs], []
    for _ in range(n):
        obs, r, _, _, _ = env.step(np.full(env.action_space.shape, 0.3, np.float32))
        out.append(obs)
        rewards.append(r)
    return np.stack(out), np.array(rewards)


def test_ids_are_the_robots():
    assert sorted(e.GYM_IDS.values()) == sorted(IDS) and set(e.GYM_IDS) == set(e.ROBOTS)


@pytest.mark.parametrize("env_id", IDS)
def test_make_defaults_seeded_reset_and_check_env(env_id):
    robot = env_id.split("/")[1].split("-")[0].lower()
    env = gym.make(env_id, episode_length=20, obs_fn="add_g")
    assert env.unwrapped.scenario == e.default_scenario(robot, obs_fn="add_g")
    assert env.unwrapped.episode_length == 20
    assert env.observation_space.shape == (e.obs_dim(env.unwrapped.scenario),)
    a, ra = _rollout(env, seed=7)
    b, rb = _rollout(env, seed=7)
    np.testing.assert_array_equal(a, b)  # noisy observations included
    np.testing.assert_array_equal(ra, rb)
    assert not np.array_equal(a[0], env.reset(seed=8)[0])
    check_env(env.unwrapped, skip_render_check=True)


def test_keywords_change_the_scenario_that_runs():
    still = gym.make("mrcom/Cheetah-v0", target_speed=0.0)
    fast = gym.make("mrcom/Cheetah-v0", target_speed=4.0)
    assert fast.unwrapped.scenario.target_speed == 4.0
    obs_s, r_s = _rollout(still, seed=1)
    obs_f, r_f = _rollout(fast, seed=1)
    np.testing.assert_array_equal(obs_s, obs_f)  # same dynamics, same trajectory
    assert (r_s > r_f + 0.05).all()  # a nearly still cheetah earns more when asked to stand still

    long = gym.make("mrcom/Hopper-v0", length_scale=1.4, size_scale=0.8)
    s = long.unwrapped.scenario
    assert (s.length_scale, s.size_scale) == (1.4, 0.8)
    obs_d, _ = _rollout(gym.make("mrcom/Hopper-v0"), seed=1)
    obs_l, _ = _rollout(long, seed=1)
    assert np.abs(obs_d[-1] - obs_l[-1]).max() > 1e-3  # another torso, another motion


def test_bad_keywords_name_the_field_and_the_allowed_values():
    with pytest.raises(ValueError, match=r"unknown keyword\(s\) \['target_sped'\].*'target_speed'"):
        gym.make("mrcom/Hopper-v0", target_sped=1.0)
    with pytest.raises(ValueError, match=r"obs_fn='blur': must be one of \('identity'"):
        gym.make("mrcom/Walker-v0", obs_fn="blur")
    with pytest.raises(ValueError, match=r"length_scale=9.0: must be in \["):
        gym.make("mrcom/Cheetah-v0", length_scale=9.0)


def test_register_again_is_silent_and_keeps_the_specs():
    before = {i: gym.spec(i) for i in IDS}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e.register_gym_envs()
        e.register_gym_envs()
    assert {i: gym.spec(i) for i in IDS} == before
    assert gym.spec("mrcom/Walker-v0").kwargs == {"robot": "walker"}


FRESH = """
import sys, warnings
warnings.simplefilter("error")
import gymnasium as gym
env = gym.make("mrcom.envs:mrcom/Walker-v0", target_speed=0.3)
assert env.unwrapped.scenario.target_speed == 0.3
import mrcom.envs
mrcom.envs.register_gym_envs()
assert "jax" not in sys.modules, "registration imported jax"
print("ok")
"""


def test_module_prefixed_id_in_a_fresh_interpreter_without_warnings_or_jax():
    out = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
