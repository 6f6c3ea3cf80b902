"""Reference policies that bracket the reward: how much a policy earns without tracking the target.

- ``zero``: all-zero actions (the cheetah stays on its feet, hopper and walker slump).
- ``pose``: PD control of every joint to its initial angle, a policy that holds its initial pose.
- ``random``: uniform random actions in [-1, 1].
- ``still_upright`` (analytic): a robot that is perfectly upright and does not move, i.e. ``stand = 1`` and
  speed 0: ``100 * move(0, target)``. It is the most any non-moving policy can earn.
- ``tracking`` (analytic): upright and exactly at the target speed: ``100 * move(target, target) = 100``.

`policy_returns` runs the first three on the native engine; `scripts/calibrate.py` prints them per
protocol and robot beside SAC.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._layout import ACT_DIM, BASE_ACT_DIM, BASE_OBS_DIM
from ._make import make
from ._reward import move_fn
from ._robots import build_model
from ._scenario import Scenario
from ._vmax import V_MAX

__all__ = ["POLICIES", "PoseHoldPolicy", "policy_returns", "still_upright_return", "tracking_return"]

POLICIES: tuple[str, ...] = ("zero", "pose", "random")

# PD gains of the pose-holding policy on the normalized action (actions are torques / gear in [-1, 1]).
# Measured: at kp=1, kd=0.05 every robot keeps stand = 1 and |speed| < 0.01 m/s for 1000 steps; at kp=5 the
# cheetah vibrates forward at 1.7 m/s, which is no longer "holding a pose".
POSE_KP = 1.0
POSE_KD = 0.05


class PoseHoldPolicy:
    """PD control of each joint to its initial angle (identity observations, padded layout).

    Arguments:
        scenarios: one per env; only the robot matters.
        kp, kd: proportional and derivative gains on the normalized action.
    """

    def __init__(self, scenarios: Sequence[Scenario], kp: float = POSE_KP, kd: float = POSE_KD):
        self.kp, self.kd = kp, kd
        self.rows = []
        for i, s in enumerate(scenarios):
            if s.obs_fn != "identity":
                raise ValueError(f"scenarios[{i}].obs_fn={s.obs_fn!r}: the pose policy needs 'identity'")
            nu = BASE_ACT_DIM[s.robot]
            nq = (BASE_OBS_DIM[s.robot] + 1) // 2  # nq = nv: base obs is qpos[1:] (nq - 1) then qvel (nv)
            q0 = build_model(s.robot, s.length_scale, s.size_scale).qpos0[3:]
            self.rows.append((np.arange(2, 2 + nu), np.arange(nq + 2, nq + 2 + nu), q0))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        out = np.zeros((obs.shape[0], ACT_DIM))
        for b, (qi, qdi, q0) in enumerate(self.rows):
            out[b, : qi.size] = self.kp * (q0 - obs[b, qi]) - self.kd * obs[b, qdi]
        return np.clip(out, -1.0, 1.0)


def policy_returns(
    scenarios: Sequence[Scenario],
    policy: str,
    *,
    episode_length: int = 1000,
    episodes: int = 1,
    seed: int = 0,
) -> np.ndarray:
    """Normalized return (100 * mean reward per step) of a reference policy in each scenario.

    Arguments:
        scenarios: the scenarios (one env each).
        policy: "zero" | "pose" | "random".
        episode_length: steps per episode.
        episodes: episodes per scenario (averaged).
        seed: reset and action seed.

    Returns:
        (len(scenarios),) normalized returns.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy={policy!r}: must be one of {POLICIES}")
    scenarios = list(scenarios)
    env = make(scenarios, episode_length=episode_length)
    rng = np.random.default_rng(seed)
    pose = PoseHoldPolicy(scenarios) if policy == "pose" else None
    total = np.zeros(len(scenarios))
    for e in range(episodes):
        obs = env.reset(seed + e)
        for _ in range(episode_length):
            if policy == "zero":
                a = np.zeros((len(scenarios), ACT_DIM))
            elif policy == "random":
                a = rng.uniform(-1.0, 1.0, (len(scenarios), ACT_DIM))
            else:
                assert pose is not None
                a = pose(obs)
            obs, r, _, _ = env.step(a)
            total += r
    env.close()
    return 100.0 * total / (episodes * episode_length)


def _targets(scenarios: Sequence[Scenario]) -> tuple[np.ndarray, np.ndarray]:
    target = np.array([s.target_speed for s in scenarios], np.float64)
    return target, np.array([V_MAX[s.robot] for s in scenarios], np.float64)


def still_upright_return(scenarios: Sequence[Scenario]) -> np.ndarray:
    """Normalized return of a perfectly upright robot that does not move (analytic)."""
    target, v_max = _targets(scenarios)
    return 100.0 * move_fn(np, 0.0, target, v_max)


def tracking_return(scenarios: Sequence[Scenario]) -> np.ndarray:
    """Normalized return of a perfectly upright robot at exactly the target speed (analytic)."""
    target, v_max = _targets(scenarios)
    return 100.0 * move_fn(np, target, target, v_max)
