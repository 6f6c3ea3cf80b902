"""Tables 1-3 of the paper from recorded runs: robots x methods, aggregated over seeds x targets.

Numbers: a run (one seed) stores, per method and robot, the normalized return of each evaluation target
(``results.json``). A cell holds every (seed, target) score of its method, robot and protocol as a
(seeds, target slots) matrix and shows its IQM with a stratified bootstrap 95 % interval
(``analysis._aggregate``: Agarwal et al. 2021), e.g. ``31.2 [24.0, 38.5] n=3×1``: 3 seeds x 1 target per
seed. A single seed shows no interval. The last row, ``All targets``, pools every target of every
recorded robot (stratified by target). Bold only where the best method's interval lies above every
other method's; never for Still. Only runs of the full model (``ablation == "full"``) enter Tables 1-3.
Parts of a table without any run are left out and named on one line ("Not run: ..."); a table none of
whose parts ran is not written.

Headroom: where runs recorded their target scenarios, a first column ``Still`` shows the analytic
return of a robot that stands perfectly upright and does not move (the recorded ``still`` of format 2,
else ``mrcom.envs.still_upright_return`` of the targets), aggregated like a method. ``protocol_scores``
gives the still score (``analysis._aggregate.still_score``: 0 at Still, 100 at the maximum) of every
method over all targets of a protocol, for the probability of improvement and performance profiles.

``cell_stats``/``robot_mean_stats`` (mean +- sample std over seeds of each seed's target mean) remain for
Figure 3 (ablations).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from analysis._aggregate import REPS, Estimate, interval_estimates, still_score
from analysis._runs import RunRecord
from mrcom.envs import Scenario, still_upright_return

__all__ = [
    "CellStats",
    "TableSpec",
    "TABLE_SPECS",
    "METHOD_LABELS",
    "MEAN_ROW",
    "ALL_ROW",
    "STILL",
    "Cell",
    "TargetScores",
    "cell_stats",
    "robot_mean_stats",
    "target_scores",
    "robot_still",
    "recorded_robots",
    "protocols_run",
    "not_run",
    "protocol_scores",
    "table_data",
    "separated_best",
    "format_cell",
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


# the last row of Tables 1-3: every target of every recorded robot (``MEAN_ROW``: its former name)
ALL_ROW = "all"
MEAN_ROW = ALL_ROW


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


# ---- Tables 1-3 with aggregates over seeds x targets (analysis/_aggregate.py) ----------------------------


@dataclasses.dataclass(frozen=True)
class TargetScores:
    """The scores of one table cell as a (seeds, target slots) matrix, and the seeds left out.

    Attributes:
        seeds: the seeds of the rows.
        scores: (len(seeds), slots); slot j is the j-th target of the robot (of each robot in order for
            ``ALL_ROW``) in each seed's own draw of targets.
        left_out: seeds that recorded the cell with another number of targets than the most common one.
    """

    seeds: tuple[int, ...]
    scores: np.ndarray
    left_out: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Cell:
    """One aggregated table cell: the estimate with its interval and the seeds it holds."""

    estimate: Estimate
    seeds: tuple[int, ...]
    left_out: tuple[int, ...] = ()

    @property
    def has_interval(self) -> bool:
        """Two seeds or more: a single run per target slot gives the bootstrap nothing to resample."""
        return self.estimate.runs >= 2


def robot_still(run: RunRecord, robot: str) -> list[float] | None:
    """The Still reference of each of ``run``'s targets of ``robot``: the recorded ``still`` (format 2),
    else computed from the recorded targets."""
    assert run.results is not None
    targets = run.results.get("targets") or []
    still = run.results.get("still")
    if still is not None and len(still) == len(targets):
        values = [float(v) for t, v in zip(targets, still, strict=True) if t.get("robot") == robot]
        return values or None
    return _still_returns(run, robot)


def _run_row(run: RunRecord, method: str, robots: Sequence[str], score: str) -> list[float] | None:
    """One seed's scores of ``method`` over the targets of ``robots`` (in order), or None when any is
    missing. ``score``: "return" (normalized return) or "still" (``still_score``)."""
    assert run.results is not None
    row: list[float] = []
    for robot in robots:
        still = robot_still(run, robot)
        if method == STILL:
            returns = still
        else:
            returns = run.results.get("methods", {}).get(method, {}).get(robot)
        if not returns:
            return None
        if score == "still":
            if still is None or len(still) != len(returns):
                return None
            row += [float(v) for v in still_score(returns, still)]
        else:
            row += [float(v) for v in returns]
    return row


def target_scores(
    runs: Sequence[RunRecord],
    protocol: str,
    method: str,
    robots: Sequence[str],
    ablation: str = "full",
    score: str = "return",
) -> TargetScores | None:
    """The (seeds, target slots) scores of ``method`` on ``robots`` of ``protocol``, or None if no run has
    them.

    A seed enters when it recorded the method on every robot of ``robots`` (for ``score="still"`` with
    each target's Still reference); seeds with another number of targets than the most common (ties: the
    larger) are left out and named, so every row has the same target slots.

    Arguments:
        runs: deduplicated runs with results (``latest_per_key``).
        protocol, method, ablation: the cell; ``method`` may be ``STILL``.
        robots: one robot for a robot's row, every recorded robot for ``ALL_ROW``.
        score: ``"return"`` (normalized return) or ``"still"`` (``still_score``; NaN without headroom).
    """
    if score not in ("return", "still"):
        raise ValueError(f"score={score!r}: must be 'return' or 'still'")
    rows: dict[int, list[float]] = {}
    for r in runs:
        if r.results is None or r.protocol != protocol or r.ablation != ablation:
            continue
        row = _run_row(r, method, robots, score)
        if row is None:
            continue
        if r.seed is None:
            raise ValueError(f"run={r.run_id!r}: seed=None: results.json needs an integer seed")
        rows[r.seed] = row
    if not rows:
        return None
    counts = [len(v) for v in rows.values()]
    width = max(set(counts), key=lambda c: (counts.count(c), c))
    kept = sorted(s for s, v in rows.items() if len(v) == width)
    left = tuple(sorted(s for s, v in rows.items() if len(v) != width))
    return TargetScores(tuple(kept), np.array([rows[s] for s in kept], dtype=np.float64), left)


def recorded_robots(runs: Sequence[RunRecord], protocol: str, ablation: str = "full") -> list[str]:
    """The robots any method recorded for ``protocol``, in the tables' order."""
    found = {
        robot
        for r in runs
        if r.results is not None and r.protocol == protocol and r.ablation == ablation
        for per_robot in r.results.get("methods", {}).values()
        for robot, values in per_robot.items()
        if values
    }
    return [r for r in ordered_robots(runs, [protocol]) if r in found]


def protocols_run(runs: Sequence[RunRecord], protocols: Sequence[str], ablation: str = "full") -> list[str]:
    """The protocols of ``protocols`` that have a run with results (of ``ablation``), in that order."""
    have = {r.protocol for r in runs if r.results is not None and r.ablation == ablation}
    return [p for p in protocols if p in have]


def not_run(runs: Sequence[RunRecord], specs: Sequence[TableSpec] | None = None) -> list[str]:
    """One entry per table part without a run: the table's name when none of its parts ran
    (``"table2 (every part)"``), else the protocol (``"table1-c"``)."""
    out = []
    for spec in specs if specs is not None else TABLE_SPECS.values():
        protocols = [p for p, _ in spec.parts]
        ran = protocols_run(runs, protocols)
        if not ran:
            out.append(f"{spec.name} (every part)")
        else:
            out += [p for p in protocols if p not in ran]
    return out


def table_data(
    runs: Sequence[RunRecord], spec: TableSpec, *, reps: int = REPS, seed: int = 0
) -> dict[str, dict[str, dict[str, Cell | None]]]:
    """``{protocol: {row: {method: Cell | None}}}`` for the parts of one paper table that were run.

    Rows: the recorded robots, then ``ALL_ROW`` (every target of every recorded robot, stratified by
    target slot). A cell is the IQM of the normalized return over seeds x targets with its stratified
    bootstrap 95 % interval (``analysis._aggregate.interval_estimates``, ``reps`` replicates, ``seed``).
    Parts without any run are left out (``not_run`` names them).
    """
    protocols = protocols_run(runs, [p for p, _ in spec.parts])
    methods = ordered_methods(runs, protocols)
    out: dict[str, dict[str, dict[str, Cell | None]]] = {}
    for p in protocols:
        robots = recorded_robots(runs, p)
        rows: dict[str, dict[str, Cell | None]] = {}
        for name, group in [(robot, [robot]) for robot in robots] + [(ALL_ROW, robots)]:
            found = {m: target_scores(runs, p, m, group) for m in methods}
            have = {m: t for m, t in found.items() if t is not None}
            est = interval_estimates({m: t.scores for m, t in have.items()}, "iqm", reps=reps, seed=seed)
            rows[name] = {
                m: None if m not in have else Cell(est[m], have[m].seeds, have[m].left_out) for m in methods
            }
        out[p] = rows
    return out


def separated_best(row: Mapping[str, Cell | None]) -> str | None:
    """The method whose interval lies wholly above every other method's in ``row``, or None.

    Only methods count (Still is a reference); with fewer than two methods, or any of them from one
    seed (no interval), nothing is separated.
    """
    cells = {m: c for m, c in row.items() if c is not None and m != STILL}
    if len(cells) < 2 or not all(c.has_interval for c in cells.values()):
        return None
    best = max(cells, key=lambda m: cells[m].estimate.point)
    others = [c.estimate for m, c in cells.items() if m != best]
    return best if all(cells[best].estimate.above(o) for o in others) else None


def _num(x: float) -> str:
    return f"{x:.1f}"


def format_cell(c: Cell | None, bold: bool = False, tex: bool = False) -> str:
    """``31.2 [24.0, 38.5] n=3×1`` (IQM, 95 % interval, seeds × targets per seed); one seed: no interval."""
    if c is None:
        return MISSING_TEX if tex else MISSING_MD
    e = c.estimate
    times = "$\\times$" if tex else "×"
    n = f"n={e.runs}{times}{e.tasks}"
    text = f"{_num(e.point)} [{_num(e.lo)}, {_num(e.hi)}] {n}" if c.has_interval else f"{_num(e.point)} {n}"
    if bold:
        return f"\\textbf{{{text}}}" if tex else f"**{text}**"
    return text


def _row_label(row: str) -> str:
    return "All targets" if row == ALL_ROW else row.capitalize()


def _seeds_note(rows: Mapping[str, Mapping[str, Cell | None]]) -> str:
    seeds = sorted({s for row in rows.values() for c in row.values() if c is not None for s in c.seeds})
    left = sorted({s for row in rows.values() for c in row.values() if c is not None for s in c.left_out})
    note = ", ".join(str(s) for s in seeds)
    if left:
        note += " (left out, another number of targets: " + ", ".join(str(s) for s in left) + ")"
    return note


AGGREGATION_NOTE = (
    "IQM of the normalized return over seeds × targets [95 % stratified bootstrap interval: seeds "
    "resampled within each target slot]; n=s×t: s seeds × t targets per seed (a single seed: no "
    "interval). Bold: the best method's interval lies above every other method's (none when they "
    "overlap). All targets: every target of every robot."
)
STILL_NOTE = " Still: an upright robot that does not move on the same targets (the reference, never bold)."


def table_markdown(
    runs: Sequence[RunRecord], spec: TableSpec, *, reps: int = REPS, seed: int = 0
) -> str | None:
    """The table as Markdown, one robots x methods sub-table per part that was run; None when no part was.

    Each cell: IQM [95 % interval] n=seeds×targets (``format_cell``); bold only where the best method's
    interval is separated from the others (``separated_best``); one line names the parts not run.
    """
    data = table_data(runs, spec, reps=reps, seed=seed)
    if not data:
        return None
    lines = [f"## {spec.title}", ""]
    missing = not_run(runs, [spec])
    if missing:
        lines += ["Not run: " + ", ".join(f"`{p}`" for p in missing) + ".", ""]
    captions = dict(spec.parts)
    for protocol, rows in data.items():
        methods = list(next(iter(rows.values())).keys())
        lines += [f"### {captions[protocol]} (`{protocol}`)", ""]
        lines.append("| Robot | " + " | ".join(METHOD_LABELS.get(m, m) for m in methods) + " |")
        lines.append("|---|" + "---|" * len(methods))
        for name, row in rows.items():
            best = separated_best(row)
            cells = [format_cell(row[m], m == best) for m in methods]
            lines.append(f"| {_row_label(name)} | " + " | ".join(cells) + " |")
        note = AGGREGATION_NOTE + (STILL_NOTE if STILL in methods else "")
        lines += ["", f"Seeds: {_seeds_note(rows)}. {note}", ""]
    return "\n".join(lines)


def _tex_escape(s: str) -> str:
    return s.replace("α", "$\\alpha$").replace("β", "$\\beta$").replace("_", "\\_").replace("±", "$\\pm$")


def table_latex(runs: Sequence[RunRecord], spec: TableSpec, *, reps: int = REPS, seed: int = 0) -> str | None:
    """The table as a LaTeX ``table``: the parts that were run, two side by side per block (the paper's
    layout); None when no part was run. Cells as in ``table_markdown``."""
    data = table_data(runs, spec, reps=reps, seed=seed)
    if not data:
        return None
    captions = dict(spec.parts)
    protocols = list(data)
    methods = ordered_methods(runs, protocols)
    ncols = len(methods)
    width = min(2, len(protocols))
    out = ["\\begin{table}[t]", "\\centering", "\\small"]
    out.append("\\begin{tabular}{l" + ("|" + "c" * ncols) * width + "}")
    out.append("\\hline")
    for i in range(0, len(protocols), 2):
        block = protocols[i : i + 2]
        heads = " & ".join(f"\\multicolumn{{{ncols}}}{{c}}{{{_tex_escape(captions[p])}}}" for p in block)
        out.append(f" & {heads} \\\\")
        labels = " & ".join(METHOD_LABELS.get(m, _tex_escape(m)) for m in methods)
        out.append(" & " + " & ".join([labels] * len(block)) + " \\\\")
        out.append("\\hline")
        names = list(dict.fromkeys(n for p in block for n in data[p]))
        names = [n for n in names if n != ALL_ROW] + [ALL_ROW]
        for name in names:
            cells = []
            for p in block:
                row = data[p].get(name, {m: None for m in methods})
                best = separated_best(row)
                cells += [format_cell(row.get(m), m == best, tex=True) for m in methods]
            out.append(f"{_row_label(name)} & " + " & ".join(cells) + " \\\\")
        out.append("\\hline")
    out.append("\\end{tabular}")
    caption = _tex_escape(spec.title.split(": ", 1)[-1])
    note = (
        "Normalized return: IQM over seeds $\\times$ targets [95\\,\\% stratified bootstrap interval]; "
        "n=s$\\times$t: seeds $\\times$ targets per seed; bold where the best interval lies above every "
        "other method's."
    )
    missing = not_run(runs, [spec])
    if missing:
        note += " Not run: " + ", ".join(_tex_escape(p) for p in missing) + "."
    out.append(f"\\caption{{{caption}. {note}}}")
    out.append(f"\\label{{tab:{spec.name}}}")
    out.append("\\end{table}")
    return "\n".join(out) + "\n"


# ---- still score: aggregates, probability of improvement, performance profiles -------------------------


def protocol_scores(
    runs: Sequence[RunRecord], protocol: str, ablation: str = "full"
) -> tuple[str, dict[str, TargetScores]]:
    """Every method's scores over all recorded targets of ``protocol`` (stratified by target slot).

    The still score (``still_score``) where every run of the protocol recorded its targets, else the
    normalized return. Methods that lack a robot another method recorded are left out.

    Returns:
        (``"still"`` or ``"return"``, ``{method: TargetScores}``), methods in the tables' order.
    """
    robots = recorded_robots(runs, protocol, ablation)
    of_protocol = [
        r for r in runs if r.results is not None and r.protocol == protocol and r.ablation == ablation
    ]
    score = (
        "still" if of_protocol and all((r.results or {}).get("targets") for r in of_protocol) else "return"
    )
    out = {}
    for m in ordered_methods(runs, [protocol]):
        if m == STILL:
            continue
        t = target_scores(runs, protocol, m, robots, ablation, score=score)
        if t is not None:
            out[m] = t
    return score, out
