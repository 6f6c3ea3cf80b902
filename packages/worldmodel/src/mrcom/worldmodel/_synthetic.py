"""A small synthetic multi-scenario dataset with scenario-dependent dynamics and rewards.

Two "robots" of different widths share padded spaces (obs 6, action 2): robot 0 has 4 observed
dimensions and 2 actions, robot 1 has 6 and 1. Each scenario rotates every 2-D block of the state
by its own angle (dynamics T_i) and rewards closeness of the first coordinate to its own target
(reward r_i), so neither can be read from one observation: the context has to reveal them.
"""

from __future__ import annotations

import numpy as np

from ._data import MultiScenarioData

OBS_DIM, ACT_DIM = 6, 2
_WIDTHS = ((4, 2), (6, 1))


def _episode(rng, angle, target, width, length):
    o, a = width
    x = np.zeros(OBS_DIM, np.float32)
    x[:o] = rng.normal(0.0, 1.0, o)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    obs, act, rew = [x.copy()], [], []
    for _ in range(length):
        u = np.zeros(ACT_DIM, np.float32)
        u[:a] = rng.uniform(-1.0, 1.0, a)
        y = np.zeros(OBS_DIM, np.float32)
        for i in range(0, o, 2):
            y[i : i + 2] = 0.95 * rot @ x[i : i + 2]
        y[0] += 0.5 * u[0]
        y[1] += 0.5 * u[a - 1]
        y[:o] += rng.normal(0.0, 0.02, o)
        act.append(u)
        rew.append(np.exp(-((x[0] - target) ** 2)))
        x = y
        obs.append(x.copy())
    return np.stack(obs), np.stack(act), np.asarray(rew, np.float32)


def synthetic_data(
    num_scenarios: int = 6,
    episodes_per_scenario: int = 4,
    episode_length: int = 40,
    prompt_length: int = 16,
    seed: int = 0,
    angle_range: tuple[float, float] = (-0.8, 0.8),
) -> MultiScenarioData:
    """Sample scenarios (angle, target, robot) and random-action episodes of each.

    Arguments:
        num_scenarios: S; scenario i uses robot i % 2. episodes_per_scenario: episodes each.
        episode_length: L steps. prompt_length: P steps of the per-scenario prompt.
        seed: numpy seed; different seeds give different (held-out) scenarios.
        angle_range: range of the per-scenario rotation angle.

    Returns:
        `MultiScenarioData` with obs (E, L+1, 6), action (E, L, 2), masks and prompts.
    """
    if num_scenarios < 1 or episodes_per_scenario < 1 or episode_length < 1 or prompt_length < 1:
        raise ValueError(
            f"(num_scenarios, episodes_per_scenario, episode_length, prompt_length)="
            f"{(num_scenarios, episodes_per_scenario, episode_length, prompt_length)}: must all be >= 1"
        )
    rng = np.random.default_rng(seed)
    obs, act, rew, sid = [], [], [], []
    obs_mask = np.zeros((num_scenarios, OBS_DIM), np.float32)
    act_mask = np.zeros((num_scenarios, ACT_DIM), np.float32)
    prompts = []
    for s in range(num_scenarios):
        angle = rng.uniform(*angle_range)
        target = rng.uniform(-1.0, 1.0)
        width = _WIDTHS[s % 2]
        obs_mask[s, : width[0]] = 1.0
        act_mask[s, : width[1]] = 1.0
        for _ in range(episodes_per_scenario):
            o, a, r = _episode(rng, angle, target, width, episode_length)
            obs.append(o)
            act.append(a)
            rew.append(r)
            sid.append(s)
        prompts.append(_episode(rng, angle, target, width, prompt_length))
    return MultiScenarioData(
        obs=np.stack(obs),
        action=np.stack(act),
        reward=np.stack(rew),
        scenario_id=np.asarray(sid, np.int32),
        obs_mask=obs_mask,
        act_mask=act_mask,
        prompt_obs=np.stack([p[0] for p in prompts]),
        prompt_action=np.stack([p[1] for p in prompts]),
        prompt_reward=np.stack([p[2] for p in prompts]),
    )
