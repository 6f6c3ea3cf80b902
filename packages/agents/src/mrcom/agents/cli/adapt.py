"""`mrcom-adapt` (`python -m mrcom.agents.cli.adapt`): adapt every method of `adapt.methods` on the
target scenarios."""

from __future__ import annotations

import numpy as np

from .._cli import command, parser, printer, run_args
from .._stages import run_adapt

MODULE = "mrcom.agents.cli.adapt"


def main(argv: list[str] | None = None) -> None:
    p = parser(
        "Adapt one SAC agent per target scenario with each method of adapt.methods (MrCoM-MBPO, model-free "
        "SAC, ...: same budget, same seeds); needs <workdir>/dataset and the world models in "
        "<workdir>/worldmodels/ (see mrcom-collect, mrcom-train).",
        module=MODULE,
    )
    args, cfg, workdir = run_args(p, argv)
    out = run_adapt(cfg, workdir, log=printer, progress=not args.no_progress)
    for method, res in out.items():
        final = np.mean(res["curve_returns"][-1]) if res["curve_returns"] else float("nan")
        print(f"{method}: mean normalized return {final:.1f} after {cfg.adapt.real_steps} real steps")


cli = command(main, MODULE)


if __name__ == "__main__":
    cli()
