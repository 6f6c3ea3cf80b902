"""The native engine's single-env path (B=1: one MjData, float reward) against its batched path.

B=1 steps with ``mj_step`` on a persistent ``MjData`` and computes the reward on floats; B>1 uses
``mujoco.rollout`` and numpy. Both must give the same bits: same scenario, state and actions give the same
trajectory in any batch, and with the same seed a B=1 env equals the batched code path run on one env.
"""

import numpy as np
import pytest

from mrcom.envs import ACT_DIM, Scenario, make

SCENARIOS = [
    Scenario("cheetah", target_speed=1.0),
    Scenario("hopper", 1.2, 0.8, 0.7, obs_fn="msk_f", seed=2),
    Scenario("walker", 0.9, 1.1, 1.5),
    Scenario("cheetah", 1.3, 0.7, 2.0, obs_fn="add_g", obs_noise=0.2),
    Scenario("hopper", obs_fn="add_d", obs_noise=0.3),
    Scenario("walker", obs_fn="msk_r"),
]


def _flat(out):
    obs, reward, done, info = out
    return [obs, reward, done] + [info[k] for k in sorted(info)]


def _assert_same(a, b, where):
    for x, y in zip(a, b, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape, where
        np.testing.assert_array_equal(x, y, err_msg=where)


def _batched_path(env):
    """Make a B=1 env take the batched (rollout + numpy) code path from now on."""
    env._one = None
    return env


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.robot}-{s.obs_fn}")
def test_single_matches_batched_path_same_seed(scenario):
    """Same seed: identical obs (noise included), rewards, auto-resets and info on both code paths."""
    envs = [make([scenario], episode_length=7), _batched_path(make([scenario], episode_length=7))]
    assert envs[0]._one is not None
    runs = []
    for env in envs:
        rng = np.random.default_rng(3)
        out = [[env.reset(11)]]
        for _ in range(16):  # two auto-resets
            out.append(_flat(env.step(rng.uniform(-1.5, 1.5, (1, ACT_DIM)))))
        out.append(list(env.physics_state()[0]) + list(env.physics_state()[1]))
        runs.append(out)
    for t, (a, b) in enumerate(zip(*runs, strict=True)):
        _assert_same(a, b, f"{scenario}, step {t}")


def test_same_state_same_trajectory_in_any_batch():
    """Deterministic obs functions (identity, msk_f): each env of a B=6 batch, started from the same state
    and given the same actions, follows the same trajectory as that scenario alone (B=1), bit for bit,
    through the end of an episode (final_obs, episode_return, done, t)."""
    sc = [s for s in SCENARIOS if s.obs_fn in ("identity", "msk_f")]
    batch = sc + sc  # each scenario twice, at two positions
    big = make(batch, episode_length=9)
    big.reset(0)
    qpos, qvel = big.physics_state()
    qpos, qvel = qpos[: len(sc)], qvel[: len(sc)]
    big.reset_to(qpos + qpos, qvel + qvel)
    rng = np.random.default_rng(5)
    acts = rng.uniform(-1.2, 1.2, (9, len(sc), ACT_DIM))
    big_out = [_flat(big.step(np.concatenate([a, a]))) for a in acts]
    for i, s in enumerate(sc):
        one = make([s], episode_length=9)
        one.reset_to([qpos[i]], [qvel[i]])
        for t, a in enumerate(acts):
            got = _flat(one.step(a[i : i + 1]))
            if t == len(acts) - 1:  # auto-reset: the fresh obs is random, compare the rest
                got, ref = got[1:], big_out[t][1:]
            else:
                ref = big_out[t]
            for row in (i, i + len(sc)):
                _assert_same(got, [x[row : row + 1] for x in ref], f"{s}, row {row}, step {t}")


@pytest.mark.parametrize(
    "case",
    ["huge_qvel", "huge_action", "overflowing_action"],
)
def test_single_matches_batched_path_when_mujoco_warns(case):
    """An unstable state (MuJoCo resets it mid control step) or an action beyond MuJoCo's 1e10 limit
    (clipped to 1 by us): the single path redoes the step as the rollout does and stays identical."""
    s = Scenario("cheetah", target_speed=1.0)
    runs = []
    for env in (make([s], episode_length=50), _batched_path(make([s], episode_length=50))):
        env.reset(0)
        qpos, qvel = env.physics_state()
        if case == "huge_qvel":
            qvel = [qvel[0] + 1e12]
        env.reset_to(qpos, qvel, seed=1)
        a = np.full((1, ACT_DIM), 0.3)
        if case == "huge_action":
            a[0, 2] = 1e11
        if case == "overflowing_action":
            a[0, :2] = 1e308  # their sum is inf, yet they are finite
        out = [_flat(env.step(a)), _flat(env.step(np.full((1, ACT_DIM), -0.4)))]
        runs.append(out + [env.physics_state()[0] + env.physics_state()[1]])
    _assert_same(sum(runs[0], []), sum(runs[1], []), case)


def test_single_bad_actions_raise_like_batched():
    env = make([Scenario("hopper")], episode_length=5)
    env.reset(0)
    for bad, msg in [
        (np.zeros((1, 3)), r"action.shape=\(1, 3\)"),
        (np.zeros(ACT_DIM), r"action.shape=\(6,\)"),
        (np.array([[0, 0, 0, 0, np.nan, 0]]), r"action\[0, 4\]=nan"),  # in the padding too
        (np.array([[0, -np.inf, 0, 0, 0, 0]]), r"action\[0, 1\]=-inf"),
    ]:
        with pytest.raises(ValueError, match=msg):
            env.step(bad)


def test_reward_one_is_reward_fn_bit_for_bit():
    """The float reward of the single-env path equals the batched numpy `reward_fn` exactly, on random
    and edge inputs (speed at the target, torso at min_height, upside down), standing or not."""
    from mrcom.envs._reward import reward_fn, reward_one

    rng = np.random.default_rng(0)
    n = 4000
    dt = rng.choice([0.008, 0.05], n)
    v_max = rng.uniform(1.0, 12.0, n)
    target = rng.uniform(0.0, 1.0, n) * v_max
    x0 = rng.uniform(-5, 5, n)
    x1 = x0 + rng.uniform(-2, 2, n) * v_max * dt
    x1[:200] = x0[:200] + target[:200] * dt[:200]  # speed (nearly) at the target
    min_height = rng.choice([0.8, 1.0], n)
    z = min_height + rng.uniform(-0.6, 0.6, n)
    z[200:300] = min_height[200:300]
    pitch = rng.uniform(-4, 4, n)
    pitch[300:310] = np.pi
    standing = rng.choice([0.0, 1.0], n)
    ref = reward_fn(np, x0, x1, z, pitch, dt, target, v_max, min_height, standing)
    got = np.array(
        [
            reward_one(*(float(v[i]) for v in (x0, x1, z, pitch, dt, target, v_max, min_height, standing)))
            for i in range(n)
        ]
    ).T
    for r, g, name in zip(ref, got, ("reward", "speed", "stand"), strict=True):
        np.testing.assert_array_equal(g, r, err_msg=name)


@pytest.mark.parametrize("scenario", SCENARIOS[:2] + SCENARIOS[-1:], ids=lambda s: f"{s.robot}-{s.obs_fn}")
def test_gym_adapter_matches_batched_engine(scenario):
    """`GymEnv` (which calls the single-env step directly) returns what the batched engine path returns
    for the same seed and actions: unpadded obs, float32 reward as a float, truncation, speed."""
    from mrcom.envs import GymEnv, act_dim, obs_dim

    env = GymEnv(scenario, episode_length=6)
    ref = _batched_path(make([scenario], episode_length=6))
    n, m = obs_dim(scenario), act_dim(scenario)
    obs, _ = env.reset(seed=3)
    ref_obs = ref.reset(int(np.random.default_rng(3).integers(0, 2**31 - 1)))  # GymEnv's seed draw
    np.testing.assert_array_equal(obs, ref_obs[0, :n])
    rng = np.random.default_rng(1)
    for t in range(6):
        a = rng.uniform(-1.2, 1.2, m).astype(np.float32)
        obs, r, term, trunc, info = env.step(a)
        padded = np.zeros((1, ACT_DIM))
        padded[0, :m] = a
        ref_obs, ref_r, ref_done, ref_info = ref.step(padded)
        final = ref_info["final_obs"] if ref_done[0] else ref_obs
        assert (term, trunc, type(r)) == (False, bool(ref_done[0]), float) and trunc == (t == 5)
        assert r == float(ref_r[0]) and info["speed"] == float(ref_info["speed"][0])
        np.testing.assert_array_equal(obs, final[0, :n])
        assert obs.dtype == np.float32 and obs.shape == (n,)
    with pytest.raises(ValueError, match=r"action\[0, 1\]=nan"):
        env.reset(seed=0)
        env.step(np.array([0.0, np.nan] + [0.0] * (m - 2), np.float32))


def test_single_step_after_close_raises_like_batched():
    for n in (1, 2):
        env = make([Scenario("walker")] * n, episode_length=5)
        env.reset(0)
        env.step(np.zeros((n, ACT_DIM)))
        env.close()
        with pytest.raises(RuntimeError, match="shutdown"):
            env.step(np.zeros((n, ACT_DIM)))
