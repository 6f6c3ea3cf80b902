"""The many-target world-model table (`analysis.targets`) and the bookkeeping of its benchmark
(`benchmarks/model_targets.py`): rows land in the right (robot, target) cell, a model that predicts the
real rewards has no return gap, and intervals cover their point."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.targets import (
    load_rows,
    paired_plot,
    paired_table,
    report,
    score_matrix,
    seed_table,
    target_table,
)

ROOT = Path(__file__).resolve().parents[1]


def _bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # its sibling wm_variants, as run as a script
    spec = importlib.util.spec_from_file_location("model_targets", ROOT / "benchmarks" / "model_targets.py")
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, mod)  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _write(d: Path, seed: int, rows: list[dict]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    head = dict(preset="quick", protocol="table1-a", seed=seed, worldmodel_steps=3000, targets_per_split=4)
    head |= dict(episodes=2, policies=["zero", "random", "sac"], gamma=0.99)
    (d / "model_targets.json").write_text(json.dumps(head | {"rows": rows}))
    return d


def _rows(model: str, offset: float, seed: int) -> list[dict]:
    robots = ("hopper", "walker", "cheetah", "hopper")
    return [
        {"model": model, "split": s, "slot": i, "robot": r, "k1_obs_nmse": offset + i + 10 * seed, "gap": 1.0}
        for s in ("id", "ood")
        for i, r in enumerate(robots)
    ]


def test_score_matrix_has_a_column_per_robot_and_pads_with_nan(tmp_path):
    rows, _ = load_rows([_write(tmp_path / "s0", 0, _rows("mrcom", 0.0, 0))])
    a = score_matrix(rows, "mrcom", "id", "k1_obs_nmse")
    # robots sorted: cheetah, hopper, walker; hopper has slots 0 and 3, the others one target each
    assert a.shape == (2, 3)
    np.testing.assert_array_equal(a[:, 1], [0.0, 3.0])
    assert a[0, 0] == 2.0 and np.isnan(a[1, 0]) and a[0, 2] == 1.0 and np.isnan(a[1, 2])
    assert score_matrix(rows, "mrcom", "id", "value_equiv_rel") is None


def test_seeds_stack_as_runs_and_the_table_orders_references_last(tmp_path):
    dirs = [
        _write(tmp_path / f"s{s}", s, _rows("persistence", 5.0, s) + _rows("mrcom", 0.0, s)) for s in (0, 1)
    ]
    rows, heads = load_rows(dirs)
    assert [h["seed"] for h in heads] == [0, 1]
    assert score_matrix(rows, "mrcom", "ood", "k1_obs_nmse").shape == (4, 3)
    table = target_table(rows, "id", reps=200)
    body = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
    assert body == ["mrcom", "persistence"]
    assert "value eq." not in table  # no row has it
    text = report(dirs, reps=200)
    assert "## ID targets" in text and "## OOD targets" in text and "seeds [0, 1]" in text


def test_an_interval_covers_its_point(tmp_path):
    rng = np.random.default_rng(0)
    rows = [
        {"model": "m", "split": "id", "slot": i, "robot": ("hopper", "walker")[i % 2], "gap": float(x)}
        for i, x in enumerate(rng.normal(5.0, 1.0, 40))
    ]
    line = target_table(rows, "id", reps=500).splitlines()[2]
    point, lo, hi = (
        float(x) for x in line.split("|")[3].replace("[", "").replace("]", "").replace(",", "").split()
    )
    assert lo < point < hi and hi - lo < 2.0


def test_two_dirs_of_the_same_seed_are_refused(tmp_path):
    a, b = _write(tmp_path / "a", 0, _rows("m", 0, 0)), _write(tmp_path / "b", 0, _rows("m", 0, 0))
    with pytest.raises(ValueError, match="same preset/protocol/seed"):
        load_rows([a, b])
    with pytest.raises(ValueError, match="no model_targets.json"):
        load_rows([tmp_path / "missing"])


def test_a_model_that_predicts_the_real_rewards_has_no_gap(monkeypatch):
    bench = _bench(monkeypatch)
    rng = np.random.default_rng(1)
    targets, episodes, length = 3, 2, 7
    per = 1 + len(bench.POLICIES) * episodes
    ep = {"reward": rng.uniform(0, 1, (targets, per, length))}
    # the rollout of the rows' own real rewards; "sac" rows get the policy object, which is not used here
    rollout = lambda rows, policy: ep["reward"][rows[0], rows[1]]
    ep |= dict(
        action=np.zeros((targets, per, length, 2)),
        act_mask=np.ones((targets, 2)),
        robot_index=np.zeros(3, int),
    )

    class Sac:
        actor = None

    bench._row_policy = lambda actor, index, act_mask: None  # no SAC actor needed for this bookkeeping
    g_real, g_model = bench.policy_returns(rollout, ep, Sac(), episodes, 0.9)
    np.testing.assert_allclose(g_real, g_model)
    # g_real[t, j] is the mean return of policy j's rows 1 + j E .. of target t
    want = bench.discounted_return(ep["reward"][1, 1 + 2 * episodes : 1 + 3 * episodes], 0.9).mean()
    assert g_real[1, 2] == pytest.approx(want)


def test_variant_names_of_the_accuracy_benchmarks(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from wm_variants import Variant

    from mrcom.agents import preset
    from mrcom.worldmodel import PAPER_OPTIONS

    paper = Variant.parse("dreamerv3-paper")
    assert (paper.kind, paper.paper_options, paper.ablation) == ("dreamerv3", True, "full")
    assert Variant.parse("mrcom-paper/wo_lv").kind == "mrcom-paper"  # a registered kind, not a suffix
    cfg = preset("smoke", "table1-a")
    c = paper.config(cfg, steps=7, learning_rate=1e-3)
    assert {k: getattr(c, k) for k in PAPER_OPTIONS} == PAPER_OPTIONS
    assert (c.steps, c.learning_rate) == (7, 1e-3)
    assert Variant.parse("dreamerv3").config(cfg, steps=7).obs_skip  # the defaults: the harness options
    assert Variant.parse("mrcom/wo_c").folder("w", 3000).name == "wm_mrcom-wo_c_3000"
    for bad, match in (("cadm-paper", "applies to"), ("mrcom/wo_x", "ablation"), ("nope", "kind")):
        with pytest.raises(ValueError, match=match):
            Variant.parse(bad)


def test_an_ablation_is_paired_with_its_full_model_on_the_same_targets(tmp_path):
    # seed 0 has the full model and its ablation; seed 1 only the full model, which must not enter the pairs
    full0 = _rows("mrcom", 0.0, 0)
    abl0 = [
        r | {"model": "mrcom/wo_c", "k1_obs_nmse": r["k1_obs_nmse"] + 0.5 * (r["slot"] % 2)} for r in full0
    ]
    dirs = [_write(tmp_path / "s0", 0, full0 + abl0), _write(tmp_path / "s1", 1, _rows("mrcom", 3.0, 1))]
    rows, _ = load_rows(dirs)
    line = paired_table(rows, "id", reps=200).splitlines()[2].split("|")
    assert line[1].strip() == "mrcom/wo_c" and line[2].strip() == "4"  # seed 0's four targets only
    # differences 0, 0.5, 0, 0.5 per target: mean +0.25; the gap column is paired to exactly 0
    assert line[3].strip().startswith("+0.250 [")
    assert line[4].strip() == "+0.000 [+0.000, +0.000]"
    assert paired_table([r for r in rows if r["model"] == "mrcom"], "id") is None  # no ablation
    # a second seed whose ablation is worse on every target: each cell ends with both seeds' signs
    full1 = _rows("mrcom", 0.0, 1)
    abl1 = [r | {"model": "mrcom/wo_c", "k1_obs_nmse": r["k1_obs_nmse"] - 1.0} for r in full1]
    both, _ = load_rows([dirs[0], _write(tmp_path / "s1b", 1, full1 + abl1)])
    assert paired_table(both, "id", reps=200).splitlines()[2].split("|")[3].strip().endswith("(+ -)")
    png = paired_plot(rows, tmp_path / "paired.png", reps=50)
    assert png is not None and png.read_bytes()[:4] == b"\x89PNG"
    assert paired_plot([r for r in rows if r["model"] == "mrcom"], tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_the_seed_table_shows_each_training_seed_apart(tmp_path):
    dirs = [_write(tmp_path / f"s{s}", s, _rows("mrcom", 0.0, s)) for s in (0, 1)]
    rows, _ = load_rows(dirs)
    table = seed_table(rows, "id", estimator="mean")
    assert "seeds 0 / 1" in table
    # seed s adds 10 s to every k1 score: means 1.5 and 11.5
    assert table.splitlines()[2].split("|")[2].strip() == "1.5 / 11.5"


def test_the_benchmark_refuses_another_seeds_workdir_before_any_work(monkeypatch, tmp_path):
    mod = _bench(monkeypatch)
    _write(tmp_path, 5, _rows("mrcom", 0.0, 5))
    with pytest.raises(SystemExit, match="holds preset/protocol/seed quick/table1-a/5"):
        mod.main(["--workdir", str(tmp_path), "--preset", "quick", "--seed", "0", "--models", "mrcom"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_targets.json"]  # nothing collected
