"""`python -m mrcom.agents.evaluate`: the former name of `python -m mrcom.agents.cli.pipeline`
(`mrcom-pipeline`), kept as an alias."""

from __future__ import annotations

from .cli.pipeline import cli, main

__all__ = ["main", "cli"]

if __name__ == "__main__":
    cli()
