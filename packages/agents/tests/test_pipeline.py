"""The smoke chain collect -> train -> adapt -> evaluate end to end, resume/skip, logging and pruning."""

import json
import shutil

import numpy as np
import pytest

import mrcom.agents._stages as stages
from mrcom.agents import (
    RESULTS_FORMAT,
    Workdir,
    load_dataset,
    preset,
    read_manifest,
    run_pipeline,
    run_train,
    summary_table,
    target_scenarios,
)
from mrcom.envs import still_upright_return

ROBOTS = ("cheetah", "hopper", "walker")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    wd = tmp_path_factory.mktemp("smoke")
    cfg = preset("smoke")
    logs = []
    results = run_pipeline(cfg, wd, log=lambda n, v, s: logs.append((n, float(v), int(s))), progress=False)
    return cfg, wd, results, logs


def test_results_json_schema(smoke):
    cfg, wd, results, _ = smoke
    on_disk = json.loads((wd / "results.json").read_text())
    assert on_disk == results
    assert (
        results["format"] == RESULTS_FORMAT
        and results["protocol"] == "table1-a"
        and results["preset"] == "smoke"
    )
    assert (
        results["seed"] == 0
        and results["ablation"] == "full"
        and results["real_steps"] == cfg.adapt.real_steps
        and results["split"] == "test"
    )
    assert set(results["methods"]) == {"mrcom", "sac", "sac-utd"}
    n_targets = {r: sum(t["robot"] == r for t in results["targets"]) for r in ROBOTS}
    assert len(results["targets"]) == cfg.envs.num_targets
    for method in ("mrcom", "sac", "sac-utd"):
        assert set(results["methods"][method]) == set(ROBOTS)
        for robot, values in results["methods"][method].items():
            assert len(values) == n_targets[robot]
            assert all(0 <= v <= 100 for v in values)
            curve = results["curves"][method][robot]
            assert curve["real_steps"] == [
                cfg.adapt.eval_every * (i + 1) for i in range(len(curve["real_steps"]))
            ]
            assert curve["real_steps"][-1] == cfg.adapt.real_steps
            assert len(curve["normalized_return"]) == len(curve["real_steps"])
    assert set(results["worldmodel"]) == {
        "k1_obs_nmse",
        "k5_obs_nmse",
        "k15_obs_nmse",
        "reward_mse",
        "value_equiv",
        "value_equiv_rel",
    }
    assert "| hopper |" in (wd / "summary.md").read_text()
    # per method and target: the final return, the learning curve; per target its Still reference
    targets = target_scenarios(cfg)
    assert results["still"] == pytest.approx(still_upright_return(targets).tolist())
    for method, per in results["per_target"].items():
        assert len(per["final"]) == len(targets) and all(len(r) == len(targets) for r in per["curve"])
        assert per["real_steps"] == results["curves"][method]["hopper"]["real_steps"]
        hopper = [v for t, v in zip(targets, per["final"], strict=True) if t.robot == "hopper"]
        assert hopper == results["methods"][method]["hopper"]
    # every world model in worldmodels/<method>/, MrCoM's too
    assert (wd / "worldmodels" / "mrcom" / "metrics.json").is_file() and not (wd / "worldmodel").exists()


def test_dataset_of_the_run(smoke):
    cfg, wd, _, _ = smoke
    m = read_manifest(wd / "dataset")
    assert len(m["shards"]) == cfg.envs.num_train_scenarios
    data = load_dataset(wd / "dataset")
    per = cfg.collect.steps_per_scenario // cfg.envs.episode_length
    assert data.obs.shape[0] == per * cfg.envs.num_train_scenarios
    # every transition of the behaviour policy is kept: episodes chain through the auto-reset
    assert np.all(np.abs(data.action) <= 1) and np.all((data.reward >= 0) & (data.reward <= 1))
    # padded entries are zero
    pad = 1 - data.obs_mask[data.scenario_id][:, None, :]
    assert np.all(data.obs * pad == 0)


def test_mbpo_used_rollouts_and_sac_did_not(smoke):
    _, wd, _, _ = smoke
    mrcom = json.loads((wd / "adapt" / "mrcom" / "result.json").read_text())
    sac = json.loads((wd / "adapt" / "sac" / "result.json").read_text())
    assert mrcom["rollouts"] > 0 and sac["rollouts"] == 0


def test_logged_metric_names(smoke):
    cfg, _, results, logs = smoke
    names = {n for n, _, _ in logs}
    assert {"wm/loss", "wm/k1_obs_nmse", "wm/value_equiv"} <= names
    for method in ("mrcom", "sac"):
        for robot in ROBOTS:
            assert f"adapt/{method}/{robot}/normalized_return" in names
            final = [v for n, v, s in logs if n == f"eval/{method}/{robot}/normalized_return"]
            assert final == [pytest.approx(np.mean(results["methods"][method][robot]))]
    steps = [s for n, _, s in logs if n == "adapt/sac/hopper/normalized_return"]
    assert steps == sorted(steps) and steps[-1] == cfg.adapt.real_steps


def test_rerun_skips_every_stage(smoke, monkeypatch):
    cfg, wd, results, _ = smoke

    def boom(*a, **k):
        raise AssertionError("a finished stage was run again")

    monkeypatch.setattr(stages, "get_kind", boom)  # every world model is trained through its kind
    monkeypatch.setattr(stages, "run_host", boom)  # the host interaction loop of every adaptation
    monkeypatch.setattr("mrcom.agents._collect.run_sac", boom)
    assert run_pipeline(cfg, wd, progress=False) == results


def test_workdir_of_another_config_is_refused(smoke):
    cfg, wd, _, _ = smoke
    with pytest.raises(ValueError, match="another config"):
        run_pipeline(cfg.replace(seed=1), wd, progress=False)


def test_a_run_takes_more_methods_later(smoke, tmp_path):
    """A run of fewer methods, then the full list: only the new method is adapted and evaluated, the
    results equal those of one run of the full list, and a subset of the methods done reruns nothing."""
    cfg, wd, results, _ = smoke
    run = tmp_path / "run"
    shutil.copytree(wd, run)
    shutil.rmtree(run / "adapt" / "sac-utd")
    (run / "results.json").unlink()
    first = cfg.replace(**{"adapt.methods": ["mrcom", "sac"]})
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(first.to_dict()))
    assert config == cfg.to_dict()
    part = run_pipeline(first, run, progress=False)
    assert set(part["methods"]) == {"mrcom", "sac"}
    assert part["methods"]["mrcom"] == results["methods"]["mrcom"]

    assert run_pipeline(cfg, run, progress=False) == results
    assert json.loads((run / "config.json").read_text())["adapt"]["methods"] == ["mrcom", "sac", "sac-utd"]
    assert run_pipeline(first, run, progress=False) == results


def test_log_callback_can_stop_world_model_training(smoke, tmp_path):
    """A pruner raising from log() stops run_train; nothing is marked finished, a rerun resumes."""
    cfg, wd, _, _ = smoke
    shutil.copytree(wd / "dataset", tmp_path / "dataset")

    class Pruned(Exception):
        pass

    def log(name, value, step):
        if name == "wm/loss":
            raise Pruned(step)

    with pytest.raises(Pruned):
        run_train(cfg, tmp_path, log=log, progress=False)
    assert not Workdir(tmp_path).worldmodel_metrics().exists()


def test_summary_pools_seeds():
    res = lambda seed, v: {
        "protocol": "table1-a",
        "preset": "smoke",
        "ablation": "full",
        "seed": seed,
        "real_steps": 10,
        "methods": {"mrcom": {"hopper": v}, "sac": {"hopper": [0.0]}},
    }
    table = summary_table([res(0, [10.0, 20.0]), res(1, [30.0])])
    assert "| hopper | 20.0 +- 8.2 | 0.0 +- 0.0 |" in table


def test_collect_recollects_a_corrupt_shard_and_train_names_it(tmp_path):
    """A truncated shard is found by its checksum: `train` names it, a rerun of collect replaces it."""
    from mrcom.agents import run_collect, run_train
    from mrcom.agents._dataset import shard_name

    cfg = preset(
        "smoke", "table1-a", envs=dict(num_train_scenarios=2, num_heldout_scenarios=0, robots=("hopper",))
    )
    ds = run_collect(cfg, tmp_path, progress=False)
    good = (ds / shard_name(1)).read_bytes()
    (ds / shard_name(1)).write_bytes(good[: len(good) // 2])  # truncated, as by a full disk
    with pytest.raises(ValueError, match=r"shard .*0001\.npz.*sha256 .* differs from the manifest"):
        run_train(cfg, tmp_path, progress=False)
    first = (ds / shard_name(0)).read_bytes()
    run_collect(cfg, tmp_path, progress=False)
    assert (ds / shard_name(0)).read_bytes() == first  # the good shard is kept as it was
    assert len((ds / shard_name(1)).read_bytes()) > len(good) // 2  # the bad one is collected again
    data = load_dataset(ds)  # and the dataset loads (every checksum verified)
    assert data.num_scenarios == 2


def test_a_run_of_the_old_layout_keeps_its_mrcom_world_model(tmp_path):
    """A run written before MrCoM's world model moved to worldmodels/mrcom/ is still read from worldmodel/."""
    wd = Workdir(tmp_path)
    assert wd.worldmodel() == tmp_path / "worldmodels" / "mrcom"
    (tmp_path / "worldmodel").mkdir()
    assert (
        wd.worldmodel() == tmp_path / "worldmodel"
        and wd.worldmodel("cadm") == tmp_path / "worldmodels" / "cadm"
    )
