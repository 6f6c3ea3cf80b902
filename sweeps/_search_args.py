"""The command line of ``python -m sweeps.lambda_search``: its parser, the ``--set`` grammar and every
check that needs no disk or network (a bad value is one line on stderr, exit code 2)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mrcom.agents import add_set_option
from sweeps._search_config import (
    LOSS_WEIGHTS,
    OBJECTIVES,
    PARAM_PATHS,
    PRESETS,
    SEARCH_DELTA,
    SEARCH_PRESETS,
    SEARCH_SPLIT,
    SearchConfig,
    param_updates,
    search_config,
    trial_updates,
)

# --set keys the search sets itself, and the option to use instead
OWN_KEYS = {"seed": "--seed", "preset": "--preset", "protocol": "--protocol"}


class UsageError(Exception):
    """Bad command-line arguments or storage: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints the usage too)
        if "--with" in message:
            message += " (--with is now --set, once per update, e.g. --set worldmodel.steps=50)"
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (``--help`` shows every option and the preset defaults)."""
    presets = "; ".join(f"{k}: {v}" for k, v in SEARCH_PRESETS.items())
    p = _Parser(
        prog="python -m sweeps.lambda_search",
        description="Optuna search over MrCoM's loss weights (lambda_var, lambda_s, lambda_v) and context "
        "length m; every trial one Sacred pipeline run in its own process.",
        epilog=f"Search presets (merged on the defaults of SearchConfig): {presets}. "
        f"What a trial changes in its pipeline preset (SEARCH_DELTA; --set wins): {SEARCH_DELTA}",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--preset", default="quick", help=f"pipeline and search preset: {', '.join(PRESETS)}")
    p.add_argument(
        "--objective",
        default=None,
        help=f"{', '.join(OBJECTIVES)}: model minimizes the held-out world-model error (mean over "
        "--model-seeds seeds, no adaptation), adapt maximizes MrCoM's return (default: the preset's)",
    )
    p.add_argument(
        "--model-seeds",
        type=int,
        default=None,
        help="pipeline seeds per trial of objective model, --seed onwards (default: the preset's)",
    )
    p.add_argument(
        "--protocol", default=None, help="protocol named config of every trial (default: the preset's)"
    )
    p.add_argument(
        "--study", default=None, help="study name (default: lambda-<preset>-<objective>-seed<seed>)"
    )
    p.add_argument(
        "--trials", type=int, default=None, help="finished trials to reach (default: the preset's)"
    )
    p.add_argument(
        "--timeout", type=float, default=None, help="seconds after which this worker starts no new trial"
    )
    p.add_argument("--seed", type=int, default=0, help="sampler seed and first pipeline seed of every trial")
    p.add_argument("--storage", default=None, help="Optuna storage URL (default: sqlite:///<runs>/optuna.db)")
    p.add_argument(
        "--runs", default="runs", help="folder for everything written (SQLite, Sacred, trials, cache)"
    )
    p.add_argument("--sacred-dir", default=None, help="Sacred file-storage dir (default <runs>/sacred)")
    p.add_argument("--jax-cache", default=None, help="JAX compilation cache dir (default <runs>/jax_cache)")
    p.add_argument("--mongo", default=None, help="also record trials to MongoDB (MongoObserver URL)")
    p.add_argument("--sql", default=None, help="also record trials to an SQL database (SqlObserver URL)")
    p.add_argument(
        "--collect-dir",
        default=None,
        help="shared folder whose dataset/ all trials reuse (default: one per study and data config)",
    )
    for name in LOSS_WEIGHTS:
        p.add_argument(
            f"--{name.replace('_', '-')}",
            nargs=2,
            type=float,
            metavar=("LOW", "HIGH"),
            default=None,
            help=f"log-uniform range of {name} (default: the preset's)",
        )
    p.add_argument("--m", nargs=2, type=int, metavar=("LOW", "HIGH"), default=None, help="integer range of m")
    p.add_argument(
        "--max-failures", type=int, default=3, help="stop this worker after this many failed trials in a row"
    )
    p.add_argument(
        "--heartbeat", type=int, default=None, help="seconds between heartbeats (default: the preset's)"
    )
    p.add_argument(
        "--grace", type=int, default=None, help="seconds without heartbeat before a trial is stale"
    )
    p.add_argument(
        "--enqueue",
        action="append",
        default=[],
        metavar="JSON",
        help='parameters to try first (once per study), e.g. \'{"lambda_s": 0.1, "m": 4}\'',
    )
    add_set_option(
        p,
        "pipeline config of every trial (VALUE parsed as JSON when possible), e.g. "
        "--set worldmodel.steps=50 --set adapt.real_steps=500",
    )
    return p


def parse_updates(items: list[str]) -> dict[str, Any]:
    """``["a.b=3", "c=x"]`` -> ``{"a.b": 3, "c": "x"}``: the ``--set`` grammar of every MrCoM command
    (``mrcom.agents``' ``parse_overrides``); a key the pipeline config does not have, or one this
    command sets itself, is refused naming it and the allowed ones."""
    from mrcom.agents import PipelineConfig, parse_overrides

    for item in items:
        key = item.partition("=")[0].strip()
        if key in OWN_KEYS:
            raise UsageError(f"--set {item!r}: {key} is set by {OWN_KEYS[key]}")
    allowed = {k: v for k, v in PipelineConfig().to_dict().items() if k not in OWN_KEYS}
    try:
        return parse_overrides(items, allowed=allowed)
    except ValueError as e:
        raise UsageError(str(e)) from None


def validate_args(args: argparse.Namespace) -> tuple[SearchConfig, dict[str, Any], list[dict[str, Any]]]:
    """Every check that needs no disk or network: raises UsageError with one line."""
    try:
        cfg = search_config(
            args.preset,
            objective=args.objective,
            model_seeds=args.model_seeds,
            trials=args.trials,
            seed=args.seed,
            **{name: getattr(args, name) for name in PARAM_PATHS},
            heartbeat_interval=args.heartbeat,
            grace_period=args.grace,
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.max_failures < 1:
        raise UsageError(f"max_failures={args.max_failures}: must be >= 1")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"timeout={args.timeout}: must be > 0 seconds")
    if args.study is not None and not args.study.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UsageError(f"study={args.study!r}: use letters, digits, '-', '_', '.'")
    updates = trial_updates(cfg.preset, parse_updates(args.overrides))
    clash = [k for k in updates if k in PARAM_PATHS.values()]
    if clash:
        raise UsageError(f"--set {clash[0]}: searched by this study; set its range instead")
    if updates.get("envs.target_split", SEARCH_SPLIT) != SEARCH_SPLIT:
        raise UsageError(
            f"--set envs.target_split={updates['envs.target_split']!r}: a search scores trials on "
            f"{SEARCH_SPLIT!r} targets only (test targets are for the reported evaluation)"
        )
    enqueued = []
    for raw in args.enqueue:
        try:
            params = json.loads(raw)
        except json.JSONDecodeError as e:
            raise UsageError(f"--enqueue {raw!r}: not JSON ({e.msg})") from None
        if not isinstance(params, dict) or set(params) - set(PARAM_PATHS):
            raise UsageError(f"--enqueue {raw!r}: must be an object with keys among {', '.join(PARAM_PATHS)}")
        enqueued.append(params)
    if args.protocol is not None:
        from mrcom.envs import PROTOCOLS

        if args.protocol not in PROTOCOLS:
            raise UsageError(f"protocol={args.protocol!r}: must be one of {', '.join(PROTOCOLS)}")
    _check_pipeline(cfg, args.protocol, updates)
    return cfg, updates, enqueued


def _check_pipeline(cfg: SearchConfig, protocol: str | None, updates: dict[str, Any]) -> None:
    """Build the trials' PipelineConfig at both ends of the m range, so that a bad ``--set`` value or
    an m the prompt cannot fill is refused now (exit 2) rather than in every trial."""
    from mrcom.agents import preset
    from sweeps.experiment import RUN_KEYS

    pipeline_updates = {k: v for k, v in updates.items() if k not in RUN_KEYS}
    for m in cfg.m:
        try:
            preset(cfg.preset, protocol, seed=cfg.seed, **pipeline_updates, **param_updates({"m": m}))
        except (ValueError, TypeError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UsageError(f"trial config with m={m}: {first}") from None
