import mujoco
import numpy as np
import pytest

from mrcom.envs import ACT_DIM, OBS_DIM, ROBOT_INFO, Scenario, build_model, make


def _scenarios():
    return [
        Scenario("hopper", 1.1, 0.9, 1.0),
        Scenario("cheetah", 0.9, 1.1, 3.0, obs_fn="add_g"),
        Scenario("walker", 1.05, 1.0, 1.5),
        Scenario("hopper", 0.95, 1.1, 0.5, obs_fn="msk_f", seed=4),
    ]


def test_native_matches_plain_mj_step():
    sc = _scenarios()
    env = make(sc, episode_length=100)
    env.reset(0)
    qpos, qvel = env.physics_state()
    rng = np.random.default_rng(1)
    acts = rng.uniform(-1, 1, (20, 4, ACT_DIM))
    for a in acts:
        env.step(a)
    got = env.physics_state()
    for b, s in enumerate(sc):
        m = build_model(s.robot, s.length_scale, s.size_scale)
        d = mujoco.MjData(m)
        d.qpos[:], d.qvel[:] = qpos[b], qvel[b]
        for a in acts:
            d.ctrl[:] = a[b, : m.nu]
            mujoco.mj_step(m, d, nstep=ROBOT_INFO[s.robot].frame_skip)
        np.testing.assert_allclose(got[0][b], d.qpos, atol=1e-9)
        np.testing.assert_allclose(got[1][b], d.qvel, atol=1e-9)


def test_reproducible_and_shapes():
    runs = []
    for _ in range(2):
        env = make(_scenarios(), episode_length=30)
        o = env.reset(7)
        rng = np.random.default_rng(0)
        out = [o]
        for _ in range(10):
            o, r, d, _ = env.step(rng.uniform(-1, 1, (4, ACT_DIM)))
            out += [o, r]
        runs.append(out)
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert runs[0][0].shape == (4, OBS_DIM) and runs[0][0].dtype == np.float32
    assert env.obs_mask.shape == (4, OBS_DIM) and env.act_mask.shape == (4, ACT_DIM)


def test_auto_reset():
    env = make(_scenarios()[:2], episode_length=5)
    obs0 = env.reset(0)
    total = np.zeros(2)
    for t in range(5):
        o, r, d, info = env.step(np.full((2, ACT_DIM), 0.5))
        total += r
        assert d.tolist() == ([True, True] if t == 4 else [False, False])
    np.testing.assert_allclose(info["episode_return"], total, rtol=1e-6)
    assert not np.allclose(info["final_obs"], o)  # final obs is the moved robot, o is a fresh start
    assert np.abs(o[0, :11]).max() < 0.02 and np.abs(info["final_obs"][0, :11]).max() > 0.05
    assert not np.allclose(o, obs0)  # a new random initial state
    o2, _, d2, info2 = env.step(np.zeros((2, ACT_DIM)))
    assert not d2.any() and info2["t"].tolist() == [1, 1]
    np.testing.assert_allclose(info2["episode_return"], env._ret)  # a new episode accumulates from 0


@pytest.mark.parametrize(
    "action, words",
    [
        (np.zeros((2, 3)), ["action.shape=(2, 3)", "(2, 6)"]),
        (np.zeros(6), ["action.shape=(6,)"]),
        (np.array([[0, 0, np.nan, 0, 0, 0], [0] * 6]), ["action[0, 2]=nan", "finite"]),
        (np.array([[0] * 6, [0, 0, 0, 0, np.inf, 0]]), ["action[1, 4]=inf"]),
    ],
)
def test_bad_actions(action, words):
    env = make(_scenarios()[:2], episode_length=5)
    env.reset(0)
    with pytest.raises(ValueError) as e:
        env.step(action)
    for w in words:
        assert w in str(e.value)


def test_bad_make_args():
    with pytest.raises(ValueError, match="engine='gpu'"):
        make(_scenarios(), engine="gpu")
    with pytest.raises(ValueError, match="episode_length=0"):
        make(_scenarios(), episode_length=0)
    with pytest.raises(ValueError, match="scenarios=\\[\\]"):
        make([])


def test_reset_to_rejects_wrong_lengths_and_nan():
    from mrcom.envs import Scenario, make

    env = make([Scenario(robot="hopper", seed=0), Scenario(robot="cheetah", seed=1)], episode_length=10)
    env.reset(seed=0)
    qpos, qvel = env.physics_state()
    obs = env.reset_to(qpos, qvel)  # its own state is accepted
    assert obs.shape[0] == 2
    with pytest.raises(ValueError, match=r"qpos: 1 states given, must be one per env \(2\)"):
        env.reset_to(qpos[:1], qvel)
    with pytest.raises(ValueError, match=r"qvel\[1\]\.shape=\(3,\): must be \(9,\) for robot cheetah"):
        env.reset_to(qpos, [qvel[0], qvel[1][:3]])
    bad = [qpos[0].copy(), qpos[1]]
    bad[0][2] = np.nan
    with pytest.raises(ValueError, match=r"qpos\[0\]=.*must be finite"):
        env.reset_to(bad, qvel)
