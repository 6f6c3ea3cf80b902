"""The report over many runs of the bound: ``bound.md``, ``bound.json`` and figures (tables of every run's
constants, bound and real gap; the mechanism claim; the loss weights' and m's effect on the constants)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis._bound import BoundConstants  # noqa: E402
from analysis._bound_report import (  # noqa: E402
    SYMBOLS,
    Measured,
    _fmt,
    _spearman,
    dominant_term,
    save_scatter_grid,
    target_bound,
    trivial_bound,
)
from analysis._bound_runs import (  # noqa: E402
    MEASURED,
    STUDY_PARAMS,
    bound_of,
    group_stats,
    measured_policy,
    measured_value,
    mechanism_rows,
    setting_groups,
)
from analysis._io import atomic_savefig, atomic_write_text  # noqa: E402
from analysis._sensitivity import sensitivity_table  # noqa: E402

__all__ = ["write_runs_report"]


def _ms(stats: tuple[float, float, int]) -> str:
    mean, std, n = stats
    if n == 0:
        return "—"
    return f"{_fmt(mean)} ± {_fmt(std)} (n={n})" if n > 1 else f"{_fmt(mean)} (n=1)"


def _yes(x: bool | None) -> str:
    return "—" if x is None else ("yes" if x else "no")


def _names(measured: Sequence[Measured]) -> list[str]:
    """Short unique names: the shortest path suffix (>= 2 parts) that tells the runs apart."""
    paths = [Path(m.run.get("path", m.run.get("name", "?"))) for m in measured]
    for k in range(2, 1 + max((len(p.parts) for p in paths), default=2)):
        names = ["/".join(p.parts[-k:]) for p in paths]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def _main_table(measured: Sequence[Measured]) -> list[str]:
    head = (
        "| run | ablation | seed | λ_s | λ_v | m | ε_T | ε_S | ε_π | C_T | C_π | eq. 24 "
        "| real gap (mean, max) | 2R/(1-γ) | dominant |"
    )
    lines = [head, "|" + "---|" * 15]
    for m, name in zip(measured, _names(measured), strict=True):
        r, c = m.run, m.constants
        gaps = [g["gap"] for g in m.gaps]
        gap = f"{_fmt(np.mean(gaps))}, {_fmt(max(gaps))}" if gaps else "—"
        cells = [
            name,
            str(r.get("ablation")),
            str(r.get("seed")),
            _fmt(r["lambda_s"]) if r.get("lambda_s") is not None else "—",
            _fmt(r["lambda_v"]) if r.get("lambda_v") is not None else "—",
            str(r.get("m")),
            *(_fmt(measured_value(m, k)) if np.isfinite(measured_value(m, k)) else "—" for k in MEASURED),
            _fmt(bound_of(c)) + ("" if measured_policy(m) else " *"),
            gap,
            _fmt(trivial_bound(c)),
            SYMBOLS[dominant_term(c)],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _gap_table(measured: Sequence[Measured]) -> list[str]:
    lines = [
        "| run | target | G_real | G_model | gap | eq. 24 (target's ε_π, C_π) | gap / bound | dominant |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m, run_name in zip(measured, _names(measured), strict=True):
        for g in m.gaps:
            c = target_bound(m, g)
            b = bound_of(c)
            t = g["target"]
            name = f"{t.get('robot', '?')} v={t.get('target_speed', float('nan')):.2f}"
            lines.append(
                f"| {run_name} | {name} "
                f"| {_fmt(g['g_real'])} | {_fmt(g['g_model'])} | {_fmt(g['gap'])} | {_fmt(b)} | "
                f"{g['gap'] / b if b else float('nan'):.2g} | {SYMBOLS[dominant_term(c)]} |"
            )
    return lines


def _study(measured: Sequence[Measured]) -> tuple[list[Measured], list[str]]:
    """Full-ablation runs and the study parameters that vary across them."""
    full = [m for m in measured if m.run.get("ablation") == "full"]
    params = [p for p in STUDY_PARAMS if len({m.run.get(p) for m in full if m.run.get(p) is not None}) > 1]
    return full, params


def write_runs_report(
    measured: Sequence[Measured], out: str | Path, skipped: Sequence[str] = ()
) -> list[Path]:
    """Write ``bound.md``, ``bound.json`` and the figures of a report over many runs (module docstring).

    Arguments:
        measured: the measured runs.
        out: output directory.
        skipped: one line per run that could not be measured (listed in the report).

    Returns:
        The written files.
    """
    out = Path(out)
    if not measured:
        raise ValueError("runs: none could be measured" + (f" ({skipped[0]})" if skipped else ""))
    quantities = [*MEASURED, "bound", "gap"]
    lines = [
        "# Generalization bound (Theorem 6) over many runs",
        "",
        f"{len(measured)} runs measured"
        + (f", {len(skipped)} skipped (listed at the end)." if skipped else "."),
        "Units: ε_T, ε_π are total variations; ε_S is an L2 distance in the latent space; C_T (TV) and C_π "
        "(L1) are Lipschitz constants w.r.t. that distance, so each product in eq. 24 is a TV. "
        "How each constant is estimated: the `sources` of bound.json and docs/choices.md.",
        "",
        "## All runs",
        "",
        *_main_table(measured),
        "",
        "Real gap: |G_real − G_model| of the adapted MrCoM policy per target (discounted with γ, mean over "
        "start states), mean and max over the run's targets. Dominant: the error source carrying the "
        "largest part of eq. 24. *: no adapted policy (e.g. a pruned trial): ε_π, C_π not measured, the "
        "bound without its policy terms; such runs are left out of every statistic of ε_π, C_π and the "
        "bound.",
        "",
        "## The mechanism claim (paper, section 4)",
        "",
        "| claim | constant | full | ablated | holds (means) | separated (all seeds) |",
        "|---|---|---|---|---|---|",
    ]
    mech = mechanism_rows(measured)
    for r in mech:
        lines.append(
            f"| {r['claim']} | {SYMBOLS[r['constant']]} | {_ms(r['full'])} "
            f"| {r['ablation']}: {_ms(r['ablated'])} "
            f"| {_yes(r['holds'])} | {_yes(r['separated'])} |"
        )
    groups = setting_groups(measured)
    lines += [
        "",
        "Each constant, mean ± std over seeds, per ablation (the setting of each group: preset, protocol, "
        "λ_var, λ_s, λ_v, m):",
        "",
        "| ablation | setting | " + " | ".join(SYMBOLS.get(q, q) for q in quantities) + " |",
        "|---|---|" + "---|" * len(quantities),
    ]
    for (ablation, setting), ms in sorted(groups.items(), key=lambda kv: (str(kv[0][1]), str(kv[0][0]))):
        st = ", ".join("—" if v is None else (_fmt(v) if isinstance(v, float) else str(v)) for v in setting)
        lines.append(
            f"| {ablation} | {st} | " + " | ".join(_ms(group_stats(ms, q)) for q in quantities) + " |"
        )
    lines += ["", "## Real gap against the bound, per target", "", *_gap_table(measured)]

    # sensitivity: elasticities at the median constants of the full runs, and the study's parameters
    full, params = _study(measured)
    ref = full or list(measured)
    finite = lambda k: [v for v in (measured_value(m, k) for m in ref) if np.isfinite(v)]
    med = BoundConstants(*(float(np.median(finite(k))) if finite(k) else 0.0 for k in BoundConstants._fields))
    rows = sensitivity_table(med)
    lines += [
        "",
        "## Sensitivity",
        "",
        f"Elasticities of eq. 24 at the median constants of the {len(ref)} "
        + ("full-ablation runs" if full else "runs")
        + " (% change of the bound per 1 % change of the constant):",
        "",
        "| constant | median value | ∂bound/∂constant | elasticity |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {SYMBOLS[r['constant']]} | {_fmt(r['value'])} | {_fmt(r['gradient'])} | {_fmt(r['elasticity'])} |"
        for r in rows
    ]
    lines += [""]
    if params and len(full) >= 3:
        lines += [
            f"How the searched parameters move the measured constants across the {len(full)} full-ablation "
            "runs (the lambda study's trials and the full ablation runs): Spearman rank correlation "
            "(ε_π, C_π, the bound and the gap over the runs with an adapted policy only; — where fewer than "
            "3 distinct parameter values remain).",
            "",
            "| parameter | range | " + " | ".join(SYMBOLS.get(q, q) for q in quantities) + " |",
            "|---|---|" + "---|" * len(quantities),
        ]
        for p in params:
            sel = [m for m in full if m.run.get(p) is not None]
            xs = [float(m.run[p]) for m in sel]
            cells = []
            for q in quantities:
                pts = [
                    (x, measured_value(m, q))
                    for x, m in zip(xs, sel, strict=True)
                    if np.isfinite(measured_value(m, q))
                ]
                enough = len({a for a, _ in pts}) >= 3  # at least 3 distinct parameter values
                cells.append(_fmt(_spearman([a for a, _ in pts], [b for _, b in pts])) if enough else "—")
            lines.append(f"| {p} | {_fmt(min(xs))}–{_fmt(max(xs))} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Figure: `sensitivity.png` (each constant against each parameter, log-x for the λ's).",
            "",
        ]
    else:
        lines += ["No study parameter varies across at least 3 full-ablation runs: no study sensitivity.", ""]
    if skipped:
        lines += ["## Skipped runs", "", *(f"- {s}" for s in skipped), ""]
    lines += [
        "Figures: `bound_vs_gap.png`, `mechanism.png`" + (", `sensitivity.png`." if params else "."),
        "",
    ]
    written = [atomic_write_text(out / "bound.md", "\n".join(lines))]
    payload = {
        "runs": [m.to_dict() | {"bound": bound_of(m.constants)} for m in measured],
        "mechanism": mech,
        "sensitivity_at_median": rows,
        "skipped": list(skipped),
    }
    written.append(atomic_write_text(out / "bound.json", json.dumps(payload, indent=1, default=float)))
    written += _figures(measured, mech, full, params, out)
    return written


def _figures(measured, mech, full, params, out: Path) -> list[Path]:
    written = []
    # bound vs real gap, per target
    fig, ax = plt.subplots(figsize=(7, 4))
    xs: list[int] = []
    gap: list[float] = []
    bnd: list[float] = []
    triv: list[float] = []
    labels: list[str] = []
    for m in measured:
        for g in m.gaps:
            c = target_bound(m, g)
            xs.append(len(xs))
            gap.append(max(g["gap"], 1e-6))
            bnd.append(bound_of(c))
            triv.append(trivial_bound(c))
            labels.append(m.run.get("ablation", "?"))
    if xs:
        ax.semilogy(xs, bnd, "o", label="eq. 24 (target's ε_π, C_π)")
        ax.semilogy(xs, triv, "k_", ms=12, label="2R/(1-γ)")
        ax.semilogy(xs, gap, "s", label="real gap |G_real − G_model|")
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=90, fontsize=6)
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no adapted policies: no real gap", ha="center", transform=ax.transAxes)
    ax.set_title("Theorem 6 against the real gap (one point per run x target)")
    fig.tight_layout()
    written.append(atomic_savefig(fig, out / "bound_vs_gap.png", dpi=130))
    plt.close(fig)

    # mechanism: each claimed constant, full vs ablated, seeds as points
    fig, axes = plt.subplots(1, len(mech), figsize=(3.2 * len(mech), 3.2), squeeze=False)
    for ax, r in zip(axes[0], mech, strict=True):
        for i, vals in enumerate((r["full_values"], r["ablated_values"])):
            if vals:
                ax.bar(i, np.mean(vals), color="C0" if i == 0 else "C1", alpha=0.5)
                ax.plot([i] * len(vals), vals, "k.", ms=8)
        ax.set_xticks([0, 1])
        ax.set_xticklabels(["full", r["ablation"]])
        ax.set_title(f"{SYMBOLS[r['constant']]}: holds={_yes(r['holds'])}", fontsize=9)
    fig.tight_layout()
    written.append(atomic_savefig(fig, out / "mechanism.png", dpi=130))
    plt.close(fig)

    if params and full:

        def points(p: str, q: str) -> list[tuple[float, float]]:
            return [(float(m.run[p]), measured_value(m, q)) for m in full if m.run.get(p) is not None]

        qs = [*MEASURED, "bound"]
        path = out / "sensitivity.png"
        written.append(save_scatter_grid(path, params, qs, points, 2.2, 14, sharex="col", log_lambdas=True))
    return written
