"""Command-line behaviour of sweeps: --help, and bad arguments -> one-line error, exit 2, nothing written."""

from __future__ import annotations

import json

import pytest

BAD_ARGS = [
    (["--lambda-s", "-1", "1"], "lambda_s"),
    (["--lambda-var", "1", "0.5"], "lambda_var"),
    (["--m", "0", "4"], "m="),
    (["--preset", "huge"], "preset"),
    (["--objective", "reward"], "objective"),
    (["--protocol", "table9-z"], "protocol"),
    (["--trials", "0"], "trials"),
    (["--set", "worldmodel.context_len=3"], "worldmodel.context_len"),
    (["--set", "collect.prompt_episodes=0"], "collect.prompt_episodes=0"),
    (["--set", "nosuch.key=1"], "unknown key 'nosuch'; allowed keys are ['ablation', "),
    (["--set", "adapt.nope=1"], "unknown key 'nope' in section 'adapt'; allowed keys are ['eval_every'"),
    (["--set", "seed=3"], "seed is set by --seed"),
    (["--set", "adapt.real_steps"], "must be SECTION.FIELD=VALUE"),
    (["--with", "adapt.real_steps=5"], "--with is now --set"),
    (["--m", "2", "4000"], "m=4000"),  # longer than the smoke prompt
    (["--max-failures", "0"], "max_failures"),
    (["--storage", "postgresql://nobody@127.0.0.1:1/nowhere"], "cannot connect"),
    (["--storage", "sqlite:///no/such/folder/optuna.db"], "does not exist"),
    (["--storage", "not-a-url"], "storage"),
]


@pytest.mark.parametrize("args,needle", BAD_ARGS, ids=[" ".join(a) for a, _ in BAD_ARGS])
def test_bad_arguments_one_line_exit_2_nothing_written(tmp_path, monkeypatch, capsys, args, needle):
    from sweeps.lambda_search import main

    monkeypatch.chdir(tmp_path)
    assert main(["--preset", "smoke", *args]) == 2
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("lambda_search: error:") and needle in lines[0]
    assert list(tmp_path.iterdir()) == []
    assert out == ""


def test_bad_arguments_exit_code_of_the_process(tmp_path, sweeps_run):
    for args in (["--lambda-s", "-1", "1"], ["--storage", "postgresql://nobody@127.0.0.1:1/nowhere"]):
        proc = sweeps_run("sweeps.lambda_search", *args, cwd=tmp_path, timeout=120)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stdout == "" and list(tmp_path.iterdir()) == []


def test_help_of_every_entry_point(tmp_path, sweeps_run):
    search = sweeps_run("sweeps.lambda_search", "--help", cwd=tmp_path, timeout=120)
    assert search.returncode == 0 and "--storage" in search.stdout and "--objective" in search.stdout
    run = sweeps_run("sweeps.run", "--help", cwd=tmp_path, timeout=120)
    assert run.returncode == 0 and "table1-a" in run.stdout and "--mongo" in run.stdout
    assert "pipeline" in run.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_worker_stops_after_failures_in_a_row(tmp_path, sweeps_run):
    """Trials that all fail for the same reason (here: a foreign dataset in the shared collect folder) stop
    the worker after --max-failures of them, with exit code 1 and the reason recorded."""
    shared = tmp_path / "collect"
    (shared / "dataset").mkdir(parents=True)
    (shared / "dataset" / "manifest.json").write_text('{"format": 999}')
    args = ["--preset", "smoke", "--study", "broken", "--trials", "3", "--max-failures", "2"]
    proc = sweeps_run("sweeps.lambda_search", *args, "--collect-dir", str(shared), cwd=tmp_path, timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "2 trials failed in a row" in proc.stderr
    rows = json.loads((tmp_path / "runs" / "lambda_search" / "broken" / "trials.json").read_text())["trials"]
    assert [r["state"] for r in rows] == ["FAIL", "FAIL"]
    assert all("dataset" in r["reason"] for r in rows)


def test_set_reaches_the_pipeline_config_of_every_trial(tmp_path):
    """``--set`` uses the grammar of the mrcom.agents commands (JSON values) and lands in each trial's Sacred
    config, hence in its PipelineConfig."""
    import optuna

    from sweeps._search_args import build_parser, validate_args
    from sweeps._worker import Worker
    from sweeps.experiment import ex, pipeline_config
    from sweeps.layout import StudyDir

    args = build_parser().parse_args(
        ["--preset", "smoke", "--set", "adapt.real_steps=60", "--set", "sac.hidden=[16, 16]"]
    )
    cfg, updates, _ = validate_args(args)
    assert updates["adapt.real_steps"] == 60 and updates["sac.hidden"] == [16, 16]
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    study_dir = StudyDir(tmp_path / "study")
    worker = Worker(study, storage, cfg, args, updates, study_dir, tmp_path / "c", None, tmp_path / "j")
    params = {"lambda_var": 1.0, "lambda_s": 0.1, "lambda_v": 0.1, "m": 4}
    spec = worker._spec(trial, params, study_dir.trial(trial.number))
    assert spec["command"] == "train" and [u["seed"] for u in spec["runs"]] == [0, 1]  # smoke: two seeds
    assert spec["runs"][1]["shared_collect_dir"] == str(tmp_path / "c-seed1")  # each seed its dataset
    run = ex._create_run(spec["command"], spec["runs"][0], spec["named_configs"])
    pcfg = pipeline_config(run.config)
    assert pcfg.adapt.real_steps == 60 and tuple(pcfg.sac.hidden) == (16, 16)
    assert pcfg.worldmodel.context_len == 4 and pcfg.envs.target_split == "validation"


def test_sweeps_run_set_good_and_bad_key(tmp_path, sweeps_run):
    good = sweeps_run(
        "sweeps.run", "print_config", "with", "smoke", "--set", "adapt.real_steps=60", cwd=tmp_path
    )
    assert good.returncode == 0, good.stderr[-2000:]
    assert "real_steps = 60" in good.stdout
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    for args, needle in [
        (["--set", "adapt.nope=1"], "unknown key 'nope' in section 'adapt'; allowed keys are ['eval_every'"),
        (
            ["with", "smoke", "nosuch.key=1"],
            "with nosuch.key: unknown key 'nosuch'; allowed keys are ['ablation', ",
        ),
        (["--set"], "--set needs a value"),
    ]:
        bad = sweeps_run("sweeps.run", "print_config", *args, cwd=bad_dir)
        lines = [line for line in bad.stderr.splitlines() if line.strip() and "pkg_resources" not in line]
        assert bad.returncode == 2 and len(lines) == 1, bad.stderr
        assert lines[0].startswith("python -m sweeps.run: error:") and needle in lines[0], lines[0]
        assert list(bad_dir.iterdir()) == []
