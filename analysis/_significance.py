"""Which methods separate: per protocol the still score's IQM and mean with intervals, the probability of
improvement of every method over every other, and performance profiles (``analysis._aggregate``).

Scores: the still score of every (seed, target) of a protocol (``analysis._table_cells.protocol_scores``: 0
standing still, 100 the maximum normalized return), or the normalized return where runs recorded no
targets. Written by ``analysis.figures`` as ``aggregate.md`` and ``profile_<protocol>.png``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from analysis._aggregate import (
    MIN_HEADROOM,
    REPS,
    REPS_SMALL,
    Estimate,
    Profile,
    improvement_matrix,
    interval_estimates,
    performance_profile,
)
from analysis._runs import RunRecord
from analysis._table_cells import protocol_scores
from analysis._table_layout import METHOD_LABELS, TABLE_SPECS

__all__ = ["ProtocolAggregate", "aggregate_data", "aggregate_markdown", "profile_taus", "plot_profile"]

SCORE_LABELS = {
    "still": "still score (0: standing still, 100: the maximum normalized return)",
    "return": "normalized return (no targets recorded, so no still score)",
}


@dataclasses.dataclass(frozen=True)
class ProtocolAggregate:
    """One protocol's aggregates over all its targets.

    Attributes:
        score: ``"still"`` or ``"return"``.
        seeds: every seed that entered.
        iqm, mean: ``{method: Estimate}``.
        improvement: ``{(x, y): Estimate of P(X > Y)}``.
        profiles: ``{method: Profile}``.
        no_headroom: (seed, target) cells without a still score (Still above 100 - MIN_HEADROOM).
        left_out: seeds left out of some method for another number of targets than the rest.
    """

    score: str
    seeds: tuple[int, ...]
    iqm: dict[str, Estimate]
    mean: dict[str, Estimate]
    improvement: dict[tuple[str, str], Estimate]
    profiles: dict[str, Profile]
    no_headroom: int
    left_out: tuple[int, ...] = ()


def profile_taus(scores: Sequence[np.ndarray], score: str) -> np.ndarray:
    """Thresholds of a profile: up to 100, from 0 (returns) or from the lowest score rounded down to 10
    but not below -100 (still scores, which can fall far below 0 where Still is high)."""
    lo = 0.0
    if score == "still":
        finite = np.concatenate([s[np.isfinite(s)].ravel() for s in scores] or [np.zeros(0)])
        low = float(finite.min()) if finite.size else 0.0
        lo = max(-100.0, min(0.0, 10.0 * np.floor(low / 10.0)))
    return np.linspace(lo, 100.0, int(round(100.0 - lo)) + 1)


def protocols_with_runs(runs: Sequence[RunRecord], ablation: str = "full") -> list[str]:
    """Protocols with a run of ``ablation``: the paper tables' order, then any other by name."""
    have = {r.protocol for r in runs if r.results is not None and r.ablation == ablation} - {None}
    order = [p for spec in TABLE_SPECS.values() for p, _ in spec.parts]
    return [p for p in order if p in have] + sorted(str(p) for p in have if p not in order)


def aggregate_data(
    runs: Sequence[RunRecord], protocol: str, *, reps: int = REPS, seed: int = 0
) -> ProtocolAggregate | None:
    """The aggregates of ``protocol`` (``ProtocolAggregate``), or None when no method has scores."""
    score, found = protocol_scores(runs, protocol)
    if not found:
        return None
    matrices = {m: t.scores for m, t in found.items()}
    small = min(reps, REPS_SMALL)
    return ProtocolAggregate(
        score=score,
        seeds=tuple(sorted({s for t in found.values() for s in t.seeds})),
        iqm=interval_estimates(matrices, "iqm", reps=reps, seed=seed),
        mean=interval_estimates(matrices, "mean", reps=reps, seed=seed),
        improvement=improvement_matrix(matrices, reps=small, seed=seed),
        profiles=performance_profile(
            matrices, profile_taus(list(matrices.values()), score), reps=small, seed=seed
        ),
        no_headroom=int(sum(np.isnan(a).sum() for a in matrices.values())),
        left_out=tuple(sorted({s for t in found.values() for s in t.left_out})),
    )


def _label(m: str) -> str:
    return METHOD_LABELS.get(m, m)


def _est(e: Estimate, digits: int = 1) -> str:
    if e.n == 0:
        return "—"
    if e.runs < 2:
        return f"{e.point:.{digits}f}"
    return f"{e.point:.{digits}f} [{e.lo:.{digits}f}, {e.hi:.{digits}f}]"


def aggregate_markdown(runs: Sequence[RunRecord], *, reps: int = REPS, seed: int = 0) -> str | None:
    """``aggregate.md``: per protocol with runs, each method's IQM and mean with 95 % intervals and the
    probability-of-improvement matrix; None without any run."""
    lines = [
        "# Aggregates over seeds x targets (Agarwal et al. 2021)",
        "",
        "Per protocol, every (seed, target) of every robot: IQM (25 % trimmed mean) and mean with 95 % "
        "stratified bootstrap intervals (seeds resampled within each target slot; "
        f"{reps} replicates, seed {seed}), and P(row > column): the probability that a run of the row's "
        "method beats a run of the column's on the same target slot (ties half), averaged over slots, "
        f"with its interval ({min(reps, REPS_SMALL)} replicates, runs resampled independently per method); "
        "bold where the interval lies above 0.5. A single seed gives no interval. Still score: "
        "100 × (R − Still) / (100 − Still) per target; 0 is standing still, negative is worse; a "
        f"target with 100 − Still < {MIN_HEADROOM:g} has none.",
        "",
    ]
    any_data = False
    for p in protocols_with_runs(runs):
        agg = aggregate_data(runs, p, reps=reps, seed=seed)
        if agg is None:
            continue
        any_data = True
        methods = list(agg.iqm)
        lines += [f"## `{p}`: {SCORE_LABELS[agg.score]}", ""]
        lines += ["| Method | IQM [95 %] | Mean [95 %] | runs (seeds × targets) |", "|---|---|---|---|"]
        for m in methods:
            e = agg.iqm[m]
            lines.append(f"| {_label(m)} | {_est(e)} | {_est(agg.mean[m])} | {e.n} ({e.runs} × {e.tasks}) |")
        seeds = ", ".join(str(s) for s in agg.seeds)
        lines += ["", f"Seeds: {seeds}."]
        if agg.left_out:
            left = ", ".join(str(s) for s in agg.left_out)
            lines.append(f"Left out (another number of targets than the other seeds): seeds {left}.")
        if agg.no_headroom:
            lines.append(f"{agg.no_headroom} (method, seed, target) cells without headroom left out.")
        if len(methods) > 1:
            lines += ["", "| P(row > column) | " + " | ".join(_label(m) for m in methods) + " |"]
            lines.append("|---|" + "---|" * len(methods))
            for x in methods:
                cells = []
                for y in methods:
                    if (x, y) not in agg.improvement:
                        cells.append("—" if x == y else "n/a (other targets)")
                        continue
                    e = agg.improvement[(x, y)]
                    text = f"{e.point:.2f} [{e.lo:.2f}, {e.hi:.2f}]"
                    both = agg.iqm[x].runs >= 2 and agg.iqm[y].runs >= 2
                    cells.append(f"**{text}**" if both and e.lo > 0.5 else text)
                lines.append(f"| {_label(x)} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) if any_data else None


def plot_profile(agg: ProtocolAggregate, protocol: str):
    """Performance profile of one protocol: per method the fraction of runs above tau, 95 % band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for j, (m, prof) in enumerate(agg.profiles.items()):
        color = f"C{j % 10}"  # the colors of the learning curves (the tables' method order)
        ax.plot(prof.taus, prof.fraction, color=color, label=f"{METHOD_LABELS.get(m, m)} (n={prof.n})")
        ax.fill_between(prof.taus, prof.lo, prof.hi, color=color, alpha=0.2, linewidth=0)
    if agg.score == "still":
        ax.axvline(0.0, color="k", linestyle="--", linewidth=1, label="Still")
    ax.set_xlabel("still score τ" if agg.score == "still" else "normalized return τ")
    ax.set_ylabel("fraction of runs with score > τ")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{protocol}: performance profile (95 % bands)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
