"""analysis on a real run: ``python -m sweeps.run pipeline with smoke table1-a`` recorded by Sacred, then
``analysis.figures`` (tables hold exactly its numbers, every other cell missing) and ``analysis.bound``
(constants measured from its checkpoint, dataset and adapted policies)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from analysis.bound import BoundConstants, theorem6
from analysis.bound import main as bound_main
from analysis.figures import main as figures_main
from mrcom.envs import Scenario, still_upright_return

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(smoke_sacred_run):
    """(folder of the Sacred runs, the run folder) of the session's smoke pipeline run (tests/conftest)."""
    runs = smoke_sacred_run / "runs" / "sacred"
    (run_dir,) = [d for d in runs.iterdir() if d.name.isdigit()]
    return runs, run_dir


def _iqm(values) -> float:
    """The 25 % trimmed mean (Agarwal et al.'s IQM), from its definition."""
    v = np.sort(np.ravel(values))
    cut = int(0.25 * len(v))
    return float(np.mean(v[cut : len(v) - cut]))


def test_tables_and_figures_of_a_smoke_run(smoke_run, tmp_path):
    runs, run_dir = smoke_run
    results = json.loads((run_dir / "results.json").read_text())
    out = tmp_path / "figures"
    assert figures_main(["--runs", str(runs), "--out", str(out), "--reps", "500"]) == 0
    smoke = out / "smoke"
    md = (smoke / "table1.md").read_text()
    section = re.search(r"\(`table1-a`\)\n(.*?)(?=\n### |\Z)", md, flags=re.S).group(1)
    header = section.strip().splitlines()[0]
    labels = {"sac": "SAC", "sac-utd": "SAC (MBPO's UTD)", "mrcom": "Ours"}
    methods = [m for m in labels if m in results["methods"]]
    assert header == "| Robot | Still | " + " | ".join(labels[m] for m in methods) + " |"
    recorded = [
        r for r in ("hopper", "walker", "cheetah") if any(results["methods"][m].get(r) for m in methods)
    ]
    for robot in recorded:
        row = next(line for line in section.splitlines() if line.startswith(f"| {robot.capitalize()} "))
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        # one seed: the IQM over the robot's targets, no interval, never bold
        targets = [Scenario(**t) for t in results["targets"] if t["robot"] == robot]
        still = still_upright_return(targets)
        assert cells[0] == f"{_iqm(still):.1f} n=1×{len(targets)}"
        for m, cell in zip(methods, cells[1:], strict=True):
            returns = results["methods"][m].get(robot)
            assert cell == ("—" if not returns else f"{_iqm(returns):.1f} n=1×{len(returns)}")
    # the other sub-tables and Tables 2-3 were never run: left out and named
    assert re.findall(r"\(`(table1-.)`\)", md) == ["table1-a"]
    assert "Not run: `table1-b`, `table1-c`, `table1-d`." in md
    assert not (smoke / "table2.md").exists() and not (smoke / "table3.md").exists()
    index = (smoke / "index.md").read_text()
    assert "Tables not run (left out): table1-b, table1-c, table1-d, table2 (every part), table3" in index
    assert "## `table1-a`: still score" in (smoke / "aggregate.md").read_text()
    assert (smoke / "profile_table1-a.png").stat().st_size > 5000
    assert (smoke / "curves_table1-a.png").stat().st_size > 5000
    assert (smoke / "wm_kstep.png").stat().st_size > 5000
    assert "Figure 3: no ablation runs" in index


def test_bound_of_a_smoke_run(smoke_run, tmp_path):
    _, run_dir = smoke_run
    import optuna

    # a study whose two complete trials point at the smoke run (by id under --runs, and by directory),
    # and a third without a run (skipped)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage)
    for i, attrs in enumerate([{"sacred_run_id": int(run_dir.name)}, {"sacred_run_dir": str(run_dir)}, {}]):
        t = study.ask()
        t.suggest_float("lambda_s", 0.01, 1.0, log=True)
        for key, value in attrs.items():
            t.set_user_attr(key, value)
        study.tell(t, float(i))
    out = tmp_path / "bound"
    args = ["--run", str(run_dir), "--out", str(out), "--num-windows", "8"]
    args += ["--study-storage", storage, "--study-name", "s", "--runs", str(run_dir.parent)]
    assert bound_main(args) == 0
    study_md = (out / "study_bound.md").read_text()
    assert "2 trials measured." in study_md and (out / "study_bound.png").is_file()
    payload = json.loads((out / "bound.json").read_text())
    k, src = payload["constants"], payload["sources"]
    assert 0 < k["eps_t"] <= 1 and k["eps_s"] > 0 and k["c_t"] > 0
    # the policy constants come from the run's adapted MrCoM and SAC policies
    assert 0 < k["eps_pi"] <= 1 and k["c_pi"] > 0 and "adapted" in src["eps_pi"]
    assert 0 < k["r_max"] <= 1.0  # DMC-style rewards lie in [0, 1]
    config = json.loads((run_dir / "config.json").read_text())
    assert k["gamma"] == pytest.approx(config["worldmodel"]["gamma"])
    assert payload["bound"] == pytest.approx(float(theorem6(BoundConstants(**k))), rel=1e-5)
    assert Path(out / "bound.png").read_bytes()[:4] == b"\x89PNG"
