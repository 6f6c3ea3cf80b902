"""The report over many runs: finding runs, the measuring cache, the mechanism claim, the study's sensitivity,
the real-gap helpers, and the command line's one-line errors."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analysis._bound_report import Measured, dominant_term, target_bound, trivial_bound
from analysis._bound_runs import find_runs, measure_runs, mechanism_rows
from analysis._bound_runs_report import write_runs_report
from analysis._policies import agent
from analysis._real_gap import DeterministicPopulation, discounted_return
from analysis.bound import BoundConstants, main, theorem6

BASE = BoundConstants(eps_t=0.2, eps_s=0.1, eps_pi=0.05, c_t=0.5, c_pi=1.0, r_max=1.0, gamma=0.9)


def run_info(ablation, seed, lambda_s=0.1, lambda_v=0.1, m=4, name=None):
    return {
        "name": name or f"{ablation}-{seed}",
        "ablation": ablation,
        "seed": seed,
        "preset": "smoke",
        "protocol": "table1-a",
        "lambda_var": 1.0,
        "lambda_s": lambda_s,
        "lambda_v": lambda_v,
        "m": m,
    }


def gap(g_real, g_model, eps_pi=0.05, c_pi=1.0):
    t = {"robot": "hopper", "target_speed": 0.5}
    return {"target": t, "g_real": g_real, "g_model": g_model, "gap": abs(g_real - g_model), "eps_pi": eps_pi,
            "c_pi": c_pi, "episodes": 1, "eps_pi_max": eps_pi}  # fmt: skip


def measured(ablation, seed, **const):
    run_kw = {k: const.pop(k) for k in ("lambda_s", "lambda_v", "m") if k in const}
    return Measured(BASE._replace(**const), {}, {}, (gap(5.0, 3.0),), run_info(ablation, seed, **run_kw))


def test_mechanism_rows_test_the_three_orderings():
    runs = [
        measured("full", 0, eps_t=0.2, eps_s=0.10, eps_pi=0.05),
        measured("full", 1, eps_t=0.3, eps_s=0.12, eps_pi=0.07),
        measured("wo_d", 0, eps_t=0.5),
        measured("wo_d", 1, eps_t=0.6),
        measured("wo_ls", 0, eps_s=0.11),  # between the two full seeds: holds on means, not separated
        measured("wo_ls", 1, eps_s=0.30),
        measured("wo_lv", 0, eps_pi=0.01),  # the ordering fails
        # a study trial with other weights: not part of the full group the ablations are compared with
        measured("full", 0, eps_t=0.9, lambda_s=3.0),
    ]
    rows = {r["constant"]: r for r in mechanism_rows(runs)}
    assert rows["eps_t"]["holds"] and rows["eps_t"]["separated"]
    assert rows["eps_t"]["full"][:1] == pytest.approx((0.25,)) and rows["eps_t"]["full"][2] == 2
    assert rows["eps_s"]["holds"] and not rows["eps_s"]["separated"]
    assert rows["eps_pi"]["holds"] is False and rows["eps_pi"]["ablated"][2] == 1
    # a missing ablation: no verdict
    rows = {r["constant"]: r for r in mechanism_rows(runs[:4])}
    assert rows["eps_s"]["holds"] is None and rows["eps_t"]["holds"]


def test_runs_report_tables_and_figures(tmp_path):
    runs = [measured("full", s, eps_t=0.2 + 0.1 * s, eps_s=1.0) for s in (0, 1)]
    runs += [measured("wo_d", s, eps_t=0.5 + 0.1 * s, eps_s=1.0) for s in (0, 1)]
    # a study: eps_s falls as lambda_s grows
    runs += [measured("full", 0, lambda_s=ls, eps_s=0.1 / ls) for ls in (0.01, 0.3, 1.0, 10.0)]
    written = write_runs_report(runs, tmp_path, skipped=["/x: no dataset"])
    md = (tmp_path / "bound.md").read_text()
    assert "8 runs measured, 1 skipped" in md and "- /x: no dataset" in md
    # the main table: one row per run with the bound, the real gap and 2R/(1-gamma)
    row = next(line for line in md.splitlines() if line.startswith("| full-0 |"))
    c = runs[0].constants
    assert f"| {float(theorem6(c)):.4g} | 2, 2 | 20 | " in row
    claim = (
        "| latent factorization (d) lowers ε_T | ε_T | 0.25 ± 0.07071 (n=2) | wo_d: 0.55 ± 0.07071 (n=2) |"
    )
    assert claim + " yes | yes |" in md
    # the study's sensitivity: lambda_s against eps_s has rank correlation -1
    line = next(x for x in md.splitlines() if x.startswith("| lambda_s |"))
    assert line.split("|")[4].strip() == "-1"
    for name in ("bound_vs_gap.png", "mechanism.png", "sensitivity.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    payload = json.loads((tmp_path / "bound.json").read_text())
    assert len(payload["runs"]) == 8 and len(written) == 5
    with pytest.raises(ValueError, match="none could be measured"):
        write_runs_report([], tmp_path)


def test_target_bound_dominant_term_and_trivial():
    m = measured("full", 0)
    c = target_bound(m, gap(1.0, 0.0, eps_pi=0.5, c_pi=2.0))
    assert c.eps_pi == 0.5 and c.c_pi == 2.0 and c.eps_t == BASE.eps_t
    assert dominant_term(c) == "eps_pi"
    assert dominant_term(BASE._replace(eps_t=0.9, eps_pi=0.0, eps_s=0.0)) == "eps_t"
    assert trivial_bound(BASE) == pytest.approx(20.0)


def fake_run(root, name, run_id=None):
    """A workdir with a dummy checkpoint and dataset; with ``run_id``, a Sacred run pointing at it."""
    work = root / "work" / name
    (work / "worldmodel").mkdir(parents=True)
    (work / "worldmodel" / "checkpoint.eqx").write_bytes(b"x")
    (work / "dataset").mkdir()
    (work / "dataset" / "manifest.json").write_text("{}")
    (work / "config.json").write_text(json.dumps({"ablation": "full", "seed": 0}))
    if run_id is None:
        return work
    run = root / "sacred" / str(run_id)
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"status": "COMPLETED"}))
    (run / "info.json").write_text(json.dumps({"paths": {"workdir": str(work)}}))
    return run


def test_find_runs_and_the_measuring_cache(tmp_path):
    r2, r10 = fake_run(tmp_path, "a", 2), fake_run(tmp_path, "b", 10)
    loose = fake_run(tmp_path, "c")
    (tmp_path / "sacred" / "_sources").mkdir()
    runs = find_runs([tmp_path])
    # Sacred runs in numeric order; the workdirs they point at are not listed twice
    assert runs == [r2, r10, loose]
    calls = []

    def measure(run, **options):
        calls.append(run)
        if run == loose:
            raise ValueError("no policy")
        return measured("full", 0)

    cache = tmp_path / "out" / "measured"
    done, skipped = measure_runs(runs, cache, measure, {"seed": 0}, progress=False)
    assert len(done) == 2 and skipped == [f"{loose}: no policy"] and len(calls) == 3
    done, _ = measure_runs(runs, cache, measure, {"seed": 0}, progress=False)
    assert len(calls) == 4 and done[0].constants == measured("full", 0).constants  # only the failed one again
    measure_runs(runs, cache, measure, {"seed": 1}, progress=False)  # other options: measured again
    assert len(calls) == 7
    with pytest.raises(ValueError, match="not a directory"):
        find_runs([tmp_path / "nope"])


class _Actor(eqx.Module):
    """A stand-in population actor: agent b's mode is tanh(W_b o) on its real action dims."""

    w: jax.Array

    def mode(self, obs, act_mask):
        return jnp.tanh(self.w @ obs) * act_mask


def test_discounted_return_and_deterministic_population():
    r = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 2.0]])
    np.testing.assert_allclose(discounted_return(r, 0.5), [1.75, 0.5])
    with pytest.raises(ValueError, match="gamma"):
        discounted_return(r, 1.0)
    actor = _Actor(jax.random.normal(jax.random.PRNGKey(0), (2, 3, 5)))  # 2 agents
    mask = jnp.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    pol = DeterministicPopulation(actor, mask, 3)
    obs = jax.random.normal(jax.random.PRNGKey(1), (6, 5))
    act = np.asarray(pol(jax.random.PRNGKey(2), obs))
    # rows 0-2 are agent 0's, rows 3-5 agent 1's: each its own tanh(mean) on its real dims
    for row in range(6):
        b = row // 3
        expected = np.asarray(agent(actor, b).mode(obs[row], mask[b]))
        np.testing.assert_allclose(act[row], expected, rtol=1e-5, atol=1e-6)
    assert np.all(act[:, 2] == 0) and np.all(act[3:, 1] == 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runs"], "expected at least one argument"),
        (["--runs", "NOPE"], "--runs 'NOPE': not a directory"),
        (["--runs", "."], None),
        (["--run", "x", "--episodes", "1"], "--episodes 1: must be >= 2"),
        (["--run", "x", "--gamma", "1.5"], r"--gamma 1.5: must be in \[0, 1\)"),
        (["--run", "x", "--eps-pi", "2"], "--eps-pi 2.0: must be in"),
        (["--run", "x", "--num-windows", "0"], "--num-windows 0"),
    ],
)
def test_cli_errors_are_one_line_with_exit_2(tmp_path, capsys, args, message):
    if args == ["--runs", "."]:
        args = ["--runs", str(tmp_path)]
        message = "no Sacred run or pipeline workdir found"
    with pytest.raises(SystemExit) as exc:
        main([*args, "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("python -m analysis.bound: error:") and pytest.importorskip("re").search(
        message, err
    )


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "--runs" in capsys.readouterr().out


def test_runs_without_a_policy_are_left_out_of_the_policy_statistics(tmp_path):
    with_policy = [measured("full", 0, lambda_s=ls, eps_pi=0.1 * ls) for ls in (1.0, 2.0, 3.0)]
    no_policy = Measured(BASE._replace(eps_pi=0.0, c_pi=0.0), {"eps_pi": "not measured (0 assumed)",
                         "c_pi": "not measured (0 assumed)"}, {}, (), run_info("full", 1))  # fmt: skip
    write_runs_report([*with_policy, no_policy], tmp_path)
    md = (tmp_path / "bound.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| full-1 |"))
    assert row.split("|")[9].strip() == "—" and " *" in row.split("|")[12]
    payload = json.loads((tmp_path / "bound.json").read_text())
    eps_pi = next(r for r in payload["sensitivity_at_median"] if r["constant"] == "eps_pi")
    assert eps_pi["value"] == pytest.approx(0.2)  # the median of 0.1, 0.2, 0.3; the unmeasured 0 left out
