"""`python -m mrcom.agents.train`: train the world model on <workdir>/dataset (resumes)."""

from __future__ import annotations

import json

from ._cli import config_from_args, default_workdir, parser
from ._stages import run_train


def main(argv: list[str] | None = None) -> None:
    p = parser("Train the MrCoM world model on <workdir>/dataset into <workdir>/worldmodel.")
    args = p.parse_args(argv)
    cfg = config_from_args(args)
    workdir = args.workdir or default_workdir(cfg)
    path = run_train(cfg, workdir, progress=not args.no_progress)
    print(json.dumps(json.loads((path / "metrics.json").read_text()), indent=1))


if __name__ == "__main__":
    main()
