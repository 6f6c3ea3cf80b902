"""The pipeline stages run_train and run_adapt (each skips work already on disk; run_evaluate and the
runner run_pipeline are in `_pipeline`).

The files of a run: `Workdir`. Model-based methods (`MODEL_METHODS`) each train their world model
from the registry of `mrcom.worldmodel` and adapt by MBPO with it; model-free ones only adapt;
"<kind>-ac" (`AC_METHODS`) adapt with the world model of <kind> by DreamerV3's imagination actor-critic.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from mrcom.envs import ACT_DIM, OBS_DIM, Scenario, make
from mrcom.worldmodel import get_kind

from ._ac_config import ac_base
from ._ac_loop import ImaginationAC
from ._collect import dataset_problem, target_scenarios
from ._config import AC_METHODS, METHODS, MODEL_METHODS, WORLDMODEL_SECTIONS, PipelineConfig
from ._dataset import find_prompt, load_dataset, read_manifest
from ._fused import fused_policy_returns, run_fused
from ._imagination_ac import ACPolicy, policy_like
from ._interact import LoopResult
from ._io import atomic_write_bytes, atomic_write_json, stream_seed
from ._learners import Learner, SACLearner
from ._loop import evaluate_policy, run_host
from ._mbpo import MBPOAugment, MBPOSettings
from ._sac import SACState, sac_init
from ._schedule import Schedule
from ._starts import prompt_tails
from ._workdir import Workdir

Log = Callable[[str, float, int], None]
WM_METRICS = ("k1_obs_nmse", "k5_obs_nmse", "k15_obs_nmse", "reward_mse", "value_equiv", "value_equiv_rel")


def split_indices(cfg: PipelineConfig) -> tuple[list[int], list[int]]:
    """(training, held-out) scenario indices: the last `num_heldout_scenarios` are held out."""
    n, h = cfg.envs.num_train_scenarios, cfg.envs.num_heldout_scenarios
    return list(range(n - h)), list(range(n - h, n))


def run_train(
    cfg: PipelineConfig,
    workdir: Path,
    log: Log | None = None,
    progress: bool = True,
    method: str = "mrcom",
) -> Path:
    """Train `method`'s world model on the run's dataset (resumes its checkpoint; skipped when done).

    Held-out training scenarios give the world-model metrics (`wm/k1_obs_nmse`, ...). `method` is
    a name of `MODEL_METHODS`; its config is the section `WORLDMODEL_SECTIONS[method]` of `cfg`.

    Returns:
        `Workdir(workdir).worldmodel(method)`.
    """
    if method not in MODEL_METHODS:
        raise ValueError(f"method={method!r}: must be one of {MODEL_METHODS}")
    wd = Workdir(workdir)
    ds, out = wd.dataset, wd.worldmodel(method)
    if wd.worldmodel_metrics(method).exists():
        return out
    problem = dataset_problem(ds)
    if problem is not None:
        raise ValueError(f"{problem}; run run_collect (it re-collects a bad shard)")
    kind, wm_cfg = get_kind(method), getattr(cfg, WORLDMODEL_SECTIONS[method])
    train_idx, held_idx = split_indices(cfg)
    prompt = cfg.collect.train_prompt
    data = load_dataset(ds, train_idx, prompt)
    eval_data = load_dataset(ds, held_idx, prompt) if held_idx else None
    seed = stream_seed(cfg.seed, "worldmodel")
    model, metrics = kind.train(
        data, wm_cfg, seed=seed, checkpoint_dir=out, eval_data=eval_data, log=log, progress=progress
    )
    if eval_data is not None and not all(k in metrics for k in WM_METRICS[:4]):
        windows, burn_in = wm_cfg.eval_windows, wm_cfg.eval_burn_in
        metrics.update(
            kind.evaluate(model, eval_data, jax.random.PRNGKey(seed), num_windows=windows, burn_in=burn_in)
        )
    atomic_write_json(wd.worldmodel_metrics(method), {k: float(v) for k, v in metrics.items()})
    return out


def load_worldmodel(cfg: PipelineConfig, workdir: Path, method: str):
    """The trained world model of `method` in `workdir` (one-line error when it is not trained)."""
    wd = Workdir(workdir)
    if not wd.worldmodel_metrics(method).exists():
        raise ValueError(f"worldmodel={str(wd.worldmodel(method))!r}: missing; run run_train first")
    return get_kind(method).load_model(wd.worldmodel(method))


def _save_policy(path: Path, state: eqx.Module) -> None:
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, state)
    atomic_write_bytes(path, buf.getvalue())


def _load_policy(
    path: Path, cfg: PipelineConfig, num_agents: int, method: str = "sac"
) -> SACState | ACPolicy:
    if method in AC_METHODS:  # an imagination actor-critic saves its actor only (`ACPolicy`)
        like: Any = policy_like(num_agents, OBS_DIM, ACT_DIM, cfg.ac)
    else:
        like = sac_init(jax.random.PRNGKey(0), num_agents, OBS_DIM, ACT_DIM, cfg.sac)
    return eqx.tree_deserialise_leaves(path, like)


def _base_method(method: str) -> str:
    """The world-model method a method uses: "dreamerv3-ac" -> "dreamerv3"; any other is itself."""
    return ac_base(method) or method


def _robot_means(targets: list[Scenario], values: np.ndarray) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for s, v in zip(targets, values, strict=True):
        out.setdefault(s.robot, []).append(float(v))
    return {r: float(np.mean(v)) for r, v in out.items()}


def _target_env(cfg: PipelineConfig, targets: list[Scenario], repeat: int = 1):
    return make(
        [t for t in targets for _ in range(repeat)],
        engine=cfg.envs.engine,
        episode_length=cfg.envs.episode_length,
    )


def adapt_method(
    cfg: PipelineConfig,
    method: str,
    targets: list[Scenario],
    *,
    model=None,
    dataset: Path | None = None,
    log: Log | None = None,
    progress: bool = True,
) -> LoopResult:
    """Adapt one agent per target scenario with `method`.

    A model-based method ("mrcom", "cadm", "dreamerv3"): MBPO with `model`; "sac": model-free SAC;
    "sac-utd": model-free SAC at MBPO's update-to-data ratio; "<kind>-ac": DreamerV3's imagination
    actor-critic with the world model `model` of <kind> (section `ac`). All methods run the one
    interaction loop (`mrcom.agents._interact`) with the same seed and schedule, so they see the same
    resets (the SAC ones start from the same networks). MBPO and sac-utd run `adapt.updates_per_step`
    gradient steps per real step; "sac" keeps `sac.updates_per_step`. With `envs.engine == "mjx"` the
    loop is the fused device loop (`run_fused`), else the host loop (`run_host`).

    Returns:
        The `LoopResult` (its `rollouts_done` counts MBPO's rollouts or the actor-critic's starts).
    """
    a = cfg.adapt
    if method not in METHODS:
        raise ValueError(f"method={method!r}: must be one of {METHODS}")
    if (method in MODEL_METHODS or method in AC_METHODS) and model is None:
        raise ValueError(f"method={method!r}: needs a trained world model")
    env = _target_env(cfg, targets)
    prompts: list[Any] = [None] * len(targets)
    if a.prompt == "dataset" and dataset is not None and model is not None:
        prompts = [find_prompt(dataset, t) for t in targets]
    learner: Learner
    if method in AC_METHODS:
        learner = ImaginationAC(
            model, prompts, env.obs_mask, env.act_mask, cfg.ac, episode_length=env.episode_length,
            prefix_len=a.prefix_len, start_steps=a.start_steps, sample=a.model_sample,
        )  # fmt: skip
    else:
        sac_cfg = cfg.sac
        if method in MODEL_METHODS or method == "sac-utd":
            sac_cfg = dataclasses.replace(cfg.sac, updates_per_step=a.updates_per_step)
        aug = None
        if method in MODEL_METHODS:
            settings = MBPOSettings.from_adapt(a, model, env.episode_length, cfg.sac.update_every)
            tails = prompt_tails(prompts, settings.context_len, env.obs_mask.shape[1], env.act_mask.shape[1])
            aug = MBPOAugment(model, tails, jnp.asarray(env.obs_mask, jnp.float32), settings)
        learner = SACLearner(sac_cfg, aug)

    eval_seed = stream_seed(cfg.seed, "curve_eval")
    fused = cfg.envs.engine == "mjx"
    if fused:  # the device loop (`_fused`): evaluation episodes as one jitted scan too
        eval_env = _target_env(cfg, targets, cfg.eval.episodes).env
        eval_fn = lambda state: fused_policy_returns(
            state, eval_env, len(targets), cfg.eval.episodes, eval_seed, fast_compile=learner.fast_compile
        )
    else:
        eval_fn = lambda state: evaluate_policy(
            state, lambda e: _target_env(cfg, targets, e), len(targets), cfg.eval.episodes, eval_seed
        )

    def on_eval(step: int, returns: np.ndarray) -> None:
        if log is not None:
            for robot, v in _robot_means(targets, returns).items():
                log(f"adapt/{method}/{robot}/normalized_return", v, step)

    schedule = Schedule(
        a.real_steps, env.episode_length, cfg.sac.learning_starts, cfg.sac.update_every, a.eval_every
    )
    run = run_fused if fused else run_host
    return run(
        env.env if fused else env, learner, schedule, stream_seed(cfg.seed, "adapt"), eval_fn=eval_fn,
        on_eval=on_eval, desc=f"adapt {method}", progress=progress,
    )  # fmt: skip


def run_adapt(
    cfg: PipelineConfig, workdir: Path, log: Log | None = None, progress: bool = True
) -> dict[str, Any]:
    """Every method of `adapt.methods` on the target scenarios (each method skipped when on disk).

    Returns:
        method -> {"targets", "curve_steps", "curve_returns" (per eval, per target), "rollouts"}.
    """
    wd = Workdir(workdir)
    targets = target_scenarios(cfg)
    out: dict[str, Any] = {}
    for method in cfg.adapt.methods:
        if wd.adapt_result(method).exists():
            out[method] = json.loads(wd.adapt_result(method).read_text())
            continue
        base = _base_method(method)
        model = load_worldmodel(cfg, workdir, base) if base in MODEL_METHODS else None
        res = adapt_method(cfg, method, targets, model=model, dataset=wd.dataset, log=log, progress=progress)
        # an -ac method's state is an ACState (its actor a BoundedNormalActor), the others' a SACState
        state: Any = res.state
        _save_policy(wd.policy(method), ACPolicy(state.actor) if method in AC_METHODS else state)
        result = {
            "targets": [t.to_dict() for t in targets],
            "curve_steps": list(res.curve_steps),
            "curve_returns": [np.asarray(r).tolist() for r in res.curve_returns],
            "rollouts": res.rollouts_done,
        }
        atomic_write_json(wd.adapt_result(method), result)
        out[method] = result
    return out


__all__ = ["run_train", "run_adapt", "adapt_method", "load_worldmodel", "split_indices", "read_manifest"]
