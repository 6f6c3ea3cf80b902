"""lambda_search end to end on SQLite with the real smoke pipeline: trials <-> Sacred runs, a diverging
trial, and a killed + restarted single-worker sweep that loses no finished trial."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState, create_trial

from mrcom.agents import preset
from sweeps._objective import model_error, uninformative_until

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]

GOOD = {"lambda_var": 1.0, "lambda_s": 0.1, "lambda_v": 0.1, "m": 4}
DIVERGING = {"lambda_var": 1e38}  # the loss overflows float32: non-finite from the first step
# A one-point search space: every sampled trial runs the same programs, compiled once per test session.
POINT = ["--lambda-var", "1", "1", "--lambda-s", "0.1", "0.1", "--lambda-v", "0.1", "0.1", "--m", "4", "4"]


def search_args(shared: Path, study: str, trials: int, *extra: str, objective: str = "adapt") -> list[str]:
    return [
        "--preset", "smoke", "--objective", objective, "--study", study, "--trials", str(trials),
        "--seed", "0",
        "--collect-dir", str(shared / "collect"), "--jax-cache", str(shared / "jax_cache"),
        "--heartbeat", "1", "--grace", "4", *POINT, *extra,
    ]  # fmt: skip


def sacred_run(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    out = json.loads((run_dir / "run.json").read_text())
    out["info"] = json.loads((run_dir / "info.json").read_text()) if (run_dir / "info.json").exists() else {}
    out["config"] = json.loads((run_dir / "config.json").read_text())
    return out


def load(tmp: Path, study: str) -> optuna.Study:
    return optuna.load_study(study_name=study, storage=f"sqlite:///{tmp / 'runs' / 'optuna.db'}")


def seed_perfect_trial(tmp: Path, study_name: str) -> None:
    """A finished trial whose MrCoM reached the maximal normalized return (100) at every reported step:
    with the smoke preset's one startup trial, the median pruner must prune every real trial."""
    (tmp / "runs").mkdir()
    study = optuna.create_study(
        study_name=study_name, storage=f"sqlite:///{tmp / 'runs' / 'optuna.db'}", direction="maximize"
    )
    dists = {k: FloatDistribution(v, v, log=True) for k, v in GOOD.items() if k != "m"}
    dists["m"] = IntDistribution(4, 4)
    adapt = preset("smoke").adapt  # the adaptation is evaluated every eval_every real steps
    steps = range(adapt.eval_every, adapt.real_steps + 1, adapt.eval_every)
    perfect = create_trial(
        params=GOOD, distributions=dists, value=100.0, intermediate_values=dict.fromkeys(steps, 100.0)
    )
    study.add_trial(perfect)


def test_search_prunes_fails_and_records_every_trial(tmp_path, sweeps_run, sweeps_shared):
    study_name = "e2e"
    seed_perfect_trial(tmp_path, study_name)
    args = search_args(sweeps_shared, study_name, 2, "--enqueue", json.dumps(DIVERGING))
    proc = sweeps_run("sweeps.lambda_search", *args, cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = load(tmp_path, study_name)
    trials = study.get_trials()
    states = [t.state for t in trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED]

    # the diverging trial failed with its reason, in Optuna and in Sacred, and the sweep went on
    bad = trials[1]
    assert bad.params["lambda_var"] == pytest.approx(1e38)
    assert "diverged" in bad.user_attrs["fail_reason"] and "non-finite" in bad.user_attrs["fail_reason"]
    bad_run = sacred_run(bad.user_attrs["sacred_run_dir"])
    assert bad_run["status"] == "FAILED" and "non-finite" in bad_run["info"]["diverged"]["reason"]

    # pruned in Optuna and in Sacred, at the first evaluation of the adaptation after SAC's learning starts
    # (earlier points are not reported), with the reason; the intermediate value is the mean over the
    # target robots of MrCoM's normalized return at that step
    after = uninformative_until(preset("smoke"))
    for t in trials[2:]:
        run = sacred_run(t.user_attrs["sacred_run_dir"])
        metrics = json.loads((Path(t.user_attrs["sacred_run_dir"]) / "metrics.json").read_text())
        curves = [m for name, m in metrics.items() if name.startswith("adapt/mrcom/")]
        first = next(s for s in curves[0]["steps"] if s > after)
        assert len(curves) == 3 and all(m["steps"][-1] == first for m in curves)  # stopped at that point
        mean = sum(m["values"][-1] for m in curves) / len(curves)
        assert run["status"] == "PRUNED" and run["info"]["pruned"]["step"] == first
        assert t.intermediate_values == {first: pytest.approx(mean)}
        assert run["info"]["pruned"]["value"] == pytest.approx(mean)
        assert mean < 100.0 and "median pruner" in t.user_attrs["prune_reason"]
        losses = metrics["wm/loss"]["values"]
        assert losses and all(isinstance(v, float) for v in losses)

    # every real trial points at its Sacred run and the run points back; params reached the config
    for t in trials[1:]:
        run = sacred_run(t.user_attrs["sacred_run_dir"])
        assert str(t.user_attrs["sacred_run_id"]) == Path(t.user_attrs["sacred_run_dir"]).name
        assert run["info"]["optuna_trial"] == t.number and run["info"]["optuna_study"] == study_name
        wm = run["config"]["worldmodel"]
        assert wm["lambda_var"] == pytest.approx(t.params["lambda_var"])
        assert wm["lambda_s"] == pytest.approx(t.params["lambda_s"])
        assert wm["context_len"] == t.params["m"]

    # the report: best trial and the table, on disk and printed
    out = tmp_path / "runs" / "lambda_search" / study_name
    best = json.loads((out / "best.json").read_text())["best"]
    assert best["number"] == 0 and best["value"] == 100.0
    rows = json.loads((out / "trials.json").read_text())["trials"]
    assert [r["state"] for r in rows] == [t.state.name for t in trials]
    assert rows[1]["reason"] == bad.user_attrs["fail_reason"]
    assert (out / "trials.csv").read_text().count("\n") == 1 + len(trials)
    assert "best trial 0" in proc.stdout and "| number | state |" in proc.stdout


def test_model_search_trains_each_seed_on_its_dataset_and_scores_the_mean(
    tmp_path, sweeps_run, sweeps_shared
):
    """The default objective: each trial trains MrCoM on seeds 0 and 1 (smoke), each on its own dataset,
    with no adaptation; its value is the mean of the seeds' held-out model errors, read back here from
    each seed's metrics.json; the same parameters give the same values (deterministic per seed)."""
    study_name = "model"
    proc = sweeps_run("sweeps.lambda_search", *search_args(sweeps_shared, study_name, 2, objective="model"),
                      cwd=tmp_path, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = load(tmp_path, study_name).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
    study_dir = tmp_path / "runs" / "lambda_search" / study_name
    for t in trials:
        values = t.user_attrs["seed_values"]
        assert len(values) == 2 and t.value == pytest.approx(sum(values) / 2)
        assert t.intermediate_values == {0: pytest.approx(values[0])}  # the last seed is not reported
        run_ids = t.user_attrs["sacred_run_ids"]
        for seed, run_id, value in zip((0, 1), run_ids, values, strict=True):
            run = sacred_run(tmp_path / "runs" / "sacred" / str(run_id))
            assert run["status"] == "COMPLETED" and run["command"] == "train"
            assert run["config"]["seed"] == seed and run["info"]["optuna_trial"] == t.number
            work = study_dir / f"trial-{t.number:04d}" / f"work-seed{seed}"
            metrics = json.loads((work / "worldmodels" / "mrcom" / "metrics.json").read_text())
            assert value == pytest.approx(model_error(metrics))
            assert not (work / "adapt").exists() and not (work / "results.json").exists()  # no adaptation
            collect = Path(run["config"]["shared_collect_dir"])
            assert collect.name == ("collect" if seed == 0 else "collect-seed1")
    assert trials[0].user_attrs["seed_values"] == trials[1].user_attrs["seed_values"]  # same parameters
    seed0, seed1 = (sweeps_shared / d / "dataset" / "manifest.json" for d in ("collect", "collect-seed1"))
    assert seed0.read_text() != seed1.read_text()  # two datasets, not one read twice
    assert "minus best" in proc.stdout and "minus best" in (study_dir / "trials.md").read_text()


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"worker exited ({proc.returncode}) before {what}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_and_restarted_sqlite_sweep_loses_no_finished_trial(tmp_path, sweeps_env, sweeps_shared):
    study_name = "resume"
    cmd = [sys.executable, "-m", "sweeps.lambda_search", *search_args(sweeps_shared, study_name, 2)]
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(cmd, cwd=tmp_path, env=sweeps_env, stdout=log, stderr=subprocess.STDOUT)
    db = tmp_path / "runs" / "optuna.db"

    def second_trial_running():
        if not db.exists():
            return None
        try:
            trials = load(tmp_path, study_name).get_trials()
        except Exception:  # study not created yet
            return None
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        running = [t for t in trials if t.state == TrialState.RUNNING and t.user_attrs.get("sacred_run_dir")]
        return (done[0], running[0]) if done and running else None

    try:
        done, killed = _wait_for(second_trial_running, 600, "a finished and a running trial", first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
        log.close()

    again = subprocess.run(cmd, cwd=tmp_path, env=sweeps_env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    trials = {t.number: t for t in load(tmp_path, study_name).get_trials()}
    assert trials[done.number].state == TrialState.COMPLETE and trials[done.number].value == done.value
    done_dir = Path(done.user_attrs["sacred_run_dir"])
    results = json.loads((done_dir / "results.json").read_text())
    values = [v for vs in results["methods"]["mrcom"].values() for v in vs]
    assert done.value == pytest.approx(sum(values) / len(values))
    assert sacred_run(done_dir)["status"] == "COMPLETED" and sacred_run(done_dir)["result"] == pytest.approx(
        done.value
    )
    assert trials[killed.number].state == TrialState.FAIL
    retries = [
        t
        for t in trials.values()
        if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == killed.number
    ]
    assert len(retries) == 1 and retries[0].params == killed.params
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials.values()) == 2
    # the killed worker's trial process ended its Sacred run as FAILED when the worker died
    assert (
        _wait_for(
            lambda: sacred_run(killed.user_attrs["sacred_run_dir"])["status"] != "RUNNING",
            30,
            "the orphaned trial process to end",
        )
        is True
    )
    assert sacred_run(killed.user_attrs["sacred_run_dir"])["status"] == "FAILED"
