"""The numbers of Tables 1-3: each cell's scores over seeds x targets, its aggregate, and the separated best.

A run (one seed) stores, per method and robot, the normalized return of each evaluation target
(``results.json``). A cell holds every (seed, target) score of its method, robot and protocol as a
(seeds, target slots) matrix (``target_scores``) and its IQM with a stratified bootstrap 95 % interval
(``table_data``; ``analysis._aggregate``: Agarwal et al. 2021). A single seed has no interval. The last
row, ``ALL_ROW``, pools every target of every recorded robot (stratified by target). ``separated_best``:
the method whose interval lies above every other method's, never Still.

Headroom: where runs recorded their target scenarios, ``Still`` is the analytic return of a robot that
stands perfectly upright and does not move (the recorded ``still`` of format 2, else
``mrcom.envs.still_upright_return`` of the targets), aggregated like a method. ``protocol_scores`` gives
the still score (``analysis._aggregate.still_score``: 0 at Still, 100 at the maximum) of every method over
all targets of a protocol, for the probability of improvement and performance profiles.

``cell_stats``/``robot_mean_stats`` (mean +- sample std over seeds of each seed's target mean) remain for
Figure 3 (ablations).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from analysis._aggregate import REPS, Estimate, interval_estimates, still_score
from analysis._runs import RunRecord
from analysis._table_layout import ALL_ROW, STILL, TableSpec, ordered_methods, protocols_run, recorded_robots
from mrcom.envs import Scenario, still_upright_return

__all__ = [
    "CellStats",
    "Cell",
    "TargetScores",
    "seed_values",
    "cell_stats",
    "robot_mean_stats",
    "robot_still",
    "target_scores",
    "table_data",
    "separated_best",
    "protocol_scores",
]


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
