"""The pipeline stages run_train, run_adapt, run_evaluate, run_pipeline (each skips work already on disk).

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
from ._collect import dataset_problem, run_collect, target_scenarios
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
from ._summary import summary_table
from ._workdir import Workdir

Log = Callable[[str, float, int], None]
WM_METRICS = ("k1_obs_nmse", "k5_obs_nmse", "k15_obs_nmse", "reward_mse", "value_equiv")
RESULTS_FORMAT = 1


def _without_methods(config: dict) -> dict:
    """A config dict without `adapt.methods`."""
    return {**config, "adapt": {k: v for k, v in config.get("adapt", {}).items() if k != "methods"}}


def _check_config(cfg: PipelineConfig, workdir: Path) -> None:
    """Write workdir/config.json, or check that an existing one is the same config.

    `adapt.methods` may differ: every method is adapted and evaluated on its own, so a run can take
    more methods later. The stored config then lists the union, in the order they were first asked.
    """
    f = Workdir(workdir).config
    new = cfg.to_dict()
    if not f.exists():
        atomic_write_json(f, new)
        return
    old = json.loads(f.read_text())
    a, b = _without_methods(old), _without_methods(new)
    if a != b:
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        raise ValueError(f"workdir={str(workdir)!r}: holds a run of another config (differs in {diff})")
    union = list(dict.fromkeys([*old["adapt"]["methods"], *new["adapt"]["methods"]]))
    if union != old["adapt"]["methods"]:
        atomic_write_json(f, {**old, "adapt": {**old["adapt"], "methods": union}})


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


def _save_policy(path: Path, state: SACState | ACPolicy) -> None:
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
        _save_policy(wd.policy(method), ACPolicy(res.state.actor) if method in AC_METHODS else res.state)
        result = {
            "targets": [t.to_dict() for t in targets],
            "curve_steps": list(res.curve_steps),
            "curve_returns": [np.asarray(r).tolist() for r in res.curve_returns],
            "rollouts": res.rollouts_done,
        }
        atomic_write_json(wd.adapt_result(method), result)
        out[method] = result
    return out


def run_evaluate(cfg: PipelineConfig, workdir: Path, log: Log | None = None, progress: bool = True) -> dict:
    """Normalized return of every adapted deterministic policy over `eval.episodes` episodes.

    Writes `workdir/results.json` (schema of docs/interfaces.md) and `workdir/summary.md`. Methods
    already in an existing `results.json` are kept as they are; only the new ones are evaluated.

    Returns:
        The results dict.
    """
    wd = Workdir(workdir)
    done = json.loads(wd.results.read_text()) if wd.results.exists() else None
    if done is not None and set(cfg.adapt.methods) <= set(done["methods"]):
        return done
    targets = target_scenarios(cfg)
    # A run that takes more methods later keeps the ones already evaluated (evaluation is deterministic).
    methods: dict[str, dict[str, list[float]]] = {} if done is None else dict(done["methods"])
    curves: dict[str, dict[str, dict[str, list[float]]]] = {} if done is None else dict(done["curves"])
    for method in cfg.adapt.methods:
        if method in methods:
            continue
        if not wd.adapt_result(method).exists():
            raise ValueError(f"adapt result {str(wd.adapt(method))!r}: missing; run run_adapt first")
        state = _load_policy(wd.policy(method), cfg, len(targets), method)
        returns = evaluate_policy(
            state,
            lambda e: _target_env(cfg, targets, e),
            len(targets),
            cfg.eval.episodes,
            stream_seed(cfg.seed, "final_eval"),
        )
        methods[method] = {}
        for s, v in zip(targets, returns, strict=True):
            methods[method].setdefault(s.robot, []).append(float(v))
        result = json.loads(wd.adapt_result(method).read_text())
        curves[method] = {}
        for robot in methods[method]:
            sel = [i for i, s in enumerate(targets) if s.robot == robot]
            curves[method][robot] = {
                "real_steps": [int(x) for x in result["curve_steps"]],
                "normalized_return": [float(np.mean([r[i] for i in sel])) for r in result["curve_returns"]],
            }
            if log is not None:
                log(
                    f"eval/{method}/{robot}/normalized_return",
                    float(np.mean(methods[method][robot])),
                    cfg.adapt.real_steps,
                )
    worldmodels = {}
    for method in MODEL_METHODS:
        if wd.worldmodel_metrics(method).exists():
            m = json.loads(wd.worldmodel_metrics(method).read_text())
            worldmodels[method] = {k: float(m[k]) for k in WM_METRICS if k in m}
    results = {
        "format": RESULTS_FORMAT,
        "protocol": cfg.protocol,
        "preset": cfg.preset,
        "seed": cfg.seed,
        "ablation": cfg.ablation,
        "split": cfg.envs.target_split,
        "ood_sampling": cfg.envs.ood_sampling,
        "real_steps": cfg.adapt.real_steps,
        "methods": methods,
        "curves": curves,
        "worldmodel": worldmodels.get("mrcom", {}),
        "worldmodels": worldmodels,
        "targets": [t.to_dict() for t in targets],
    }
    atomic_write_json(wd.results, results)
    atomic_write_bytes(wd.summary, summary_table([results]).encode())
    return results


def run_pipeline(cfg: PipelineConfig, workdir: Path, log: Log | None = None, progress: bool = True) -> dict:
    """collect -> train -> adapt -> evaluate in `workdir`; each stage skips work already on disk.

    Returns:
        The results dict of `run_evaluate`.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _check_config(cfg, workdir)
    model_methods = list(dict.fromkeys(_base_method(m) for m in cfg.adapt.methods))
    model_methods = [m for m in model_methods if m in MODEL_METHODS]
    if model_methods or cfg.adapt.prompt == "dataset":
        run_collect(cfg, workdir, log=log, progress=progress)
    for method in model_methods:
        run_train(cfg, workdir, log=log, progress=progress, method=method)
    run_adapt(cfg, workdir, log=log, progress=progress)
    return run_evaluate(cfg, workdir, log=log, progress=progress)


def run_protocol(
    cfg: PipelineConfig, workdir: Path, seeds, log: Log | None = None, progress: bool = True
) -> str:
    """Run the whole pipeline for each seed in `workdir/seed_<s>/` and write `workdir/summary.md`.

    Returns:
        The summary table (Markdown).
    """
    wd = Workdir(workdir)
    results = [
        run_pipeline(cfg.replace(seed=int(s)), wd.seed(s).root, log=log, progress=progress) for s in seeds
    ]
    table = summary_table(results)
    atomic_write_bytes(wd.summary, table.encode())
    atomic_write_json(wd.root / "summary.json", {"seeds": [int(s) for s in seeds], "results": results})
    return table


__all__ = [
    "run_train",
    "run_adapt",
    "run_evaluate",
    "run_pipeline",
    "run_protocol",
    "summary_table",
    "read_manifest",
]
