"""`mrcom-collect` (`python -m mrcom.agents.cli.collect`): behaviour SAC policies per training scenario ->
the run's dataset."""

from __future__ import annotations

from .._cli import command, parser, printer, run_args
from .._collect import run_collect

MODULE = "mrcom.agents.cli.collect"


def main(argv: list[str] | None = None) -> None:
    p = parser(
        "Collect a multi-scenario dataset (shards + manifest.json) into <workdir>/dataset; resumes.",
        module=MODULE,
    )
    args, cfg, workdir = run_args(p, argv)
    path = run_collect(cfg, workdir, log=printer, progress=not args.no_progress)
    print(f"dataset: {path}")


cli = command(main, MODULE)


if __name__ == "__main__":
    cli()
