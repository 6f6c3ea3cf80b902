"""Sacred config of the experiment, search config, objectives: fast, no pipeline run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sacred.config.custom_containers import ReadOnlyDict, ReadOnlyList
from sacred.initialize import create_run

from mrcom.agents import PipelineConfig, preset
from mrcom.envs import PROTOCOLS
from sweeps._objective import IntermediateValues, model_error, objective_value, uninformative_until
from sweeps._plain import to_plain, write_json_atomic
from sweeps._search_config import PARAM_PATHS, SEARCH_DELTA, SearchConfig, search_config
from sweeps.experiment import ABLATIONS, RUN_KEYS, ex, pipeline_config


def _config(named=(), updates=None, command="pipeline"):
    return create_run(ex, command, dict(updates or {}), named_configs=list(named)).config


def test_named_configs_resolve_to_the_packages_preset():
    cfg = _config(["quick", "table1-b", "ablation-wo_ls"], {"worldmodel.lambda_s": 0.3, "seed": 3})
    expected = preset("quick", "table1-b", ablation="wo_ls", seed=3, **{"worldmodel.lambda_s": 0.3}).to_dict()
    plain = to_plain(cfg)
    assert plain["command"] == "pipeline"
    assert plain["workdir"] is None and plain["shared_collect_dir"] is None
    assert {k: v for k, v in plain.items() if k not in RUN_KEYS} == expected
    assert pipeline_config(cfg) == PipelineConfig.from_dict(expected)
    # the ablation reaches the world model through PipelineConfig
    assert pipeline_config(cfg).worldmodel.ablation == "wo_ls"


def test_default_and_order_of_named_configs():
    assert to_plain(_config())["preset"] == "smoke"
    a = to_plain(_config(["table2-c", "paper"]))
    b = to_plain(_config(["paper", "table2-c"]))
    assert a == b and a["preset"] == "paper" and a["protocol"] == "table2-c"
    assert a["envs"] == preset("paper", "table2-c").to_dict()["envs"]


def test_every_protocol_and_ablation_has_a_named_config():
    names = set(ex.named_configs)
    assert set(PROTOCOLS) <= names
    assert {f"ablation-{a}" for a in ABLATIONS} <= names
    assert {"smoke", "quick", "paper"} <= names
    for p in PROTOCOLS:
        assert _config([p])["protocol"] == p


def test_bad_config_value_is_refused_before_the_run():
    with pytest.raises(ValueError, match="protocol"):
        pipeline_config(to_plain(_config(updates={"protocol": "table9-z"})))


def test_to_plain_converts_sacred_and_numpy_types():
    items = ReadOnlyList([np.float32(0.5), np.int64(3), (1, 2)])
    src = ReadOnlyDict({"a": items, "b": {"c": np.bool_(True)}})
    out = to_plain(src)
    assert out == {"a": [0.5, 3, [1, 2]], "b": {"c": True}}
    assert type(out) is dict and type(out["a"]) is list
    assert type(out["a"][0]) is float and type(out["a"][1]) is int and type(out["b"]["c"]) is bool
    with pytest.raises(ValueError, match="plain JSON type"):
        to_plain({"f": object()})


def test_write_json_atomic_leaves_no_temp_file_and_nulls_nan(tmp_path):
    path = write_json_atomic(tmp_path / "x.json", {"v": float("nan"), "w": [1.0]})
    assert json.loads(path.read_text()) == {"v": None, "w": [1.0]}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_search_presets_and_validation():
    smoke = search_config("smoke")
    assert smoke.trials == 3 and smoke.direction == "minimize" and smoke.trial_seeds == (0, 1)
    quick = search_config("quick", seed=4)
    assert quick.objective == "model" and quick.trial_seeds == (4, 5, 6)
    adapt = search_config("quick", objective="adapt", seed=4)
    assert adapt.direction == "maximize" and adapt.trial_seeds == (4,)  # an adapting trial runs one seed
    assert search_config("quick", m=[2, 3]).m == (2, 3)
    lo, hi = search_config("quick").m
    assert preset("quick").worldmodel.context_len in range(lo, hi + 1)
    assert set(PARAM_PATHS["m"].split(".")) == {"worldmodel", "context_len"}
    for kwargs, field in [
        (dict(lambda_s=(-1.0, 1.0)), "lambda_s"),
        (dict(lambda_var=(2.0, 1.0)), "lambda_var"),
        (dict(m=(0, 4)), "m="),
        (dict(objective="reward"), "objective"),
        (dict(trials=0), "trials"),
        (dict(model_seeds=0), "model_seeds"),
        (dict(heartbeat_interval=5, grace_period=5), "grace_period"),
    ]:
        with pytest.raises(ValueError, match=field):
            SearchConfig(**{**search_config("smoke").__dict__, **kwargs})
    with pytest.raises(ValueError, match="preset"):
        search_config("huge")


def test_objectives_hand_computed():
    results = {
        "methods": {"mrcom": {"hopper": [10.0, 20.0], "walker": [60.0]}, "sac": {"hopper": [0.0]}},
        "worldmodel": {"k1_obs_nmse": 0.1, "k5_obs_nmse": 0.2, "k15_obs_nmse": 0.6, "value_equiv_rel": 0.05},
    }
    assert objective_value(results, "adapt") == pytest.approx(30.0)
    assert objective_value(results, "model") == pytest.approx(0.3 + 0.05)
    with pytest.raises(ValueError, match="missing"):
        model_error({"k1_obs_nmse": 1.0})
    with pytest.raises(ValueError, match="not finite"):
        objective_value({"methods": {"mrcom": {"hopper": [float("nan")]}}}, "adapt")


def test_intermediate_values():
    adapt = IntermediateValues("adapt", robots=frozenset({"hopper", "walker"}))
    assert adapt("adapt/sac/hopper/normalized_return", 5.0, 100) is None
    assert adapt("wm/loss", 1.0, 10) is None
    assert adapt("adapt/mrcom/hopper/normalized_return", 5.0, 100) is None  # walker not yet logged
    assert adapt("adapt/mrcom/hopper/normalized_return", 9.0, 200) is None
    assert adapt("adapt/mrcom/walker/normalized_return", 7.0, 100) == (100, 6.0)  # mean over robots
    assert adapt("adapt/mrcom/walker/normalized_return", 1.0, 200) == (200, 5.0)
    # before adapt.start_steps the model is unused: every trial's curve is the same SAC, not reported
    late = IntermediateValues("adapt", robots=frozenset({"hopper"}), after_step=600)
    assert late("adapt/mrcom/hopper/normalized_return", 41.0, 500) is None
    assert late("adapt/mrcom/hopper/normalized_return", 41.0, 600) is None
    assert late("adapt/mrcom/hopper/normalized_return", 30.0, 1000) == (1000, 30.0)
    unknown = IntermediateValues("adapt")  # robots not known yet: nothing reported
    assert unknown("adapt/mrcom/hopper/normalized_return", 5.0, 1) is None
    assert adapt.seed_done(0.3) is None  # an adapting trial reports its curve only
    # model: after the i-th seed, the mean over the seeds so far, at step i (every trial on the same seeds)
    model = IntermediateValues("model")
    for term in ("k1_obs_nmse", "k5_obs_nmse", "k15_obs_nmse", "value_equiv_rel"):
        assert model(f"wm/{term}", 0.1, 40) is None  # the training curve is not the objective
    assert model.seed_done(0.3) == (0, pytest.approx(0.3))
    assert model.seed_done(0.5) == (1, pytest.approx(0.4))
    assert model.seed_done(0.1) == (2, pytest.approx(0.3))


def test_run_objective_reads_each_objectives_file(tmp_path):
    from mrcom.agents import Workdir
    from sweeps._objective import run_objective

    wd = Workdir(tmp_path)
    with pytest.raises(ValueError, match="metrics.json: missing"):
        run_objective(tmp_path, "model")
    metrics = {"k1_obs_nmse": 0.1, "k5_obs_nmse": 0.2, "k15_obs_nmse": 0.6, "value_equiv_rel": 0.05}
    wd.worldmodel_metrics("mrcom").parent.mkdir(parents=True)
    wd.worldmodel_metrics("mrcom").write_text(json.dumps({**metrics, "reward_mse": 9.0}))
    assert run_objective(tmp_path, "model") == pytest.approx(0.35)
    wd.results.write_text(json.dumps({"methods": {"mrcom": {"hopper": [10.0, 20.0]}}}))
    assert run_objective(tmp_path, "adapt") == pytest.approx(15.0)


def test_model_trials_table_pairs_each_trial_with_the_best_on_the_same_seeds():
    import optuna
    from optuna.distributions import FloatDistribution, IntDistribution
    from optuna.trial import TrialState, create_trial

    from sweeps._report import best_table, t_interval, trial_rows

    mean, low, high = t_interval([1.0, 2.0, 3.0])  # sd 1, t(0.975, 2) = 4.3027
    assert mean == 2.0 and (low, high) == (
        pytest.approx(2 - 4.3027 / 3**0.5, abs=1e-4),
        pytest.approx(2 + 4.3027 / 3**0.5, abs=1e-4),
    )
    study = optuna.create_study(direction="minimize")
    study.set_user_attr("objective", "model")
    dist = {k: FloatDistribution(0.01, 10.0, log=True) for k in ("lambda_var", "lambda_s", "lambda_v")}
    dist["m"] = IntDistribution(4, 16)

    def add(values, state=TrialState.COMPLETE, **params):
        params = {"lambda_var": 1.0, "lambda_s": 0.1, "lambda_v": 1.0, "m": 8, **params}
        value = sum(values) / len(values) if state == TrialState.COMPLETE else None
        extra = {"user_attrs": {"seed_values": values}, "state": state, "value": value}
        extra["intermediate_values"] = {} if value is not None else {0: values[0]}
        study.add_trial(create_trial(params=params, distributions=dist, **extra))

    add([0.30, 0.20, 0.40], m=10)  # the seed shifts both: paired, this trial is worse on every seed
    add([0.25, 0.15, 0.35], m=12)  # best
    add([0.20, 0.30, 0.30], m=14)  # mean 0.2667 above the best's 0.25, but not on every seed
    add([0.9], state=TrialState.PRUNED, m=5)
    table = best_table(study)
    rows = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [r.split(" | ")[0] for r in rows] == ["| 1", "| 2", "| 0"]  # complete trials, best first
    assert "0.2500 / 0.1500 / 0.3500" in rows[0] and rows[0].endswith("| - |")
    assert "**+0.0500 [+0.0500, +0.0500]**" in rows[2]  # worse by the same 0.05 on each seed: separated
    assert "**" not in rows[1]  # -0.05, +0.15, -0.05 on the seeds: the interval holds 0
    assert trial_rows(study)[0]["seed_values"] == "0.3 / 0.2 / 0.4"
    study.set_user_attr("objective", "adapt")
    assert best_table(study) is None  # an adapt study reads results.json of its best run (none here)


def test_quick_search_adapts_the_presets_budget_and_prunes_only_after_learning_starts():
    """A quick-search trial adapts the quick preset's 3000 real steps (1500 left SAC 500 steps of updates
    after its 1000 learning starts) and reports to the pruner only curve points after learning starts."""
    trial = preset("quick", **SEARCH_DELTA["quick"])
    quick = preset("quick")
    assert trial.adapt == quick.adapt and trial.sac == quick.sac
    after = uninformative_until(trial)
    assert after == max(quick.adapt.start_steps, quick.sac.learning_starts) == 1000
    points = range(trial.adapt.eval_every, trial.adapt.real_steps + 1, trial.adapt.eval_every)
    values = IntermediateValues("adapt", robots=frozenset({"hopper"}), after_step=after)
    reported = [s for s in points if values("adapt/mrcom/hopper/normalized_return", 1.0, s) is not None]
    assert reported == [2000, 3000]
    # at least one point before the final one, or the median pruner could never stop a trial early
    assert reported[0] < trial.adapt.real_steps


def test_report_shows_best_trial_beside_sac_and_sac_utd_and_labels_pruned_values(tmp_path):
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from sweeps._report import best_methods_table, trial_rows

    run = tmp_path / "7"
    run.mkdir()
    methods = {"mrcom": {"hopper": [40.0, 60.0]}, "sac": {"hopper": [30.0]}, "sac-utd": {"hopper": [35.0]}}
    (run / "results.json").write_text(json.dumps({"methods": methods, "split": "validation"}))
    study = optuna.create_study(direction="maximize")
    dist = {"lambda_s": FloatDistribution(0.01, 1.0, log=True)}
    study.add_trial(
        create_trial(
            params={"lambda_s": 0.1}, distributions=dist, value=50.0, user_attrs={"sacred_run_dir": str(run)}
        )
    )
    study.add_trial(
        create_trial(
            params={"lambda_s": 0.2},
            distributions=dist,
            value=55.0,
            state=TrialState.PRUNED,
            intermediate_values={500: 55.0},
        )
    )
    table = best_methods_table(study)
    assert "validation targets" in table
    assert "| hopper | 50.0 +- 10.0 | 30.0 +- 0.0 | 35.0 +- 0.0 |" in table
    rows = trial_rows(study)
    assert rows[0]["value_of"] == "final" and rows[1]["value_of"] == "intermediate, step 500"


def test_trial_stage_reads_the_last_stage_of_a_log(tmp_path):
    from sweeps._trial_watch import trial_stage

    log = tmp_path / "trial.log"
    assert trial_stage(log) is None  # no log yet
    log.write_text("collect: 100%|###| 9/9\nworldmodel:  40%|#  | 600/1500\n")
    assert trial_stage(log) == "worldmodel"
    with log.open("a") as f:  # a world model's bar, as tqdm rewrites it (carriage returns)
        f.write("INFO - mrcom - Running command 'train'\nmrcom:   0%|   | 0/500\rmrcom:  10%|#  | 50/500\r")
    assert trial_stage(log) == "train mrcom"
    with log.open("a") as f:
        f.write("adapt/sac-utd/hopper/normalized_return = 3.10 (step 500)\n")
    assert trial_stage(log) == "adapt sac-utd"
    with log.open("a") as f:
        f.write("eval/mrcom/hopper/normalized_return = 3.10 (step 1500)\n")
    assert trial_stage(log) == "evaluate"


def test_sweeps_and_analysis_read_the_packages_names():
    """sweeps/ and analysis/ read preset and ablation names from the packages' one definition (JAX-free)."""
    from analysis import _plots
    from mrcom import agents, worldmodel
    from sweeps import _search_config, experiment

    assert _search_config.PRESETS is experiment.PRESETS is agents.PRESETS
    assert experiment.ABLATIONS is _plots.ABLATIONS is agents.ABLATIONS
    assert agents.PRESETS == worldmodel.PRESET_NAMES == tuple(worldmodel.PRESETS)
    assert agents.ABLATIONS == worldmodel.ABLATIONS
    for name in worldmodel.world_model_names():  # every world model has exactly these presets
        assert tuple(worldmodel.get_kind(name).config_type.PRESETS) == worldmodel.PRESET_NAMES, name


def test_storage_survives_two_processes_creating_the_schema_at_once(tmp_path, monkeypatch):
    """The loser of the schema race (unique key on the version row, or SQLite's table that already exists)
    opens the finished database again; other errors are not retried."""
    import optuna
    from sqlalchemy.exc import IntegrityError, OperationalError

    import sweeps._storage as storage

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(storage=storage.make_storage(url), study_name="s").enqueue_trial({"x": 1.0})
    real, calls = storage.RDBStorage, []

    def losing_first(*args, **kwargs):  # the state the slower process sees: schema complete, insert refused
        calls.append(1)
        if len(calls) == 1:
            raise IntegrityError("INSERT INTO alembic_version", {}, Exception("UNIQUE constraint failed"))
        return real(*args, **kwargs)

    monkeypatch.setattr(storage, "RDBStorage", losing_first)
    study = optuna.load_study(storage=storage.make_storage(url), study_name="s")
    assert len(calls) == 2 and len(study.get_trials()) == 1

    def sqlite_losing_first(*args, **kwargs):  # SQLite: the other process created a table in between
        calls.append(1)
        if len(calls) == 3:
            statement = "CREATE TABLE study_system_attributes"
            raise OperationalError(statement, {}, Exception("table study_system_attributes already exists"))
        return real(*args, **kwargs)

    monkeypatch.setattr(storage, "RDBStorage", sqlite_losing_first)
    study = optuna.load_study(storage=storage.make_storage(url), study_name="s")
    assert len(calls) == 4 and len(study.get_trials()) == 1

    def always_losing(*args, **kwargs):
        raise IntegrityError("INSERT INTO alembic_version", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr(storage, "RDBStorage", always_losing)
    with pytest.raises(storage.StorageError, match="cannot connect"):
        storage.make_storage(url)

    def unreachable(*args, **kwargs):
        calls.append(1)
        raise OperationalError("connect", {}, Exception("unable to open database file"))

    monkeypatch.setattr(storage, "RDBStorage", unreachable)
    before = len(calls)
    with pytest.raises(storage.StorageError, match="unable to open database file"):
        storage.make_storage(url)
    assert len(calls) == before + 1  # not a schema race: no second try
