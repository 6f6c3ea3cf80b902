"""Figures from recorded runs: Figure 3 (ablations), adaptation learning curves (95 % bootstrap band and the
Still reference), world-model k-step error. Performance profiles: ``analysis._significance``.

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

from analysis._aggregate import REPS_SMALL, curve_band, interval_estimates  # noqa: E402
from analysis._runs import RunRecord  # noqa: E402
from analysis._table_cells import Cell, robot_still, target_scores  # noqa: E402
from analysis._table_layout import METHOD_LABELS, STILL, ordered_methods, ordered_robots  # noqa: E402
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


def ablation_data(
    runs: Sequence[RunRecord], *, reps: int = REPS_SMALL, seed: int = 0
) -> dict[str, dict[str, dict[str, Cell | None]]]:
    """Figure 3 numbers: ``{protocol: {robot: {ablation: Cell | None}}}`` of MrCoM's normalized return,
    each cell the IQM over seeds x targets with its stratified bootstrap 95 % interval (as the tables).

    Only protocols with at least one ablation run (``ablation != "full"``) appear.
    """
    protocols = sorted(
        {p for r in runs if r.results is not None and r.ablation != "full" if (p := r.protocol) is not None}
    )
    out: dict[str, dict[str, dict[str, Cell | None]]] = {}
    for p in protocols:
        out[p] = {}
        for robot in ordered_robots(runs, [p]):
            found = {a: target_scores(runs, p, "mrcom", [robot], ablation=a) for a in ABLATIONS}
            have = {a: t for a, t in found.items() if t is not None}
            est = interval_estimates({a: t.scores for a, t in have.items()}, "iqm", reps=reps, seed=seed)
            out[p][robot] = {
                a: None if a not in have else Cell(est[a], have[a].seeds, have[a].left_out) for a in ABLATIONS
            }
    return out


def plot_ablation(data: dict[str, dict[str, dict[str, Cell | None]]]):
    """Figure 3: one panel per protocol, robots on x, a bar per variant at its IQM with its 95 % interval."""
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
                e = c.estimate
                err = [[e.point - e.lo], [e.hi - e.point]] if c.has_interval else None
                ax.bar(
                    pos[i],
                    e.point,
                    width,
                    yerr=err,
                    capsize=2,
                    color=f"C{j}",
                    label=ABLATION_LABELS[a] if i == 0 else None,
                )
        ax.set_xticks(x, [r.capitalize() for r in robots])
        ax.set_title(protocol)
        ax.set_ylabel("normalized return (IQM, 95 % CI)")
        ax.set_ylim(bottom=0)
    handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{j}") for j in range(len(ABLATIONS))]
    fig.legend(
        handles, [ABLATION_LABELS[a] for a in ABLATIONS], loc="upper center", ncol=len(ABLATIONS), fontsize=8
    )
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def _target_curves(run: RunRecord, method: str, robot: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(real_steps, (targets, points)): each of ``robot``'s targets' own learning curve (format 2's
    ``per_target``), or None when the run did not record them."""
    assert run.results is not None
    pt = (run.results.get("per_target") or {}).get(method)
    targets = run.results.get("targets") or []
    idx = [i for i, t in enumerate(targets) if t.get("robot") == robot]
    if not pt or not idx:
        return None
    curve = np.asarray(pt.get("curve", []), dtype=np.float64)
    steps = np.asarray(pt.get("real_steps", []), dtype=np.float64)
    if curve.ndim != 2 or curve.shape != (len(steps), len(targets)) or len(steps) == 0:
        return None
    return steps, curve[:, idx].T


def curve_data(
    runs: Sequence[RunRecord],
    protocol: str,
    method: str,
    robot: str,
    ablation: str = "full",
    *,
    reps: int = REPS_SMALL,
    seed: int = 0,
) -> dict[str, np.ndarray] | None:
    """Adaptation learning curve over seeds: ``{"real_steps", "mean", "std", "n", "lo", "hi", "still"}``
    or None.

    ``mean`` and ``std`` (sample std, 0 for one seed) are over seeds of each seed's curve of the robot
    (the mean over its targets). ``lo``/``hi``: the 95 % stratified bootstrap interval of the mean over
    seeds x targets (``analysis._aggregate.curve_band``, every target's own curve where the runs recorded
    ``per_target`` with the same number of targets, else each seed's robot curve). ``still``: the mean
    Still reference of the robot's targets over the seeds (NaN without targets). Seeds recorded on
    different step grids are linearly interpolated onto the union of their steps inside the range every
    seed covers (no extrapolation).
    """
    curves = []
    per_target: list[tuple[np.ndarray, np.ndarray] | None] = []
    stills = []
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
            per_target.append(_target_curves(r, method, robot))
            still = robot_still(r, robot)
            if still:
                stills.append(float(np.mean(still)))
    if not curves:
        return None
    same = all(np.array_equal(s, curves[0][0]) for s, _ in curves)
    if same:
        grid = curves[0][0]
    else:
        lo, hi = max(s.min() for s, _ in curves), min(s.max() for s, _ in curves)
        grid = np.unique(np.concatenate([s for s, _ in curves]))
        grid = grid[(grid >= lo) & (grid <= hi)]
    stack = np.stack([np.interp(grid, s, v) for s, v in curves])
    std = stack.std(axis=0, ddof=1) if len(stack) > 1 else np.zeros_like(grid)
    counts = {None if t is None else t[1].shape[0] for t in per_target}
    if None not in counts and len(counts) == 1:
        band = np.stack(
            [np.stack([np.interp(grid, s, v) for v in vs]) for s, vs in (t for t in per_target if t)]
        )
    else:
        band = stack[:, None, :]
    _, lo_band, hi_band = curve_band(band, reps=reps, seed=seed, key=f"{protocol}/{method}/{robot}")
    return {
        "real_steps": grid,
        "mean": stack.mean(axis=0),
        "std": std,
        "n": np.array(len(stack)),
        "targets": np.array(band.shape[1]),
        "lo": lo_band,
        "hi": hi_band,
        "still": np.array(np.mean(stills) if stills else np.nan),
    }


def plot_curves(runs: Sequence[RunRecord], protocol: str, *, reps: int = REPS_SMALL, seed: int = 0):
    """Learning curves of adaptation for one protocol: a panel per robot, per method the mean over seeds
    x targets with its 95 % bootstrap band, and the Still reference of the robot's targets (dashed)."""
    robots = ordered_robots(runs, [protocol])
    methods = [m for m in ordered_methods(runs, [protocol]) if m != STILL]
    fig, axes = plt.subplots(1, len(robots), figsize=(4 * len(robots), 3.2), squeeze=False)
    for ax, robot in zip(axes[0], robots, strict=True):
        drawn = False
        still = []
        for j, m in enumerate(methods):
            d = curve_data(runs, protocol, m, robot, reps=reps, seed=seed)
            if d is None:
                continue
            drawn = True
            n = f"n={int(d['n'])}×{int(d['targets'])}"
            ax.plot(d["real_steps"], d["mean"], color=f"C{j}", label=f"{METHOD_LABELS.get(m, m)} ({n})")
            ax.fill_between(d["real_steps"], d["lo"], d["hi"], color=f"C{j}", alpha=0.2, linewidth=0)
            if np.isfinite(d["still"]):
                still.append(float(d["still"]))
        if still:
            ax.axhline(float(np.mean(still)), color="k", linestyle="--", linewidth=1, label="Still")
        if not drawn:
            ax.text(0.5, 0.5, "n/a", transform=ax.transAxes, ha="center")
        else:
            ax.legend(fontsize=7)
        ax.set_title(f"{protocol}: {robot}")
        ax.set_xlabel("real environment steps")
        ax.set_ylabel("normalized return (95 % band)")
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
