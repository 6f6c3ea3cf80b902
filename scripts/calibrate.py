"""`python scripts/calibrate.py`: how much headroom the reward leaves, per protocol and robot.

For the target scenarios of every Table 1 and Table 2 protocol (drawn from the protocol's evaluation
distribution) it measures the normalized return of:

- the reference policies of `mrcom.envs` that do not track the target: zero actions, pose holding (PD to
  the initial joint angles), uniform random actions, and the analytic still-upright robot;
- model-free SAC trained on each target from scratch, read at the quick preset's adaptation budget and at
  a long budget (the reachable ceiling), one population for every (protocol, robot) cell.

A benchmark separates methods only where the first group is low and the second high. Writes
``<workdir>/calibration.json`` and ``calibration.md``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from mrcom.agents import (
    atomic_write_text,
    evaluate_policy,
    preset,
    run_cli,
    run_sac,
    script_parser,
    write_command_record,
)
from mrcom.envs import POLICIES, PROTOCOLS, ROBOTS, Scenario, make, policy_returns, still_upright_return

__all__ = ["TABLE_PROTOCOLS", "calibration_targets", "reference_returns", "sac_returns", "main"]

PROG = "python scripts/calibrate.py"

TABLE_PROTOCOLS: tuple[str, ...] = tuple(n for n in PROTOCOLS if n.startswith(("table1", "table2")))


def calibration_targets(protocol: str, robot: str, n: int, seed: int) -> list[Scenario]:
    """``n`` target scenarios of ``robot`` from ``protocol``'s evaluation distribution."""
    dist = dataclasses.replace(PROTOCOLS[protocol].eval, robots=(robot,))
    return dist.sample(n, seed)


def reference_returns(targets: list[Scenario], episode_length: int, seed: int) -> dict[str, float]:
    """Mean normalized return of each reference policy (and the analytic still-upright robot)."""
    out = {
        p: float(policy_returns(targets, p, episode_length=episode_length, seed=seed).mean())
        for p in POLICIES
    }
    out["still_upright"] = float(still_upright_return(targets).mean())
    return out


def sac_returns(
    targets: list[Scenario], budgets: list[int], episode_length: int, seed: int, progress: bool = True
) -> np.ndarray:
    """SAC (the quick preset's hyper-parameters) on every target; (len(budgets), len(targets)) returns.

    One population trained for ``max(budgets)`` real steps, evaluated (deterministic policy, one episode)
    after each budget; the first ``b`` steps of the long run are exactly a ``b``-step run.
    """
    sac = preset("quick").sac
    budgets = sorted(budgets)
    env = make(targets, episode_length=episode_length)
    evals: dict[int, np.ndarray] = {}

    def eval_fn(state):
        rep = lambda e: make([s for s in targets for _ in range(e)], episode_length=episode_length)
        return evaluate_policy(state, rep, len(targets), 1, seed=seed + 1)

    def on_eval(step, ret):
        if step in budgets:
            evals[step] = ret

    period = int(np.gcd.reduce(budgets))
    run_sac(
        env,
        sac,
        budgets[-1],
        seed,
        eval_fn=eval_fn,
        eval_every=period,
        on_eval=on_eval,
        desc="calibrate sac",
        progress=progress,
    )
    return np.stack([evals[b] for b in budgets])


def _table(rows: list[dict], budgets: list[int]) -> str:
    cols = ["zero", "pose", "random", "still_upright"] + [f"sac_{b}" for b in budgets]
    head = "| protocol | robot | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 2) + "\n"
    body = "".join(
        f"| {r['protocol']} | {r['robot']} | "
        + " | ".join("" if r.get(c) is None else f"{r[c]:.1f}" for c in cols)
        + " |\n"
        for r in rows
    )
    return head + body


def main(argv: list[str] | None = None) -> None:
    p = script_parser(
        "Normalized return of zero, pose-holding, random, still-upright and SAC policies per "
        "protocol x robot (the reward's headroom); writes <workdir>/calibration.{json,md}.",
        PROG,
    )
    p.add_argument("--protocols", nargs="+", default=list(TABLE_PROTOCOLS), help="protocols to calibrate")
    p.add_argument("--robots", nargs="+", default=list(ROBOTS), help=f"any of {list(ROBOTS)}")
    p.add_argument("--targets", type=int, default=10, help="targets per cell for the reference policies")
    p.add_argument("--sac-targets", type=int, default=1, help="targets per cell for SAC (0: no SAC)")
    p.add_argument(
        "--budgets", type=int, nargs="+", default=[3000, 30000], help="SAC real-step budgets (quick, long)"
    )
    p.add_argument("--episode-length", type=int, default=1000, help="steps per episode")
    p.add_argument("--seed", type=int, default=0, help="seed of the targets, policies and SAC")
    p.add_argument("--workdir", type=Path, default=Path("runs/calibrate"), help="output directory")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = p.parse_args(argv)
    try:
        for name in args.protocols:
            if name not in PROTOCOLS:
                raise ValueError(f"--protocols {name!r}: must be one of {list(PROTOCOLS)}")
        for r in args.robots:
            if r not in ROBOTS:
                raise ValueError(f"--robots {r!r}: must be one of {list(ROBOTS)}")
        if args.targets < 1 or args.sac_targets < 0 or args.episode_length < 1 or min(args.budgets) < 1:
            raise ValueError("--targets, --episode-length and --budgets must be >= 1, --sac-targets >= 0")
    except ValueError as e:
        p.exit(2, f"calibrate: error: {e}\n")
    t0 = time.time()
    cells = [(name, robot) for name in args.protocols for robot in args.robots]
    rows = []
    for i, (name, robot) in enumerate(cells):
        targets = calibration_targets(name, robot, args.targets, args.seed + i)
        rows.append(
            {"protocol": name, "robot": robot, **reference_returns(targets, args.episode_length, args.seed)}
        )
        print(
            f"{name:9s} {robot:8s} "
            + " ".join(f"{k}={v:.1f}" for k, v in rows[-1].items() if k not in ("protocol", "robot")),
            flush=True,
        )
    if args.sac_targets:
        sac_targets, owner = [], []
        for i, _ in enumerate(cells):
            name, robot = cells[i]
            ts = calibration_targets(name, robot, args.sac_targets, 1000 + args.seed + i)
            sac_targets += ts
            owner += [i] * len(ts)
        ret = sac_returns(sac_targets, args.budgets, args.episode_length, args.seed, not args.no_progress)
        owned = np.array(owner)
        for i, row in enumerate(rows):
            for b, r in zip(sorted(args.budgets), ret, strict=True):
                row[f"sac_{b}"] = float(r[owned == i].mean())
    table = _table(rows, sorted(args.budgets) if args.sac_targets else [])
    write_command_record(
        args.workdir / "calibration.json",
        PROG,
        argv,
        t0,
        episode_length=args.episode_length,
        targets_per_cell=args.targets,
        sac_targets_per_cell=args.sac_targets,
        rows=rows,
    )
    atomic_write_text(args.workdir / "calibration.md", table)
    print(table)
    print(f"written: {args.workdir / 'calibration.json'}, {args.workdir / 'calibration.md'}")


if __name__ == "__main__":
    run_cli(main, prog=PROG)
