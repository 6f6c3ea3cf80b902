"""Tables 1-3 (Markdown and LaTeX) from runs recorded by a real Sacred experiment with a
FileStorageObserver (the ``analysis_recorded`` fixture, tests/conftest.py), and the Still column.

The runs hold ``results.json`` artifacts in the documented schema (docs/interfaces.md); every number
asserted below is recomputed here from those files, never copied from the code under test.
"""

import re
from pathlib import Path

import numpy as np
import pytest

from analysis._runs import RunRecord
from analysis.figures import (
    TABLE_SPECS,
    evaluation_runs,
    latest_per_key,
    load_runs,
    table_latex,
    table_markdown,
)
from mrcom.envs import V_MAX

ROBOTS = ("hopper", "walker", "cheetah")  # the robots of the recorded runs (tests/conftest.py)


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


def test_table1_markdown_has_exactly_the_recorded_numbers(analysis_recorded):
    base, expected = analysis_recorded
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


def test_latex_tables_match_markdown_numbers(analysis_recorded):
    base, expected = analysis_recorded
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
