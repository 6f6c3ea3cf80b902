"""The lambda-search study: optimization history and parameter importances (Optuna's own plots)."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import optuna  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from optuna.visualization import matplotlib as optuna_mpl  # noqa: E402

__all__ = [
    "load_study",
    "study_history_figure",
    "study_importances",
    "study_importances_figure",
    "study_table",
]


def load_study(storage: str, study_name: str | None) -> optuna.Study:
    """Open a recorded study (SQLite or PostgreSQL URL); the name may be None if the storage has one.

    A SQLite file that does not exist is an error (looking a study up never creates a database).
    """
    if storage.startswith("sqlite:///") and not Path(storage[len("sqlite:///") :]).is_file():
        raise ValueError(f"study_storage={storage!r}: no such SQLite file")
    if study_name is None:
        names = optuna.get_all_study_names(storage)
        if len(names) != 1:
            raise ValueError(f"study_name=None: the storage holds {len(names)} studies {names}; name one")
        study_name = names[0]
    return optuna.load_study(study_name=study_name, storage=storage)


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def _optuna_figure(plot, study: optuna.Study) -> Figure:
    """``plot(study)``, one of Optuna's matplotlib plots, as its 6 x 4 in top-level Figure (Optuna draws
    on a fresh ``plt.subplots`` figure)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = plot(study)
    fig = ax.figure
    assert isinstance(fig, Figure), f"Optuna drew on a {type(fig).__name__}, not a top-level Figure"
    fig.set_size_inches(6, 4)
    fig.tight_layout()
    return fig


def study_history_figure(study: optuna.Study) -> Figure:
    """Optuna's ``plot_optimization_history`` (matplotlib backend) as a Figure."""
    return _optuna_figure(optuna_mpl.plot_optimization_history, study)


def study_importances(study: optuna.Study) -> dict[str, float] | None:
    """Optuna's default parameter importances, or None with fewer than 2 complete trials."""
    if len(_complete(study)) < 2:
        return None
    return dict(optuna.importance.get_param_importances(study))


def study_importances_figure(study: optuna.Study) -> Figure | None:
    """Optuna's ``plot_param_importances`` (matplotlib backend), or None with fewer than 2 complete trials."""
    if len(_complete(study)) < 2:
        return None
    return _optuna_figure(optuna_mpl.plot_param_importances, study)


def study_table(study: optuna.Study) -> str:
    """Markdown: one row per trial (number, state, value, params, Sacred run id)."""
    params = sorted({k for t in study.trials for k in t.params})
    lines = [
        "| trial | state | value | " + " | ".join(params) + " | sacred run |",
        "|---|---|---|" + "---|" * len(params) + "---|",
    ]
    for t in study.trials:
        value = "—" if t.value is None else f"{t.value:.4g}"
        ps = [
            f"{t.params[p]:.4g}" if isinstance(t.params.get(p), float) else str(t.params.get(p, "—"))
            for p in params
        ]
        run = str(t.user_attrs.get("sacred_run_id", "—"))
        lines.append(f"| {t.number} | {t.state.name} | {value} | " + " | ".join(ps) + f" | {run} |")
    return "\n".join(lines) + "\n"
