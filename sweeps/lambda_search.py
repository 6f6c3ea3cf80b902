"""``python -m sweeps.lambda_search``: Optuna search over lambda_var, lambda_s, lambda_v and m.

Every trial runs in its own process (``sweeps._trial``). With the default objective ``model`` it trains
MrCoM on each of ``--model-seeds`` pipeline seeds (each its own dataset, collected once per study) and
scores the mean held-out world-model error (Sacred ``train`` runs, no adaptation); with ``adapt`` it runs
the whole ``pipeline`` on one seed and scores MrCoM's adaptation return. The trial keeps the Sacred run
ids (user attributes ``sacred_run_id``, ``sacred_run_ids``), each run the trial number
(``info.optuna_trial``). The median pruner stops bad trials from the intermediate values the trial
process reports itself; a pruned trial is PRUNED in Optuna (and in Sacred when a run was stopped). A
trial whose metrics turn NaN fails with the reason recorded, and the search goes on.

Storage: SQLite at ``runs/optuna.db`` by default; ``--storage postgresql://...`` lets workers on many
machines share one study (start the same command on each). Workers send heartbeats. However a run
dies (Ctrl-C, SIGTERM, SIGKILL of the worker or of its whole process group, the OOM killer), no
Sacred run stays RUNNING, the trial is failed with the reason (user attribute ``fail_reason``) and
its parameters are retried (``sweeps._recovery``). Running the same command again resumes the study
until ``--trials`` trials have finished (complete or pruned). At the end it prints the best trial, the
trials of a ``model`` study with 95 % intervals over their seeds and each one's paired difference to the
best (for ``adapt``: the best trial beside sac and sac-utd), the table of trials, and writes
``trials.csv``, ``trials.json``, ``trials.md``, ``best.json`` under
``runs/lambda_search/<study>/``.

Exit codes: 0 done; 1 no trial completed, or ``--max-failures`` trials failed in a row; 2 bad
arguments or unusable storage (nothing written); 130 interrupted (resume by running the same command).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from sweeps._search_args import UsageError, build_parser, validate_args
from sweeps._search_config import SEARCH_DELTA, SEARCH_SPLIT, SearchConfig
from sweeps._worker import STOP_REASONS, SweepBroken, Worker, collect_key, raise_stopped
from sweeps.layout import RunsDir, StudyDir


def _print_summary(study, paths: dict[str, Path]) -> None:
    from sweeps._report import best_table, best_trial, markdown_table, trial_rows

    best = best_trial(study)
    print()
    if best is None:
        print(f"study {study.study_name}: no completed trial yet")
    else:
        params = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items()
        )
        print(
            f"best trial {best.number}: value={best.value:.6g} {params} "
            f"(Sacred run {best.user_attrs.get('sacred_run_id')})"
        )
        methods = best_table(study)
        if methods is not None:
            print(methods)
    print(markdown_table(trial_rows(study)))
    print("written: " + ", ".join(str(p) for p in paths.values()))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m sweeps.lambda_search``; returns the exit code."""
    # Ctrl-C raises KeyboardInterrupt even when this process was started with SIGINT ignored (as a
    # background job of a non-interactive shell is): a sweep must always stop cleanly on SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):  # handled as Ctrl-C: stop the trial, say why, exit 130
        signal.signal(signum, raise_stopped)
    try:
        return _main(argv)
    except KeyboardInterrupt as e:  # before or after the trials (a stop during one is handled there)
        print(f"\nlambda_search: {STOP_REASONS.get(getattr(e, 'signame', 'SIGINT'))}", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        cfg, updates, enqueued = validate_args(args)
        study_name = args.study or f"lambda-{cfg.preset}-{cfg.objective}-seed{cfg.seed}" + (
            f"-{args.protocol}" if args.protocol else ""
        )
        runs = RunsDir(args.runs)
        from sweeps._storage import StorageError, make_storage

        if args.storage is None:
            storage_url, create_runs = runs.storage_url, True
        else:
            storage_url, create_runs = args.storage, False
            if (
                storage_url.startswith("sqlite:///")
                and not Path(storage_url[len("sqlite:///") :]).parent.is_dir()
            ):
                raise UsageError(f"storage={storage_url!r}: folder of the SQLite file does not exist")
        if create_runs:
            runs.root.mkdir(parents=True, exist_ok=True)
        try:
            storage = make_storage(storage_url, cfg.heartbeat_interval, cfg.grace_period, cfg.max_retry)
        except StorageError as e:
            raise UsageError(str(e)) from None
        study = _open_study(storage, study_name, cfg, args)
    except UsageError as e:
        print(f"lambda_search: error: {e}", file=sys.stderr)
        return 2
    for params in enqueued:  # skipped when a trial with these parameters exists (e.g. on resume)
        study.enqueue_trial(params, skip_if_exists=True)
    runs.root.mkdir(parents=True, exist_ok=True)
    study_dir = runs.study(study_name)
    collect_dir = (
        Path(args.collect_dir)
        if args.collect_dir
        else study_dir.collect(collect_key(cfg, args.protocol, updates))
    )
    sacred_dir: Path | None
    if args.sacred_dir:
        sacred_dir = Path(args.sacred_dir)
    else:
        sacred_dir = None if (args.mongo or args.sql) else runs.sacred
    jax_cache = Path(args.jax_cache) if args.jax_cache else runs.jax_cache
    worker = Worker(study, storage, cfg, args, updates, study_dir, collect_dir, sacred_dir, jax_cache)
    summary = {
        "pipeline_updates": updates,
        "preset": cfg.preset,
        "objective": cfg.objective,
        "direction": cfg.direction,
        "seeds": list(cfg.trial_seeds),
        "storage": _redacted(storage_url),
        "search": cfg.to_dict(),
    }
    code = 0
    try:
        worker.loop()
    except KeyboardInterrupt as e:
        what = STOP_REASONS.get(getattr(e, "signame", "SIGINT"))
        print(f"{what}: run the same command again to resume the study", file=sys.stderr, flush=True)
        code = 130
    except SweepBroken as e:
        print(f"lambda_search: {e}", file=sys.stderr)
        code = 1
    paths = _write_report(study, study_dir, summary)
    _print_summary(study, paths)
    if code == 0 and not any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
        code = 1
    return code


def _redacted(url: str) -> str:
    from sweeps._storage import _redact

    return _redact(url)


def _write_report(study, study_dir: StudyDir, summary: dict[str, Any]) -> dict[str, Path]:
    from sweeps._report import write_report

    return write_report(study, study_dir, summary)


def _open_study(storage, name: str, cfg: SearchConfig, args):
    """Create the study or load it; a study created with another objective, preset or seeds is refused."""
    import optuna

    existing = {s.study_name: s for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    n_existing = 0
    if name in existing:
        attrs = existing[name].user_attrs
        mine = {"objective": cfg.objective, "preset": cfg.preset, "seeds": list(cfg.trial_seeds)}
        for key, value in mine.items():
            if key in attrs and attrs[key] != value:
                raise UsageError(
                    f"study={name!r} was created with {key}={attrs[key]!r}, not {value!r}"
                    "; choose another --study"
                )
        n_existing = existing[name].n_trials
    seed = cfg.seed + 1_000_003 * n_existing
    if args.storage is not None:  # several workers may start together: make their samplers differ
        seed = int.from_bytes(
            hashlib.sha256(f"{seed}:{socket.gethostname()}:{os.getpid()}".encode()).digest()[:4]
        )
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        load_if_exists=True,
        direction=cfg.direction,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(cfg.pruner_startup_trials, cfg.pruner_warmup_steps),
    )
    if name not in existing:
        study.set_user_attr("objective", cfg.objective)
        study.set_user_attr("preset", cfg.preset)
        study.set_user_attr("seeds", list(cfg.trial_seeds))
        study.set_user_attr("split", SEARCH_SPLIT)
        study.set_user_attr("search_delta", SEARCH_DELTA[cfg.preset])
        study.set_user_attr("search", cfg.to_dict())
    return study


if __name__ == "__main__":
    sys.exit(main())
