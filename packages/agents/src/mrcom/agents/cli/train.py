"""`mrcom-train` (`python -m mrcom.agents.cli.train`): train a world model on the run's dataset (resumes)."""

from __future__ import annotations

import json

from .._cli import command, parser, run_args
from .._config import MODEL_METHODS
from .._stages import run_train
from .._workdir import Workdir

MODULE = "mrcom.agents.cli.train"


def main(argv: list[str] | None = None) -> None:
    p = parser(
        "Train a world model (--method, default mrcom) on <workdir>/dataset into "
        "<workdir>/worldmodels/<method>; resumes.",
        module=MODULE,
    )
    p.add_argument("--method", default="mrcom", choices=MODEL_METHODS, help="the world model to train")
    args, cfg, workdir = run_args(p, argv)
    run_train(cfg, workdir, progress=not args.no_progress, method=args.method)
    print(json.dumps(json.loads(Workdir(workdir).worldmodel_metrics(args.method).read_text()), indent=1))


cli = command(main, MODULE)


if __name__ == "__main__":
    cli()
