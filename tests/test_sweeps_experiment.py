"""``python -m sweeps.run pipeline with smoke``: one real Sacred run of the whole smoke pipeline, recorded by
a FileStorageObserver and an SqlObserver together (the session's ``smoke_sacred_run``, which
tests/test_analysis_smoke.py reads too)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from mrcom.agents import preset

pytestmark = pytest.mark.slow


def test_pipeline_run_is_recorded(smoke_sacred_run, sweeps_shared):
    home = smoke_sacred_run  # python -m sweeps.run pipeline --file runs/sacred --sql ... with smoke table1-a
    db = home / "sacred.db"
    (run_dir,) = [p for p in (home / "runs" / "sacred").iterdir() if (p / "run.json").exists()]
    run = json.loads((run_dir / "run.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    info = json.loads((run_dir / "info.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())

    assert run["status"] == "COMPLETED" and run["command"] == "pipeline"
    # the config is PipelineConfig.to_dict() plus the run keys
    expected = preset("smoke", "table1-a").to_dict()
    assert {k: v for k, v in config.items() if k in expected} == expected
    assert config["command"] == "pipeline" and config["workdir"] == "work"

    # results.json is an artifact, identical to the pipeline's file; the run's result is MrCoM's mean
    results = json.loads((home / "work" / "results.json").read_text())
    assert json.loads((run_dir / "results.json").read_text()) == results
    assert "results.json" in run["artifacts"] and "dataset_manifest.json" in run["artifacts"]
    values = [v for vs in results["methods"]["mrcom"].values() for v in vs]
    assert run["result"] == pytest.approx(sum(values) / len(values))
    assert info["summary"]["sac"] == pytest.approx(
        sum(v for vs in results["methods"]["sac"].values() for v in vs)
        / sum(len(vs) for vs in results["methods"]["sac"].values())
    )
    # large outputs by path: the dataset is the shared one, linked into the workdir
    assert info["paths"]["dataset"]["bytes"] > 0 and info["paths"]["worldmodel"]["bytes"] > 0
    assert (home / "work" / "dataset").resolve() == (sweeps_shared / "collect" / "dataset").resolve()

    # metrics: floats with steps, for the world model, adaptation and evaluation
    assert any(name.startswith("wm/") for name in metrics)
    assert any(name.startswith("adapt/mrcom/") for name in metrics)
    for method in ("mrcom", "sac"):
        for robot in results["methods"][method]:
            name = f"eval/{method}/{robot}/normalized_return"
            assert name in metrics
    for m in metrics.values():
        assert len(m["steps"]) == len(m["values"]) > 0
        assert all(isinstance(v, float) for v in m["values"]) and all(isinstance(s, int) for s in m["steps"])

    # the SQL database holds the same run (it assigned the id the file observer reused)
    with sqlite3.connect(db) as con:
        rows = con.execute("select run_id, status, command from run").fetchall()
    assert rows == [(run_dir.name, "COMPLETED", "pipeline")]
