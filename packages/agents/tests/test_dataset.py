"""Dataset on disk: round trip, checksum/dims errors naming the shard, resume of a killed collection."""

import json

import numpy as np
import pytest

from mrcom.agents import collect, load_dataset, preset, read_manifest, train_scenarios
from mrcom.agents._dataset import new_manifest, write_shard
from mrcom.envs import ACT_DIM, OBS_DIM, act_mask, obs_mask

L = 5


def _fake(scenario, rng, episodes=3, k=2):
    return dict(
        obs=rng.normal(size=(episodes, L + 1, OBS_DIM)) * obs_mask(scenario),
        action=rng.uniform(-1, 1, size=(episodes, L, ACT_DIM)) * act_mask(scenario),
        reward=rng.uniform(size=(episodes, L)),
        prompt_obs=rng.normal(size=(k, L + 1, OBS_DIM)),
        prompt_action=rng.uniform(-1, 1, size=(k, L, ACT_DIM)),
        prompt_reward=rng.uniform(size=(k, L)),
        obs_mask=obs_mask(scenario),
        act_mask=act_mask(scenario),
    )


@pytest.fixture
def written(tmp_path):
    cfg = preset(
        "smoke",
        envs={"num_train_scenarios": 3, "num_heldout_scenarios": 0, "episode_length": L},
        worldmodel={"seq_len": 4},
    )
    scen = train_scenarios(cfg)
    rng = np.random.default_rng(0)
    m = new_manifest(scen, OBS_DIM, ACT_DIM, L, 2, 0)
    arrays = [_fake(s, rng, episodes=2 + i) for i, s in enumerate(scen)]
    for i, s in enumerate(scen):
        write_shard(tmp_path, m, i, s, arrays[i])
    return tmp_path, scen, arrays


def test_round_trip(written):
    path, scen, arrays = written
    data = load_dataset(path, prompt="expert")
    data.validate(context_len=4)
    assert data.obs.shape == (2 + 3 + 4, L + 1, OBS_DIM)
    np.testing.assert_array_equal(data.scenario_id, [0, 0, 1, 1, 1, 2, 2, 2, 2])
    np.testing.assert_allclose(data.obs[2:5], arrays[1]["obs"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(data.act_mask[2], act_mask(scen[2]))
    # prompt: the two expert episodes joined end to end (P = 2L)
    assert data.prompt_obs.shape == (3, 2 * L + 1, OBS_DIM)
    np.testing.assert_allclose(data.prompt_obs[0, L], arrays[0]["prompt_obs"][1, 0], atol=1e-6)
    np.testing.assert_allclose(data.prompt_obs[0, -1], arrays[0]["prompt_obs"][1, L], atol=1e-6)
    np.testing.assert_allclose(data.prompt_reward[1, L:], arrays[1]["prompt_reward"][1], atol=1e-6)
    sub = load_dataset(path, [2, 0])
    np.testing.assert_array_equal(sub.scenario_id, [0] * 4 + [1] * 2)
    # the default prompt: each scenario's first behaviour episode (the adaptation-time kind)
    np.testing.assert_allclose(sub.prompt_obs[0], arrays[2]["obs"][0], atol=1e-6)
    np.testing.assert_allclose(sub.prompt_action[1], arrays[0]["action"][0], atol=1e-6)
    with pytest.raises(ValueError, match="prompt='oracle'"):
        load_dataset(path, prompt="oracle")
    m = read_manifest(path)
    assert m["scenarios"][1] == scen[1].to_dict() and m["shards"][1]["steps"] == 3 * L


def test_corrupted_shard_names_the_shard(written):
    path, _, _ = written
    f = path / "scenario_0001.npz"
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    f.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"shard scenario_0001\.npz: sha256"):
        load_dataset(path)


def test_dims_mismatch_names_the_shard(written):
    path, _, _ = written
    m = json.loads((path / "manifest.json").read_text())
    m["obs_dim"] = OBS_DIM + 1
    (path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match=r"shard scenario_0000\.npz: obs\.shape"):
        load_dataset(path)


def test_missing_shard_and_incomplete_dataset(written):
    path, _, _ = written
    (path / "scenario_0002.npz").unlink()
    with pytest.raises(ValueError, match=r"shard scenario_0002\.npz: missing"):
        load_dataset(path)
    m = json.loads((path / "manifest.json").read_text())
    m["shards"] = m["shards"][:2]
    (path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="2 of 3 shards finished"):
        load_dataset(path)


def test_killed_collection_resumes(tmp_path, monkeypatch):
    """Kill collection after the first scenario batch; the rerun skips it and ends equal to a clean run."""
    cfg = preset(
        "smoke",
        envs={
            "num_train_scenarios": 2,
            "num_heldout_scenarios": 0,
            "episode_length": 10,
            "robots": ("hopper",),
        },
        collect={"steps_per_scenario": 20, "batch_scenarios": 1, "prompt_episodes": 1},
        sac={"learning_starts": 10, "update_every": 10},
        worldmodel={"seq_len": 4},
    )
    scen = train_scenarios(cfg)
    import mrcom.agents._collect as C

    real_run_sac = C.run_sac
    calls = []

    def killing_run_sac(env, *a, **kw):
        calls.append(len(calls))
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real_run_sac(env, *a, **kw)

    monkeypatch.setattr(C, "run_sac", killing_run_sac)
    with pytest.raises(KeyboardInterrupt):
        collect(scen, tmp_path / "a", cfg, seed=0, progress=False)
    m = read_manifest(tmp_path / "a")
    assert [e["index"] for e in m["shards"]] == [0]
    first = (tmp_path / "a" / "scenario_0000.npz").read_bytes()
    calls.clear()
    monkeypatch.setattr(C, "run_sac", lambda *a, **kw: calls.append(1) or real_run_sac(*a, **kw))
    collect(scen, tmp_path / "a", cfg, seed=0, progress=False)
    assert len(calls) == 1  # only the unfinished scenario was trained
    assert (tmp_path / "a" / "scenario_0000.npz").read_bytes() == first
    collect(scen, tmp_path / "b", cfg, seed=0, progress=False)
    a, b = load_dataset(tmp_path / "a"), load_dataset(tmp_path / "b")
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
