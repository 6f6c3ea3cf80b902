"""`python -m mrcom.agents.collect`: behaviour SAC policies per training scenario -> dataset directory."""

from __future__ import annotations

from ._cli import config_from_args, default_workdir, parser, printer, run_cli
from ._collect import run_collect


def main(argv: list[str] | None = None) -> None:
    p = parser(
        "Collect a multi-scenario dataset (shards + manifest.json) into <workdir>/dataset; resumes.",
        module="mrcom.agents.collect",
    )
    args = p.parse_args(argv)
    cfg = config_from_args(args)
    workdir = args.workdir or default_workdir(cfg)
    path = run_collect(cfg, workdir, log=printer, progress=not args.no_progress)
    print(f"dataset: {path}")


if __name__ == "__main__":
    run_cli(main, "mrcom.agents.collect")
