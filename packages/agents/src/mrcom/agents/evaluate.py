"""`python -m mrcom.agents.evaluate`: the protocol runner (docs/design.md, section 7), N targets x S seeds."""

from __future__ import annotations

import json
from pathlib import Path

from mrcom.envs import PROTOCOLS

from ._cli import config_from_args, parser, printer, run_cli
from ._config import METHODS
from ._stages import run_protocol


def main(argv: list[str] | None = None) -> None:
    p = parser(
        "Run collect -> train -> adapt -> evaluate for every seed of each protocol (each stage skips "
        "work on disk); writes <workdir>/<protocol>-<ablation>/seed_<s>/results.json and a summary table.",
        workdir=False,
        module="mrcom.agents.evaluate",
    )
    p.add_argument("--protocols", nargs="+", default=None, help="protocols to run ('all' for every one)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds (the paper: 0 1 2 3 4)")
    p.add_argument("--workdir", type=Path, default=Path("runs/agents"), help="root directory of the runs")
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
        root = args.workdir / cfg.preset / f"{name}-{cfg.ablation}"
        table = run_protocol(cfg, root, args.seeds, log=printer, progress=not args.no_progress)
        print(table)


if __name__ == "__main__":
    run_cli(main, "mrcom.agents.evaluate")
