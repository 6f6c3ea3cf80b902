"""Markdown summary of a protocol's runs: normalized return per robot and method over seeds and targets."""

from __future__ import annotations

import numpy as np


def summary_table(results: list[dict]) -> str:
    """Markdown table: normalized return mean +- std per robot and method, pooled over seeds and targets."""
    if not results:
        raise ValueError("results=[]: need at least one results dict")
    methods = list(results[0]["methods"])
    robots = sorted({r for res in results for m in res["methods"].values() for r in m})
    first = results[0]
    seeds = sorted({res["seed"] for res in results})
    head = (
        f"protocol {first['protocol']}, preset {first['preset']}, ablation {first['ablation']}, "
        f"seeds {seeds}, {first['real_steps']} real steps; "
        "normalized return mean +- std over seeds x targets\n\n"
    )
    lines = ["| robot | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for robot in robots:
        cells = []
        for m in methods:
            v = [x for res in results for x in res["methods"].get(m, {}).get(robot, [])]
            cells.append(f"{np.mean(v):.1f} +- {np.std(v):.1f}" if v else "-")
        lines.append(f"| {robot} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines) + "\n"
