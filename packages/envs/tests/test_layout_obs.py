import numpy as np
import pytest

from mrcom.envs import (
    ACT_DIM,
    OBS_DIM,
    Scenario,
    act_dim,
    act_mask,
    apply_obs_fn,
    fixed_mask,
    obs_dim,
    obs_mask,
    obs_params,
    pad_action,
    pad_obs,
    unpad_action,
    unpad_obs,
)


def test_dims_and_masks():
    assert (OBS_DIM, ACT_DIM) == (19, 6)
    assert obs_dim(Scenario("hopper")) == 11 and obs_dim(Scenario("hopper", obs_fn="add_d")) == 12
    assert obs_dim(Scenario("walker", obs_fn="add_d")) == 19 and act_dim(Scenario("hopper")) == 3
    np.testing.assert_array_equal(obs_mask(Scenario("cheetah")), [1] * 17 + [0] * 2)
    np.testing.assert_array_equal(act_mask(Scenario("hopper")), [1, 1, 1, 0, 0, 0])


@pytest.mark.parametrize("s", [Scenario("hopper"), Scenario("walker", obs_fn="add_d"), Scenario("cheetah")])
def test_pad_round_trip(s):
    rng = np.random.default_rng(0)
    o = rng.normal(size=(4, 7, obs_dim(s))).astype(np.float32)
    p = pad_obs(s, o)
    assert p.shape == (4, 7, OBS_DIM) and np.all(p[..., obs_dim(s) :] == 0)
    np.testing.assert_array_equal(unpad_obs(s, p), o)
    a = rng.normal(size=(act_dim(s),)).astype(np.float32)
    np.testing.assert_array_equal(unpad_action(s, pad_action(s, a)), a)
    with pytest.raises(ValueError, match=r"obs.shape=\(4, 7, 3\)"):
        pad_obs(s, o[..., :3])


def _apply(scenarios, seed, base=None):
    rng = np.random.default_rng(seed)
    b = len(scenarios)
    if base is None:
        base = np.zeros((b, OBS_DIM))
        for i, s in enumerate(scenarios):
            n = 11 if s.robot == "hopper" else 17
            base[i, :n] = np.arange(1, n + 1)
    normal, uniform = rng.standard_normal((b, OBS_DIM)), rng.random((b, OBS_DIM))
    return apply_obs_fn(np, base, obs_params(scenarios), normal, uniform)


def test_identity_and_padding_zero():
    sc = [Scenario("hopper"), Scenario("cheetah")]
    o = _apply(sc, 0)
    np.testing.assert_array_equal(o[0, :11], np.arange(1, 12))
    assert np.all(o[0, 11:] == 0) and np.all(o[1, 17:] == 0)


def test_add_g_noise_std():
    sc = [Scenario("walker", obs_fn="add_g", obs_noise=0.3)] * 2000
    o = _apply(sc, 1)
    noise = o[:, :17] - np.arange(1, 18)
    assert noise.std() == pytest.approx(0.3, rel=0.03) and abs(noise.mean()) < 0.01
    assert np.all(o[:, 17:] == 0)


def test_add_d_pure_noise_dims():
    sc = [Scenario("hopper", obs_fn="add_d", obs_noise=0.5)] * 2000
    o = _apply(sc, 2)
    np.testing.assert_array_equal(o[:, :11], np.tile(np.arange(1, 12), (2000, 1)))
    assert o[:, 11].std() == pytest.approx(0.5, rel=0.05)
    assert np.all(o[:, 12:] == 0)


def test_msk_r_fraction_and_randomness():
    sc = [Scenario("cheetah", obs_fn="msk_r")] * 3000
    o = _apply(sc, 3)
    zeros = o[:, :17] == 0
    assert np.all(zeros.sum(1) == 2)  # 10% of 17, rounded
    freq = zeros.mean(0)
    assert np.all(np.abs(freq - 2 / 17) < 0.03)  # every dim is masked about equally often
    h = _apply([Scenario("hopper", obs_fn="msk_r")] * 10, 4)
    assert np.all((h[:, :11] == 0).sum(1) == 1)


def test_msk_f_fixed_per_scenario_and_reproducible():
    s = Scenario("walker", obs_fn="msk_f", seed=11)
    o1, o2 = _apply([s] * 5, 5), _apply([s] * 5, 6)
    np.testing.assert_array_equal(o1, o2)  # deterministic, same dims every step
    idx = fixed_mask(s)
    assert len(idx) == 2 and np.all(o1[:, idx] == 0)
    assert (o1[:, :17] == 0).sum(1).tolist() == [2] * 5
    others = {tuple(fixed_mask(Scenario("walker", obs_fn="msk_f", seed=k))) for k in range(20)}
    assert len(others) > 5


def test_noise_reproducible_from_seed():
    sc = [Scenario("walker", obs_fn="add_g"), Scenario("hopper", obs_fn="msk_r")]
    np.testing.assert_array_equal(_apply(sc, 9), _apply(sc, 9))
    assert not np.array_equal(_apply(sc, 9), _apply(sc, 10))
