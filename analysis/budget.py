"""``python -m analysis.budget --runs DIR``: where along the adaptation each method leaves standing still.

For every method of the runs below ``DIR`` (one protocol and preset), at each evaluation step of the
learning curve and at the final evaluation: the mean over seeds x targets of ``R - Still`` (normalized
return minus the target's Still reference) and the IQM of the still score, each with its stratified
bootstrap 95 % interval. A step where the interval lies above 0 is marked: the smallest such budget is
the one at which the method learned more than standing earns (docs/results.md, "The budget at which
learning leaves Still").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analysis._aggregate import REPS, interval_estimates, still_score
from analysis._io import atomic_write_text
from analysis._runs import RunRecord, evaluation_runs, latest_per_key, load_runs

__all__ = ["budget_rows", "budget_markdown", "main"]


def _runs_of(runs: Sequence[RunRecord]) -> list[dict]:
    results = [r.results for r in runs if r.results is not None and r.ablation == "full"]
    keys = {(res["protocol"], res["preset"]) for res in results}
    if len(keys) != 1:
        raise ValueError(f"runs hold {sorted(keys)} (protocol, preset): give a folder with exactly one")
    return sorted(results, key=lambda res: res["seed"])


def budget_rows(runs: Sequence[RunRecord], *, reps: int = REPS, seed: int = 0) -> dict[str, list[dict]]:
    """Per method, one row per evaluation step (then ``"final"``).

    Arguments:
        runs: recorded runs of one protocol and preset (``analysis.figures.load_runs``), one per seed.
        reps, seed: the bootstrap's replicates and seed.

    Returns:
        ``{method: [{"step", "margin", "score"}, ...]}`` with ``margin`` the mean of R - Still and
        ``score`` the IQM of the still score, each an ``Estimate`` over the (seeds, targets) matrix.
    """
    results = _runs_of(runs)
    still = np.array([res["still"] for res in results], dtype=np.float64)  # (seeds, targets)
    out: dict[str, list[dict]] = {}
    for method in results[0]["per_target"]:
        if not all(method in res["per_target"] for res in results):
            continue
        per = [res["per_target"][method] for res in results]
        curve = np.array([p["curve"] for p in per], dtype=np.float64)  # (seeds, steps, targets)
        points: list[tuple[int | str, np.ndarray]] = [
            (int(s), curve[:, i, :]) for i, s in enumerate(per[0]["real_steps"])
        ]
        points.append(("final", np.array([p["final"] for p in per], dtype=np.float64)))
        rows = []
        for step, returns in points:
            margin = interval_estimates({method: returns - still}, "mean", reps=reps, seed=seed)[method]
            score = interval_estimates({method: still_score(returns, still)}, "iqm", reps=reps, seed=seed)
            rows.append({"step": step, "margin": margin, "score": score[method]})
        out[method] = rows
    return out


def _cell(e) -> str:
    text = f"{e.point:+.1f} [{e.lo:+.1f}, {e.hi:+.1f}]"
    return f"**{text}**" if e.lo > 0 else text


def budget_markdown(rows: dict[str, list[dict]]) -> str:
    """The rows of `budget_rows` as one Markdown table per method (bold: interval above 0)."""
    parts = []
    for method, table in rows.items():
        parts += [f"## {method}", "", "| real steps | mean R - Still [95 %] | still-score IQM [95 %] |"]
        parts.append("|---|---|---|")
        parts += [f"| {r['step']} | {_cell(r['margin'])} | {_cell(r['score'])} |" for r in table]
        parts.append("")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m analysis.budget", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=Path, required=True, help="folder of the runs (one protocol and preset)")
    p.add_argument("--out", type=Path, default=None, help="also write the tables to this Markdown file")
    p.add_argument("--reps", type=int, default=REPS, help=f"bootstrap replicates (default: {REPS})")
    args = p.parse_args(argv)
    try:
        runs = latest_per_key(evaluation_runs(load_runs(args.runs)))
        if not runs:
            raise ValueError(f"runs={str(args.runs)!r}: no run with results.json below it")
        text = budget_markdown(budget_rows(runs, reps=args.reps))
    except (ValueError, KeyError, OSError) as e:
        print(f"analysis.budget: error: {e}", file=sys.stderr)
        return 2
    print(text)
    if args.out is not None:
        atomic_write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
