"""`python -m mrcom.agents.adapt`: MrCoM-MBPO and model-free SAC on the target scenarios."""

from __future__ import annotations

import numpy as np

from ._cli import config_from_args, default_workdir, parser, printer, run_cli
from ._stages import run_adapt


def main(argv: list[str] | None = None) -> None:
    p = parser(
        "Adapt one SAC agent per target scenario with MrCoM-MBPO and with model-free SAC (same budget, same "
        "seeds); needs <workdir>/dataset and <workdir>/worldmodel (see mrcom.agents.collect / .train).",
        module="mrcom.agents.adapt",
    )
    args = p.parse_args(argv)
    cfg = config_from_args(args)
    workdir = args.workdir or default_workdir(cfg)
    out = run_adapt(cfg, workdir, log=printer, progress=not args.no_progress)
    for method, res in out.items():
        final = np.mean(res["curve_returns"][-1]) if res["curve_returns"] else float("nan")
        print(f"{method}: mean normalized return {final:.1f} after {cfg.adapt.real_steps} real steps")


if __name__ == "__main__":
    run_cli(main, "mrcom.agents.adapt")
