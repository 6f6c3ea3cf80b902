"""`mrcom-pipeline` (`python -m mrcom.agents.cli.pipeline`): collect -> train -> adapt -> evaluate for
every seed of each protocol (docs/design.md, section 7), N targets x S seeds."""

from __future__ import annotations

import json
from pathlib import Path

from mrcom.envs import PROTOCOLS

from .._cli import command, config_from_args, parser, printer
from .._config import METHODS
from .._pipeline import run_protocol
from .._workdir import RUNS_WORK

MODULE = "mrcom.agents.cli.pipeline"


def main(argv: list[str] | None = None) -> None:
    p = parser(
        "Run collect -> train -> adapt -> evaluate for every seed of each protocol (each stage skips "
        "work on disk); writes <runs>/<preset>_<protocol>_<ablation>_seed<s>/results.json and the table "
        "over seeds <runs>/<preset>_<protocol>_<ablation>_summary.md.",
        workdir=False,
        module=MODULE,
    )
    p.add_argument("--protocols", nargs="+", default=None, help="protocols to run ('all' for every one)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds (the paper: 0 1 2 3 4)")
    p.add_argument("--runs", type=Path, default=RUNS_WORK, help="folder holding the run folders")
    p.add_argument(
        "--methods",
        nargs="+",
        default=None,
        metavar="METHOD",
        help=f"methods to adapt, of {list(METHODS)} ('all' for every one; default: the preset's)",
    )
    args = p.parse_args(argv)
    if args.methods == ["all"]:
        args.methods = list(METHODS)
    for m in args.methods or []:
        if m not in METHODS:
            p.error(f"--methods {m!r}: must be one of {list(METHODS)} or 'all'")
    if args.methods:
        args.overrides.append(f"adapt.methods={json.dumps(sorted(set(args.methods), key=METHODS.index))}")
    names = args.protocols or [args.protocol]
    if names == ["all"]:
        names = sorted(PROTOCOLS)
    for name in names:
        cfg = config_from_args(args, protocol=name)
        table = run_protocol(cfg, args.runs, args.seeds, log=printer, progress=not args.no_progress)
        print(table)


cli = command(main, MODULE)


if __name__ == "__main__":
    cli()
