"""Tables 1-3 of the paper: which tables and parts there are, and which rows and columns they show, in order.

``TABLE_SPECS`` names each table's parts (one protocol each). Rows: the paper's robots, then any other robot
recorded, then ``ALL_ROW`` (every target of every recorded robot). Columns: ``Still`` first where runs
recorded their targets (the headroom reference), then the methods in the paper's order (``METHOD_ORDER``:
the baselines, SAC, each world model with DreamerV3's imagination actor-critic, Ours as the paper printed
it) with Ours (mrcom) last; ``METHOD_LABELS`` gives their headers. Parts of a table without any run are
left out and named on one line (``not_run``). Only runs of the full model (``ablation == "full"``) enter
Tables 1-3.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from analysis._runs import RunRecord

__all__ = [
    "ROBOTS",
    "METHOD_ORDER",
    "AC_ORDER",
    "METHOD_LABELS",
    "STILL",
    "TableSpec",
    "TABLE_SPECS",
    "ALL_ROW",
    "MEAN_ROW",
    "ordered_methods",
    "ordered_robots",
    "recorded_robots",
    "protocols_run",
    "not_run",
]

ROBOTS: tuple[str, ...] = ("hopper", "walker", "cheetah")
# "mrcom-paper": the paper's MrCoM without our additions, right before Ours
METHOD_ORDER: tuple[str, ...] = (
    "mamba",
    "dreamerv3",
    "cadm",
    "mow",
    "sac",
    "sac-utd",
    "mrcom-paper",
    "mrcom",
)
# each world model with DreamerV3's imagination actor-critic ("<kind>-ac"), after the MBPO columns
AC_ORDER: tuple[str, ...] = ("mamba-ac", "dreamerv3-ac", "cadm-ac", "mow-ac", "mrcom-paper-ac", "mrcom-ac")
METHOD_ORDER = METHOD_ORDER[:-2] + AC_ORDER + METHOD_ORDER[-2:]
METHOD_LABELS: dict[str, str] = {
    "mamba": "MAMBA",
    "dreamerv3": "DreamerV3",
    "cadm": "CaDM",
    "mow": "MoW",
    "sac": "SAC",
    "sac-utd": "SAC (MBPO's UTD)",
    "mrcom-paper": "Ours (paper)",
    "mrcom": "Ours",
}
METHOD_LABELS.update({m: f"{METHOD_LABELS[m[:-3]]} (AC)" for m in AC_ORDER})
# the headroom reference: an upright robot that does not move, computed from each run's targets
STILL = "still"
METHOD_LABELS[STILL] = "Still"


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
