"""Reference predictors: obs_scale, persistence NMSE by hand, the MLP ensemble learns and early-stops."""

import jax
import numpy as np
import pytest

from mrcom.worldmodel import (
    MultiScenarioData,
    mlp_ensemble_nmse,
    mlp_ensemble_val_loss,
    obs_scale,
    persistence_nmse,
    synthetic_data,
    train_mlp_ensemble,
)

SMALL = dict(members=5, hidden=32, layers=2, batch=64, lr=3e-3)


def _tiny(obs: np.ndarray, scenario_id, obs_mask) -> MultiScenarioData:
    e, l1, o = obs.shape
    s = len(obs_mask)
    return MultiScenarioData(
        obs=obs.astype(np.float32),
        action=np.zeros((e, l1 - 1, 1), np.float32),
        reward=np.zeros((e, l1 - 1), np.float32),
        scenario_id=np.asarray(scenario_id, np.int32),
        obs_mask=np.asarray(obs_mask, np.float32),
        act_mask=np.ones((s, 1), np.float32),
        prompt_obs=np.zeros((s, 2, o), np.float32),
        prompt_action=np.zeros((s, 1, 1), np.float32),
        prompt_reward=np.zeros((s, 1), np.float32),
    )


def _episodes(d: MultiScenarioData, idx) -> MultiScenarioData:
    idx = np.asarray(idx)
    return d._replace(
        obs=d.obs[idx], action=d.action[idx], reward=d.reward[idx], scenario_id=d.scenario_id[idx]
    )


def test_obs_scale_by_hand():
    # 2 episodes of 1 step; scenario 1 has dim 1 padded (its values must not count)
    obs = np.array([[[0.0, 1.0], [2.0, 3.0]], [[4.0, 100.0], [6.0, -100.0]]])
    d = _tiny(obs, [0, 1], [[1, 1], [1, 0]])
    var0 = np.var([0.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(obs_scale(d), [var0, 1.0], rtol=1e-6)
    d = _tiny(np.ones((1, 2, 2)), [0], [[1, 0]])
    np.testing.assert_allclose(obs_scale(d), [1e-6, 1e-6], rtol=1e-6)  # constant and padded: the floor


def test_persistence_nmse_by_hand():
    # one episode of burn_in + 15 steps: every window is the same one (start 0)
    burn_in, length = 2, 17
    t = np.arange(length + 1, dtype=np.float64)
    obs = np.stack([t, t**2 / 10, 1000 * np.sin(t)], -1)[None]  # dim 2 is padded
    d = _tiny(obs, [0], [[1, 1, 0]])
    var = obs[0, :, :2].var(0)
    o = obs[0, burn_in:, :2]
    want = {f"k{k}_obs_nmse": float(np.mean((o[k] - o[0]) ** 2 / var)) for k in (1, 5, 15)}
    got = persistence_nmse(d, burn_in=burn_in, num_windows=7, seed=3)
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-5)


def test_persistence_nmse_matches_brute_force_on_evaluate_windows(heldout):
    burn_in, windows, key = 4, 32, jax.random.PRNGKey(5)
    # the draws of evaluate's windows (mrcom.worldmodel.mrcom._evaluate._evaluate)
    ke, ks = jax.random.split(key, 5)[:2]
    eps = np.asarray(jax.random.randint(ke, (windows,), 0, heldout.obs.shape[0]))
    starts = np.asarray(jax.random.randint(ks, (windows,), 0, heldout.episode_length - (burn_in + 15) + 1))
    scale = obs_scale(heldout)
    num = {k: 0.0 for k in (1, 5, 15)}
    den = 0.0
    for e, s in zip(eps, starts, strict=True):
        m = heldout.obs_mask[heldout.scenario_id[e]]
        o = heldout.obs[e, s + burn_in : s + burn_in + 16]
        for k in num:
            num[k] += np.sum((o[k] - o[0]) ** 2 / scale * m)
        den += m.sum()
    got = persistence_nmse(heldout, burn_in=burn_in, num_windows=windows, key=key)
    for k in num:
        assert got[f"k{k}_obs_nmse"] == pytest.approx(num[k] / den, rel=1e-5)


def test_ensemble_learns_linear_system_well_below_persistence():
    # one shared linear dynamics (damped rotation + control), two robots (masks), held-out episodes
    kw = dict(num_scenarios=2, episode_length=40, angle_range=(0.6, 0.6))
    train, test = (
        synthetic_data(episodes_per_scenario=8, seed=0, **kw),
        synthetic_data(episodes_per_scenario=2, seed=1, **kw),
    )
    ensemble, info = train_mlp_ensemble(train, **SMALL, max_steps=900, eval_every=300, patience=5, seed=0)
    losses = [h["train_loss"] for h in info["history"]]
    assert losses[-1] < losses[0] - 1.0
    ref = persistence_nmse(test, burn_in=4, num_windows=64)
    got = mlp_ensemble_nmse(ensemble, test, burn_in=4, num_windows=64)
    assert got.keys() == {"k1_obs_nmse", "k5_obs_nmse", "k15_obs_nmse", "reward_mse"}
    assert got["k1_obs_nmse"] < 0.1 * ref["k1_obs_nmse"], (got, ref)
    assert got["k5_obs_nmse"] < ref["k5_obs_nmse"], (got, ref)
    assert ensemble.num_members == 5


def test_early_stopping_returns_the_best_validation_parameters(data):
    # scenario-dependent dynamics and few episodes: a context-free MLP overfits, so it stops early
    ensemble, info = train_mlp_ensemble(
        data, **SMALL, max_steps=3000, eval_every=150, patience=3, val_fraction=0.2, seed=1
    )
    assert info["stopped_early"] and info["steps"] < 3000
    assert min(info["best_step_members"]) < info["steps"]  # a snapshot, not the last parameters
    val = mlp_ensemble_val_loss(ensemble, _episodes(data, info["val_episodes"]))
    np.testing.assert_allclose(val, info["best_val_loss_members"], rtol=1e-5)
    assert float(np.mean(val)) == pytest.approx(info["best_val_loss"], rel=1e-5)
    assert info["best_val_loss"] <= min(h["val_loss"] for h in info["history"]) + 1e-6
    assert info["val_transitions"] == len(info["val_episodes"]) * data.episode_length
    assert info["train_transitions"] + info["val_transitions"] == data.reward.size
