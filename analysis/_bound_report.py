"""The bound report: measure the constants of a trained world model, evaluate Theorem 6 and its
sensitivity, and write Markdown + PNG figures; across an Optuna study, how each searched parameter
moves each constant and the bound.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from analysis._bound import (  # noqa: E402
    CONSTANT_NAMES,
    BoundConstants,
    compose_substitution,
    compose_triangle,
    theorem6,
    theorem6_terms,
)
from analysis._io import atomic_savefig, atomic_write_text  # noqa: E402
from analysis._sensitivity import sensitivity_table  # noqa: E402

__all__ = [
    "Measured",
    "measure_constants",
    "target_bound",
    "dominant_term",
    "trivial_bound",
    "write_bound_report",
    "write_study_bound_report",
]

SYMBOLS = {
    "eps_t": "ε_T",
    "eps_s": "ε_S",
    "eps_pi": "ε_π",
    "c_t": "C_T",
    "c_pi": "C_π",
    "r_max": "R",
    "gamma": "γ",
}


@dataclasses.dataclass(frozen=True)
class Measured:
    """Constants with, for each, where its value came from (estimator or user-given).

    ``extras``: diagnostics of the estimators (e.g. ``eps_t_floor``, ``prior_posterior_tv``).
    ``gaps``: per target, the real gap of the adapted policy (``TargetGap.to_dict()``), or empty.
    ``run``: what the run is (path, ablation, seed, loss weights, m), for reports over many runs.
    """

    constants: BoundConstants
    sources: dict[str, str]
    extras: dict[str, float] = dataclasses.field(default_factory=dict)
    gaps: tuple[dict, ...] = ()
    run: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "constants": {k: float(v) for k, v in self.constants._asdict().items()},
            "sources": dict(self.sources),
            "extras": dict(self.extras),
            "gaps": [dict(g) for g in self.gaps],
            "run": dict(self.run),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Measured:
        return cls(
            BoundConstants(**{k: float(d["constants"][k]) for k in CONSTANT_NAMES}),
            dict(d.get("sources", {})),
            dict(d.get("extras", {})),
            tuple(d.get("gaps", ())),
            dict(d.get("run", {})),
        )


def target_bound(m: Measured, gap: dict) -> BoundConstants:
    """The constants of one target: the run's eps_T, eps_S, C_T, R, gamma with that target's eps_pi, C_pi."""
    return m.constants._replace(eps_pi=float(gap["eps_pi"]), c_pi=float(gap["c_pi"]))


def dominant_term(c: BoundConstants) -> str:
    """The error source (``eps_t``, ``eps_s`` or ``eps_pi``) carrying the largest part of eq. 24."""
    terms = {k: float(v) for k, v in theorem6_terms(c).items()}
    return max(terms, key=terms.__getitem__)


def trivial_bound(c: BoundConstants) -> float:
    """``2 R / (1 - gamma)``: no two returns with |r| <= R differ by more."""
    return 2.0 * float(c.r_max) / (1.0 - float(c.gamma))


def measure_constants(
    model,
    data,
    key,
    *,
    noise_std: float = 0.1,
    num_windows: int = 64,
    r_max: float | None = None,
    gamma: float,
    gamma_source: str = "given",
    eps_pi: float | None = None,
    c_pi: float | None = None,
) -> Measured:
    """Estimate eps_T, eps_S, C_T from a world model and its data; take the rest from the arguments.

    Arguments:
        model: a trained ``mrcom.worldmodel.MrCoM``.
        data: its ``MultiScenarioData``.
        key: PRNG key for the sampled windows.
        noise_std: std of the Add-G probe for eps_S.
        num_windows: windows of the data (shared by the three estimators).
        r_max: R; default the largest |reward| in the data.
        gamma: the discount (the CLI takes the world model's config's, eq. 14); ``gamma_source``
            says where it came from in the report.
        eps_pi, c_pi: policy constants when measured elsewhere (``analysis._real_gap``); default 0,
            recorded as "not measured".

    Returns:
        ``Measured`` (constants, sources and the estimators' diagnostics).
    """
    from analysis._wm_constants import worldmodel_constants

    wm = worldmodel_constants(model, data, key, noise_std=noise_std, num_windows=num_windows)
    sources = {
        "eps_t": f"TV(fit of whitened posterior-vs-prior residuals of (u, h), N(0, I)), Monte Carlo; "
        f"{num_windows} windows; max over scenarios (calibrated-model floor {wm['eps_t_floor']:.3g})",
        "eps_s": f"mean L2 latent shift under Add-G noise std {noise_std}; {num_windows} windows; "
        "max over scenarios",
        "c_t": "max TV-Lipschitz constant of s~_{t-1} -> N(u_t, h_t) w.r.t. the L2 latent distance",
    }
    values = {k: wm[k] for k in ("eps_t", "eps_s", "c_t")}
    if r_max is None:
        values["r_max"] = float(np.max(np.abs(np.asarray(data.reward))))
        sources["r_max"] = "largest |reward| in the dataset"
    else:
        values["r_max"], sources["r_max"] = float(r_max), "given"
    values["gamma"], sources["gamma"] = float(gamma), gamma_source
    for name, v in (("eps_pi", eps_pi), ("c_pi", c_pi)):
        values[name] = 0.0 if v is None else float(v)
        sources[name] = (
            "not measured (0 assumed; pass it to include the policy terms)" if v is None else "given"
        )
    extras = {k: float(v) for k, v in wm.items() if k not in values}
    extras["obs_skip"] = float(bool(getattr(model.spec, "obs_skip", False)))
    return Measured(BoundConstants(**{k: values[k] for k in CONSTANT_NAMES}), sources, extras)


# Theorem 6's scope when the model also reads o_{t-1} (MrCoM's `obs_skip`, `mrcom` but not `mrcom-paper`)
SKIP_SCOPE = (
    "**Scope.** This model reads the previous observation o_{t-1} beside its latent (`obs_skip`): its "
    "prior, posterior, decoder and reward head, and so the policy through the decoded observation, depend "
    "on it. ε_S, C_T and C_π above are measured in the latent with o_{t-1} held at its real value, so the "
    "model's state is (s~, o_{t-1}), not f(o) alone, and Theorem 6 as printed does not cover it: the "
    "numbers are the latent part of the bound. The bound as printed holds for `mrcom-paper` (no skip "
    'path); measure that model for it (docs/choices.md, "The bound and the skip path").'
)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def real_gap_lines(measured: Measured) -> list[str]:
    """Markdown: per target, G_real, G_model, the gap, eq. 24 with that target's policy constants,
    2R/(1-gamma) and the term of eq. 24 that dominates."""
    if not measured.gaps:
        return ["## Real gap", "", "No adapted policy in this run: the real gap was not measured."]
    lines = [
        "## Real gap",
        "",
        "Adapted MrCoM policy per target: discounted return in the real target scenario (G_real) and in "
        "the world model's rollouts from the same start states (G_model); the bound with that "
        "target's ε_π, C_π.",
        "",
        "| target | G_real | G_model | gap | eq. 24 | 2R/(1-γ) | gap / bound | dominant term |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for g in measured.gaps:
        c = target_bound(measured, g)
        b = float(theorem6(c))
        t = g["target"]
        name = f"{t.get('robot', '?')} v={t.get('target_speed', float('nan')):.2f}"
        lines.append(
            f"| {name} | {_fmt(g['g_real'])} | {_fmt(g['g_model'])} | {_fmt(g['gap'])} | {_fmt(b)} | "
            f"{_fmt(trivial_bound(c))} | {g['gap'] / b if b else float('nan'):.2g} | "
            f"{SYMBOLS[dominant_term(c)]} |"
        )
    return lines


def write_bound_report(
    measured: Measured, out: str | Path, title: str = "Generalization bound"
) -> list[Path]:
    """Write ``bound.md``, ``bound.json`` and figures (error-source shares, elasticities, bound vs gamma).

    Returns:
        The written files.
    """
    out = Path(out)
    c = measured.constants
    value = float(theorem6(c))
    terms = {k: float(v) for k, v in theorem6_terms(c).items()}
    rows = sensitivity_table(c)
    lines = [f"# {title}", "", "## Constants", "", "| constant | value | source |", "|---|---|---|"]
    lines += [
        f"| {SYMBOLS[k]} (`{k}`) | {_fmt(float(getattr(c, k)))} | {measured.sources.get(k, '')} |"
        for k in CONSTANT_NAMES
    ]
    lines += [
        "",
        "## Theorem 6 (eq. 24)",
        "",
        f"Bound on |G~^i(π) − G~_θ(π)|: **{_fmt(value)}**",
        "",
        f"For scale: with |r| <= R any two returns differ by at most 2R/(1-γ) = "
        f"{_fmt(2 * float(c.r_max) / (1 - float(c.gamma)))}; above that the bound is vacuous, but its split "
        "and sensitivities still say which error dominates.",
        "",
        "| part carried by | value | share |",
        "|---|---|---|",
    ]
    lines += [
        f"| {SYMBOLS[k]} | {_fmt(v)} | {v / value:.1%} |" if value else f"| {SYMBOLS[k]} | {_fmt(v)} | — |"
        for k, v in terms.items()
    ]
    lines += [
        "",
        "Composition of the lemmas (see docs/choices.md): Lemma 5 after substituting Lemmas 3-4 "
        f"gives {_fmt(float(compose_substitution(c)))}; Lemma 5 applied twice gives "
        f"{_fmt(float(compose_triangle(c)))}; eq. 24 lies between them.",
    ]
    if measured.extras.get("obs_skip"):
        lines += ["", SKIP_SCOPE]
    if measured.extras:
        lines += [
            "",
            "Estimator diagnostics: " + ", ".join(f"`{k}` = {_fmt(v)}" for k, v in measured.extras.items()),
        ]
    lines += [
        "",
        *real_gap_lines(measured),
        "",
        "## Sensitivity (jax.grad)",
        "",
        "| constant | value | ∂bound/∂constant | elasticity |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {SYMBOLS[r['constant']]} | {_fmt(r['value'])} | {_fmt(r['gradient'])} | {_fmt(r['elasticity'])} |"
        for r in rows
    ]
    lines += ["", "Elasticity = (∂bound/∂x)·x / bound: the % change of the bound per 1 % change of x.", ""]
    written = [atomic_write_text(out / "bound.md", "\n".join(lines))]
    payload = measured.to_dict() | {"bound": value, "terms": terms, "sensitivity": rows}
    payload["target_bounds"] = [float(theorem6(target_bound(measured, g))) for g in measured.gaps]
    written.append(atomic_write_text(out / "bound.json", json.dumps(payload, indent=2)))

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].bar([SYMBOLS[k] for k in terms], list(terms.values()), color=["C0", "C1", "C2"])
    axes[0].set_title(f"bound {_fmt(value)} by error source")
    shown = [r for r in rows if r["constant"] != "gamma"]  # gamma's elasticity dwarfs the others
    gamma_el = next(r["elasticity"] for r in rows if r["constant"] == "gamma")
    axes[1].bar([SYMBOLS[r["constant"]] for r in shown], [r["elasticity"] for r in shown], color="C3")
    axes[1].set_title(f"elasticity of the bound (γ: {_fmt(gamma_el)})")
    gammas = np.linspace(0.0, min(0.995, max(0.9, float(c.gamma) + 0.005)), 200)
    curve = np.asarray(theorem6(c._replace(gamma=gammas)))
    axes[2].semilogy(gammas, curve, label="eq. 24")
    axes[2].semilogy(gammas, 2 * float(c.r_max) / (1 - gammas), "k:", label="2R/(1-γ) (trivial)")
    axes[2].axvline(float(c.gamma), color="k", ls="--", lw=0.8)
    axes[2].legend(fontsize=7)
    axes[2].set_xlabel("γ")
    axes[2].set_title("bound vs γ (other constants fixed)")
    fig.tight_layout()
    written.append(atomic_savefig(fig, out / "bound.png", dpi=150))
    plt.close(fig)
    return written


def write_study_bound_report(
    rows: Sequence[tuple[dict[str, float], Measured]], out: str | Path, title: str = "Bound across the study"
) -> list[Path]:
    """How each searched parameter moves each constant and the bound: a scatter grid + a table.

    Arguments:
        rows: one (trial params, measured constants) per trial whose run could be measured.
        out: output directory (``study_bound.md``, ``study_bound.png``).
    """
    out = Path(out)
    params = sorted({p for params, _ in rows for p in params})
    quantities = ["eps_t", "eps_s", "eps_pi", "c_t", "c_pi", "bound"]

    def q(m: Measured, name: str) -> float:
        return float(theorem6(m.constants)) if name == "bound" else float(getattr(m.constants, name))

    lines = [f"# {title}", "", f"{len(rows)} trials measured.", ""]
    lines.append("| " + " | ".join(params) + " | " + " | ".join(quantities) + " |")
    lines.append("|" + "---|" * (len(params) + len(quantities)))
    for p, m in rows:
        lines.append(
            "| "
            + " | ".join(_fmt(float(p[k])) if k in p else "—" for k in params)
            + " | "
            + " | ".join(_fmt(q(m, k)) for k in quantities)
            + " |"
        )
    if len(rows) >= 3:
        lines += ["", "Spearman rank correlation of each parameter with each quantity:", ""]
        lines.append("| parameter | " + " | ".join(quantities) + " |")
        lines.append("|---|" + "---|" * len(quantities))
        for k in params:
            xs = [float(p[k]) for p, _ in rows if k in p]
            cells = []
            for name in quantities:
                ys = [q(m, name) for p, m in rows if k in p]
                cells.append(_fmt(_spearman(xs, ys)))
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
    written = [atomic_write_text(out / "study_bound.md", "\n".join(lines) + "\n")]
    if rows and params:

        def points(k: str, name: str) -> list[tuple[float, float]]:
            return [(float(p[k]), q(m, name)) for p, m in rows if k in p]

        written.append(save_scatter_grid(out / "study_bound.png", params, quantities, points, 2.4, 12))
    return written


def save_scatter_grid(
    path: Path,
    params: Sequence[str],
    quantities: Sequence[str],
    points: Callable[[str, str], list[tuple[float, float]]],
    row_height: float,
    size: float,
    *,
    sharex: Literal["col"] | bool = False,
    log_lambdas: bool = False,
) -> Path:
    """One scatter of ``points(param, quantity)`` per quantity (rows) and parameter (columns), saved at
    120 dpi; with ``log_lambdas`` the ``lambda*`` columns have a log x axis."""
    fig, axes = plt.subplots(
        len(quantities),
        len(params),
        figsize=(3 * len(params), row_height * len(quantities)),
        squeeze=False,
        sharex=sharex,
    )
    for j, p in enumerate(params):
        for i, q in enumerate(quantities):
            pts = points(p, q)
            ax = axes[i][j]
            ax.scatter([x for x, _ in pts], [y for _, y in pts], s=size)
            if log_lambdas and p.startswith("lambda"):
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            if i == len(quantities) - 1:
                ax.set_xlabel(p)
            if j == 0:
                ax.set_ylabel(SYMBOLS.get(q, q))
    fig.tight_layout()
    written = atomic_savefig(fig, path, dpi=120)
    plt.close(fig)
    return written


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), float)
    ranks[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        tie = x == v
        ranks[tie] = ranks[tie].mean()
    return ranks


def _spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either side is constant."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])


MeasureFn = Callable[[Path], Measured]
