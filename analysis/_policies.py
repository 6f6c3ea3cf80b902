"""The policies a pipeline run adapted (``workdir/adapt/<method>/policy.eqx``): find, load, split.

Each file holds a population of SAC agents, one per evaluation target (``target_scenarios(cfg)``), in
that order. The bound's policy constants and the real gap (``analysis._real_gap``) use one agent
at a time: eps_pi is no longer the TV between the MrCoM and the SAC policy (Theorem 6 evaluates one
policy pi under two dynamics; see ``analysis._wm_constants.policy_constants``).
"""

from __future__ import annotations

import json
from pathlib import Path

import equinox as eqx
import jax

from mrcom.agents import Workdir

__all__ = ["has_policies", "load_run_config", "load_population", "agent"]


def has_policies(workdir: str | Path, methods: tuple[str, ...] = ("mrcom",)) -> bool:
    """True when ``workdir`` holds ``config.json`` and every method's ``adapt/<m>/policy.eqx``."""
    w = Workdir(workdir)
    return w.config.is_file() and all(w.policy(m).is_file() for m in methods)


def load_run_config(workdir: str | Path):
    """The ``PipelineConfig`` of a pipeline workdir (one-line error when it has none)."""
    from mrcom.agents import PipelineConfig

    f = Workdir(workdir).config
    if not f.is_file():
        raise ValueError(f"workdir={str(workdir)!r}: no config.json")
    return PipelineConfig.from_dict(json.loads(f.read_text()))


def load_population(workdir: str | Path, method: str = "mrcom"):
    """The adapted ``SACState`` population of ``method`` and the targets it was adapted to.

    Returns:
        (cfg, targets, state).
    """
    from mrcom.agents import sac_init, target_scenarios
    from mrcom.envs import ACT_DIM, OBS_DIM

    workdir = Path(workdir)
    if not has_policies(workdir, (method,)):
        raise ValueError(f"workdir={str(workdir)!r}: needs config.json and adapt/{method}/policy.eqx")
    cfg = load_run_config(workdir)
    targets = target_scenarios(cfg)
    like = sac_init(jax.random.PRNGKey(0), len(targets), OBS_DIM, ACT_DIM, cfg.sac)
    return cfg, targets, eqx.tree_deserialise_leaves(Workdir(workdir).policy(method), like)


def agent(population, i: int):
    """Agent ``i`` of a population module (array leaves with a leading agent axis)."""
    params, static = eqx.partition(population, eqx.is_array)
    return eqx.combine(jax.tree.map(lambda x: x[i], params), static)
