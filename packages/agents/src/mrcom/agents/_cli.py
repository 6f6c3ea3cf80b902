"""Shared command-line arguments of the mrcom.agents entry points."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from mrcom.envs import PROTOCOLS

from ._config import ABLATIONS, PRESETS, PipelineConfig, preset
from ._io import atomic_write_json
from ._workdir import default_workdir


def prog_name(module: str) -> str:
    """How a command was typed: its console script (`mrcom-collect`, ...), else `python -m <module>`
    (argparse would say `<file>.py`)."""
    script = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return script if script.startswith("mrcom-") else f"python -m {module}"


def run_cli(
    main: Callable[[], int | None], module: str | None = None, *, prog: str | None = None
) -> NoReturn:
    """Run a command's `main()`: bad input (ValueError, FileNotFoundError) is one line on stderr and
    exit 2, never a traceback; Ctrl-C says so and exits 130. The command is `python -m <module>` or `prog`."""
    prog = prog or prog_name(str(module))
    try:
        code = main()
    except (ValueError, FileNotFoundError) as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(
            f"{prog}: interrupted (finished stages and checkpoints are kept; rerun to resume)",
            file=sys.stderr,
        )
        sys.exit(130)
    sys.exit(code or 0)


def command(main: Callable[[], int | None], module: str) -> Callable[[], NoReturn]:
    """The console-script entry of a command module (`mrcom-collect = "...cli.collect:cli"`)."""

    def cli() -> NoReturn:
        run_cli(main, module)

    cli.__doc__ = f"The console script of `python -m {module}`."
    return cli


def script_parser(description: str, prog: str | None = None) -> argparse.ArgumentParser:
    """A command's bare parser: `--help` shows every option's default (the style of every MrCoM command)."""
    return argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )


def options_for(fn: Callable[..., Any], args: argparse.Namespace, *skip: str, **given: Any) -> dict[str, Any]:
    """The keyword arguments of `fn` that a command's parsed `args` hold under the parameters' own names
    (option `--eval-every` for parameter `eval_every`), less the names in `skip` (passed otherwise),
    with `given` (values computed from the options, e.g. `progress=not args.no_progress`) on top."""
    params = inspect.signature(fn).parameters
    return {**{k: v for k, v in vars(args).items() if k in params and k not in skip}, **given}


def write_command_record(
    path: Path, prog: str, argv: list[str] | None, started: float, **fields: Any
) -> None:
    """Write a command's JSON record atomically: how it was run (`command`: `prog` and `argv`, default
    `sys.argv[1:]`), its wall `seconds` since `started` (`time.time()`), then `fields`."""
    command = f"{prog} " + " ".join(sys.argv[1:] if argv is None else argv)
    atomic_write_json(path, {"command": command, "seconds": time.time() - started, **fields})


def parser(description: str, *, workdir: bool = True, module: str | None = None) -> argparse.ArgumentParser:
    p = script_parser(description, None if module is None else prog_name(module))
    p.add_argument(
        "--preset", default="quick", choices=PRESETS, help="named config (smoke: CI, quick: CPU, paper: GPU)"
    )
    p.add_argument("--protocol", default="table1-a", help=f"protocol, one of {sorted(PROTOCOLS)}")
    p.add_argument("--ablation", default="full", choices=ABLATIONS, help="world-model ablation")
    p.add_argument("--seed", type=int, default=0, help="seed of the run")
    add_set_option(
        p, "override a config field (VALUE parsed as JSON when possible), e.g. --set adapt.real_steps=5000"
    )
    if workdir:
        p.add_argument(
            "--workdir",
            type=Path,
            default=None,
            help="run folder (default runs/work/<preset>_<protocol>_<ablation>_seed<seed>)",
        )
    p.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bars")
    return p


def add_set_option(p: argparse.ArgumentParser, help: str) -> None:
    """The `--set SECTION.FIELD=VALUE` option of every MrCoM command (repeatable; `args.overrides`, a
    list for `parse_overrides`)."""
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE", help=help
    )


def parse_overrides(items: list[str], allowed: Mapping[str, Any] | None = None) -> dict:
    """The `--set` grammar of every MrCoM command: `["adapt.real_steps=5000", "seed=3"]` ->
    `{"adapt.real_steps": 5000, "seed": 3}` (VALUE parsed as JSON when possible, else a string).

    Arguments:
        items: the `--set` values, each `SECTION.FIELD=VALUE` or `FIELD=VALUE`.
        allowed: the config's keys (e.g. `PipelineConfig().to_dict()`: a section maps to its fields);
            a key outside it raises ValueError naming it and the allowed ones. `None`: the keys are
            checked by the config they are applied to.

    Returns:
        `{key: value}` in the order given (a later item wins).
    """
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: must be SECTION.FIELD=VALUE")
        key, raw = item.split("=", 1)
        key = key.strip()
        if allowed is not None:
            _check_key(key, allowed)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key] = value
    return out


def _check_key(key: str, allowed: Mapping[str, Any]) -> None:
    head, dot, field = key.partition(".")
    if head not in allowed:
        raise ValueError(f"--set {key}: unknown key {head!r}; allowed keys are {sorted(allowed)}")
    section = allowed[head]
    if dot and not isinstance(section, Mapping):
        raise ValueError(f"--set {key}: {head!r} is not a section; allowed keys are {sorted(allowed)}")
    if dot and field not in section:
        raise ValueError(
            f"--set {key}: unknown key {field!r} in section {head!r}; allowed keys are {sorted(section)}"
        )


def run_args(
    p: argparse.ArgumentParser, argv: list[str] | None
) -> tuple[argparse.Namespace, PipelineConfig, Path]:
    """Parse a one-run command's arguments: (args, its config, its run folder: `--workdir` or the default)."""
    args = p.parse_args(argv)
    cfg = config_from_args(args)
    return args, cfg, args.workdir or default_workdir(cfg)


def config_from_args(args: argparse.Namespace, protocol: str | None = None) -> PipelineConfig:
    return preset(
        args.preset,
        protocol or args.protocol,
        seed=args.seed,
        ablation=args.ablation,
        **parse_overrides(args.overrides),
    )


def printer(name: str, value: float, step: int) -> None:
    if name.startswith(("adapt/", "eval/", "collect/")):
        print(f"{name} = {value:.2f} (step {step})", flush=True)
