"""Figures and the figures CLI from runs recorded by a real Sacred experiment with a FileStorageObserver
(the ``analysis_recorded`` fixture, tests/conftest.py); the tables' numbers: test_analysis_tables.py.
As there, every number asserted below is recomputed from the runs' ``results.json`` artifacts (in the
documented schema, docs/interfaces.md), never copied from the code under test.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from analysis._tables import format_cell
from analysis.figures import (
    ablation_data,
    curve_data,
    evaluation_runs,
    kstep_data,
    latest_per_key,
    load_runs,
    main,
    write_figures,
)


def _per_seed(expected, protocol, method, robot, ablation="full"):
    return [
        float(np.mean(e["methods"][method][robot]))
        for e in expected
        if e["protocol"] == protocol and e["ablation"] == ablation and method in e["methods"]
    ]


def test_load_runs_keeps_failed_run_without_results_and_dedups(analysis_recorded):
    base, expected = analysis_recorded
    everything = load_runs(base)
    runs = evaluation_runs(everything)
    assert len(everything) == len(expected) + 3 and len(runs) == len(expected) + 2
    failed = [r for r in runs if r.results is None]
    assert len(failed) == 1 and failed[0].status == "FAILED"
    kept = latest_per_key(runs)
    assert len(kept) == len(expected)
    a0 = [r for r in kept if r.protocol == "table1-a" and r.seed == 0 and r.ablation == "full"]
    assert a0[0].results["methods"]["mrcom"]["hopper"] != [1000.0, 1000.0]


def test_curves_and_kstep_numbers(analysis_recorded):
    base, expected = analysis_recorded
    runs = latest_per_key(evaluation_runs(load_runs(base)))
    d = curve_data(runs, "table1-a", "mrcom", "walker")
    stack = np.array(
        [
            e["curves"]["mrcom"]["walker"]["normalized_return"]
            for e in expected
            if e["protocol"] == "table1-a" and e["ablation"] == "full"
        ]
    )
    np.testing.assert_allclose(d["real_steps"], [100, 200, 300])
    np.testing.assert_allclose(d["mean"], stack.mean(0))
    np.testing.assert_allclose(d["std"], stack.std(0, ddof=1))
    # the 95 % band of the mean over seeds x targets holds the mean; no targets recorded: no Still line
    assert np.all(d["lo"] <= d["mean"] + 1e-9) and np.all(d["mean"] <= d["hi"] + 1e-9)
    assert np.all(d["lo"] >= stack.min(0) - 1e-9) and np.all(d["hi"] <= stack.max(0) + 1e-9)
    assert np.isnan(d["still"])
    # different grids: interpolated onto the union of steps inside the common range [100, 300]
    g = curve_data(runs, "table3-add_g", "sac", "hopper")
    np.testing.assert_allclose(g["real_steps"], [100, 150, 200, 250, 300])
    e0, e1 = (e for e in expected if e["protocol"] == "table3-add_g")
    c0, c1 = e0["curves"]["sac"]["hopper"], e1["curves"]["sac"]["hopper"]
    at150 = [np.interp(150, c0["real_steps"], c0["normalized_return"]), c1["normalized_return"][1]]
    assert g["mean"][1] == pytest.approx(np.mean(at150))
    assert curve_data(runs, "table1-c", "mrcom", "walker") is None
    k = kstep_data(runs, "table1-a", "wo_d")
    wm = [e["worldmodel"] for e in expected if e["protocol"] == "table1-a" and e["ablation"] == "wo_d"]
    np.testing.assert_array_equal(k["k"], [1, 5, 15])
    np.testing.assert_allclose(k["mean"], [np.mean([w[f"k{i}_obs_nmse"] for w in wm]) for i in (1, 5, 15)])


def test_write_figures_cli_on_recorded_runs(analysis_recorded, tmp_path, capsys):
    import optuna

    base, expected = analysis_recorded
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(
        study_name="lambda", storage=storage, sampler=optuna.samplers.RandomSampler(0)
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(
        lambda t: (
            (t.suggest_float("lambda_s", 0.01, 1.0, log=True) - 0.1) ** 2 + 0.01 * t.suggest_int("m", 4, 16)
        ),
        n_trials=6,
    )
    out = tmp_path / "figures"
    args = ["--runs", str(base), "--out", str(out), "--study-storage", storage, "--study-name", "lambda"]
    assert main(args + ["--reps", "500"]) == 0
    smoke = out / "smoke"
    for name in (
        "table1.md",
        "table1.tex",
        "table3.tex",
        "aggregate.md",
        "profile_table1-a.png",
        "profile_table1-b.png",
        "profile_table3-add_g.png",
        "figure3_ablation.png",
        "figure3_ablation.md",
        "curves_table1-a.png",
        "curves_table3-add_g.png",
        "wm_kstep.png",
        "index.md",
    ):
        assert (smoke / name).is_file(), name
    assert "2000.0" not in (smoke / "table1.md").read_text()
    out2 = tmp_path / "with_trials"
    write_figures(base, out2, include_study_runs=True, reps=500)
    # with the trial included it replaces seed 2 of table1-a (the latest run of that key wins); its one
    # target per robot against the other seeds' two leaves it out of the cells, and the table says so
    with_trials = (out2 / "smoke" / "table1.md").read_text()
    assert "Seeds: 0, 1 (left out, another number of targets: 2)." in with_trials
    assert "n=2×2" in with_trials and "n=3×2" not in with_trials.split("(`table1-b`)")[0]
    agg_trials = (out2 / "smoke" / "aggregate.md").read_text()
    assert "Left out (another number of targets than the other seeds): seeds 2." in agg_trials
    for png in list(smoke.glob("*.png")) + [out / "optuna_history.png", out / "optuna_importances.png"]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    # table2 was never run: not written, and one line of the index names every part left out
    assert not (smoke / "table2.md").exists() and not (smoke / "table2.tex").exists()
    index_lines = [x for x in (smoke / "index.md").read_text().splitlines() if "not run" in x]
    assert index_lines == [
        "- Tables not run (left out): table1-c, table1-d, table2 (every part), table3-add_d, "
        "table3-msk_r, table3-msk_f."
    ]
    agg = (smoke / "aggregate.md").read_text()
    # no targets recorded in these runs: the aggregates fall back to the normalized return
    assert "## `table1-a`: normalized return" in agg and "| P(row > column) | SAC | Ours |" in agg
    assert "## `table1-b`" in agg and "## `table3-add_g`" in agg and "table2" not in agg
    fig3 = (smoke / "figure3_ablation.md").read_text()
    # the ablation cell is the table's: IQM over seeds x targets with its interval, from the same runs
    cell = ablation_data(latest_per_key(evaluation_runs(load_runs(base))), reps=500)["table1-a"]["cheetah"]
    assert format_cell(cell["wo_d"]) in fig3 and cell["wo_d"].has_interval
    vals = _per_seed(expected, "table1-a", "mrcom", "cheetah", ablation="wo_d")
    assert min(vals) <= cell["wo_d"].estimate.point <= max(vals)
    trials = (out / "optuna_trials.md").read_text()
    assert "lambda_s" in trials and "| m |" in trials.replace(" m |", "| m |")
    assert "## Parameter importances" in trials
    assert "figure3_ablation.png" in (smoke / "index.md").read_text()
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal's width
    assert exc.value.code == 0 and "--runs" in help_text and "--reps" in help_text
    assert "aggregate.md" in help_text and "profile_<protocol>.png (performance profiles" in help_text


def test_bad_inputs(tmp_path, capsys):
    with pytest.raises(ValueError, match="runs="):
        load_runs(tmp_path / "nope")
    with pytest.raises(SystemExit) as exc:
        main(["--runs", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert exc.value.code == 2 and "not a directory" in capsys.readouterr().err
    with pytest.raises(ValueError, match="format="):
        write_figures(tmp_path, tmp_path / "o", formats=("gif",))
    d = tmp_path / "1"
    d.mkdir()
    (d / "results.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="format=99"):
        load_runs(tmp_path)


def test_plain_run_folders_are_read_like_sacred_runs(tmp_path, analysis_results):
    """``mrcom-pipeline``'s run folders (config.json + results.json, at any depth) are runs too; their
    dataset/, adapt/ and worldmodels/ are not walked; a search trial's folder (validation split) is not
    an evaluation run."""
    rng = np.random.default_rng(0)
    work = tmp_path / "work"
    for seed in (0, 1):
        run = work / f"smoke_table1-a_full_seed{seed}"
        (run / "adapt" / "mrcom").mkdir(parents=True)
        results = analysis_results("table1-a", "full", seed, ("mrcom", "sac", "mrcom-paper"), rng, [40, 80])
        (run / "config.json").write_text(json.dumps({"protocol": "table1-a", "seed": seed}))
        (run / "results.json").write_text(json.dumps({**results, "format": 2}))
    trial = tmp_path / "lambda_search" / "s" / "trial-0000" / "work"
    trial.mkdir(parents=True)
    (trial / "config.json").write_text("{}")
    (trial / "results.json").write_text(
        json.dumps({**analysis_results("table1-a", "full", 0, ("mrcom",), rng, [40]), "split": "validation"})
    )
    runs = load_runs(tmp_path)
    assert [r.run_id for r in runs] == [
        "lambda_search/s/trial-0000/work",
        "work/smoke_table1-a_full_seed0",
        "work/smoke_table1-a_full_seed1",
    ]
    assert [r.seed for r in evaluation_runs(runs)] == [0, 1]
    assert [r.run_id for r in load_runs(work / "smoke_table1-a_full_seed1")] == ["smoke_table1-a_full_seed1"]
    written = write_figures(work, tmp_path / "figures", reps=500)
    table = (tmp_path / "figures" / "smoke" / "table1.md").read_text()
    assert any(p.name == "table1.md" for p in written) and "n=2×2" in table
    # the paper's MrCoM (mrcom-paper) has its own column, right before Ours
    assert "| Robot | SAC | Ours (paper) | Ours |" in table.splitlines()


def test_only_trial_runs_show_the_best_trial_with_its_baselines(
    tmp_path, capsys, analysis_results, analysis_record
):
    """After the main job (trial runs only), the default shows the study's best trial and says so."""
    import optuna

    base = tmp_path / "runs" / "sacred"
    rng = np.random.default_rng(1)
    values = {3: 20.0, 5: 60.0, 6: 40.0}  # the study's best trial (lowest value) is 3, not the highest return
    for trial, value in values.items():
        res = analysis_results("table1-a", "full", 0, ("mrcom", "sac", "sac-utd"), rng, [100, 200])
        res["methods"]["mrcom"] = {r: [value] for r in res["methods"]["mrcom"]}  # every robot
        analysis_record(base, res, trial=trial)
    out = tmp_path / "figures"
    # no study: the trial with the highest MrCoM return (5), with sac and sac-utd beside it
    write_figures(base, out, reps=500)
    table = (out / "smoke" / "table1.md").read_text()
    assert "60.0" in table and "40.0" not in table and "SAC" in table
    index = (out / "index.md").read_text()
    assert "highest MrCoM return (number 5" in index and "no study found" in index
    assert "runs used:" in capsys.readouterr().err
    # the study next to the runs (<runs>/../optuna.db) decides: minimize -> trial 3
    storage = f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="minimize")
    for trial, value in sorted(values.items()):
        while len(study.trials) < trial:
            study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
        study.add_trial(optuna.trial.create_trial(value=value, params={}, distributions={}))
    write_figures(base, out, reps=500)
    assert "20.0" in (out / "smoke" / "table1.md").read_text()
    assert "best trial (number 3, value 20.00) of study 's'" in (out / "index.md").read_text()
    # a missing study database is an error and is not created
    missing = tmp_path / "none.db"
    with pytest.raises(ValueError, match="no such SQLite file"):
        write_figures(base, out, study_storage=f"sqlite:///{missing}")
    assert not missing.exists()


def test_committed_adaptation_scores_still_load(tmp_path):
    """The run folders committed under docs/scores (docs/results.md, section 4) stay readable by the
    current reader: three seeds, every method with a final return per target beside that target's
    Still, and the aggregate table written from them."""
    root = Path(__file__).resolve().parents[1] / "docs/scores/adaptation_quick_table1-a"
    runs = latest_per_key(evaluation_runs(load_runs(root)))
    assert sorted(r.seed for r in runs) == [0, 1, 2]
    for r in runs:
        res = r.results
        assert res is not None and res["protocol"] == "table1-a"
        assert len(res["still"]) == len(res["targets"]) == 3
        for method in ("mrcom", "mrcom-paper", "cadm", "dreamerv3", "mamba", "mow", "sac", "sac-utd"):
            final = res["per_target"][method]["final"]
            assert len(final) == 3 and all(0.0 <= v <= 100.0 for v in final)
    assert main(["--runs", str(root), "--out", str(tmp_path), "--reps", "200"]) == 0
    agg = (tmp_path / "quick" / "aggregate.md").read_text()
    assert "9 (3 × 3)" in agg and "Ours (paper)" in agg


def test_a_model_search_is_shown_by_its_study(tmp_path):
    """After the main job (objective model) the runs are world-model trainings without returns: the
    tables are left out and the study's plots and trial table come from ``<runs>/../optuna.db``."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    run = tmp_path / "runs" / "sacred" / "1"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"status": "COMPLETED", "command": "train"}))
    (run / "info.json").write_text(json.dumps({"optuna_trial": 0, "optuna_study": "s"}))
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'runs' / 'optuna.db'}")
    dist = {
        "lambda_s": FloatDistribution(0.01, 1.0, log=True),
        "lambda_v": FloatDistribution(0.1, 30, log=True),
    }
    for i, value in enumerate((0.30, 0.25, 0.28)):
        params = {"lambda_s": 0.1 * (i + 1), "lambda_v": 1.0 + i}
        study.add_trial(create_trial(params=params, distributions=dist, value=value))
    out = tmp_path / "figures"
    written = write_figures(tmp_path / "runs" / "sacred", out, reps=500)
    assert {p.name for p in written} >= {"optuna_history.png", "optuna_trials.md", "index.md"}
    index = (out / "index.md").read_text()
    assert "trained world models only" in index and "No run with results." in index
    assert "0.25" in (out / "optuna_trials.md").read_text()
