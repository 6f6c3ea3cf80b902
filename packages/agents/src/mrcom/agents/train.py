"""`python -m mrcom.agents.train`: train the world model on <workdir>/dataset (resumes)."""

from __future__ import annotations

import json

from ._cli import config_from_args, default_workdir, parser, run_cli
from ._config import MODEL_METHODS
from ._stages import run_train
from ._workdir import Workdir


def main(argv: list[str] | None = None) -> None:
    p = parser(
        "Train a world model (--method, default mrcom) on <workdir>/dataset into <workdir>/worldmodel "
        "(baselines: <workdir>/worldmodels/<method>); resumes.",
        module="mrcom.agents.train",
    )
    p.add_argument("--method", default="mrcom", choices=MODEL_METHODS, help="the world model to train")
    args = p.parse_args(argv)
    cfg = config_from_args(args)
    workdir = args.workdir or default_workdir(cfg)
    run_train(cfg, workdir, progress=not args.no_progress, method=args.method)
    print(json.dumps(json.loads(Workdir(workdir).worldmodel_metrics(args.method).read_text()), indent=1))


if __name__ == "__main__":
    run_cli(main, "mrcom.agents.train")
