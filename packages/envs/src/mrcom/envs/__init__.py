"""mrcom.envs: multi-scenario MuJoCo locomotion (hopper, walker, cheetah) for MrCoM.

Scenarios randomize the torso (dynamics), the target speed (reward) and the observation function;
`make` steps a batch of them on C MuJoCo (`native`) or MJX (`mjx`) with one padded layout.
Importing this package registers the Gymnasium ids ``mrcom/Hopper-v0``, ``mrcom/Walker-v0`` and
``mrcom/Cheetah-v0`` (`GYM_IDS`; keyword arguments: see `make_gym_env`).
"""

from ._calibrate import POLICIES, policy_returns, still_upright_return
from ._gym import GYM_IDS, GymEnv, make_gym_env, register_gym_envs
from ._layout import (
    ACT_DIM,
    BASE_ACT_DIM,
    BASE_OBS_DIM,
    OBS_DIM,
    act_dim,
    act_mask,
    extra_dims,
    obs_dim,
    obs_mask,
    pad_action,
    pad_obs,
    unpad_action,
    unpad_obs,
)
from ._make import ENGINES, make, normalized_return
from ._native import NativeVecEnv
from ._obs import ObsParams, apply_obs_fn, fixed_mask, obs_params
from ._protocols import OOD_SAMPLING, PROTOCOLS, Protocol
from ._reward import reward_fn, tolerance
from ._robots import MAX_SCALE, MIN_SCALE, ROBOT_INFO, ROBOTS, RobotInfo, build_model
from ._scenario import DEFAULT_OBS_NOISE, OBS_FNS, Scenario, ScenarioDistribution, default_scenario
from ._vmax import V_MAX

__all__ = [
    "ACT_DIM",
    "BASE_ACT_DIM",
    "BASE_OBS_DIM",
    "DEFAULT_OBS_NOISE",
    "ENGINES",
    "GYM_IDS",
    "MAX_SCALE",
    "MIN_SCALE",
    "OBS_DIM",
    "OBS_FNS",
    "OOD_SAMPLING",
    "POLICIES",
    "PROTOCOLS",
    "ROBOTS",
    "ROBOT_INFO",
    "V_MAX",
    "GymEnv",
    "NativeVecEnv",
    "ObsParams",
    "Protocol",
    "RobotInfo",
    "Scenario",
    "ScenarioDistribution",
    "act_dim",
    "act_mask",
    "apply_obs_fn",
    "build_model",
    "default_scenario",
    "extra_dims",
    "fixed_mask",
    "make",
    "make_gym_env",
    "normalized_return",
    "obs_dim",
    "obs_mask",
    "obs_params",
    "pad_action",
    "pad_obs",
    "policy_returns",
    "register_gym_envs",
    "reward_fn",
    "still_upright_return",
    "tolerance",
    "unpad_action",
    "unpad_obs",
]

register_gym_envs()
