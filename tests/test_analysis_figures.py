"""Tables and figures from runs recorded by a real Sacred experiment with a FileStorageObserver.

The runs hold ``results.json`` artifacts in the documented schema (docs/interfaces.md); every number
asserted below is recomputed here from those files, never copied from the code under test.
"""

import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import sacred
from sacred.observers import FileStorageObserver

from analysis._runs import RunRecord
from analysis.figures import (
    TABLE_SPECS,
    curve_data,
    evaluation_runs,
    kstep_data,
    latest_per_key,
    load_runs,
    main,
    table_latex,
    table_markdown,
    write_figures,
)
from mrcom.envs import V_MAX

ROBOTS = ("hopper", "walker", "cheetah")

# (protocol, ablation, seed, methods): table1-a has 3 seeds of mrcom and sac; table1-b one seed of mrcom
# only; table1-c/d are never run (missing); ablation wo_d for table1-a; table3-add_g with curves on
# different step grids per seed.
PLAN = [
    ("table1-a", "full", 0, ("mrcom", "sac")),
    ("table1-a", "full", 1, ("mrcom", "sac")),
    ("table1-a", "full", 2, ("mrcom", "sac")),
    ("table1-b", "full", 0, ("mrcom",)),
    ("table1-a", "wo_d", 0, ("mrcom",)),
    ("table1-a", "wo_d", 1, ("mrcom",)),
    ("table3-add_g", "full", 0, ("mrcom", "sac")),
    ("table3-add_g", "full", 1, ("mrcom", "sac")),
]


def _results(protocol, ablation, seed, methods, rng, curve_steps):
    res = {
        "format": 1,
        "protocol": protocol,
        "preset": "smoke",
        "seed": seed,
        "ablation": ablation,
        "real_steps": int(curve_steps[-1]),
        "methods": {},
        "curves": {},
        "worldmodel": {
            "k1_obs_nmse": float(rng.uniform(0.05, 0.2)),
            "k5_obs_nmse": float(rng.uniform(0.2, 0.5)),
            "k15_obs_nmse": float(rng.uniform(0.5, 1.0)),
            "reward_mse": 0.01,
            "value_equiv": 0.02,
        },
        "targets": [],
    }
    for m in methods:
        res["methods"][m] = {r: [float(x) for x in rng.uniform(10, 90, size=2)] for r in ROBOTS}
        res["curves"][m] = {
            r: {
                "real_steps": [int(s) for s in curve_steps],
                "normalized_return": [float(x) for x in rng.uniform(0, 60, size=len(curve_steps))],
            }
            for r in ROBOTS
        }
    return res


def _record(base: Path, results: dict | None, fail: bool = False, trial: int | None = None):
    ex = sacred.Experiment("analysis-fixture", save_git_info=False)
    ex.observers.append(FileStorageObserver(str(base)))
    config = {"protocol": "table1-a", "seed": 0, "preset": "smoke", "ablation": "full"}
    ex.add_config(dict(config))
    if results is not None:
        config = {k: results[k] for k in config}

    @ex.main
    def run(_run):
        if fail:
            raise RuntimeError("this run fails before writing results")
        if trial is not None:
            _run.info["optuna_trial"] = trial
        _run.log_scalar("wm/loss", 1.0, 0)
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "results.json"
            p.write_text(json.dumps(results))
            _run.add_artifact(str(p), name="results.json")

    try:
        ex.run(config_updates=config, options={"--loglevel": "ERROR"})
    except RuntimeError:
        assert fail


@pytest.fixture(scope="session")
def recorded(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs") / "sacred"
    rng = np.random.default_rng(0)
    expected = []
    # an earlier attempt at table1-a seed 0 that a later run replaces
    stale = _results("table1-a", "full", 0, ("mrcom", "sac"), rng, [100, 200])
    for m in stale["methods"]:
        for r in ROBOTS:
            stale["methods"][m][r] = [1000.0, 1000.0]  # impossible value: must never show up
    _record(base, stale)
    for i, (protocol, ablation, seed, methods) in enumerate(PLAN):
        steps = [100, 200, 300] if not (protocol == "table3-add_g" and seed == 1) else [50, 150, 250, 350]
        res = _results(protocol, ablation, seed, methods, rng, steps)
        _record(base, res)
        expected.append(res)
        if i == 2:
            _record(base, None, fail=True)
    # a lambda-search trial of table1-a seed 2, recorded last: not an evaluation seed, left out of tables
    trial = _results("table1-a", "full", 2, ("mrcom", "sac"), rng, [100, 200, 300])
    for m in trial["methods"]:
        for r in ROBOTS:
            trial["methods"][m][r] = [2000.0]
    _record(base, trial, trial=7)
    return base, expected


def _per_seed(expected, protocol, method, robot, ablation="full"):
    return [
        float(np.mean(e["methods"][method][robot]))
        for e in expected
        if e["protocol"] == protocol and e["ablation"] == ablation and method in e["methods"]
    ]


def test_load_runs_keeps_failed_run_without_results_and_dedups(recorded):
    base, expected = recorded
    everything = load_runs(base)
    runs = evaluation_runs(everything)
    assert len(everything) == len(PLAN) + 3 and len(runs) == len(PLAN) + 2
    failed = [r for r in runs if r.results is None]
    assert len(failed) == 1 and failed[0].status == "FAILED"
    kept = latest_per_key(runs)
    assert len(kept) == len(PLAN)
    a0 = [r for r in kept if r.protocol == "table1-a" and r.seed == 0 and r.ablation == "full"]
    assert a0[0].results["methods"]["mrcom"]["hopper"] != [1000.0, 1000.0]


_CELL = re.compile(r"^(\*\*)?(-?\d+\.\d)(?: \[(-?\d+\.\d), (-?\d+\.\d)\])? n=(\d+)×(\d+)(\*\*)?$")


def _parse(cell: str):
    """(bold, point, lo, hi, seeds, targets) of a table cell; lo = hi = None without an interval."""
    m = _CELL.match(cell)
    assert m, cell
    lo, hi = (None, None) if m.group(3) is None else (float(m.group(3)), float(m.group(4)))
    return bool(m.group(1)), float(m.group(2)), lo, hi, int(m.group(5)), int(m.group(6))


def _rows(section: str) -> dict[str, list[str]]:
    return {
        line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]]
        for line in section.splitlines()
        if line.startswith("| ") and "Robot" not in line
    }


def _iqm(values) -> float:
    """The 25 % trimmed mean (Agarwal et al.'s IQM), from its definition."""
    v = np.sort(np.ravel(values))
    cut = int(0.25 * len(v))
    return float(np.mean(v[cut : len(v) - cut]))


def _per_target(expected, protocol, method, robot, ablation="full"):
    """(seeds, targets) normalized returns of one cell, from the results files."""
    return np.array(
        [
            e["methods"][method][robot]
            for e in expected
            if e["protocol"] == protocol and e["ablation"] == ablation and method in e["methods"]
        ]
    )


def test_table1_markdown_has_exactly_the_recorded_numbers(recorded):
    base, expected = recorded
    runs = latest_per_key(evaluation_runs(load_runs(base)))
    md = table_markdown(runs, TABLE_SPECS["table1"], reps=2000)
    assert "1000.0" not in md
    sections = dict(re.findall(r"### .*?\(`(table1-.)`\)\n(.*?)(?=\n### |\Z)", md, flags=re.S))
    # table1-c and table1-d were never run: left out, and named on one line
    assert set(sections) == {"table1-a", "table1-b"}
    assert "Not run: `table1-c`, `table1-d`." in md
    header = sections["table1-a"].strip().splitlines()[0]
    assert header == "| Robot | SAC | Ours |"
    rows = _rows(sections["table1-a"])
    assert list(rows) == ["Hopper", "Walker", "Cheetah", "All targets"]
    for label, robots in [(r.capitalize(), [r]) for r in ROBOTS] + [("All targets", list(ROBOTS))]:
        parsed = {}
        for method, cell in zip(("sac", "mrcom"), rows[label], strict=True):
            scores = np.concatenate([_per_target(expected, "table1-a", method, r) for r in robots], axis=1)
            assert scores.shape == (3, 2 * len(robots))
            bold, point, lo, hi, n_seeds, n_targets = _parse(cell)
            assert (n_seeds, n_targets) == scores.shape
            assert point == pytest.approx(_iqm(scores), abs=0.051)
            assert lo <= point <= hi and lo >= scores.min() - 0.05 and hi <= scores.max() + 0.05
            parsed[method] = (bold, point, lo, hi)
        # bold only where the best method's interval lies above the other's
        best, other = sorted(parsed, key=lambda m: parsed[m][1], reverse=True)
        separated = parsed[best][2] > parsed[other][3]
        assert parsed[best][0] == separated and not parsed[other][0]
    # table1-b: one seed of mrcom (no interval, never bold), sac missing
    rows_b = _rows(sections["table1-b"])
    for robot in ROBOTS:
        scores = _per_target(expected, "table1-b", "mrcom", robot)
        assert rows_b[robot.capitalize()][0] == "—"
        assert rows_b[robot.capitalize()][1] == f"{_iqm(scores):.1f} n=1×2"
    all_b = np.concatenate([_per_target(expected, "table1-b", "mrcom", r) for r in ROBOTS], axis=1)
    assert rows_b["All targets"] == ["—", f"{_iqm(all_b):.1f} n=1×6"]
    assert "Seeds: 0, 1, 2." in sections["table1-a"] and "Seeds: 0." in sections["table1-b"]
    # same seed, same table; the bootstrap's seed moves the intervals only
    assert table_markdown(runs, TABLE_SPECS["table1"], reps=2000) == md
    other_seed = table_markdown(runs, TABLE_SPECS["table1"], reps=2000, seed=1)
    assert other_seed != md
    assert [_parse(c)[1] for c in _rows(other_seed.split("(`table1-a`)")[1].split("###")[0])["Hopper"]] == [
        _parse(c)[1] for c in rows["Hopper"]
    ]


def test_latex_tables_match_markdown_numbers(recorded):
    base, expected = recorded
    runs = latest_per_key(evaluation_runs(load_runs(base)))
    tex = table_latex(runs, TABLE_SPECS["table1"], reps=2000)
    md = table_markdown(runs, TABLE_SPECS["table1"], reps=2000)
    assert tex.count("\\begin{tabular}") == 1 and "\\end{table}" in tex
    # the two parts that ran, side by side; the others named in the caption
    assert "table1-c" not in tex.split("\\caption")[0] and "Not run: table1-c, table1-d." in tex
    md_a = _rows(md.split("(`table1-a`)")[1].split("###")[0])
    for robot in ROBOTS:
        line = next(x for x in tex.splitlines() if x.startswith(f"{robot.capitalize()} & "))
        for cell in md_a[robot.capitalize()]:
            assert cell.strip("*").replace("×", "$\\times$") in line
        # table1-b has no sac: one missing cell per robot
        assert len(re.findall(r"(?<=& )--(?= [&\\])", line)) == 1
    mean_line = next(line for line in tex.splitlines() if line.startswith("All targets & "))
    assert md_a["All targets"][1].strip("*").replace("×", "$\\times$") in mean_line
    # Table 3 has one part run (table3-add_g); Table 2 none, so no table at all
    tex3 = table_latex(runs, TABLE_SPECS["table3"], reps=2000)
    assert "Add-G" in tex3 and "Msk-F" not in tex3.split("\\caption")[0] and "table3-msk\\_f" in tex3
    assert table_latex(runs, TABLE_SPECS["table2"]) is None
    assert table_markdown(runs, TABLE_SPECS["table2"]) is None


def test_curves_and_kstep_numbers(recorded):
    base, expected = recorded
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


def test_write_figures_cli_on_recorded_runs(recorded, tmp_path, capsys):
    import optuna

    base, expected = recorded
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
    vals = _per_seed(expected, "table1-a", "mrcom", "cheetah", ablation="wo_d")
    assert f"{np.mean(vals):.1f}±{np.std(vals, ddof=1):.1f}" in fig3
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


def test_plain_run_folders_are_read_like_sacred_runs(tmp_path):
    """``mrcom-pipeline``'s run folders (config.json + results.json, at any depth) are runs too; their
    dataset/, adapt/ and worldmodels/ are not walked; a search trial's folder (validation split) is not
    an evaluation run."""
    rng = np.random.default_rng(0)
    work = tmp_path / "work"
    for seed in (0, 1):
        run = work / f"smoke_table1-a_full_seed{seed}"
        (run / "adapt" / "mrcom").mkdir(parents=True)
        results = _results("table1-a", "full", seed, ("mrcom", "sac"), rng, [40, 80])
        (run / "config.json").write_text(json.dumps({"protocol": "table1-a", "seed": seed}))
        (run / "results.json").write_text(json.dumps({**results, "format": 2}))
    trial = tmp_path / "lambda_search" / "s" / "trial-0000" / "work"
    trial.mkdir(parents=True)
    (trial / "config.json").write_text("{}")
    (trial / "results.json").write_text(
        json.dumps({**_results("table1-a", "full", 0, ("mrcom",), rng, [40]), "split": "validation"})
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


def test_only_trial_runs_show_the_best_trial_with_its_baselines(tmp_path, capsys):
    """After the main job (trial runs only), the default shows the study's best trial and says so."""
    import optuna

    base = tmp_path / "runs" / "sacred"
    rng = np.random.default_rng(1)
    values = {3: 20.0, 5: 60.0, 6: 40.0}  # the study's best trial (lowest value) is 3, not the highest return
    for trial, value in values.items():
        res = _results("table1-a", "full", 0, ("mrcom", "sac", "sac-utd"), rng, [100, 200])
        for r in ROBOTS:
            res["methods"]["mrcom"][r] = [value]
        _record(base, res, trial=trial)
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


def _still(target: float, v_max: float) -> float:
    """An upright robot at speed 0, from the reward's definition (docs/choices.md), not from the code."""
    s = np.sqrt(-2.0 * np.log(0.1))
    gauss = lambda margin: np.exp(-0.5 * (target / margin * s) ** 2)
    return 100.0 * (0.9 * gauss(0.07 * v_max) + 0.1 * gauss(v_max))


def test_still_column_shows_the_headroom_of_each_seeds_targets():
    """The Still reference is computed from every run's targets, aggregated like a method, never bold."""
    speeds = {0: {"hopper": [0.3, 0.5], "cheetah": [0.0]}, 1: {"hopper": [0.1, 0.2], "cheetah": [0.05]}}
    runs = []
    for seed, per_robot in speeds.items():
        targets = [
            {"robot": robot, "target_speed": v, "length_scale": 1.0, "size_scale": 1.0, "seed": seed}
            for robot, vs in per_robot.items()
            for v in vs
        ]
        methods = {"sac": {"hopper": [50.0, 50.0], "cheetah": [60.0]}}
        methods["mrcom"] = {"hopper": [40.0, 40.0], "cheetah": [70.0]}
        results = {
            "protocol": "table1-a",
            "seed": seed,
            "ablation": "full",
            "methods": methods,
            "targets": targets,
        }
        runs.append(RunRecord(str(seed), Path("."), "COMPLETED", "", {}, {}, {}, results))
    md = table_markdown(runs, TABLE_SPECS["table1"], reps=1000)
    section = md.split("(`table1-a`)")[1].split("###")[0]
    assert section.strip().splitlines()[0] == "| Robot | Still | SAC | Ours |"
    still = {r: np.array([[_still(v, V_MAX[r]) for v in speeds[s][r]] for s in (0, 1)]) for r in speeds[0]}
    rows = _rows(section)
    for robot, label in (("hopper", "Hopper"), ("cheetah", "Cheetah")):
        bold, point, lo, hi, n_seeds, n_targets = _parse(rows[label][0])
        assert not bold and (n_seeds, n_targets) == still[robot].shape
        assert point == pytest.approx(_iqm(still[robot]), abs=0.051)
        assert still[robot].min() - 0.05 <= lo <= point <= hi <= still[robot].max() + 0.05
    # cheetah's target 0 gives Still 100 on seed 0, above every method, yet the bold goes to a method:
    # the methods' constant scores give collapsed intervals, and Ours lies above SAC
    assert still["cheetah"][0, 0] == pytest.approx(100.0)
    assert rows["Cheetah"][1:] == ["60.0 [60.0, 60.0] n=2×1", "**70.0 [70.0, 70.0] n=2×1**"]
    assert rows["Hopper"][1:] == ["**50.0 [50.0, 50.0] n=2×2**", "40.0 [40.0, 40.0] n=2×2"]
    everything = np.concatenate([still["hopper"], still["cheetah"]], axis=1)
    assert _parse(rows["All targets"][0])[1] == pytest.approx(_iqm(everything), abs=0.051)
    assert "Still: an upright robot that does not move" in section
