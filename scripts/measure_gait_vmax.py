"""Measure v_max per robot: the fastest forward speed found under default dynamics.

Method (the figures and the reasoning are in docs/choices.md): the cross-entropy method (CEM) searches
the parameters of a simple controller -- PD tracking of a periodic joint-angle gait plus linear feedback
from four torso features (height, pitch, forward velocity, pitch rate); see `GaitController` -- to
maximise the mean forward speed over an episode, counting speed only while the robot is up (hopper/walker:
torso height > 0.7 m and |pitch| < 1 rad; cheetah: not flipped). The best controller is then run on fresh
1000-step episodes with the native engine; v_max is its mean counted speed.
The constants in `mrcom.envs.V_MAX` come from::

    python scripts/measure_gait_vmax.py            # all robots, default budget (a few minutes on 2 cores)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from mrcom.agents import atomic_write_json, options_for, script_parser
from mrcom.envs import ACT_DIM, BASE_ACT_DIM, BASE_OBS_DIM, ROBOT_INFO, ROBOTS, Scenario, build_model, make

__all__ = ["CONTROLLERS", "GaitController", "measure", "measure_best", "main"]

CONTROLLERS: tuple[str, ...] = ("pd", "torque")


def _progress(it, **kw):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is optional for `pip install mrcom-envs`
        return it
    return tqdm(it, **kw)


class GaitController:
    """Periodic gait plus linear torso feedback; parameters as one flat vector.

    mode "pd": PD tracking of a joint-angle gait, ``a_j = clip(kp (ref_j(t) - q_j) - kd qd_j + W_j . feat)``;
    mode "torque": the gait is the torque itself, ``a_j = clip(ref_j(t) + W_j . feat)``; with
    ``ref_j(t) = offset_j + amp_j sin(2 pi f t + phase_j)``, ``feat`` = (rootz, pitch, vx, pitch rate), clip
    to [-1, 1]. Layout of ``theta``: [log2 f (1) | offset (nu) | amp (nu) | phase (nu) | log2 kp (1) |
    log2 kd (1) | W (nu * 4)] (kp, kd unused in "torque" mode).
    """

    def __init__(self, robot: str, mode: str = "pd"):
        if mode not in CONTROLLERS:
            raise ValueError(f"mode={mode!r}: must be one of {CONTROLLERS}")
        self.robot, self.mode = robot, mode
        self.nu = nu = BASE_ACT_DIM[robot]
        nq = (BASE_OBS_DIM[robot] + 1) // 2  # nq = nv for these planar robots: n = (nq - 1) + nv
        self.q_idx = np.arange(2, 2 + nu)  # joint angles qpos[3:] in the base observation
        self.qd_idx = np.arange(nq + 2, nq + 2 + nu)  # joint velocities qvel[3:]
        self.features = np.array([0, 1, nq - 1, nq + 1])  # rootz, rooty | vx, wy
        self.n = len(self.features)
        self.dim = 1 + 3 * nu + 2 + nu * self.n
        self.dt = ROBOT_INFO[robot].frame_skip * build_model(robot).opt.timestep

    def init(self) -> tuple[np.ndarray, np.ndarray]:
        """CEM's initial mean and std."""
        nu = self.nu
        mean = np.concatenate([[1.0], np.zeros(3 * nu), [1.0, -3.0], np.zeros(nu * self.n)])
        std = np.concatenate(
            [
                [1.0],
                np.full(nu, 0.4),
                np.full(nu, 0.4),
                np.full(nu, 2.0),
                [1.0, 1.0],
                np.full(nu * self.n, 0.3),
            ]
        )
        return mean, std

    def __call__(self, theta: np.ndarray, obs: np.ndarray, t: int) -> np.ndarray:
        """Padded actions (P, ACT_DIM) for a population ``theta`` (P, dim) at step ``t``."""
        nu = self.nu
        f = 2.0 ** theta[:, 0]
        off, amp, ph = theta[:, 1 : 1 + nu], theta[:, 1 + nu : 1 + 2 * nu], theta[:, 1 + 2 * nu : 1 + 3 * nu]
        kp, kd = 2.0 ** theta[:, 1 + 3 * nu], 2.0 ** theta[:, 2 + 3 * nu]
        w = theta[:, 3 + 3 * nu :].reshape(-1, nu, self.n)
        ref = off + amp * np.sin(2 * np.pi * f[:, None] * t * self.dt + ph)
        if self.mode == "pd":
            a = kp[:, None] * (ref - obs[:, self.q_idx]) - kd[:, None] * obs[:, self.qd_idx]
        else:
            a = ref
        a = a + np.einsum("pun,pn->pu", w, obs[:, self.features])
        out = np.zeros((theta.shape[0], ACT_DIM))
        out[:, :nu] = np.clip(a, -1.0, 1.0)
        return out


def _counted_speed(robot: str, obs: np.ndarray, speed: np.ndarray, z0: float) -> np.ndarray:
    z, pitch = z0 + obs[:, 0], obs[:, 1]
    if ROBOT_INFO[robot].standing:
        up = (z > 0.7) & (np.abs(pitch) < 1.0)
    else:
        up = np.cos(pitch) > 0.0
    return speed * up


def rollout_speed(
    robot: str, ctrl: GaitController, theta: np.ndarray, horizon: int, seeds: list[int]
) -> np.ndarray:
    """Mean counted forward speed of each controller in ``theta`` over one episode per reset seed.

    All (controller, seed) pairs run as one native batch; the result is averaged over the seeds.
    """
    p, k = theta.shape[0], len(seeds)
    env = make([Scenario(robot)] * (p * k), episode_length=horizon + 1)
    z0 = float(build_model(robot).body_pos[1, 2])
    # one reset seed per block of p envs: reset all with seeds[0], then restart blocks from their own states
    states = []
    for s in seeds:
        env.reset(s)
        qpos, qvel = env.physics_state()
        states += [(qpos[i], qvel[i]) for i in range(p)]
    obs = env.reset_to([q for q, _ in states], [v for _, v in states], seed=seeds[0])
    th = np.tile(theta, (k, 1))
    total = np.zeros(p * k)
    for t in range(horizon):
        obs, _, _, info = env.step(ctrl(th, obs, t))
        total += _counted_speed(robot, obs, info["speed"], z0)
    return (total / horizon).reshape(k, p).mean(0)


def measure(
    robot: str,
    iters: int = 40,
    pop: int = 32,
    elite: int = 6,
    horizon: int = 1000,
    search_seeds: int = 3,
    eval_episodes: int = 4,
    eval_length: int = 1000,
    seed: int = 0,
    mode: str = "pd",
) -> dict:
    """Run the CEM search for ``robot`` and one controller family (``mode``); evaluate the best controller.

    Every candidate is scored on ``search_seeds`` initial states (fresh ones each iteration), so a gait
    that only works from one lucky start does not win; the incumbent is re-scored each iteration.

    Returns:
        dict with "v_max" (mean counted speed over the evaluation episodes), "eval_speeds", "best_train"
        and "theta".
    """
    if robot not in ROBOTS:
        raise ValueError(f"robot={robot!r}: must be one of {ROBOTS}")
    ctrl = GaitController(robot, mode)
    rng = np.random.default_rng(seed)
    mean, std = ctrl.init()
    best = mean
    score_best = -np.inf
    for _ in _progress(range(iters), desc=f"CEM {robot}", leave=False):
        theta = mean + std * rng.standard_normal((pop, ctrl.dim))
        theta[0] = best  # re-score the incumbent on the new starts
        seeds = [int(x) for x in rng.integers(0, 2**31 - 1, search_seeds)]
        score = rollout_speed(robot, ctrl, theta, horizon, seeds)
        top = np.argsort(score)[::-1][:elite]
        best, score_best = theta[top[0]].copy(), float(score[top[0]])
        mean = theta[top].mean(0)
        std = 0.7 * theta[top].std(0) + 0.3 * std + 1e-3
    # final pick between the last incumbent and the final mean, on held-out starts of full length
    eval_seeds = [10_000 + k for k in range(eval_episodes)]
    cands = np.stack([best, mean])
    per = np.stack([rollout_speed(robot, ctrl, cands, eval_length, [s]) for s in eval_seeds])  # (E, 2)
    j = int(np.argmax(per.mean(0)))
    speeds = per[:, j].tolist()
    return {
        "v_max": float(np.mean(speeds)),
        "eval_speeds": speeds,
        "best_train": score_best,
        "theta": cands[j].tolist(),
        "controller": mode,
    }


def measure_best(robot: str, modes: tuple[str, ...] = CONTROLLERS, **kw) -> dict:
    """`measure` with each controller family in ``modes``; the one with the highest v_max wins.

    Returns:
        The winner's dict, plus "by_controller": {mode: v_max}.
    """
    runs = {m: measure(robot, mode=m, **kw) for m in modes}
    best = max(runs.values(), key=lambda r: r["v_max"])
    return {**best, "by_controller": {m: r["v_max"] for m, r in runs.items()}}


def main(argv: list[str] | None = None) -> int:
    p = script_parser(
        "Measure v_max (fastest forward speed under default dynamics) per robot with a CEM "
        "search over a periodic gait + linear feedback controller on the native engine.",
        "python scripts/measure_gait_vmax.py",
    )
    p.add_argument("--robots", nargs="+", default=list(ROBOTS), choices=ROBOTS)
    p.add_argument("--iters", type=int, default=40, help="CEM iterations")
    p.add_argument("--pop", type=int, default=32, help="CEM population")
    p.add_argument("--elite", type=int, default=6)
    p.add_argument("--horizon", type=int, default=1000, help="control steps per search episode")
    p.add_argument("--search-seeds", type=int, default=3, help="initial states each candidate is scored on")
    p.add_argument("--eval-episodes", type=int, default=4)
    p.add_argument("--eval-length", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--controllers", nargs="+", default=list(CONTROLLERS), choices=CONTROLLERS, help="families to search"
    )
    p.add_argument("--json", type=str, default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    results = {}
    for robot in args.robots:
        r = measure_best(robot, modes=tuple(args.controllers), **options_for(measure, args))
        results[robot] = r
        print(
            f"{robot:8s} v_max = {r['v_max']:.3f} m/s  (eval {np.round(r['eval_speeds'], 3).tolist()}, "
            f"best search score {r['best_train']:.3f}; controller {r['controller']}; "
            f"by controller {json.dumps({k: round(v, 3) for k, v in r['by_controller'].items()})})",
            flush=True,
        )
    print("V_MAX =", json.dumps({k: round(v["v_max"], 2) for k, v in results.items()}))
    if args.json:
        atomic_write_json(Path(args.json), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
