"""epsilon_pi and C_pi from the policies a pipeline run adapted (``workdir/adapt/<method>/policy.eqx``).

pi_1 is the MrCoM-MBPO policy (trained on real + world-model data) and pi_2 the model-free SAC policy
trained on the same real budget, one agent per evaluation target in each population. epsilon_pi is
the largest TV between the two at observations of the dataset's episodes of the target's robot (the
policy difference the world model's data causes); C_pi is the largest Jacobian norm of pi_1's mean
action there. Bias: the states are those of the training scenarios' behaviour data, not of the target
scenarios (none are stored), and the maxima are over finitely many samples.
"""

from __future__ import annotations

import json
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from analysis._wm_constants import policy_constants

__all__ = ["has_policies", "adapted_policy_constants"]


def has_policies(workdir: str | Path, methods: tuple[str, str] = ("mrcom", "sac")) -> bool:
    """True when ``workdir`` holds ``config.json`` and both methods' ``adapt/<m>/policy.eqx``."""
    w = Path(workdir)
    return (w / "config.json").is_file() and all((w / "adapt" / m / "policy.eqx").is_file() for m in methods)


def _load_population(path: Path, cfg, num_agents: int):
    from mrcom.agents import sac_init
    from mrcom.envs import ACT_DIM, OBS_DIM

    like = sac_init(jax.random.PRNGKey(0), num_agents, OBS_DIM, ACT_DIM, cfg.sac)
    return eqx.tree_deserialise_leaves(path, like)


def _agent(actor, i: int):
    params, static = eqx.partition(actor, eqx.is_array)
    return eqx.combine(jax.tree.map(lambda x: x[i], params), static)


def adapted_policy_constants(
    workdir: str | Path,
    dataset_dir: str | Path,
    key,
    num_states: int = 256,
    methods: tuple[str, str] = ("mrcom", "sac"),
) -> dict[str, float]:
    """``{"eps_pi", "c_pi"}`` from a pipeline workdir's adapted policies (see the module docstring).

    Arguments:
        workdir: pipeline workdir with ``config.json`` and ``adapt/<method>/policy.eqx``.
        dataset_dir: the dataset the world model was trained on (observations are sampled from it).
        key: PRNG key for the sampled observations.
        num_states: observations per target agent.
        methods: (pi_1, pi_2).

    Returns:
        The two constants (max over target agents).
    """
    from mrcom.agents import PipelineConfig, dataset_scenarios, load_dataset, target_scenarios
    from mrcom.envs import act_mask

    workdir = Path(workdir)
    if not has_policies(workdir, methods):
        raise ValueError(
            f"workdir={str(workdir)!r}: needs config.json and adapt/{{{','.join(methods)}}}/policy.eqx"
        )
    cfg = PipelineConfig.from_dict(json.loads((workdir / "config.json").read_text()))
    targets = target_scenarios(cfg)
    pops = [_load_population(workdir / "adapt" / m / "policy.eqx", cfg, len(targets)) for m in methods]
    data = load_dataset(Path(dataset_dir))
    robots = np.array([s.robot for s in dataset_scenarios(Path(dataset_dir))])
    episode_robot = robots[np.asarray(data.scenario_id)]
    eps_pi, c_pi = 0.0, 0.0
    for i, target in enumerate(targets):
        obs = np.asarray(data.obs)[episode_robot == target.robot].reshape(-1, data.obs.shape[-1])
        if obs.shape[0] == 0:
            continue
        key, sub = jax.random.split(key)
        idx = np.asarray(
            jax.random.choice(sub, obs.shape[0], (min(num_states, obs.shape[0]),), replace=False)
        )
        a1, a2 = (_agent(p.actor, i) for p in pops)
        out = policy_constants(a1.dist, a2.dist, obs[idx], act_mask(target))
        eps_pi, c_pi = max(eps_pi, out["eps_pi"]), max(c_pi, out["c_pi"])
    return {"eps_pi": eps_pi, "c_pi": c_pi}
