"""Tables 1-3 of the paper from recorded runs: robots x methods, mean +- std over seeds, best in bold.

Numbers: a run (one seed) stores, per method and robot, the normalized return of each evaluation
target scenario; the seed's value is the mean over its targets, and a cell is the mean and the
sample standard deviation (ddof=1) of those seed values. A cell with one seed shows its mean and
``(n=1)`` (no standard deviation is invented); a cell without any run shows ``—`` in Markdown and
``--`` in LaTeX. Only runs of the full model (``ablation == "full"``) enter Tables 1-3. The best mean
of each robot and sub-table is in bold (ties all bold).

Headroom: where runs recorded their target scenarios, a first column ``Still`` shows the analytic
return of a robot that stands perfectly upright and does not move (``mrcom.envs.still_upright_return``
of the seed's targets, averaged like a method). It is a reference, never bold: a method at or below it
has learned nothing that standing still would not earn, and a target near speed 0 leaves no headroom.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from analysis._runs import RunRecord
from mrcom.envs import Scenario, still_upright_return

__all__ = [
    "CellStats",
    "TableSpec",
    "TABLE_SPECS",
    "METHOD_LABELS",
    "MEAN_ROW",
    "STILL",
    "cell_stats",
    "robot_mean_stats",
    "table_data",
    "table_markdown",
    "table_latex",
    "ordered_methods",
    "ordered_robots",
    "seed_values",
]

ROBOTS: tuple[str, ...] = ("hopper", "walker", "cheetah")
METHOD_ORDER: tuple[str, ...] = ("mamba", "dreamerv3", "cadm", "mow", "sac", "sac-utd", "mrcom")
# each world model with DreamerV3's imagination actor-critic ("<kind>-ac"), after the MBPO columns
AC_ORDER: tuple[str, ...] = ("mamba-ac", "dreamerv3-ac", "cadm-ac", "mow-ac", "mrcom-ac")
METHOD_ORDER = METHOD_ORDER[:-1] + AC_ORDER + METHOD_ORDER[-1:]
METHOD_LABELS: dict[str, str] = {
    "mamba": "MAMBA",
    "dreamerv3": "DreamerV3",
    "cadm": "CaDM",
    "mow": "MoW",
    "sac": "SAC",
    "sac-utd": "SAC (MBPO's UTD)",
    "mrcom": "Ours",
}
METHOD_LABELS.update({m: f"{METHOD_LABELS[m[:-3]]} (AC)" for m in AC_ORDER})
# the headroom reference: an upright robot that does not move, computed from each run's targets
STILL = "still"
METHOD_LABELS[STILL] = "Still"
MISSING_MD = "—"
MISSING_TEX = "--"


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """One paper table: its title and its sub-tables as (protocol, caption)."""

    name: str
    title: str
    parts: tuple[tuple[str, str], ...]


TABLE_SPECS: dict[str, TableSpec] = {
    "table1": TableSpec(
        "table1",
        "Table 1: multi-scenario setting with various dynamics T and reward function r",
        (
            ("table1-a", "(a) Train α=5, β=20, Evaluate α=5, β=20"),
            ("table1-b", "(b) Train α=5, β=20, Evaluate α=10, β=50"),
            ("table1-c", "(c) Train α=10, β=50, Evaluate α=10, β=50"),
            ("table1-d", "(d) Train α=10, β=50, Evaluate α=20, β=100"),
        ),
    ),
    "table2": TableSpec(
        "table2",
        "Table 2: multi-scenario setting with various dynamics T (target speed 0.5 v_max)",
        (
            ("table2-a", "(a) Train α=5, Evaluate α=5"),
            ("table2-b", "(b) Train α=5, Evaluate α=10"),
            ("table2-c", "(c) Train α=10, Evaluate α=10"),
            ("table2-d", "(d) Train α=10, Evaluate α=20"),
        ),
    ),
    "table3": TableSpec(
        "table3",
        "Table 3: various observation functions O",
        (
            ("table3-add_g", "Add-G"),
            ("table3-add_d", "Add-D"),
            ("table3-msk_r", "Msk-R"),
            ("table3-msk_f", "Msk-F"),
        ),
    ),
}


MEAN_ROW = "mean"


@dataclasses.dataclass(frozen=True)
class CellStats:
    """Mean and sample std (NaN for one seed) of the per-seed values of one table cell."""

    mean: float
    std: float
    seeds: tuple[int, ...]
    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)


def seed_values(
    runs: Sequence[RunRecord], protocol: str, method: str, robot: str, ablation: str = "full"
) -> dict[int, float]:
    """Per-seed value of one cell: the mean normalized return over the seed's target scenarios.

    Arguments:
        runs: deduplicated runs with results (see ``latest_per_key``).
        protocol, method, robot, ablation: the cell.

    Returns:
        ``{seed: value}`` for the runs that recorded this method and robot.
    """
    out: dict[int, float] = {}
    for r in runs:
        if r.results is None or r.protocol != protocol or r.ablation != ablation:
            continue
        returns = (
            _still_returns(r, robot)
            if method == STILL
            else r.results.get("methods", {}).get(method, {}).get(robot)
        )
        if returns is None or len(returns) == 0:
            continue
        if r.seed is None:
            raise ValueError(f"run={r.run_id!r}: seed=None: results.json needs an integer seed")
        out[r.seed] = float(np.mean(np.asarray(returns, dtype=np.float64)))
    return dict(sorted(out.items()))


def _still_returns(run: RunRecord, robot: str) -> list[float] | None:
    """The analytic still-upright return of each of ``run``'s target scenarios of ``robot``."""
    assert run.results is not None
    targets = [t for t in run.results.get("targets", []) if t.get("robot") == robot]
    if not targets:
        return None
    try:
        scenarios = [Scenario(**t) for t in targets]
    except (TypeError, ValueError) as e:
        raise ValueError(f"run={run.run_id!r}: results.json targets: {e}") from None
    return [float(v) for v in still_upright_return(scenarios)]


def cell_stats(
    runs: Sequence[RunRecord], protocol: str, method: str, robot: str, ablation: str = "full"
) -> CellStats | None:
    """Mean +- std over seeds of one cell, or None when no run recorded it."""
    return _stats(seed_values(runs, protocol, method, robot, ablation))


def robot_mean_stats(
    runs: Sequence[RunRecord], protocol: str, method: str, robots: Sequence[str], ablation: str = "full"
) -> CellStats | None:
    """Mean +- std over seeds of the per-seed mean over ``robots`` (the tables' "Mean" row).

    The spread is over seeds of the robot average, not over robots; a seed that lacks any of
    ``robots`` for this method is left out, so the row never mixes seeds with different robots.
    """
    per_robot = [seed_values(runs, protocol, method, r, ablation) for r in robots]
    if not per_robot:
        return None
    seeds = sorted(set.intersection(*(set(p) for p in per_robot)))
    return _stats({s: float(np.mean([p[s] for p in per_robot])) for s in seeds})


def _stats(per_seed: dict[int, float]) -> CellStats | None:
    if not per_seed:
        return None
    values = np.array(list(per_seed.values()))
    std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
    return CellStats(float(values.mean()), std, tuple(per_seed), tuple(float(v) for v in values))


def ordered_methods(runs: Sequence[RunRecord], protocols: Sequence[str]) -> list[str]:
    """Methods present in the runs of ``protocols``, in the paper's order with Ours (mrcom) last."""
    found = {
        m
        for r in runs
        if r.results is not None and r.protocol in protocols
        for m in r.results.get("methods", {})
    }
    found.add("mrcom")
    known = [m for m in METHOD_ORDER if m in found and m != "mrcom"]
    with_targets = any(
        r.results is not None and r.protocol in protocols and r.results.get("targets") for r in runs
    )
    still = [STILL] if with_targets else []
    return still + known + sorted(found - set(METHOD_ORDER)) + ["mrcom"]


def ordered_robots(runs: Sequence[RunRecord], protocols: Sequence[str]) -> list[str]:
    """The paper's robots, then any other robot found in the runs."""
    found = {
        robot
        for r in runs
        if r.results is not None and r.protocol in protocols
        for per_robot in r.results.get("methods", {}).values()
        for robot in per_robot
    }
    return list(ROBOTS) + sorted(found - set(ROBOTS))


def table_data(
    runs: Sequence[RunRecord], spec: TableSpec
) -> dict[str, dict[str, dict[str, CellStats | None]]]:
    """``{protocol: {row: {method: CellStats | None}}}`` for one paper table.

    The rows are the robots, then ``MEAN_ROW``: per method, the mean over the robots this protocol
    recorded for any method (see ``robot_mean_stats``).
    """
    protocols = [p for p, _ in spec.parts]
    methods = ordered_methods(runs, protocols)
    robots = ordered_robots(runs, protocols)
    out = {}
    for p in protocols:
        rows = {robot: {m: cell_stats(runs, p, m, robot) for m in methods} for robot in robots}
        recorded = [r for r, row in rows.items() if any(c is not None for c in row.values())]
        rows[MEAN_ROW] = {m: robot_mean_stats(runs, p, m, recorded) for m in methods}
        out[p] = rows
    return out


def _best(row: dict[str, CellStats | None]) -> set[str]:
    means = {m: c.mean for m, c in row.items() if c is not None and m != STILL}
    if not means:
        return set()
    top = max(means.values())
    return {m for m, v in means.items() if v == top}


def _fmt(c: CellStats | None, bold: bool, tex: bool) -> str:
    if c is None:
        return MISSING_TEX if tex else MISSING_MD
    if math.isnan(c.std):
        text = f"{c.mean:.1f} (n=1)"
    else:
        text = f"{c.mean:.1f}$\\pm${c.std:.1f}" if tex else f"{c.mean:.1f}±{c.std:.1f}"
    if bold:
        return f"\\textbf{{{text}}}" if tex else f"**{text}**"
    return text


def _seeds_note(data: dict, protocol: str) -> str:
    seeds = sorted(
        {s for row in data[protocol].values() for c in row.values() if c is not None for s in c.seeds}
    )
    return ", ".join(str(s) for s in seeds) if seeds else "none recorded"


def table_markdown(runs: Sequence[RunRecord], spec: TableSpec) -> str:
    """The table as Markdown: one robots x methods sub-table per protocol, best mean in bold."""
    data = table_data(runs, spec)
    lines = [f"## {spec.title}", ""]
    for protocol, caption in spec.parts:
        rows = data[protocol]
        methods = list(next(iter(rows.values())).keys())
        lines += [f"### {caption} (`{protocol}`)", ""]
        lines.append("| Robot | " + " | ".join(METHOD_LABELS.get(m, m) for m in methods) + " |")
        lines.append("|---|" + "---|" * len(methods))
        for robot, row in rows.items():
            best = _best(row)
            cells = [_fmt(row[m], m in best, tex=False) for m in methods]
            lines.append(f"| {robot.capitalize()} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"Seeds: {_seeds_note(data, protocol)}. Normalized return, mean ± std over seeds"
            "; Mean: the robots' average per seed."
            + (
                " Still: an upright robot that does not move (the headroom reference)."
                if STILL in methods
                else ""
            ),
            "",
        ]
    return "\n".join(lines)


def _tex_escape(s: str) -> str:
    return s.replace("α", "$\\alpha$").replace("β", "$\\beta$").replace("_", "\\_").replace("±", "$\\pm$")


def table_latex(runs: Sequence[RunRecord], spec: TableSpec) -> str:
    """The table as a LaTeX ``table`` in the paper's layout: two sub-tables side by side per block."""
    data = table_data(runs, spec)
    protocols = [p for p, _ in spec.parts]
    methods = ordered_methods(runs, protocols)
    ncols = len(methods)
    out = ["\\begin{table}[t]", "\\centering", "\\small"]
    out.append("\\begin{tabular}{l" + ("|" + "c" * ncols) * 2 + "}")
    out.append("\\hline")
    for i in range(0, len(spec.parts), 2):
        block = spec.parts[i : i + 2]
        heads = " & ".join(f"\\multicolumn{{{ncols}}}{{c}}{{{_tex_escape(cap)}}}" for _, cap in block)
        out.append(f" & {heads} \\\\")
        labels = " & ".join(METHOD_LABELS.get(m, _tex_escape(m)) for m in methods)
        out.append(" & " + " & ".join([labels] * len(block)) + " \\\\")
        out.append("\\hline")
        robots = list(data[block[0][0]].keys())
        for robot in robots:
            cells = []
            for protocol, _ in block:
                row = data[protocol][robot]
                best = _best(row)
                cells += [_fmt(row[m], m in best, tex=True) for m in methods]
            out.append(f"{robot.capitalize()} & " + " & ".join(cells) + " \\\\")
        out.append("\\hline")
    out.append("\\end{tabular}")
    caption = _tex_escape(spec.title.split(": ", 1)[-1])
    out.append(f"\\caption{{{caption}. Normalized return, mean $\\pm$ std over seeds.}}")
    out.append(f"\\label{{tab:{spec.name}}}")
    out.append("\\end{table}")
    return "\n".join(out) + "\n"
