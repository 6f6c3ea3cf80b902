"""Training phase: behaviour SAC policies per training scenario -> multi-scenario dataset."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from tqdm.auto import tqdm

from mrcom.envs import ACT_DIM, OBS_DIM, PROTOCOLS, Scenario, make

from ._config import PipelineConfig
from ._dataset import DATASET_MANIFEST, new_manifest, read_manifest, write_shard
from ._fused import fused_record_episodes, run_fused_sac
from ._io import SEED_STREAMS, derive_seed, sha256_file, stream_seed
from ._loop import record_episodes, run_sac
from ._sac import SACState

Log = Callable[[str, float, int], None]


def train_scenarios(cfg: PipelineConfig) -> list[Scenario]:
    """The training scenarios of `cfg`: the protocol's train distribution on `envs.robots`."""
    dist = dataclasses.replace(PROTOCOLS[cfg.protocol].train, robots=cfg.envs.robots)
    return dist.sample(cfg.envs.num_train_scenarios, stream_seed(cfg.seed, "train_scenarios"))


def target_scenarios(cfg: PipelineConfig) -> list[Scenario]:
    """The target scenarios of `cfg`: the protocol's eval distribution on `envs.robots`.

    ``envs.target_split`` picks the seed stream: "test" (the targets every reported table uses) or
    "validation" (the lambda search's own targets, from a disjoint stream, so that the search never
    selects hyper-parameters on the scenarios it is then scored on). `envs.ood_sampling` picks how OOD
    targets are drawn ("outside": outside the training box; "wide": anywhere in the wider box).
    """
    p = PROTOCOLS[cfg.protocol]
    dist = p.eval_distribution(cfg.envs.ood_sampling)
    dist = dataclasses.replace(dist, robots=cfg.envs.robots)
    stream = "test_targets" if cfg.envs.target_split == "test" else "validation_targets"
    return dist.sample(cfg.envs.num_targets, stream_seed(cfg.seed, stream))


def collect(
    scenarios: Sequence[Scenario],
    out: Path,
    cfg: PipelineConfig,
    *,
    seed: int,
    log: Log | None = None,
    progress: bool = True,
) -> Path:
    """Collect a dataset for `scenarios` into `out` (resuming: finished shards are skipped).

    For each batch of `collect.batch_scenarios` scenarios, independent behaviour SAC agents (one per
    scenario, batched env) train for `collect.steps_per_scenario` steps (rounded up to whole episodes)
    and every transition is kept; then K = `collect.prompt_episodes` expert episodes of each final
    deterministic policy are recorded as that scenario's prompt. With `envs.engine == "mjx"` both run
    on the device as jitted scans (`mrcom.agents._fused`: env step, replay insert and SAC updates in
    one program, back to the host once per episode for the progress bar and the shards).

    Arguments:
        scenarios: training scenarios, in order (shard i is scenario i).
        out: dataset directory.
        cfg: pipeline config (envs, collect, sac sections).
        seed: base seed; scenario batch g uses `derive_seed(seed, g)`.
        log: optional `log(name, value, step)`; receives `collect/normalized_return` per scenario.
        progress: tqdm bars.

    Returns:
        `out`.
    """
    out = Path(out)
    length = cfg.envs.episode_length
    k = cfg.collect.prompt_episodes
    planned = [s.to_dict() for s in scenarios]
    if (out / DATASET_MANIFEST).exists():
        manifest = read_manifest(out)
        if manifest["scenarios"] != planned or manifest["episode_length"] != length:
            raise ValueError(
                f"dataset={str(out)!r}: its manifest plans other scenarios or episode length; "
                "use an empty directory or the same config"
            )
    else:
        manifest = new_manifest(scenarios, OBS_DIM, ACT_DIM, length, k, seed)
        out.mkdir(parents=True, exist_ok=True)
    # a shard counts as done only if its file is there and matches its checksum; a corrupt or
    # truncated one is removed and collected again
    done = set()
    for e in manifest["shards"]:
        if shard_problem(out, e) is None:
            done.add(e["index"])
        else:
            (out / e["file"]).unlink(missing_ok=True)
    manifest["shards"] = [e for e in manifest["shards"] if e["index"] in done]
    steps = math.ceil(cfg.collect.steps_per_scenario / length) * length
    bs = cfg.collect.batch_scenarios
    groups = [list(range(i, min(i + bs, len(scenarios)))) for i in range(0, len(scenarios), bs)]
    outer = tqdm(total=len(scenarios), desc="collect", disable=not progress, initial=len(done))
    for g, idx in enumerate(groups):
        todo = [i for i in idx if i not in done]
        if not todo:
            continue
        group = [scenarios[i] for i in todo]
        env = make(group, engine=cfg.envs.engine, episode_length=length)
        s = derive_seed(seed, g)
        label = "scenarios " + ",".join(str(i) for i in todo)
        rep = lambda e, grp=group: make(
            [x for x in grp for _ in range(e)], engine=cfg.envs.engine, episode_length=length
        )
        p_seed = derive_seed(s, SEED_STREAMS["prompt_episodes"])
        if cfg.envs.engine == "mjx":  # the fused on-device loop (same schedule, same shard layout)
            res = run_fused_sac(env.env, cfg.sac, steps, s, desc=label, progress=progress)
            p_obs, p_act, p_rew = fused_record_episodes(
                cast(SACState, res.state),
                rep(k).env,
                len(group),
                k,
                p_seed,
                fast_compile=cfg.sac.fast_compile,
            )
        else:
            res = run_sac(env, cfg.sac, steps, s, desc=label, progress=progress)
            p_obs, p_act, p_rew = record_episodes(res.state, rep, len(group), k, p_seed)
        buf = res.buffer
        for j, i in enumerate(todo):
            arrays = dict(
                obs=buf.obs[j],
                action=buf.action[j],
                reward=buf.reward[j],
                prompt_obs=p_obs[j],
                prompt_action=p_act[j],
                prompt_reward=p_rew[j],
                obs_mask=env.obs_mask[j],
                act_mask=env.act_mask[j],
            )
            write_shard(out, manifest, i, scenarios[i], arrays)
            expert = float(100.0 * p_rew[j].mean())
            if log is not None:
                log(f"collect/{scenarios[i].robot}/normalized_return", expert, i)
            outer.update(1)
            outer.set_postfix(last_expert=f"{expert:.1f}")
    outer.close()
    return out


def run_collect(cfg: PipelineConfig, workdir: Path, log: Log | None = None, progress: bool = True) -> Path:
    """Collect `workdir/dataset` for the training scenarios of `cfg` (skips finished shards).

    Returns:
        The dataset directory.
    """
    return collect(
        train_scenarios(cfg),
        Path(workdir) / "dataset",
        cfg,
        seed=stream_seed(cfg.seed, "collect"),
        log=log,
        progress=progress,
    )


def shard_problem(path: Path, entry: dict) -> str | None:
    """What is wrong with one finished shard of the manifest (missing, wrong checksum), or None."""
    f = Path(path) / entry["file"]
    if not f.exists():
        return f"shard {str(f)!r}: missing"
    digest = sha256_file(f)
    if digest != entry["sha256"]:
        want = entry["sha256"][:12]
        return f"shard {str(f)!r}: sha256 {digest[:12]}... differs from the manifest's {want}..."
    return None


def dataset_problem(path: Path) -> str | None:
    """Why a dataset directory is not usable (no manifest, unfinished, a bad shard), or None."""
    try:
        m = read_manifest(path)
    except (ValueError, FileNotFoundError) as err:
        return str(err)
    if len(m["shards"]) != len(m["scenarios"]):
        return f"dataset={str(path)!r}: {len(m['shards'])} of {len(m['scenarios'])} shards finished"
    for e in m["shards"]:
        problem = shard_problem(path, e)
        if problem is not None:
            return problem
    return None


def is_complete(path: Path) -> bool:
    """Whether a dataset directory holds every planned shard, each matching its checksum."""
    return dataset_problem(path) is None


def expert_returns(path: Path) -> dict[int, float]:
    """Mean normalized return of each shard's prompt episodes (for reports)."""
    from ._dataset import load_shard

    m = read_manifest(path)
    return {e["index"]: float(100 * load_shard(path, e, m)["prompt_reward"].mean()) for e in m["shards"]}


__all__ = [
    "collect",
    "run_collect",
    "train_scenarios",
    "target_scenarios",
    "is_complete",
    "dataset_problem",
    "expert_returns",
]
