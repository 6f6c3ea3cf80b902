"""The bound over many runs: one report with every run's constants, bound and real gap, the paper's
mechanism claim tested across the ablations, and how the loss weights and m move the constants.

Runs are found under one or more folders (``find_runs``): Sacred run directories (``run.json``) and
pipeline workdirs (``config.json`` + ``worldmodel/``), each measured once (``measure_run``) and
cached as JSON under ``<out>/measured/`` (keyed by checkpoint, its modification time and the
measuring options), so a second report over the same runs re-measures nothing.

Mechanism claim (paper, end of section 4): latent factorization lowers eps_T, L_s lowers eps_S and
L_v lowers eps_pi. Tested as ``full < wo_d`` on eps_T, ``full < wo_ls`` on eps_S and
``full < wo_lv`` on eps_pi, with the ablation runs that share the full runs' preset, protocol,
loss weights and m. "holds" compares the means over seeds; "separated" asks every full seed to be
below every ablation seed (with two seeds per group, a weak test: say so in a report).
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from analysis._bound import BoundConstants, theorem6  # noqa: E402
from analysis._bound_report import (  # noqa: E402
    SYMBOLS,
    Measured,
    _fmt,
    _spearman,
    dominant_term,
    target_bound,
    trivial_bound,
)
from analysis._io import atomic_savefig, atomic_write_text  # noqa: E402
from analysis._sensitivity import sensitivity_table  # noqa: E402
from mrcom.agents import Workdir  # noqa: E402
from mrcom.worldmodel import checkpoint_path  # noqa: E402
from sweeps.layout import SacredRun  # noqa: E402

__all__ = ["find_runs", "measure_runs", "mechanism_rows", "write_runs_report", "CLAIMS", "STUDY_PARAMS"]

# (constant, ablation, what the paper says lowers it)
CLAIMS: tuple[tuple[str, str, str], ...] = (
    ("eps_t", "wo_d", "latent factorization (d) lowers ε_T"),
    ("eps_s", "wo_ls", "meta-state regularization L_s lowers ε_S"),
    ("eps_pi", "wo_lv", "meta-value regularization L_v lowers ε_π"),
)
STUDY_PARAMS = ("lambda_var", "lambda_s", "lambda_v", "m")
MEASURED = ("eps_t", "eps_s", "eps_pi", "c_t", "c_pi")
_SETTING = ("preset", "protocol", "lambda_var", "lambda_s", "lambda_v", "m")


def find_runs(roots: Sequence[str | Path]) -> list[Path]:
    """Sacred run dirs and pipeline workdirs under ``roots`` (each root may itself be one), sorted.

    A workdir that a Sacred run points at (``info.json`` ``paths.workdir``) is listed once, as the run.
    """
    found: list[Path] = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"runs={str(root)!r}: not a directory")
        candidates = [root, *sorted(p for p in root.rglob("*") if p.is_dir() and "_sources" not in p.parts)]
        for d in candidates:
            wd = Workdir(d)
            if SacredRun(d).run_json.is_file() or (wd.config.is_file() and wd.worldmodel().is_dir()):
                found.append(d)
    covered = set()
    for d in found:
        info = SacredRun(d).info_json
        if info.is_file():
            w = json.loads(info.read_text()).get("paths", {}).get("workdir")
            if w:
                covered.add(Path(w).resolve())
    runs = [d for d in found if SacredRun(d).run_json.is_file() or d.resolve() not in covered]
    return sorted(dict.fromkeys(runs), key=lambda p: (str(p.parent), _natural(p.name)))


def _natural(name: str):
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _cache_key(run: Path, options: dict) -> str:
    from analysis._bound_cli import resolve_run

    ckpt = resolve_run(run).checkpoint
    f = checkpoint_path(ckpt)
    blob = json.dumps([str(run.resolve()), str(f.resolve()), f.stat().st_mtime, options], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def measure_runs(
    runs: Sequence[Path],
    cache_dir: Path | None,
    measure: Callable[..., Measured],
    options: dict,
    progress: bool = True,
) -> tuple[list[Measured], list[str]]:
    """Measure every run (or read it from ``cache_dir``); a run that cannot be measured is skipped.

    Returns:
        (measured runs, one line per skipped run).
    """
    from tqdm import tqdm

    done, skipped = [], []
    for run in tqdm(runs, desc="runs", disable=not progress):
        try:
            cached = None if cache_dir is None else cache_dir / f"{_cache_key(run, options)}.json"
            if cached is not None and cached.is_file():
                done.append(Measured.from_dict(json.loads(cached.read_text())))
                continue
            m = measure(run, **options)
            if cached is not None:
                atomic_write_text(cached, json.dumps(m.to_dict(), indent=1))
            done.append(m)
        except ValueError as err:
            skipped.append(f"{run}: {err}")
    return done, skipped


@functools.lru_cache(maxsize=4096)
def _bound_of(c: tuple[float, ...]) -> float:
    return float(theorem6(BoundConstants(*c)))


def bound_of(c: BoundConstants) -> float:
    """Eq. 24 as a float (memoized: reports evaluate it for the same constants many times)."""
    return _bound_of(tuple(float(x) for x in c))


def measured_policy(m: Measured) -> bool:
    """Whether eps_pi and C_pi were measured (not the 0 assumed without an adapted policy)."""
    return not any(m.sources.get(k, "").startswith("not measured") for k in ("eps_pi", "c_pi"))


def _value(m: Measured, name: str) -> float:
    if name in ("eps_pi", "c_pi", "bound") and not measured_policy(m):
        return float("nan")  # statistics leave out the 0 assumed without a policy (and its partial bound)
    if name == "bound":
        return bound_of(m.constants)
    if name == "gap":
        return float(np.mean([g["gap"] for g in m.gaps])) if m.gaps else float("nan")
    return float(getattr(m.constants, name))


def _setting(m: Measured) -> tuple:
    return tuple(m.run.get(k) for k in _SETTING)


def _groups(measured: Sequence[Measured]) -> dict[tuple, list[Measured]]:
    out: dict[tuple, list[Measured]] = {}
    for m in measured:
        out.setdefault((m.run.get("ablation"), _setting(m)), []).append(m)
    return out


def _stats(ms: Sequence[Measured], name: str) -> tuple[float, float, int]:
    v = np.array([_value(m, name) for m in ms], float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan"), int(v.size)


def mechanism_rows(measured: Sequence[Measured]) -> list[dict]:
    """The paper's three predicted orderings, each with the full and ablation groups' mean, std, n.

    The full group is the setting with the most full-ablation runs that has ablation runs too.

    Returns:
        One dict per claim: claim, constant, ablation, full/ablated (mean, std, n, values), holds,
        separated (None when a group is missing).
    """
    groups = _groups(measured)
    fulls = [(s, ms) for (a, s), ms in groups.items() if a == "full"]
    with_ablations = [(s, ms) for s, ms in fulls if any(a != "full" and t == s for a, t in groups)]
    pool = with_ablations or fulls
    setting, full = max(pool, key=lambda x: len(x[1])) if pool else (None, [])
    rows = []
    for name, ablation, claim in CLAIMS:
        abl = groups.get((ablation, setting), [])
        fv = [_value(m, name) for m in full]
        av = [_value(m, name) for m in abl]
        row: dict[str, Any] = {
            "claim": claim,
            "constant": name,
            "ablation": ablation,
            "full": _stats(full, name),
            "ablated": _stats(abl, name),
            "full_values": fv,
            "ablated_values": av,
            "holds": None,
            "separated": None,
        }
        if fv and av and all(np.isfinite(fv)) and all(np.isfinite(av)):
            row["holds"] = bool(np.mean(fv) < np.mean(av))
            row["separated"] = bool(max(fv) < min(av))
        rows.append(row)
    return rows


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
            *(_fmt(_value(m, k)) if np.isfinite(_value(m, k)) else "—" for k in MEASURED),
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
    groups = _groups(measured)
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
        lines.append(f"| {ablation} | {st} | " + " | ".join(_ms(_stats(ms, q)) for q in quantities) + " |")
    lines += ["", "## Real gap against the bound, per target", "", *_gap_table(measured)]

    # sensitivity: elasticities at the median constants of the full runs, and the study's parameters
    full, params = _study(measured)
    ref = full or list(measured)
    finite = lambda k: [v for v in (_value(m, k) for m in ref) if np.isfinite(v)]
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
                pts = [(x, _value(m, q)) for x, m in zip(xs, sel, strict=True) if np.isfinite(_value(m, q))]
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
        qs = [*MEASURED, "bound"]
        fig, axes = plt.subplots(
            len(qs), len(params), figsize=(3 * len(params), 2.2 * len(qs)), squeeze=False, sharex="col"
        )
        for j, p in enumerate(params):
            for i, q in enumerate(qs):
                pts = [(float(m.run[p]), _value(m, q)) for m in full if m.run.get(p) is not None]
                ax = axes[i][j]
                ax.scatter([a for a, _ in pts], [b for _, b in pts], s=14)
                if p.startswith("lambda"):
                    ax.set_xscale("log")
                    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
                if i == len(qs) - 1:
                    ax.set_xlabel(p)
                if j == 0:
                    ax.set_ylabel(SYMBOLS.get(q, q))
        fig.tight_layout()
        written.append(atomic_savefig(fig, out / "sensitivity.png", dpi=120))
        plt.close(fig)
    return written


def print_skipped(skipped: Sequence[str]) -> None:
    if skipped:
        print("skipped:\n  " + "\n  ".join(skipped), file=sys.stderr)
