"""Pieces shared by the engines: per-robot groups, base observations, action checks."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import mujoco
import numpy as np

from ._layout import ACT_DIM, BASE_ACT_DIM, OBS_DIM
from ._robots import ROBOT_INFO, build_model
from ._scenario import Scenario
from ._vmax import V_MAX

__all__ = ["RobotGroup", "group_scenarios", "check_action", "check_scenarios", "reward_constants"]


def check_scenarios(scenarios: Sequence[Scenario], episode_length: int) -> list[Scenario]:
    """Validate the arguments of an engine constructor."""
    if isinstance(scenarios, Scenario):
        scenarios = [scenarios]
    scenarios = list(scenarios)
    if not scenarios:
        raise ValueError("scenarios=[]: must hold at least one Scenario")
    for i, s in enumerate(scenarios):
        if not isinstance(s, Scenario):
            raise ValueError(f"scenarios[{i}]={s!r}: must be a mrcom.envs.Scenario")
    if isinstance(episode_length, bool) or not isinstance(episode_length, int | np.integer):
        raise ValueError(f"episode_length={episode_length!r}: must be an integer >= 1")
    if episode_length < 1:
        raise ValueError(f"episode_length={episode_length!r}: must be an integer >= 1")
    return scenarios


def check_action(action, num_envs: int) -> np.ndarray:
    """Validate a padded batch of actions and clip it to [-1, 1]."""
    a = np.asarray(action, dtype=np.float64)
    if a.shape != (num_envs, ACT_DIM):
        raise ValueError(f"action.shape={a.shape}: must be (num_envs, ACT_DIM) = ({num_envs}, {ACT_DIM})")
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(
            f"action[{int(bad[0])}, {int(bad[1])}]={float(a[tuple(bad)])!r}: "
            "must be finite (NaN/inf not allowed), in [-1, 1]"
        )
    return np.clip(a, -1.0, 1.0)


@dataclasses.dataclass
class RobotGroup:
    """The envs of a batch that share one robot (hence one state size)."""

    robot: str
    index: np.ndarray  # positions in the batch
    models: list[mujoco.MjModel]
    nq: int
    nv: int
    nu: int
    frame_skip: int
    dt: float

    @property
    def obs_n(self) -> int:
        return self.nq - 1 + self.nv


def check_physics_state(
    qpos: Sequence[np.ndarray], qvel: Sequence[np.ndarray], groups: Sequence[RobotGroup]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Validate `reset_to`'s per-env unpadded (qpos, qvel): one of each per env, of the robot's lengths,
    finite. Returns them as float64 arrays; a ValueError names the env, the field and what is allowed."""
    num_envs = sum(len(g.index) for g in groups)
    for name, x in (("qpos", qpos), ("qvel", qvel)):
        if len(x) != num_envs:
            raise ValueError(f"{name}: {len(x)} states given, must be one per env ({num_envs})")
    out_q, out_v = list(qpos), list(qvel)
    for g in groups:
        for b in g.index:
            for name, x, n, out in (("qpos", qpos, g.nq, out_q), ("qvel", qvel, g.nv, out_v)):
                a = np.asarray(x[b], np.float64)
                if a.shape != (n,):
                    raise ValueError(f"{name}[{b}].shape={a.shape}: must be ({n},) for robot {g.robot}")
                if not np.all(np.isfinite(a)):
                    raise ValueError(f"{name}[{b}]={a.tolist()}: must be finite (found NaN or inf)")
                out[b] = a
    return out_q, out_v


def group_scenarios(scenarios: Sequence[Scenario]) -> list[RobotGroup]:
    """Split a batch by robot (in ROBOTS order) and compile every env's model."""
    groups = []
    for robot, info in ROBOT_INFO.items():
        idx = np.array([i for i, s in enumerate(scenarios) if s.robot == robot], dtype=np.int64)
        if idx.size == 0:
            continue
        models = [build_model(robot, scenarios[i].length_scale, scenarios[i].size_scale) for i in idx]
        m = models[0]
        assert m.nu == BASE_ACT_DIM[robot] and m.nq - 1 + m.nv <= OBS_DIM
        groups.append(
            RobotGroup(
                robot, idx, models, m.nq, m.nv, m.nu, info.frame_skip, info.frame_skip * m.opt.timestep
            )
        )
    return groups


def reward_constants(scenarios: Sequence[Scenario]) -> dict[str, np.ndarray]:
    """Per-env constants of `reward_fn` (float64 arrays of shape (B,))."""
    f = lambda fn: np.array([fn(s) for s in scenarios], np.float64)
    return {
        "target": f(lambda s: s.target_speed),
        "v_max": f(lambda s: V_MAX[s.robot]),
        "min_height": f(lambda s: ROBOT_INFO[s.robot].min_height or 1.0),
        "standing": f(lambda s: float(ROBOT_INFO[s.robot].standing)),
        "z0": f(lambda s: build_model(s.robot, s.length_scale, s.size_scale).body_pos[1, 2]),
        "reset_noise": f(lambda s: ROBOT_INFO[s.robot].reset_noise),
    }
