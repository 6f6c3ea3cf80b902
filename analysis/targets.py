"""World models on many new targets, aggregated: the table of ``benchmarks/model_targets.py``.

``python -m analysis.targets DIR [DIR ...] [--out FILE.md]`` reads ``DIR/model_targets.json`` (one
pipeline seed each) and prints, for the ID and the OOD targets, each model's k = 1 / 5 / 15
observation NMSE, the return gap 100 |G_real - G_model| / G_max (Theorem 6's left-hand side, in % of
the largest discounted return) and, for MrCoM, the value-equivalence error over the meta-value's
variance. Lower is better everywhere; persistence (k-step only) and the MLP-ensemble delta model are
the references.

Each cell is the IQM (``--estimator mean``: the mean) over seeds x targets with its stratified
bootstrap 95 % interval (``analysis._aggregate``): the strata are the robots, the runs of a stratum
are its targets of every seed (targets of one robot are exchangeable draws of one distribution), so
one seed already has an interval over its targets. ``n`` is the number of scores.

Two more views answer "would another training seed keep this difference?":

- ``--by-seed``: each model's point estimate per seed, so the spread between training seeds shows
  beside the intervals over targets.
- ``--paired``: every ablation ``<model>/<ablation>`` against its full ``<model>`` on the same (seed,
  target) cells: the estimate of the per-target difference (ablation minus full) with its stratified
  bootstrap interval. Both were scored on the same targets, episodes and policies, so the pairing
  removes the targets' own spread; an interval that excludes 0 is a difference the targets agree on.
  With several seeds each cell ends with the sign of every seed's own mean difference, "(+ + -)".
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from analysis._aggregate import REPS, Estimate, interval_estimates, iqm, mean
from analysis._io import atomic_savefig, atomic_write_text

__all__ = [
    "METRICS",
    "load_rows",
    "score_matrix",
    "target_table",
    "paired_estimates",
    "paired_table",
    "paired_plot",
    "seed_signs",
    "seed_table",
    "report",
    "rows_report",
    "main",
]

# (row key, column title) of the table, in order
METRICS = (
    ("k1_obs_nmse", "k=1"),
    ("k5_obs_nmse", "k=5"),
    ("k15_obs_nmse", "k=15"),
    ("gap", "gap %"),
    ("value_equiv_rel", "value eq."),
)
REFERENCES = ("persistence", "mlp")


def load_rows(dirs: Sequence[str | Path]) -> tuple[list[dict], list[dict]]:
    """(rows of every seed, each seed's header) from ``DIR/model_targets.json``; rows get their seed."""
    rows, heads = [], []
    for d in dirs:
        f = Path(d) / "model_targets.json"
        if not f.is_file():
            raise ValueError(f"dir={str(d)!r}: no model_targets.json (run benchmarks/model_targets.py)")
        doc = json.loads(f.read_text())
        heads.append({k: v for k, v in doc.items() if k != "rows"})
        rows += [r | {"seed": doc["seed"]} for r in doc["rows"]]
    keys = {(h["preset"], h["protocol"], h["seed"]) for h in heads}
    if len(keys) < len(heads):
        raise ValueError(f"dirs={list(map(str, dirs))}: two of them hold the same preset/protocol/seed")
    return rows, heads


def score_matrix(rows: Sequence[dict], model: str, split: str, metric: str) -> np.ndarray | None:
    """(runs, robots) matrix of ``metric``: a column per robot, its targets of every seed as runs (NaN
    pads a robot with fewer); None when no row has the metric."""
    cells: dict[str, list[float]] = {}
    for r in rows:
        if r["model"] == model and r["split"] == split and metric in r:
            cells.setdefault(r["robot"], []).append(float(r[metric]))
    if not cells:
        return None
    height = max(len(v) for v in cells.values())
    cols = [v + [np.nan] * (height - len(v)) for _, v in sorted(cells.items())]
    return np.asarray(cols, np.float64).T


def _cell(e: Estimate | None, sign: bool = False) -> str:
    if e is None:
        return "-"
    digits = 3 if max(abs(e.point), abs(e.lo), abs(e.hi)) < 10 else 1
    f = f"+.{digits}f" if sign else f".{digits}f"
    return f"{e.point:{f}} [{e.lo:{f}}, {e.hi:{f}}]"


def _estimate(a: np.ndarray | None, key: str, estimator: str, reps: int) -> Estimate | None:
    return None if a is None else interval_estimates({key: a}, estimator, reps=reps)[key]


def _metrics(rows: Sequence[dict], split: str) -> list[tuple[str, str]]:
    return [(k, title) for k, title in METRICS if any(k in r for r in rows if r["split"] == split)]


def _models(rows: Sequence[dict], split: str) -> list[str]:
    models = list(dict.fromkeys(r["model"] for r in rows if r["split"] == split))
    return [m for m in models if m not in REFERENCES] + [m for m in REFERENCES if m in models]


def _header(first: str, metrics: Sequence[tuple[str, str]]) -> list[str]:
    return [
        f"| {first} | n | " + " | ".join(title for _, title in metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]


def target_table(rows: Sequence[dict], split: str, estimator: str = "iqm", reps: int = REPS) -> str:
    """A Markdown table of every model (references last) on the ``split`` targets."""
    metrics = _metrics(rows, split)
    lines = _header("model", metrics)
    for m in _models(rows, split):
        cells, n = [], 0
        for k, _ in metrics:
            e = _estimate(score_matrix(rows, m, split, k), m, estimator, reps)
            n = max(n, 0 if e is None else e.n)
            cells.append(_cell(e))
        lines.append(f"| {m} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired_matrix(rows: Sequence[dict], model: str, base: str, split: str, metric: str) -> np.ndarray | None:
    """(runs, robots) matrix of ``metric`` of ``model`` minus ``base`` on the cells both have (a cell is
    a (seed, robot, slot) target); None when they share none."""

    def cells(m: str) -> dict[tuple, float]:
        return {
            (r["seed"], r["robot"], r["slot"]): float(r[metric])
            for r in rows
            if r["model"] == m and r["split"] == split and metric in r
        }

    a, b = cells(model), cells(base)
    diff = [
        {"model": "d", "split": split, "robot": k[1], metric: a[k] - b[k]}
        for k in sorted(a.keys() & b.keys())
    ]
    return score_matrix(diff, "d", split, metric) if diff else None


def paired_estimates(
    rows: Sequence[dict], split: str, estimator: str = "mean", reps: int = REPS
) -> dict[str, dict[str, Estimate | None]]:
    """``{ablation: {metric: estimate of (ablation minus full)}}`` for every ablation ``<model>/<x>``
    whose full ``<model>`` is scored on the ``split`` targets (in table order)."""
    models = _models(rows, split)
    pairs = [(m, m.split("/")[0]) for m in models if "/" in m and m.split("/")[0] in models]
    return {
        m: {
            k: _estimate(paired_matrix(rows, m, base, split, k), m, estimator, reps)
            for k, _ in _metrics(rows, split)
        }
        for m, base in pairs
    }


def paired_table(rows: Sequence[dict], split: str, estimator: str = "mean", reps: int = REPS) -> str | None:
    """A Markdown table of every ablation ``<model>/<x>`` minus its full ``<model>``, per (seed, target)
    (None when no ablation has its full model)."""
    found = paired_estimates(rows, split, estimator, reps)
    if not found:
        return None
    metrics = _metrics(rows, split)
    lines = _header("ablation minus full", metrics)
    for m, per in found.items():
        n = max((e.n for e in per.values() if e is not None), default=0)
        cells = [_cell(per[k], sign=True) + seed_signs(rows, m, split, k) for k, _ in metrics]
        lines.append(f"| {m} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_signs(rows: Sequence[dict], model: str, split: str, metric: str) -> str:
    """The sign of each training seed's mean paired difference of an ablation (seeds ascending), e.g.
    " (+ + -)"; empty with fewer than two seeds. A difference every seed repeats is not one seed's."""
    base = model.split("/")[0]
    signs = []
    for s in sorted({r["seed"] for r in rows}):
        a = paired_matrix([r for r in rows if r["seed"] == s], model, base, split, metric)
        if a is not None:
            signs.append("+" if np.nanmean(a) > 0 else "-")
    return f" ({' '.join(signs)})" if len(signs) > 1 else ""


def paired_plot(
    rows: Sequence[dict], path: str | Path, estimator: str = "mean", reps: int = REPS
) -> Path | None:
    """A forest plot of ``paired_estimates``: a row per ablation, a column per metric, ID above OOD; a
    point right of the zero line means the ablation is worse (every metric is an error). Returns the
    file, or None when no ablation has its full model."""
    per_split = {s: paired_estimates(rows, s, estimator, reps) for s in ("id", "ood")}
    per_split = {s: found for s, found in per_split.items() if found}
    if not per_split:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in METRICS if any(m[0] in r for r in rows)]
    fig, axes = plt.subplots(
        len(per_split),
        len(metrics),
        figsize=(2.6 * len(metrics), 0.45 * 8 * len(per_split) + 1),
        squeeze=False,
    )
    for i, (split, found) in enumerate(per_split.items()):
        names = list(found)
        for j, (k, title) in enumerate(metrics):
            ax = axes[i, j]
            for y, m in enumerate(names):
                e = found[m].get(k)
                if e is None:
                    continue
                worse = e.lo > 0
                color = "tab:red" if worse else ("tab:blue" if e.hi < 0 else "0.4")
                ax.errorbar(e.point, y, xerr=[[e.point - e.lo], [e.hi - e.point]], fmt="o", color=color, ms=4)
            ax.axvline(0.0, color="k", lw=0.8)
            ax.set_yticks(range(len(names)), names if j == 0 else [""] * len(names))
            ax.invert_yaxis()
            ax.set_title(f"{split.upper()} {title}", fontsize=9)
            ax.tick_params(labelsize=8)
    fig.suptitle(
        f"ablation minus full model ({estimator}, 95 % interval; red: worse, blue: better)", fontsize=10
    )
    fig.tight_layout()
    written = atomic_savefig(fig, path, dpi=130)
    plt.close(fig)
    return written


def seed_table(rows: Sequence[dict], split: str, estimator: str = "iqm") -> str:
    """A Markdown table of each model's point estimate per training seed ("a / b / c", seeds ascending)."""
    point = iqm if estimator == "iqm" else mean
    seeds = sorted({r["seed"] for r in rows})
    metrics = _metrics(rows, split)
    lines = [
        f"| model (seeds {' / '.join(map(str, seeds))}) | " + " | ".join(t for _, t in metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for m in _models(rows, split):
        cells = []
        for k, _ in metrics:
            per = []
            for s in seeds:
                a = score_matrix([r for r in rows if r["seed"] == s], m, split, k)
                per.append("-" if a is None else f"{point(a):.3g}")
            cells.append(" / ".join(per))
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(
    dirs: Sequence[str | Path],
    estimator: str = "iqm",
    reps: int = REPS,
    by_seed: bool = False,
    paired: bool = False,
) -> str:
    """The whole Markdown report of the score files in ``dirs``: setting, then the tables of each split."""
    return rows_report(*load_rows(dirs), estimator, reps, by_seed, paired)


def rows_report(
    rows: Sequence[dict],
    heads: Sequence[dict],
    estimator: str = "iqm",
    reps: int = REPS,
    by_seed: bool = False,
    paired: bool = False,
) -> str:
    """``report`` of rows and headers already read (``load_rows``)."""
    h = heads[0]
    seeds = sorted(x["seed"] for x in heads)
    out = [
        f"# World models on new targets ({h['preset']}, trained on {h['protocol']}, seeds {seeds})",
        "",
        f"{estimator.upper()} over seeds x targets with stratified bootstrap 95 % intervals "
        "(strata: robots). "
        f"{h['targets_per_split']} targets per split and seed; policies {', '.join(h['policies'])} with "
        f"{h['episodes']} episodes each; gamma {h['gamma']}; world-model steps {h['worldmodel_steps']}. "
        "Lower is better; gap in % of the largest discounted return.",
    ]
    for split in ("id", "ood"):
        if any(r["split"] == split for r in rows):
            out += ["", f"## {split.upper()} targets", "", target_table(rows, split, estimator, reps)]
            if by_seed:
                out += ["", f"Per training seed ({estimator.upper()} over its targets):", ""]
                out += [seed_table(rows, split, estimator)]
            table = paired_table(rows, split, "mean", reps) if paired else None
            if table is not None:
                title = (
                    "Each ablation minus its full model on the same (seed, target) cells (mean of the "
                    "differences, stratified bootstrap 95 % interval):"
                )
                out += ["", title, "", table]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="+", help="workdirs of benchmarks/model_targets.py (one per seed)")
    p.add_argument("--estimator", default="iqm", choices=("iqm", "mean"), help="aggregate")
    p.add_argument("--reps", type=int, default=REPS, help="bootstrap replicates")
    p.add_argument("--out", type=Path, default=None, help="also write the report to this Markdown file")
    p.add_argument("--by-seed", action="store_true", help="also each model's estimate per training seed")
    p.add_argument("--paired", action="store_true", help="also every ablation minus its full model, paired")
    p.add_argument("--plot", type=Path, default=None, help="write the paired ablation plot to this PNG file")
    args = p.parse_args(argv)
    try:
        rows, heads = load_rows(args.dirs)
        text = rows_report(rows, heads, args.estimator, args.reps, args.by_seed, args.paired)
    except ValueError as e:
        p.exit(2, f"analysis.targets: {e}\n")
    print(text, end="")
    if args.out is not None:
        atomic_write_text(args.out, text)
    if args.plot is not None:
        written = paired_plot(rows, args.plot, reps=args.reps)
        print(f"plot: {written}" if written else "plot: no ablation with its full model, nothing drawn")


if __name__ == "__main__":
    main()
