"""The table of a study's trials: printed, and written as CSV, JSON and Markdown."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from sweeps._plain import write_json_atomic, write_text_atomic
from sweeps.layout import SacredRun, StudyDir

COLUMNS = (
    "number",
    "state",
    "value",
    "value_of",
    "seed_values",
    "lambda_var",
    "lambda_s",
    "lambda_v",
    "m",
    "sacred_run_id",
    "retry_of",
    "duration_s",
    "reason",
)


def trial_rows(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per trial: number, state, value, the four parameters, Sacred run id, retry, reason."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        duration = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        reason = None
        if t.state == TrialState.FAIL:
            reason = t.user_attrs.get("fail_reason") or "worker lost (no heartbeat)"
        elif t.state == TrialState.PRUNED:
            reason = t.user_attrs.get("prune_reason")
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value if t.state in (TrialState.COMPLETE, TrialState.PRUNED) else None,
                # a pruned trial's value is its last intermediate value, not a final result
                "value_of": (
                    "final"
                    if t.state == TrialState.COMPLETE
                    else f"intermediate, step {t.last_step}"
                    if t.state == TrialState.PRUNED
                    else None
                ),
                # a model trial's objective on each of its seeds (its value is their mean)
                "seed_values": " / ".join(f"{v:.4g}" for v in t.user_attrs.get("seed_values") or []) or None,
                "lambda_var": t.params.get("lambda_var"),
                "lambda_s": t.params.get("lambda_s"),
                "lambda_v": t.params.get("lambda_v"),
                "m": t.params.get("m"),
                "sacred_run_id": t.user_attrs.get("sacred_run_id"),
                "retry_of": RetryHeartbeatStaleTrialCallback.retried_trial_number(t),
                "duration_s": round(duration, 1) if duration is not None else None,
                "reason": reason,
            }
        )
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a GitHub Markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r[c]).replace("|", "/") for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The best complete trial, or ``None`` if no trial completed."""
    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return None
    return study.best_trial


def best_methods_table(study: optuna.Study) -> str | None:
    """Per robot, the best trial's MrCoM return beside the paper's MrCoM (mrcom-paper) and the model-free
    sac and sac-utd of the same run, where the run has them.

    Read from the best trial's Sacred ``results.json`` artifact (``sacred_run_dir``); ``None`` when there
    is no complete trial or its run directory holds no results.
    """
    best = best_trial(study)
    run_dir = None if best is None else best.user_attrs.get("sacred_run_dir")
    path = None if run_dir is None else SacredRun(run_dir).results
    if best is None or path is None or not path.is_file():
        return None
    results = json.loads(path.read_text())
    methods = [m for m in ("mrcom", "mrcom-paper", "sac", "sac-utd") if m in results.get("methods", {})]
    robots = sorted({r for m in methods for r in results["methods"][m]})
    split = results.get("split", "test")
    lines = [
        f"best trial {best.number} on its {split} targets: normalized return, mean +- std over targets",
        "",
        "| robot | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for robot in robots:
        cells = []
        for m in methods:
            v = results["methods"][m].get(robot, [])
            cells.append(f"{statistics.fmean(v):.1f} +- {statistics.pstdev(v):.1f}" if v else "-")
        lines.append(f"| {robot} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def t_interval(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` with its Student t interval (NaN bounds for one value).

    With a trial's three seeds a bootstrap interval is no more than the range of the three; the t
    interval is the small-sample interval of a mean (docs/choices.md, "Sweeps: the main job's objective").
    """
    from scipy.stats import t as student_t

    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return mean, math.nan, math.nan
    half = float(student_t.ppf(0.5 + level / 2, n - 1)) * statistics.stdev(values) / math.sqrt(n)
    return mean, mean - half, mean + half


def model_trials_table(study: optuna.Study) -> str | None:
    """The complete trials of a ``model`` study, best first: the objective on each seed, its mean with a
    95 % t interval over the seeds, and the paired difference to the best trial on the same seeds (their
    datasets) with its t interval, bold where the interval lies above 0 (the best is better on these
    seeds' datasets beyond their noise). ``None`` for an ``adapt`` study or when no trial completed."""
    if study.user_attrs.get("objective") != "model":
        return None
    complete = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state == TrialState.COMPLETE and t.user_attrs.get("seed_values")
    ]
    if not complete:
        return None
    complete.sort(key=lambda t: statistics.fmean(t.user_attrs["seed_values"]))  # the trial's value
    best = complete[0].user_attrs["seed_values"]
    n = len(best)
    lines = [
        f"model objective (held-out k1/k5/k15 NMSE mean + value_equiv_rel, lower is better) over {n} seeds; "
        "95 % Student t intervals over the seeds; 'minus best': paired difference to the best trial on the "
        "same seeds, bold where it lies above 0",
        "",
        "| trial | lambda_var | lambda_s | lambda_v | m | per seed | mean [95 %] | minus best [95 %] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in complete:
        values = t.user_attrs["seed_values"]
        mean, low, high = t_interval(values)
        cell = "-"
        if t is not complete[0] and len(values) == n:
            d, dl, dh = t_interval([a - b for a, b in zip(values, best, strict=True)])
            cell = f"{d:+.4f} [{dl:+.4f}, {dh:+.4f}]"
            cell = f"**{cell}**" if dl > 0 else cell
        p = t.params
        lines.append(
            f"| {t.number} | {p['lambda_var']:.3g} | {p['lambda_s']:.3g} | {p['lambda_v']:.3g} | {p['m']} | "
            + " / ".join(f"{v:.4f}" for v in values)
            + f" | {mean:.4f} [{low:.4f}, {high:.4f}] | {cell} |"
        )
    return "\n".join(lines) + "\n"


def best_table(study: optuna.Study) -> str | None:
    """What the search says of its best trial: ``model_trials_table`` for a ``model`` study,
    ``best_methods_table`` for an ``adapt`` one."""
    return model_trials_table(study) or best_methods_table(study)


def write_report(study: optuna.Study, out_dir: StudyDir | Path, summary: dict[str, Any]) -> dict[str, Path]:
    """Write ``trials.csv``, ``trials.json``, ``trials.md`` and ``best.json`` to the study folder
    (atomically).

    Returns:
        The written paths by name.
    """
    out = out_dir if isinstance(out_dir, StudyDir) else StudyDir(out_dir)
    rows = trial_rows(study)
    best = best_trial(study)
    best_d = (
        None
        if best is None
        else {
            "number": best.number,
            "value": best.value,
            "params": best.params,
            "sacred_run_id": best.user_attrs.get("sacred_run_id"),
        }
    )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    header = f"# Study {study.study_name}\n\n" + "".join(f"- {k}: {v}\n" for k, v in summary.items()) + "\n"
    methods = best_table(study)
    if methods is not None:
        header += methods + "\n"
    paths = {
        "csv": write_text_atomic(out.trials_csv, buf.getvalue()),
        "json": write_json_atomic(out.trials_json, {"study": study.study_name, **summary, "trials": rows}),
        "md": write_text_atomic(out.trials_md, header + markdown_table(rows)),
        "best": write_json_atomic(out.best_json, {"study": study.study_name, **summary, "best": best_d}),
    }
    return paths
