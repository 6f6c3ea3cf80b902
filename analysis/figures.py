"""Paper tables and figures from recorded runs (nothing is re-trained).

``python -m analysis.figures --runs runs/sacred --out figures/`` (``mrcom-figures``) writes, per preset
found in the runs (``<out>/<preset>/``):

- ``table1.md``/``table1.tex``, ``table2.*``, ``table3.*``: robots x methods for the parts that were
  run, each cell the IQM of the normalized return over seeds x targets with its 95 % stratified
  bootstrap interval and ``n=seeds×targets`` (``analysis._table_cells``, ``analysis._tables``), Still
  as the first column, bold only where the best method's interval lies above every other's; a table
  with no run is not written, and one line ("Not run: ...", in the table and in ``index.md``) names the
  parts left out;
- ``aggregate.md``: per protocol, the still score (0 standing still, 100 the maximum) of every method
  over all targets, IQM and mean with 95 % intervals, and the probability of improvement of each method
  over each other with its interval (``analysis._significance``);
- ``profile_<protocol>.png``: performance profiles (fraction of runs whose still score is above tau) with
  95 % bands;
- ``figure3_ablation.png`` (+ ``figure3_ablation.md`` with the numbers) when ablation runs exist;
- ``curves_<protocol>.png``: adaptation learning curves, mean over seeds x targets with a 95 % bootstrap
  band, and the Still reference as a dashed line;
- ``wm_kstep.png``: world-model k-step observation error;
- with ``--study-storage`` (and ``--study-name``): ``optuna_history.png``, ``optuna_importances.png``,
  ``optuna_trials.md`` (written to ``<out>/``).

``index.md`` in each folder lists what was written and what was missing; ``<out>/index.md`` says which
runs were used and is rewritten on every call.

Which runs: every run below ``--runs``, Sacred run directories (``runs/sacred``) or plain run folders
(``runs/work``, written by ``mrcom-pipeline``) alike; of those the evaluation runs (not Optuna trials),
the latest per (preset, protocol, ablation, seed). When the runs hold only the trials of a lambda
search (the README's main job), the study's best trial is shown instead, with the sac and sac-utd
baselines it ran beside: the study from ``--study-storage`` or ``<runs>/../optuna.db`` when that file
exists, else the trial whose MrCoM return is highest. A search of the (default) ``model`` objective
adapts nothing: then the study's plots and trial table are written from ``<runs>/../optuna.db``.
``--include-study-runs`` tabulates every trial.

Intervals: ``--reps`` bootstrap replicates (default 10,000) drawn with ``--bootstrap-seed`` (default 0):
the same runs and seed give the same numbers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from analysis._aggregate import REPS, REPS_SMALL
from analysis._io import atomic_savefig, atomic_write_text
from analysis._plots import (
    ABLATION_LABELS,
    ABLATIONS,
    ablation_data,
    curve_data,
    kstep_data,
    plot_ablation,
    plot_curves,
    plot_kstep,
)
from analysis._runs import RunRecord, evaluation_runs, latest_per_key, load_run, load_runs
from analysis._significance import aggregate_data, aggregate_markdown, plot_profile, protocols_with_runs
from analysis._table_cells import CellStats, cell_stats, robot_mean_stats, table_data
from analysis._table_layout import ALL_ROW, MEAN_ROW, TABLE_SPECS, TableSpec, not_run
from analysis._tables import format_cell, table_latex, table_markdown
from sweeps.layout import RunsDir

__all__ = [
    "TABLE_SPECS",
    "TableSpec",
    "CellStats",
    "RunRecord",
    "load_run",
    "load_runs",
    "latest_per_key",
    "evaluation_runs",
    "MEAN_ROW",
    "ALL_ROW",
    "not_run",
    "aggregate_data",
    "aggregate_markdown",
    "cell_stats",
    "robot_mean_stats",
    "table_data",
    "table_markdown",
    "table_latex",
    "ablation_data",
    "curve_data",
    "kstep_data",
    "plot_ablation",
    "plot_curves",
    "plot_kstep",
    "write_figures",
    "main",
]


def _ablation_markdown(data) -> str:
    lines = [
        "## Figure 3: module ablations (MrCoM normalized return, IQM over seeds x targets with its "
        "stratified bootstrap 95 % interval, n=seeds×targets per seed)",
        "",
    ]
    for protocol, per_robot in data.items():
        lines += [
            f"### `{protocol}`",
            "",
            "| Robot | " + " | ".join(ABLATION_LABELS[a] for a in ABLATIONS) + " |",
        ]
        lines.append("|---|" + "---|" * len(ABLATIONS))
        for robot, row in per_robot.items():
            cells = [format_cell(row[a]) for a in ABLATIONS]
            lines.append(f"| {robot.capitalize()} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_preset(
    runs: Sequence[RunRecord],
    out: Path,
    formats: Sequence[str] = ("png",),
    *,
    reps: int = REPS,
    seed: int = 0,
) -> list[Path]:
    """Write every table and figure for one preset's runs into ``out``. Returns the written paths.

    ``reps`` and ``seed``: the bootstrap's replicates (table and aggregate intervals; the probability of
    improvement, profiles and curve bands use at most 2000) and seed.
    """
    import matplotlib.pyplot as plt

    written: list[Path] = []
    notes: list[str] = []
    steps = ["tables", "aggregate", "figure3", "curves", "kstep"]
    for step in tqdm(steps, desc=f"figures {out.name}", leave=False):
        if step == "tables":
            for spec in TABLE_SPECS.values():
                md = table_markdown(runs, spec, reps=reps, seed=seed)
                tex = table_latex(runs, spec, reps=reps, seed=seed)
                if md is None or tex is None:
                    continue
                written.append(atomic_write_text(out / f"{spec.name}.md", md))
                written.append(atomic_write_text(out / f"{spec.name}.tex", tex))
            missing = not_run(runs)
            if missing:
                notes.append("Tables not run (left out): " + ", ".join(missing) + ".")
        elif step == "aggregate":
            text = aggregate_markdown(runs, reps=reps, seed=seed)
            if text is None:
                notes.append("Aggregates: no full-model run; not written.")
                continue
            written.append(atomic_write_text(out / "aggregate.md", text))
            small = min(reps, REPS_SMALL)
            for proto in protocols_with_runs(runs):
                agg = aggregate_data(runs, proto, reps=small, seed=seed)
                if agg is None:
                    continue
                fig = plot_profile(agg, proto)
                written += [atomic_savefig(fig, out / f"profile_{proto}.{f}", dpi=150) for f in formats]
                plt.close(fig)
        elif step == "figure3":
            data = ablation_data(runs, reps=min(reps, REPS_SMALL), seed=seed)
            if not data:
                notes.append("Figure 3: no ablation runs recorded (ablation != 'full'); not drawn.")
                continue
            written.append(atomic_write_text(out / "figure3_ablation.md", _ablation_markdown(data)))
            fig = plot_ablation(data)
            written += [atomic_savefig(fig, out / f"figure3_ablation.{f}", dpi=150) for f in formats]
            plt.close(fig)
        elif step == "curves":
            protocols = sorted(
                {
                    p
                    for r in runs
                    if r.ablation == "full" and r.results is not None and r.results.get("curves")
                    if (p := r.protocol) is not None
                }
            )
            if not protocols:
                notes.append("Learning curves: no run recorded `curves`; not drawn.")
            for p in protocols:
                fig = plot_curves(runs, p, reps=min(reps, REPS_SMALL), seed=seed)
                written += [atomic_savefig(fig, out / f"curves_{p}.{f}", dpi=150) for f in formats]
                plt.close(fig)
        elif step == "kstep":
            protocols = sorted(
                {
                    p
                    for r in runs
                    if r.results is not None and (r.results.get("worldmodel") or {})
                    if (p := r.protocol) is not None
                }
            )
            if not protocols:
                notes.append("World-model k-step error: no run recorded `worldmodel`; not drawn.")
                continue
            fig = plot_kstep(runs, protocols)
            written += [atomic_savefig(fig, out / f"wm_kstep.{f}", dpi=150) for f in formats]
            plt.close(fig)
    index = ["# Tables and figures", "", f"{len(runs)} runs with results.", ""]
    index += [f"- [{p.name}]({p.name})" for p in written]
    if notes:
        index += ["", "## Missing", ""] + [f"- {n}" for n in notes]
    written.append(atomic_write_text(out / "index.md", "\n".join(index) + "\n"))
    return written


def write_study(
    storage: str, study_name: str | None, out: Path, formats: Sequence[str] = ("png",)
) -> list[Path]:
    """Write the lambda-search history, parameter importances and trial table of an Optuna study."""
    import matplotlib.pyplot as plt

    from analysis._optuna_plots import (
        load_study,
        study_history_figure,
        study_importances,
        study_importances_figure,
        study_table,
    )

    study = load_study(storage, study_name)
    written: list[Path] = []
    fig = study_history_figure(study)
    written += [atomic_savefig(fig, out / f"optuna_history.{f}", dpi=150) for f in formats]
    plt.close(fig)
    text = [f"# Optuna study `{study.study_name}`", "", study_table(study), ""]
    imp = study_importances(study)
    if imp is None:
        text.append("Parameter importances: fewer than 2 complete trials; not computed.")
    else:
        imp_fig = study_importances_figure(study)
        assert imp_fig is not None  # importances exist, so the study has >= 2 complete trials
        written += [atomic_savefig(imp_fig, out / f"optuna_importances.{f}", dpi=150) for f in formats]
        plt.close(imp_fig)
        text += [
            "## Parameter importances (Optuna's default evaluator)",
            "",
            "| parameter | importance |",
            "|---|---|",
        ]
        text += [f"| {k} | {v:.3f} |" for k, v in imp.items()]
    written.append(atomic_write_text(out / "optuna_trials.md", "\n".join(text) + "\n"))
    return written


def write_figures(
    runs_root: str | Path,
    out: str | Path,
    *,
    preset: str | None = None,
    study_storage: str | None = None,
    study_name: str | None = None,
    formats: Sequence[str] = ("png",),
    include_study_runs: bool = False,
    reps: int = REPS,
    bootstrap_seed: int = 0,
) -> list[Path]:
    """Read the runs under ``runs_root`` and write tables/figures under ``out/<preset>/``.

    Runs that belong to an Optuna trial (``info.json`` has ``optuna_trial``) are hyper-parameter search
    trials with varying lambdas, not evaluation seeds, so they are left out unless
    ``include_study_runs``.

    Arguments:
        runs_root: a folder of runs: Sacred's (``runs/sacred``) or plain run folders (``runs/work``).
        out: output directory.
        preset: only this preset (default: every preset found, one folder each).
        study_storage, study_name: an Optuna study to plot (optional).
        formats: figure formats ("png", "pdf", "svg").
        include_study_runs: also tabulate the runs of Optuna trials.
        reps, bootstrap_seed: the bootstrap's replicates and seed (``write_preset``).

    Returns:
        The written files.
    """
    for f in formats:
        if f not in ("png", "pdf", "svg"):
            raise ValueError(f"format={f!r}: must be one of png, pdf, svg")
    if reps < 100:
        raise ValueError(f"reps={reps}: at least 100 bootstrap replicates")
    out = Path(out)
    every = load_runs(runs_root)
    if include_study_runs:
        runs, used = latest_per_key(every), "every run, Optuna trials included (--include-study-runs)"
    else:
        runs, used = latest_per_key(evaluation_runs(every)), "the evaluation runs (Optuna trials left out)"
        if not runs:
            storage = study_storage or _default_storage(runs_root)
            runs, used = best_trial_runs(every, storage, study_name)
    presets = sorted({str(r.preset) for r in runs})
    if preset is not None:
        if preset not in presets:
            raise ValueError(f"preset={preset!r}: no run with results has it; found {presets}")
        presets = [preset]
    written: list[Path] = []
    for p in presets:
        mine = [r for r in runs if str(r.preset) == p]
        written += write_preset(mine, out / p, formats, reps=reps, seed=bootstrap_seed)
    notes = ""
    if study_storage is not None:
        written += write_study(study_storage, study_name, out, formats)
    elif not runs and (default := _default_storage(runs_root)) is not None:
        try:  # a search of the model objective: its trials train world models only, its study is the result
            written += write_study(default, study_name, out, formats)
        except ValueError as e:
            notes = f"Study plots left out: {e}.\n\n"
    ids = ", ".join(r.run_id for r in runs) or "none"
    body = f"# Tables and figures\n\nRuns under `{runs_root}`: {used}.\n\nRuns used: {ids}.\n\n{notes}"
    if written:
        body += "Written:\n\n" + "".join(f"- `{p.relative_to(out)}`\n" for p in written) + "\n"
    if not runs:
        body += "No run with results.\n"
    written.append(atomic_write_text(out / "index.md", body))
    print(f"runs used: {used}: {ids}", file=sys.stderr)
    return written


def _default_storage(runs_root: str | Path) -> str | None:
    """``sqlite:///<runs>/../optuna.db`` (where the lambda search keeps its study) if the file exists."""
    db = RunsDir(Path(runs_root).parent).optuna_db
    return f"sqlite:///{db.as_posix()}" if db.is_file() else None


def best_trial_runs(
    runs: Sequence[RunRecord], storage: str | None, study_name: str | None = None
) -> tuple[list[RunRecord], str]:
    """The runs of a lambda search's best trial, and a sentence saying how it was chosen.

    The study's own best trial when `storage` is given (opened read-only: nothing is created); else
    the trial whose runs have the highest mean MrCoM return. Returns ([], reason) without trial runs.
    """
    trials = [r for r in runs if r.results is not None and r.info.get("optuna_trial") is not None]
    if not trials:
        if any(r.info.get("optuna_trial") is not None for r in runs):
            return [], "no evaluation run; the Optuna trials trained world models only (objective model)"
        return [], "no evaluation run and no Optuna trial run"
    if storage is not None:
        from analysis._optuna_plots import load_study

        study = load_study(storage, study_name)
        done = [t for t in study.trials if t.state.name == "COMPLETE"]
        if done:
            best = study.best_trial.number
            chosen = [r for r in trials if int(r.info["optuna_trial"]) == best]
            if chosen:
                value = f"{study.best_value:.2f}"
                how = f"the best trial (number {best}, value {value}) of study {study.study_name!r}"
                return latest_per_key(chosen), how

    def mrcom_mean(r: RunRecord) -> float:
        assert r.results is not None  # `trials` keeps runs with results only
        values = [v for vs in r.results["methods"].get("mrcom", {}).values() for v in vs]
        return sum(values) / len(values) if values else float("-inf")

    best_run = max(trials, key=mrcom_mean)
    best = int(best_run.info["optuna_trial"])
    chosen = [r for r in trials if int(r.info["optuna_trial"]) == best]
    return latest_per_key(chosen), f"the trial with the highest MrCoM return (number {best}; no study found)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.figures",
        description="From recorded runs (Sacred run directories or plain run folders with results.json), "
        "under <out>/<preset>/: table1-3.md/.tex (IQM of the normalized return over seeds x targets with "
        "its 95 % stratified bootstrap interval and n=seeds x targets, Still beside it, bold only where "
        "the best interval lies above every other; tables and parts not run are left out and listed on "
        "one line of index.md); aggregate.md (per protocol the still score, 0 = standing still: IQM and "
        "mean with 95 % intervals, and the probability of improvement of each method over each other); "
        "profile_<protocol>.png (performance profiles with 95 % bands); curves_<protocol>.png (learning "
        "curves with 95 % bands and the Still line); figure3_ablation.png/.md; wm_kstep.png; with "
        "--study-storage the lambda-search plots. index.md lists what was written and what was not.",
    )
    parser.add_argument(
        "--runs",
        default="runs/sacred",
        help="folder of runs, searched at any depth: Sacred's (runs/sacred) or plain run folders (runs/work)",
    )
    parser.add_argument("--out", default="figures", help="output directory (default: figures)")
    parser.add_argument(
        "--preset", default=None, help="only runs of this preset (default: all, one folder each)"
    )
    parser.add_argument(
        "--study-storage", default=None, help="Optuna storage URL, e.g. sqlite:///runs/optuna.db"
    )
    parser.add_argument(
        "--study-name", default=None, help="Optuna study name (optional if the storage has one)"
    )
    parser.add_argument("--formats", default="png", help="comma-separated figure formats (png,pdf,svg)")
    parser.add_argument(
        "--include-study-runs",
        action="store_true",
        help="also tabulate runs of Optuna trials (left out by default: they vary the lambdas)",
    )
    parser.add_argument(
        "--reps",
        type=int,
        default=REPS,
        help=f"bootstrap replicates of the table and aggregate intervals (default: {REPS}; the probability "
        f"of improvement, profiles and curve bands use at most {REPS_SMALL})",
    )
    parser.add_argument(
        "--bootstrap-seed", type=int, default=0, help="seed of the bootstrap (same seed, same intervals)"
    )
    args = parser.parse_args(argv)
    try:
        written = write_figures(
            args.runs,
            args.out,
            preset=args.preset,
            study_storage=args.study_storage,
            study_name=args.study_name,
            formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()),
            include_study_runs=args.include_study_runs,
            reps=args.reps,
            bootstrap_seed=args.bootstrap_seed,
        )
    except (ValueError, KeyError) as err:
        parser.error(str(err))
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
