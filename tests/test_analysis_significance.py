"""Tables and aggregates that separate methods only where their intervals do, on constructed runs
(format 2 results with each target's Still reference), and tables that were not run left out."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from analysis._runs import RunRecord
from analysis._significance import aggregate_data, aggregate_markdown
from analysis._table_cells import separated_best, table_data
from analysis._table_layout import TABLE_SPECS, not_run
from analysis._tables import table_markdown
from analysis.figures import load_runs, write_figures

ROBOTS = ("hopper", "walker")


def _results(protocol: str, seed: int, methods: dict, still: dict) -> dict:
    """Format 2 results: ``methods`` {method: {robot: [return per target]}}, ``still`` {robot: [...]}."""
    targets = [{"robot": r, "target_speed": 0.1 * (i + 1)} for r in still for i in range(len(still[r]))]
    return {
        "format": 2,
        "protocol": protocol,
        "preset": "synthetic",
        "seed": seed,
        "ablation": "full",
        "methods": methods,
        "targets": targets,
        "still": [v for r in still for v in still[r]],
    }


def _runs(protocol: str, per_method, seeds=(0, 1, 2, 3), still=20.0) -> list[RunRecord]:
    """``per_method``: {method: f(seed, robot) -> [two returns]}; Still is ``still`` on every target."""
    runs = []
    for s in seeds:
        methods = {m: {r: list(f(s, r)) for r in ROBOTS} for m, f in per_method.items()}
        res = _results(protocol, s, methods, {r: [still, still] for r in ROBOTS})
        runs.append(RunRecord(f"{protocol}/{s}", Path("."), "COMPLETED", "", {}, {}, {}, res))
    return runs


def _cells(md: str, protocol: str) -> dict[str, list[str]]:
    section = md.split(f"(`{protocol}`)")[1].split("###")[0]
    return {
        line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]]
        for line in section.splitlines()
        if line.startswith("| ") and "Robot" not in line
    }


def test_bold_only_where_the_intervals_separate():
    rng = np.random.default_rng(0)
    noise = {(s, r): rng.normal(0.0, 1.0, 2) for s in range(4) for r in ROBOTS}
    # hopper: Ours at 80 against SAC at 30 (separated); walker: both spread over 10..90 (overlapping)
    ours = lambda s, r: (80.0 + noise[s, r]) if r == "hopper" else [10.0 + 25 * s, 90.0 - 25 * s]
    sac = lambda s, r: (30.0 + noise[s, r]) if r == "hopper" else [15.0 + 20 * s, 85.0 - 22 * s]
    runs = _runs("table1-a", {"mrcom": ours, "sac": sac})
    md = table_markdown(runs, TABLE_SPECS["table1"], reps=1000)
    cells = _cells(md, "table1-a")
    assert cells["Hopper"][0].startswith("20.0 [20.0, 20.0] n=4×2")  # Still: never bold
    assert cells["Hopper"][2].startswith("**") and not cells["Hopper"][1].startswith("**")
    assert not any(c.startswith("**") for c in cells["Walker"])
    data = table_data(runs, TABLE_SPECS["table1"], reps=1000)["table1-a"]
    hop, walk = data["hopper"], data["walker"]
    assert separated_best(hop) == "mrcom" and hop["mrcom"].estimate.lo > hop["sac"].estimate.hi
    assert separated_best(walk) is None and walk["mrcom"].estimate.lo <= walk["sac"].estimate.hi
    # the same gap from a single seed has no interval and is never bold
    one = table_data(_runs("table1-a", {"mrcom": ours, "sac": sac}, seeds=(0,)), TABLE_SPECS["table1"])
    assert separated_best(one["table1-a"]["hopper"]) is None
    single = table_markdown(_runs("table1-a", {"mrcom": ours, "sac": sac}, seeds=(0,)), TABLE_SPECS["table1"])
    rows = _cells(single, "table1-a")
    assert all("**" not in c and "[" not in c for row in rows.values() for c in row)


def test_still_score_is_zero_at_still_and_profiles_fall_with_tau():
    runs = _runs(
        "table2-a",
        {"mrcom": lambda s, r: [20.0, 20.0], "sac": lambda s, r: [60.0, 20.0 + 10 * s]},
        still=20.0,
    )
    agg = aggregate_data(runs, "table2-a", reps=500)
    assert agg is not None and agg.score == "still"
    e = agg.iqm["mrcom"]
    assert e.point == e.lo == e.hi == 0.0 and (e.runs, e.tasks, e.n) == (4, 4, 16)
    # sac: (60 - 20) / 80 = 50 on half its targets, 0 .. 37.5 on the others
    assert agg.mean["sac"].point == pytest.approx(np.mean([50.0] * 8 + [0.0, 12.5, 25.0, 37.5] * 2))
    assert agg.improvement[("sac", "mrcom")].point > 0.5
    for prof in agg.profiles.values():
        assert np.all(np.diff(prof.fraction) <= 0) and np.all(np.diff(prof.lo) <= 0)
        assert np.all(np.diff(prof.hi) <= 0)
    md = aggregate_markdown(runs, reps=500)
    assert md is not None and "## `table2-a`: still score" in md
    assert "| Ours | 0.0 [0.0, 0.0] | 0.0 [0.0, 0.0] | 16 (4 × 4) |" in md


def test_targets_without_headroom_get_no_still_score():
    runs = _runs("table2-a", {"mrcom": lambda s, r: [50.0, 90.0]}, still=99.5)
    agg = aggregate_data(runs, "table2-a", reps=200)
    assert agg is not None and agg.no_headroom == 16 and agg.iqm["mrcom"].n == 0
    assert "16 (method, seed, target) cells without headroom left out." in aggregate_markdown(runs, reps=200)


def test_tables_not_run_are_left_out_and_listed_once(tmp_path):
    runs_dir = tmp_path / "runs"
    for s in (0, 1):
        res = _results(
            "table2-a",
            s,
            {"mrcom": {r: [30.0 + s, 40.0] for r in ROBOTS}, "sac": {r: [10.0, 12.0 + s] for r in ROBOTS}},
            {r: [5.6, 5.6] for r in ROBOTS},
        )
        run = runs_dir / f"synthetic_table2-a_full_seed{s}"
        run.mkdir(parents=True)
        (run / "config.json").write_text("{}")
        (run / "results.json").write_text(json.dumps(res))
    out = tmp_path / "figures"
    write_figures(runs_dir, out, reps=200)
    folder = out / "synthetic"
    assert sorted(p.name for p in folder.glob("table*")) == ["table2.md", "table2.tex"]
    assert (folder / "profile_table2-a.png").read_bytes()[:4] == b"\x89PNG"
    index = (folder / "index.md").read_text()
    missing = [line for line in index.splitlines() if "not run" in line]
    assert missing == [
        "- Tables not run (left out): table1 (every part), table2-b, table2-c, table2-d, table3 (every part)."
    ]
    t2 = (folder / "table2.md").read_text()
    assert t2.count("Not run:") == 1 and "Not run: `table2-b`, `table2-c`, `table2-d`." in t2
    assert re.findall(r"\(`(table2-.)`\)", t2) == ["table2-a"]
    assert "—" not in t2  # no grid of missing cells
    # mrcom 30..41 against sac 10..13 on every target: separated in every row
    assert all(c[-1].startswith("**") for c in _cells(t2, "table2-a").values())
    assert not_run(load_runs(runs_dir)) == [
        "table1 (every part)",
        "table2-b",
        "table2-c",
        "table2-d",
        "table3 (every part)",
    ]
