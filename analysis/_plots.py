"""Figures from recorded runs: Figure 3 (ablations), adaptation learning curves, world-model k-step error.

Each figure has a ``*_data`` function (the numbers, tested against the results files) and a ``plot_*``
function (a matplotlib Figure drawn with the Agg backend). Missing data is drawn as a labelled gap
("n/a"), never filled in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis._runs import RunRecord  # noqa: E402
from analysis._tables import METHOD_LABELS, CellStats, cell_stats, ordered_methods, ordered_robots  # noqa: E402
from mrcom.agents import ABLATIONS  # noqa: E402

__all__ = [
    "ABLATIONS",
    "ABLATION_LABELS",
    "ablation_data",
    "plot_ablation",
    "curve_data",
    "plot_curves",
    "kstep_data",
    "plot_kstep",
]

ABLATION_LABELS: dict[str, str] = {
    "full": "MrCoM",
    "wo_d": "w/o d",
    "wo_c": "w/o C",
    "wo_ls": "w/o L_s",
    "wo_lv": "w/o L_v",
}
_KSTEP = re.compile(r"^k(\d+)_obs_nmse$")


def ablation_data(runs: Sequence[RunRecord]) -> dict[str, dict[str, dict[str, CellStats | None]]]:
    """Figure 3 numbers: ``{protocol: {robot: {ablation: CellStats | None}}}`` of MrCoM's return.

    Only protocols with at least one ablation run (``ablation != "full"``) appear.
    """
    protocols = sorted(
        {p for r in runs if r.results is not None and r.ablation != "full" if (p := r.protocol) is not None}
    )
    out = {}
    for p in protocols:
        robots = ordered_robots(runs, [p])
        out[p] = {
            robot: {a: cell_stats(runs, p, "mrcom", robot, ablation=a) for a in ABLATIONS} for robot in robots
        }
    return out


def plot_ablation(data: dict[str, dict[str, dict[str, CellStats | None]]]):
    """Figure 3: one panel per protocol, robots on x, a bar per variant with +-std error bars."""
    n = max(len(data), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.5 * n, 3.5), squeeze=False)
    for ax, (protocol, per_robot) in zip(axes[0], data.items(), strict=False):
        robots = list(per_robot)
        width = 0.8 / len(ABLATIONS)
        x = np.arange(len(robots))
        for j, a in enumerate(ABLATIONS):
            pos = x - 0.4 + width * (j + 0.5)
            for i, robot in enumerate(robots):
                c = per_robot[robot][a]
                if c is None:
                    ax.text(pos[i], 0.0, "n/a", rotation=90, ha="center", va="bottom", fontsize=6)
                    continue
                err = 0.0 if np.isnan(c.std) else c.std
                ax.bar(
                    pos[i],
                    c.mean,
                    width,
                    yerr=err,
                    capsize=2,
                    color=f"C{j}",
                    label=ABLATION_LABELS[a] if i == 0 else None,
                )
        ax.set_xticks(x, [r.capitalize() for r in robots])
        ax.set_title(protocol)
        ax.set_ylabel("normalized return")
        ax.set_ylim(bottom=0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{j}") for j in range(len(ABLATIONS))]
    fig.legend(
        handles, [ABLATION_LABELS[a] for a in ABLATIONS], loc="upper center", ncol=len(ABLATIONS), fontsize=8
    )
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def curve_data(
    runs: Sequence[RunRecord], protocol: str, method: str, robot: str, ablation: str = "full"
) -> dict[str, np.ndarray] | None:
    """Adaptation learning curve over seeds: ``{"real_steps", "mean", "std", "n"}`` or None.

    Seeds recorded on different step grids are linearly interpolated onto the union of their steps
    inside the range every seed covers (no extrapolation). ``std`` is the sample std (0 for one seed).
    """
    curves = []
    for r in runs:
        if r.results is None or r.protocol != protocol or r.ablation != ablation:
            continue
        c = r.results.get("curves", {}).get(method, {}).get(robot)
        if c and len(c.get("real_steps", [])) > 0:
            steps = np.asarray(c["real_steps"], dtype=np.float64)
            vals = np.asarray(c["normalized_return"], dtype=np.float64)
            if steps.shape != vals.shape:
                raise ValueError(
                    f"run {r.run_id}: curves.{method}.{robot}: real_steps {steps.shape} and "
                    f"normalized_return {vals.shape} must have the same length"
                )
            curves.append((steps, vals))
    if not curves:
        return None
    same = all(np.array_equal(s, curves[0][0]) for s, _ in curves)
    if same:
        grid = curves[0][0]
        stack = np.stack([v for _, v in curves])
    else:
        lo, hi = max(s.min() for s, _ in curves), min(s.max() for s, _ in curves)
        grid = np.unique(np.concatenate([s for s, _ in curves]))
        grid = grid[(grid >= lo) & (grid <= hi)]
        stack = np.stack([np.interp(grid, s, v) for s, v in curves])
    std = stack.std(axis=0, ddof=1) if len(stack) > 1 else np.zeros_like(grid)
    return {"real_steps": grid, "mean": stack.mean(axis=0), "std": std, "n": np.array(len(stack))}


def plot_curves(runs: Sequence[RunRecord], protocol: str):
    """Learning curves of adaptation for one protocol: a panel per robot, mean and +-std band per method."""
    robots = ordered_robots(runs, [protocol])
    methods = ordered_methods(runs, [protocol])
    fig, axes = plt.subplots(1, len(robots), figsize=(4 * len(robots), 3.2), squeeze=False)
    for ax, robot in zip(axes[0], robots, strict=True):
        drawn = False
        for j, m in enumerate(methods):
            d = curve_data(runs, protocol, m, robot)
            if d is None:
                continue
            drawn = True
            ax.plot(
                d["real_steps"],
                d["mean"],
                color=f"C{j}",
                label=f"{METHOD_LABELS.get(m, m)} (n={int(d['n'])})",
            )
            ax.fill_between(
                d["real_steps"], d["mean"] - d["std"], d["mean"] + d["std"], color=f"C{j}", alpha=0.2
            )
        if not drawn:
            ax.text(0.5, 0.5, "n/a", transform=ax.transAxes, ha="center")
        else:
            ax.legend(fontsize=7)
        ax.set_title(f"{protocol}: {robot}")
        ax.set_xlabel("real environment steps")
        ax.set_ylabel("normalized return")
    fig.tight_layout()
    return fig


def kstep_data(
    runs: Sequence[RunRecord], protocol: str, ablation: str = "full"
) -> dict[str, np.ndarray] | None:
    """World-model k-step observation error over seeds: ``{"k", "mean", "std", "n"}`` or None.

    Reads every ``k<K>_obs_nmse`` of ``results["worldmodel"]``; a K is kept only if every seed has it.
    """
    per_seed = []
    for r in runs:
        if r.results is None or r.protocol != protocol or r.ablation != ablation:
            continue
        wm = r.results.get("worldmodel") or {}
        by_k = {int(m.group(1)): float(v) for key, v in wm.items() if (m := _KSTEP.match(key))}
        if by_k:
            per_seed.append(by_k)
    if not per_seed:
        return None
    ks = sorted(set.intersection(*(set(d) for d in per_seed)))
    if not ks:
        return None
    stack = np.array([[d[k] for k in ks] for d in per_seed])
    std = stack.std(axis=0, ddof=1) if len(stack) > 1 else np.zeros(len(ks))
    return {"k": np.array(ks), "mean": stack.mean(axis=0), "std": std, "n": np.array(len(stack))}


def plot_kstep(runs: Sequence[RunRecord], protocols: Sequence[str]):
    """k-step error curves: a panel per protocol, a line per model variant (full and ablations)."""
    n = max(len(protocols), 1)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.2), squeeze=False)
    for ax, p in zip(axes[0], protocols, strict=False):
        drawn = False
        for j, a in enumerate(ABLATIONS):
            d = kstep_data(runs, p, a)
            if d is None:
                continue
            drawn = True
            ax.errorbar(
                d["k"],
                d["mean"],
                yerr=d["std"],
                marker="o",
                capsize=3,
                color=f"C{j}",
                label=f"{ABLATION_LABELS[a]} (n={int(d['n'])})",
            )
        if drawn:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "n/a", transform=ax.transAxes, ha="center")
        ax.set_title(p)
        ax.set_xlabel("prediction horizon k")
        ax.set_ylabel("observation NMSE")
    fig.tight_layout()
    return fig
