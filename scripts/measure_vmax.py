"""`python scripts/measure_vmax.py`: v_max per robot, measured by SAC trained to run as fast as it can.

v_max is "the fastest forward speed under default dynamics". We train model-free SAC
(`mrcom.agents.run_sac`, the same learner as every baseline) on the default scenario of each robot
with a run-fast reward that keeps the benchmark's own standing term::

    r_run = stand * (1 + speed)          # stand in [0, 1] is the tracking reward's standing/upright term

(the Gymnasium shape "healthy bonus + forward velocity", with the bonus and the velocity both gated by
standing so that a flipped cheetah or a fallen walker earns nothing). Each robot is trained with
``--seeds`` independent agents in one vmapped population; every ``--eval-every`` steps each agent's
deterministic policy runs ``--eval-episodes`` fresh 1000-step episodes and we record its mean forward speed.

The statistic: per agent, the mean speed of its last ``--last`` evaluations; v_max is the best agent's value
(the fastest policy found; a lower bound on the true maximum, tighter with a larger budget). The curve, the
per-agent figures and the command line are written to ``<workdir>/vmax.json`` and ``vmax.png``; the
constants in `mrcom.envs.V_MAX` cite that file's figures (docs/choices.md).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from mrcom.agents import (
    SACConfig,
    options_for,
    record_episodes,
    run_cli,
    run_sac,
    script_parser,
    write_command_record,
)
from mrcom.envs import ROBOTS, Scenario, make

__all__ = ["RunFastEnv", "measure_vmax", "main"]

PROG = "python scripts/measure_vmax.py"


class RunFastEnv:
    """A VecEnv whose reward is the run-fast reward (``reward="run"``) or the forward speed (``"speed"``).

    Arguments:
        env: a VecEnv of `mrcom.envs.make` (its info carries "speed" and "stand").
        reward: "run" (``stand * (1 + speed)``, for training) or "speed" (for measuring).
    """

    def __init__(self, env, reward: str = "run"):
        if reward not in ("run", "speed"):
            raise ValueError(f"reward={reward!r}: must be 'run' or 'speed'")
        self.env, self.reward = env, reward

    def __getattr__(self, name):
        return getattr(self.env, name)

    def reset(self, seed: int):
        return self.env.reset(seed)

    def step(self, action):
        obs, _, done, info = self.env.step(action)
        speed = np.asarray(info["speed"], np.float64)
        r = np.asarray(info["stand"], np.float64) * (1.0 + speed) if self.reward == "run" else speed
        return obs, r.astype(np.float32), done, info


def measure_vmax(
    robots: tuple[str, ...] | list[str] = ROBOTS,
    *,
    steps: int,
    seeds: int = 2,
    eval_every: int = 10_000,
    eval_episodes: int = 2,
    last: int = 3,
    seed: int = 0,
    sac: SACConfig | None = None,
    progress: bool = True,
) -> dict[str, dict]:
    """Train ``seeds`` SAC agents per robot to run fast on its default scenario and measure their speed.

    All robots' agents form one vmapped population (one env each), so one jitted update serves them all.

    Arguments:
        robots: any of "hopper", "walker", "cheetah".
        steps: real environment steps per agent.
        seeds: agents (independent seeds) per robot.
        eval_every: evaluation period in real steps.
        eval_episodes: 1000-step episodes per evaluation and agent.
        last: the statistic averages the last ``last`` evaluations.
        seed: seed of the population.
        sac: SAC hyper-parameters (default `SACConfig` with 5000 random learning-start steps).
        progress: show a progress bar.

    Returns:
        per robot, a dict with "v_max" (m/s, the best agent's statistic), "per_agent" (each agent's
        statistic), "curve_steps" and "curve_speed" (per evaluation, each agent's mean speed).
    """
    robots = list(robots)
    for r in robots:
        if r not in ROBOTS:
            raise ValueError(f"robots: {r!r} is not one of {list(ROBOTS)}")
    if last < 1 or eval_every < 1 or steps < eval_every * last:
        raise ValueError(
            f"steps={steps}, eval_every={eval_every}, last={last}: need steps >= eval_every * last"
        )
    sac = sac or SACConfig(learning_starts=5000)
    # default dynamics; the target speed does not enter r_run. Agent-major: agent b is robots[b // seeds].
    scenarios = [Scenario(r) for r in robots for _ in range(seeds)]
    b = len(scenarios)
    env = RunFastEnv(make(scenarios, episode_length=1000), "run")
    evals = {"n": 0}

    def eval_fn(state):
        evals["n"] += 1
        reps = [s for s in scenarios for _ in range(eval_episodes)]
        make_env = lambda e: RunFastEnv(make(reps, episode_length=1000), "speed")
        _, _, speed = record_episodes(state, make_env, b, eval_episodes, seed=10_000 + evals["n"])
        return speed.astype(np.float64).mean(axis=(1, 2))

    out = run_sac(
        env, sac, steps, seed, eval_fn=eval_fn, eval_every=eval_every, desc="vmax", progress=progress
    )
    curve = np.stack(out.curve_returns)  # (evals, B) mean speed
    results = {}
    for i, robot in enumerate(robots):
        c = curve[:, i * seeds : (i + 1) * seeds]
        per_agent = c[-last:].mean(axis=0)
        results[robot] = {
            "v_max": float(per_agent.max()),
            "per_agent": per_agent.tolist(),
            "curve_steps": list(out.curve_steps),
            "curve_speed": c.tolist(),
        }
    return results


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3), squeeze=False)
    for ax, (robot, r) in zip(axes[0], results.items(), strict=True):
        ax.plot(r["curve_steps"], r["curve_speed"], marker="o")
        ax.axhline(r["v_max"], ls="--", c="k", lw=0.8)
        ax.set(title=f"{robot}: v_max = {r['v_max']:.2f} m/s", xlabel="real steps", ylabel="mean speed (m/s)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = script_parser(
        "Measure v_max per robot: SAC trained on stand * (1 + speed) under default dynamics; "
        "writes <workdir>/vmax.json (figures, curves, command) and vmax.png.",
        PROG,
    )
    p.add_argument("--robots", nargs="+", default=list(ROBOTS), help=f"any of {list(ROBOTS)}")
    p.add_argument("--steps", type=int, default=150_000, help="real steps per agent")
    p.add_argument("--seeds", type=int, default=2, help="agents per robot")
    p.add_argument("--eval-every", type=int, default=10_000, help="evaluation period (real steps)")
    p.add_argument("--eval-episodes", type=int, default=2, help="episodes per evaluation and agent")
    p.add_argument("--last", type=int, default=3, help="evaluations averaged by the statistic")
    p.add_argument("--seed", type=int, default=0, help="seed of the populations")
    p.add_argument("--workdir", type=Path, default=Path("runs/vmax"), help="output directory")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    try:
        t0 = time.time()
        results = measure_vmax(**options_for(measure_vmax, args, progress=not args.no_progress))
        statistic = (
            f"per agent, mean forward speed over its last {args.last} evaluations of "
            f"{args.eval_episodes} episodes; v_max = the best of {args.seeds} agents"
        )
        write_command_record(args.workdir / "vmax.json", PROG, argv, t0, statistic=statistic, results=results)
        for robot, r in results.items():
            print(
                f"{robot:8s} v_max = {r['v_max']:.3f} m/s  per agent {np.round(r['per_agent'], 3).tolist()}"
            )
    except ValueError as e:
        p.exit(2, f"measure_vmax: error: {e}\n")
    _plot(results, args.workdir / "vmax.png")
    print("V_MAX =", json.dumps({k: round(v["v_max"], 2) for k, v in results.items()}))
    print(f"written: {args.workdir / 'vmax.json'}, {args.workdir / 'vmax.png'}")


if __name__ == "__main__":
    run_cli(main, prog=PROG)
