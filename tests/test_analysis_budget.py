"""analysis.budget on the committed 20000-step run folders (docs/scores/adaptation_quick20k_table1-a):
every number asserted is recomputed here from the runs' results.json, never copied from the code."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from analysis.budget import budget_rows, main
from analysis.figures import evaluation_runs, latest_per_key, load_runs

ROOT = Path(__file__).resolve().parents[1] / "docs/scores/adaptation_quick20k_table1-a"


def _results(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.glob("*/results.json"))]


def test_margins_are_the_mean_of_return_minus_still_at_every_step():
    rows = budget_rows(latest_per_key(evaluation_runs(load_runs(ROOT))), reps=200)
    res = _results(ROOT)
    still = np.array([r["still"] for r in res])
    assert set(rows) == {"mrcom", "cadm", "sac", "sac-utd"}
    for method, table in rows.items():
        steps = res[0]["per_target"][method]["real_steps"]
        assert [r["step"] for r in table] == [*steps, "final"]
        final = np.array([r["per_target"][method]["final"] for r in res])
        assert table[-1]["margin"].point == pytest.approx(float(np.mean(final - still)))
        assert table[-1]["margin"].lo <= table[-1]["margin"].point <= table[-1]["margin"].hi
        curve = np.array([r["per_target"][method]["curve"] for r in res])
        assert table[0]["margin"].point == pytest.approx(float(np.mean(curve[:, 0, :] - still)))


def test_a_method_exactly_above_still_is_marked_and_one_below_is_not(tmp_path, capsys):
    root = tmp_path / "runs"
    shutil.copytree(ROOT, root)
    for f in root.glob("*/results.json"):
        r = json.loads(f.read_text())
        still = r["still"]
        r["per_target"]["sac"]["final"] = [s + 10.0 for s in still]
        r["per_target"]["mrcom"]["final"] = [s - 10.0 for s in still]
        f.write_text(json.dumps(r))
    assert main(["--runs", str(root), "--reps", "200", "--out", str(tmp_path / "b.md")]) == 0
    text = (tmp_path / "b.md").read_text()
    sac = text.split("## sac\n")[1].split("##")[0]
    mrcom = text.split("## mrcom\n")[1].split("##")[0]
    assert "| final | **+10.0 [+10.0, +10.0]** |" in sac
    assert "| final | -10.0 [-10.0, -10.0] |" in mrcom
    assert main(["--runs", str(tmp_path / "none")]) == 2
    assert "analysis.budget: error:" in capsys.readouterr().err
