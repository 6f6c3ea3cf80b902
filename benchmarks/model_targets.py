"""World models on many new targets: k-step error and the return gap Theorem 6 bounds, ID and OOD.

For one pipeline seed at the preset's scale (default quick, table1-a) this script

1. collects (or reuses) the pipeline's dataset and trains (or reuses) each world model on its
   training scenarios, exactly as `benchmarks/worldmodel_accuracy.py` does (same seed, same
   checkpoint folders under `<workdir>/accuracy/`, so the two share their models);
2. draws `--targets` new ID targets (the protocol's training distribution) and as many OOD targets
   (the training distribution's OOD protocol, e.g. table1-b's targets for table1-a), robots in turn,
   from the seed stream "model_targets" (disjoint from every target the pipeline adapts to);
3. trains a fixed set of policies once per seed, the same for every model: per robot, "zero"
   (a = 0), "random" (uniform actions, replayed) and "sac" (the deterministic SAC policy after
   `collect.steps_per_scenario` steps on the robot's first training scenario);
4. records, per target, one prompt episode of random actions (the kind of first episode a new
   target gives at adaptation; the models' context is its last m steps) and `--episodes` real
   episodes of each policy;
5. scores every model on every target: the open-loop k = 1 / 5 / 15 observation NMSE of the
   registry's `evaluate` on that target's episodes (normalized by that target's own observation
   variance; MrCoM also reports its value-equivalence error), and the return gap
   100 |G_real - G_model| / G_max, G the discounted return (`--gamma`) of each policy averaged over
   its episodes, G_model the model's own rollout of the policy from the same start observations for
   the whole episode (closed loop for "sac"; "zero" and "random" replay the real actions), rewards
   clipped to [0, 1], G_max = sum_t gamma^t. A target's gap is the mean over the three policies.

Beside the models: persistence (k-step only) and the MLP-ensemble delta model (`--no-mlp` skips it),
which also rolls the policies out for a gap. Rows per (model, target) go to
`<workdir>/model_targets.json`; `python -m analysis.targets <workdir> [<workdir> ...]` aggregates
seeds into the table (IQM with stratified bootstrap 95 % intervals; docs/results.md).

    uv run python benchmarks/model_targets.py --workdir /tmp/wm_acc_h
    uv run python benchmarks/model_targets.py --workdir /tmp/wm_acc_s1 --seed 1 --models mrcom mrcom/wo_lv
    uv run python benchmarks/model_targets.py --workdir /tmp/wm_acc_h --models dreamerv3 dreamerv3-paper
    uv run python benchmarks/model_targets.py --workdir /tmp/mt_smoke --preset smoke --targets 3

A model is `<kind>[-paper][/<ablation>]` (`benchmarks/wm_variants.py`): a registered world model
with its defaults, "-paper" the DreamerV3-style models with the harness options as their papers have
them, "/<ablation>" an ablation of the pipeline.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from functools import partial
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm
from wm_variants import parse_variants

from analysis.bound import DeterministicPopulation, discounted_return
from mrcom.agents import (
    PRESETS,
    SACState,
    atomic_write_json,
    load_dataset,
    preset,
    run_collect,
    run_sac,
    sac_init,
    split_indices,
    stream_seed,
    train_scenarios,
)
from mrcom.envs import ACT_DIM, OBS_DIM, PROTOCOLS, ROBOTS, make
from mrcom.worldmodel import (
    Context,
    MultiScenarioData,
    OpenLoop,
    Prefix,
    atomic_writer,
    mlp_ensemble_nmse,
    mlp_ensemble_rollout,
    persistence_nmse,
    train_mlp_ensemble,
)

KS = (1, 5, 15)
POLICIES = ("zero", "random", "sac")
REWARD_RANGE = (0.0, 1.0)
DEFAULT_MODELS = ("mrcom", "mrcom-paper", "cadm", "dreamerv3", "dreamerv3-paper", "mamba", "mamba-paper")
DEFAULT_MODELS += ("mow", "mow-paper")


def split_targets(cfg, n: int) -> dict[str, list]:
    """`n` new ID targets and `n` OOD targets of `cfg`'s training distribution (robots in turn)."""
    p = PROTOCOLS[cfg.protocol]
    ood = (
        p
        if not p.in_distribution
        else next((q for q in PROTOCOLS.values() if q.train == p.train and not q.in_distribution), None)
    )
    dists = {"id": p.train}
    if ood is not None:
        dists["ood"] = ood.eval_distribution(cfg.envs.ood_sampling)
    base = stream_seed(cfg.seed, "model_targets")
    return {
        split: dataclasses.replace(d, robots=cfg.envs.robots).sample(n, base + i)
        for i, (split, d) in enumerate(dists.items())
    }


def fixed_sac(cfg, path: Path, progress: bool) -> tuple[SACState, tuple[str, ...]]:
    """One SAC agent per robot, trained on the robot's first training scenario (cached at `path`)."""
    scenarios = train_scenarios(cfg)
    robots = tuple(r for r in ROBOTS if r in cfg.envs.robots)
    first = [next(s for s in scenarios if s.robot == r) for r in robots]
    like = sac_init(jax.random.PRNGKey(0), len(first), OBS_DIM, ACT_DIM, cfg.sac)
    if path.is_file():
        return eqx.tree_deserialise_leaves(path, like), robots
    env = make(first, engine=cfg.envs.engine, episode_length=cfg.envs.episode_length)
    steps = cfg.collect.steps_per_scenario
    res = run_sac(
        env, cfg.sac, steps, stream_seed(cfg.seed, "fixed_policies"), desc="fixed sac", progress=progress
    )
    with atomic_writer(path) as f:
        eqx.tree_serialise_leaves(f, res.state)
    return res.state, robots


def _row_policy(actor, index: np.ndarray, act_mask: np.ndarray) -> DeterministicPopulation:
    """The deterministic policy of the actor population gathered to one agent per row (row i: agent
    `index[i]`, action mask `act_mask[i]`); `policy(key, obs)`, imagination's callable policy."""
    params, static = eqx.partition(actor, eqx.is_array)
    rows = eqx.combine(jax.tree.map(lambda x: x[jnp.asarray(index)], params), static)
    return DeterministicPopulation(rows, jnp.asarray(act_mask), 1)


def record(cfg, targets, sac: SACState, robots, episodes: int, seed: int) -> dict[str, np.ndarray]:
    """Per target: one random-action prompt episode, then `episodes` of each policy (target-major).

    Returns:
        obs (T, 1 + P E, L+1, O), action (T, 1 + P E, L, A), reward (T, 1 + P E, L), obs_mask (T, O),
        act_mask (T, A); row 0 of each target is the prompt, then policy-major rows.
    """
    per = 1 + len(POLICIES) * episodes
    source = np.array(["random"] + [p for p in POLICIES for _ in range(episodes)])
    rows = [t for t in targets for _ in range(per)]
    env = make(rows, engine=cfg.envs.engine, episode_length=cfg.envs.episode_length)
    n, length = len(rows), env.episode_length
    act_mask = np.asarray(env.act_mask, np.float32)
    rng = np.random.default_rng(seed)
    actions = {
        "zero": np.zeros((n, length, ACT_DIM), np.float32),
        "random": rng.uniform(-1.0, 1.0, (n, length, ACT_DIM)).astype(np.float32) * act_mask[:, None],
    }
    kind = np.tile(source, len(targets))
    policy = eqx.filter_jit(_row_policy(sac.actor, np.array([robots.index(t.robot) for t in rows]), act_mask))
    key = jax.random.PRNGKey(seed)  # the deterministic policy leaves it unused
    obs = np.asarray(env.reset(seed), np.float32)
    all_obs = np.zeros((n, length + 1, obs.shape[-1]), np.float32)
    all_act = np.zeros((n, length, ACT_DIM), np.float32)
    all_rew = np.zeros((n, length), np.float32)
    all_obs[:, 0] = obs
    for t in range(length):
        a = np.asarray(policy(key, jnp.asarray(obs)))
        for k in ("zero", "random"):
            a = np.where((kind == k)[:, None], actions[k][:, t], a)
        obs, reward, _, info = env.step(a)
        obs = np.asarray(obs, np.float32)
        all_act[:, t], all_rew[:, t] = a, reward
        all_obs[:, t + 1] = np.asarray(info["final_obs"]) if t == length - 1 else obs
    shape = lambda x: x.reshape(len(targets), per, *x.shape[1:])
    return dict(
        obs=shape(all_obs),
        action=shape(all_act),
        reward=shape(all_rew),
        obs_mask=np.asarray(env.obs_mask, np.float32)[::per],
        act_mask=act_mask[::per],
        robot_index=np.array([robots.index(t.robot) for t in targets]),
    )


def target_data(ep: dict[str, np.ndarray], i: int) -> MultiScenarioData:
    """Target `i`'s policy episodes as one scenario, its prompt episode as the scenario's prompt."""
    obs, act, rew = ep["obs"][i], ep["action"][i], ep["reward"][i]
    return MultiScenarioData(
        obs=obs[1:],
        action=act[1:],
        reward=rew[1:],
        scenario_id=np.zeros(obs.shape[0] - 1, np.int32),
        obs_mask=ep["obs_mask"][i : i + 1],
        act_mask=ep["act_mask"][i : i + 1],
        prompt_obs=obs[:1],
        prompt_action=act[:1],
        prompt_reward=rew[:1],
    )


@eqx.filter_jit
def _imagine(imagine_fn, model, context, prefix, masks, policy, horizon, key):
    return imagine_fn(model, context, prefix, masks, policy, horizon, key, sample=False)


def policy_returns(rollout, ep: dict[str, np.ndarray], sac: SACState, episodes: int, gamma: float):
    """Real and modelled discounted returns per (target, policy), each averaged over its episodes.

    `rollout(rows, policy)` returns the modelled rewards (R, L) of the episode rows
    `rows` = (target index (R,), row index (R,)) under `policy`, from each row's real start.
    """
    t_count = ep["reward"].shape[0]
    g_real = np.zeros((t_count, len(POLICIES)))
    g_model = np.zeros((t_count, len(POLICIES)))
    for j, pol in enumerate(POLICIES):
        ti = np.repeat(np.arange(t_count), episodes)
        ri = np.tile(1 + j * episodes + np.arange(episodes), t_count)
        real = ep["reward"][ti, ri]
        policy: DeterministicPopulation | OpenLoop
        if pol == "sac":
            policy = _row_policy(sac.actor, ep["robot_index"][ti], ep["act_mask"][ti])
        else:
            policy = OpenLoop(jnp.asarray(ep["action"][ti, ri]))
        model = np.clip(np.asarray(rollout((ti, ri), policy)), *REWARD_RANGE)
        g_real[:, j] = discounted_return(real, gamma).reshape(t_count, episodes).mean(1)
        g_model[:, j] = discounted_return(model, gamma).reshape(t_count, episodes).mean(1)
    return g_real, g_model


def model_rollout(kind, model, ep: dict[str, np.ndarray], key):
    """`policy_returns`'s rollout for a registered world model: context from each target's prompt."""
    m, length = model.spec.context_len, ep["action"].shape[2]

    def rollout(rows, policy):
        ti, ri = rows
        n = len(ti)
        p = lambda x: jnp.asarray(x[ti, 0, length - m : length])
        context = Context(p(ep["obs"]), p(ep["action"]), p(ep["reward"]), jnp.ones((n, m), jnp.float32))
        prefix = Prefix(
            jnp.asarray(ep["obs"][ti, ri, :1]),
            jnp.zeros((n, 0, ACT_DIM), jnp.float32),
            jnp.zeros((n, 0), jnp.float32),
        )
        masks = (jnp.asarray(ep["obs_mask"][ti]), jnp.asarray(ep["act_mask"][ti]))
        return _imagine(kind.imagine, model, context, prefix, masks, policy, length, key).reward

    return rollout


def ensemble_rollout(ensemble, ep: dict[str, np.ndarray], key):
    """`policy_returns`'s rollout for the MLP ensemble (no context: it has no memory)."""
    length = ep["action"].shape[2]

    def rollout(rows, policy):
        ti, ri = rows
        masks = (jnp.asarray(ep["obs_mask"][ti]), jnp.asarray(ep["act_mask"][ti]))
        start = jnp.asarray(ep["obs"][ti, ri, 0])
        _, reward = mlp_ensemble_rollout(ensemble, start, policy, length, masks, key)
        return reward

    return rollout


def score_rows(name, per_target, g_real, g_model, targets, split, gamma, length) -> list[dict]:
    """One result row per target (its scenario is the file's `targets[split][slot]`): k-step figures,
    per-policy returns and the gap in % of G_max."""
    g_max = float(discounted_return(np.ones(length), gamma))
    rows = []
    for i, t in enumerate(targets):
        row = {"model": name, "split": split, "slot": i, "robot": t.robot}
        row |= per_target[i]
        if g_model is not None:
            gap = 100.0 * np.abs(g_real[i] - g_model[i]) / g_max
            row |= {f"g_real_{p}": float(g_real[i, j]) for j, p in enumerate(POLICIES)}
            row |= {f"g_model_{p}": float(g_model[i, j]) for j, p in enumerate(POLICIES)}
            row |= {f"gap_{p}": float(gap[j]) for j, p in enumerate(POLICIES)}
            row["gap"] = float(gap.mean())
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, default=Path("runs/bench_model_targets"), help="data + models")
    p.add_argument("--preset", default="quick", choices=PRESETS, help="pipeline preset")
    p.add_argument("--protocol", default="table1-a", help="training protocol (a key of mrcom.envs.PROTOCOLS)")
    p.add_argument("--seed", type=int, default=0, help="pipeline seed (dataset, models, targets, policies)")
    p.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_MODELS),
        help="<kind>[-paper][/<ablation>]",
    )
    p.add_argument("--targets", type=int, default=30, help="ID targets, and as many OOD targets")
    p.add_argument("--episodes", type=int, default=2, help="real episodes of each policy per target")
    p.add_argument("--eval-windows", type=int, default=64, help="k-step windows per target")
    p.add_argument("--gamma", type=float, default=0.99, help="discount of the returns")
    p.add_argument("--wm-steps", type=int, default=None, help="world-model steps (default: the preset's)")
    p.add_argument(
        "--no-mlp", action="store_true", help="skip the MLP ensemble (persistence is always scored)"
    )
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    args = p.parse_args(argv)
    variants = parse_variants(args.models, p.error)
    if args.targets < 1 or args.episodes < 1 or not 0.0 <= args.gamma < 1.0:
        p.error(f"--targets {args.targets}, --episodes {args.episodes}: must be >= 1; --gamma in [0, 1)")
    progress = not args.no_progress
    cfg = preset(args.preset, args.protocol, seed=args.seed)
    if args.wm_steps is not None:
        cfg = cfg.replace(**{"worldmodel.steps": args.wm_steps})
    wm_steps, workdir = cfg.worldmodel.steps, args.workdir
    here = workdir / "model_targets"
    out = workdir / "model_targets.json"
    old = earlier_rows(out, cfg)  # refuses another preset/protocol/seed's workdir before any work
    times: dict[str, float] = {}

    t0 = time.perf_counter()
    ds = run_collect(cfg, workdir, progress=progress)
    train_idx, _ = split_indices(cfg)
    data = load_dataset(ds, train_idx, cfg.collect.train_prompt)
    sac, robots = fixed_sac(cfg, here / f"fixed_sac_seed{cfg.seed}.eqx", progress)
    targets = split_targets(cfg, args.targets)
    episodes = {
        s: record(cfg, ts, sac, robots, args.episodes, stream_seed(cfg.seed, "model_targets") + 10 + i)
        for i, (s, ts) in enumerate(targets.items())
    }
    times["data, policies, episodes"] = time.perf_counter() - t0
    for s, ep in episodes.items():
        g = (
            discounted_return(ep["reward"][:, 1:], args.gamma)
            .reshape(len(targets[s]), len(POLICIES), -1)
            .mean((0, 2))
        )
        print(
            f"{s}: {len(targets[s])} targets, mean real G per policy "
            + ", ".join(f"{pol} {v:.1f}" for pol, v in zip(POLICIES, g, strict=True))
        )

    seed = stream_seed(cfg.seed, "worldmodel")
    key = jax.random.PRNGKey(seed)
    burn_in, windows, length = cfg.worldmodel.eval_burn_in, args.eval_windows, cfg.envs.episode_length
    rows: list[dict] = []
    head = {
        "preset": cfg.preset,
        "protocol": cfg.protocol,
        "seed": cfg.seed,
        "worldmodel_steps": wm_steps,
        "targets_per_split": args.targets,
        "episodes": args.episodes,
        "policies": list(POLICIES),
        "gamma": args.gamma,
        "eval_windows": windows,
        "eval_burn_in": burn_in,
        "targets": {split: [t.to_dict() for t in ts] for split, ts in targets.items()},
    }

    def save() -> None:
        """The score file with every model scored so far (earlier rows of a model scored again replaced):
        a run killed part-way keeps the models it finished."""
        names = {r["model"] for r in rows}
        keep = [r for r in old if r["model"] not in names]
        atomic_write_json(out, head | {"rows": keep + [compact(r) for r in rows]})

    def score(name, nmse, rollout) -> None:
        """Rows of one model: `nmse(data)` per target, `rollout(episodes)` for the gap (None: no gap);
        saved at once."""
        for s, ep in episodes.items():
            bar = tqdm(range(ep["obs"].shape[0]), desc=f"{name} {s}", disable=not progress, leave=False)
            per = [nmse(target_data(ep, i)) for i in bar]
            g_real, g_model = (
                (None, None)
                if rollout is None
                else policy_returns(rollout(ep), ep, sac, args.episodes, args.gamma)
            )
            rows.extend(score_rows(name, per, g_real, g_model, targets[s], s, args.gamma, length))
        save()

    kw = dict(burn_in=burn_in, num_windows=windows, key=key)
    for v in variants:
        kind, model, seconds = v.train(cfg, data, workdir, wm_steps, progress=progress)
        times[f"train {v.name}"] = seconds
        t = time.perf_counter()
        score(
            v.name,
            partial(kind.evaluate, model, **kw),
            partial(model_rollout, kind, model, key=key),
        )
        times[f"score {v.name}"] = time.perf_counter() - t

    score("persistence", partial(persistence_nmse, ks=KS, **kw), None)
    if not args.no_mlp:
        t = time.perf_counter()
        ensemble, _ = train_mlp_ensemble(data, seed=seed, progress=progress)
        times["train mlp"] = time.perf_counter() - t
        score(
            "mlp",
            partial(mlp_ensemble_nmse, ensemble, ks=KS, **kw),
            partial(ensemble_rollout, ensemble, key=key),
        )

    print("time: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    print(f"{len(rows)} rows -> {out}; table: uv run python -m analysis.targets {workdir}")


def compact(row: dict) -> dict:
    """The row with its floats to 5 significant digits (the score file stays small enough to commit)."""
    return {k: float(f"{v:.5g}") if isinstance(v, float) else v for k, v in row.items()}


def earlier_rows(path: Path, cfg) -> list[dict]:
    """The rows of an earlier run of this script in the same workdir (models run again replace theirs)."""
    if not path.is_file():
        return []
    old = json.loads(path.read_text())
    same = (old["preset"], old["protocol"], old["seed"]) == (cfg.preset, cfg.protocol, cfg.seed)
    if not same:
        raise SystemExit(
            f"{path}: holds preset/protocol/seed {old['preset']}/{old['protocol']}/{old['seed']}; "
            "use another --workdir"
        )
    return old["rows"]


if __name__ == "__main__":
    main()
