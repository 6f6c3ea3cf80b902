"""The GPU path measured: MJX env-steps/s, the fused loops, world-model training, the paper preset's time.

One prepared script for a (short) GPU session; it also runs on a CPU with small sizes (the figures are then
the CPU's). Sections, each printed as it finishes:

1. MJX physics: env-steps/s (float32) per robot at each B of `--batches`, as one jitted `lax.scan` of
   `--scan` steps per call (what the fused loops run), compilation excluded.
2. Fused collection: the preset's SAC (networks, batch, schedule) on a population of one agent per training
   scenario, env step + replay insert + SAC updates in the scan, timed after `learning_starts` (updates on).
3. World-model training: the preset's MrCoM `train_steps` (`benchmarks/worldmodel.py`'s `bench`): train
   steps/s and achieved FLOP/s (XLA cost analysis), as a share of the device's peak (`--peak-tflops`, or a
   table of known devices).
4. Fused adaptation: sac, sac-utd and MBPO (the preset's adapt settings, an untrained MrCoM of the preset: the
   work is timed, not the result) on one agent per target, after `learning_starts` and `start_steps`.
5. Projection: each paper-preset stage's time for one seed of one protocol from the rates above (collection
   of every training scenario in one population, world-model training, the three adaptation methods, the
   learning-curve evaluations), then for 5 seeds of one protocol and of all protocols.

    uv run python benchmarks/gpu.py                                   # on the GPU: paper sizes
    uv run python benchmarks/gpu.py --preset smoke --batches 16 64 --robots hopper --steps 200   # CPU check
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from mrcom.agents import (
    MBPOAugment,
    MBPOSettings,
    fused_init,
    fused_policy_returns,
    fused_sac_chunk,
    preset,
    prompt_tails,
    target_scenarios,
    train_scenarios,
)
from mrcom.envs import ACT_DIM, OBS_DIM, PROTOCOLS, Scenario, make
from mrcom.worldmodel import PRESET_NAMES, init_model

# dense float32 peak TFLOP/s (no tensor-core TF32) by `device_kind`; bf16 tensor-core peaks are far higher
PEAK_TFLOPS_F32 = {"NVIDIA H200": 67.0, "NVIDIA H100 80GB HBM3": 67.0, "NVIDIA A100-SXM4-80GB": 19.5}


def _sync(tree) -> None:
    jax.block_until_ready([x for x in jax.tree.leaves(tree) if hasattr(x, "block_until_ready")])


def mjx_rate(robot: str, batch: int, scan: int, calls: int) -> tuple[float, float]:
    """(env-steps/s, compile s) of `scan` MJX steps per jitted call at B = `batch`."""
    env = make([Scenario(robot, target_speed=1.0)] * batch, engine="mjx", episode_length=1000).env
    a = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (batch, ACT_DIM)), jnp.float32)

    @jax.jit
    def run(state):
        return jax.lax.scan(lambda s, _: (env.step(s, a), None), state, None, length=scan)[0]

    state = jax.jit(env.reset)(jax.random.PRNGKey(0))
    t0 = time.perf_counter()
    state = run(state)
    _sync(state.obs)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(calls):
        state = run(state)
    _sync(state.obs)
    return calls * scan * batch / (time.perf_counter() - t0), compile_s


def fused_rate(env, sac_cfg, aug, warm: int, chunk: int, chunks: int) -> tuple[float, float]:
    """(env-steps/s over all agents, compile + warm-up s) of the fused loop after `warm` steps."""
    capacity = warm + chunk * (chunks + 1)
    t0 = time.perf_counter()
    carry = fused_init(env, sac_cfg, capacity, 0, aug=aug)
    carry, _ = fused_sac_chunk(env, sac_cfg, carry, warm, aug)  # exploration and first updates
    carry, _ = fused_sac_chunk(env, sac_cfg, carry, chunk, aug)  # compiles the timed chunk size
    _sync(carry.agent)
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(chunks):
        carry, tr = fused_sac_chunk(env, sac_cfg, carry, chunk, aug)
    _sync((carry.agent, tr))
    return chunks * chunk * env.num_envs / (time.perf_counter() - t0), warm_s


def _fmt(seconds: float) -> str:
    return f"{seconds / 3600:7.2f} h" if seconds >= 600 else f"{seconds:7.1f} s"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="paper", choices=PRESET_NAMES, help="stage sizes (sections 2-5)")
    p.add_argument("--protocol", default="table1-a", choices=list(PROTOCOLS), help="scenario counts")
    p.add_argument("--robots", nargs="+", default=["hopper", "walker", "cheetah"])
    p.add_argument("--batches", nargs="+", type=int, default=[1024, 4096, 16384], help="B of section 1")
    p.add_argument("--scan", type=int, default=100, help="MJX steps per jitted call (section 1)")
    p.add_argument("--calls", type=int, default=5, help="timed calls per MJX row")
    p.add_argument("--steps", type=int, default=0, help="timed env steps per agent of the fused rows (0: L)")
    p.add_argument("--wm-calls", type=int, default=3, help="timed world-model calls of steps_per_call")
    p.add_argument("--peak-tflops", type=float, default=0.0, help="device float32 peak (0: known table)")
    p.add_argument("--seeds", type=int, default=5, help="seeds of the projected protocol set")
    p.add_argument("--skip", nargs="*", default=[], choices=["mjx", "collect", "worldmodel", "adapt"])
    a = p.parse_args(argv)
    dev = jax.devices()[0]
    peak = a.peak_tflops or PEAK_TFLOPS_F32.get(dev.device_kind, float("nan"))
    print(
        f"device: {dev.device_kind} ({dev.platform}), {os.cpu_count()} CPU cores, float32 peak {peak} TFLOP/s"
    )
    cfg = preset(a.preset, a.protocol)
    length = cfg.envs.episode_length
    steps = a.steps or length
    chunk = min(steps, length)
    chunks = max(1, steps // chunk)

    if "mjx" not in a.skip:
        print(f"\n[1] MJX physics, float32, env-steps/s (scan of {a.scan} steps per call)")
        for robot in a.robots:
            for b in a.batches:
                rate, comp = mjx_rate(robot, b, a.scan, a.calls)
                print(f"  {robot:8s} B={b:6d} {rate:12,.0f} steps/s   (compile {comp:.1f} s)", flush=True)

    rates: dict[str, float] = {}
    train = train_scenarios(cfg)
    targets = target_scenarios(cfg)
    warm = max(cfg.sac.learning_starts, cfg.adapt.start_steps) + cfg.sac.update_every
    if "collect" not in a.skip:
        print(f"\n[2] fused collection, {a.preset} SAC, B={len(train)} agents (one per training scenario)")
        env = make(train, engine="mjx", episode_length=length).env
        rate, warm_s = fused_rate(env, cfg.sac, None, warm, chunk, chunks)
        rates["collect"] = rate
        print(
            f"  {rate:12,.0f} env-steps/s with SAC updates   (compile + {warm} warm-up steps {warm_s:.1f} s)"
        )

    if "worldmodel" not in a.skip:
        from worldmodel import bench  # benchmarks/worldmodel.py (this folder is on sys.path)

        print(f"\n[3] world-model training, {a.preset} MrCoM")
        n_sc = cfg.worldmodel.num_scenarios
        _, steps_s, flops = bench(a.preset, OBS_DIM, ACT_DIM, n_sc, a.wm_calls, None)
        rates["worldmodel"] = steps_s
        tflops = flops * steps_s / 1e12
        print(f"  achieved {tflops:.3f} TFLOP/s = {100 * tflops / peak:.2f} % of the float32 peak")

    if "adapt" not in a.skip:
        print(f"\n[4] fused adaptation, {a.preset} settings, B={len(targets)} agents (one per target)")
        vec = make(targets, engine="mjx", episode_length=length)
        model = init_model(cfg.worldmodel, jax.random.PRNGKey(0))
        settings = MBPOSettings.from_adapt(cfg.adapt, model, length, cfg.sac.update_every)
        obs_mask = np.asarray(vec.obs_mask, np.float32)
        rng = np.random.default_rng(0)
        prompt = (
            rng.normal(size=(length + 1, OBS_DIM)).astype(np.float32),
            rng.uniform(-1, 1, (length, ACT_DIM)).astype(np.float32),
            rng.uniform(0, 1, length).astype(np.float32),
        )
        tails = prompt_tails([prompt] * len(targets), settings.context_len, OBS_DIM, ACT_DIM)
        aug = MBPOAugment(model, tails, jnp.asarray(obs_mask), settings)
        utd = dataclasses.replace(cfg.sac, updates_per_step=cfg.adapt.updates_per_step)
        for name, sac_cfg, aug_i in (("sac", cfg.sac, None), ("sac-utd", utd, None), ("mrcom", utd, aug)):
            rate, warm_s = fused_rate(vec.env, sac_cfg, aug_i, warm, chunk, chunks)
            rates[name] = rate
            print(f"  {name:8s} {rate:12,.0f} env-steps/s   (compile + {warm} warm-up steps {warm_s:.1f} s)")
        eval_env = make(targets, engine="mjx", episode_length=length).env
        ev = make([t for t in targets for _ in range(cfg.eval.episodes)], engine="mjx", episode_length=length)
        state = fused_init(eval_env, cfg.sac, 1, 0).agent
        fused_policy_returns(state, ev.env, len(targets), cfg.eval.episodes, 0)  # compiles
        t0 = time.perf_counter()
        fused_policy_returns(state, ev.env, len(targets), cfg.eval.episodes, 1)
        rates["eval_s"] = time.perf_counter() - t0
        print(f"  one evaluation ({cfg.eval.episodes} episodes per target): {rates['eval_s']:.2f} s")

    if all(k in rates for k in ("collect", "worldmodel", "sac", "sac-utd", "mrcom")):
        c, ad = cfg.collect, cfg.adapt
        per_agent = lambda k, b: rates[k] / b
        stage = {
            "collect (all scenarios at once)": c.steps_per_scenario / per_agent("collect", len(train)),
            "world model": cfg.worldmodel.steps / rates["worldmodel"],
            **{f"adapt {k}": ad.real_steps / per_agent(k, len(targets)) for k in ("sac", "sac-utd", "mrcom")},
            "evaluations": 3 * (ad.real_steps // ad.eval_every) * rates["eval_s"],
        }
        total = sum(stage.values())
        print(f"\n[5] projected {a.preset} preset, one seed of {a.protocol}")
        for k, v in stage.items():
            print(f"  {k:34s} {_fmt(v)}")
        print(f"  {'total':34s} {_fmt(total)}")
        print(f"  5 seeds x 1 protocol: {_fmt(a.seeds * total)}; x {len(PROTOCOLS)} protocols: "
              f"{_fmt(a.seeds * len(PROTOCOLS) * total)}")  # fmt: skip


if __name__ == "__main__":
    main()
