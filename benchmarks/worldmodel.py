"""Throughput and memory of the MrCoM world-model training step (printed figures, not a test).

For each preset: trace+lower and XLA compile time (persistent cache off) of one jitted chunk of
`steps_per_call` steps, train steps/s and sequence-steps/s (batch * seq_len per step), peak
memory, model FLOPs per step from XLA's cost analysis of one step with the time scan unrolled
(XLA counts a while-loop body once; lowered, unoptimized HLO), and the achieved FLOP/s. Data are
random arrays of the given widths (speed does not depend on values).

With `--models`, every named world model of the registry (MrCoM and the baselines CaDM, DreamerV3, MAMBA, MoW)
is also timed through its own `train` on the same random data at the preset's sizes: steps/s of a
resumed run (compiled programs cached), sequence-steps/s, parameters, peak memory, and the ratio of
each to MrCoM's steps/s measured in the same run. "train state" is the size of its checkpoint (parameters,
optimizer moments, targets, RNG), the per-model memory that does not depend on the batch; "peak memory"
is the process's (cumulative over the models of one run on a CPU).

    uv run python benchmarks/worldmodel.py --presets quick paper --calls 3
    uv run python benchmarks/worldmodel.py --presets smoke quick --fast-compile
    uv run python benchmarks/worldmodel.py --presets quick --models mrcom cadm dreamerv3 mamba mow
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
from tqdm.auto import tqdm

from mrcom.worldmodel import (
    PRESET_NAMES,
    LossWeights,
    MultiScenarioData,
    WorldModelConfig,
    data_sharding,
    init_train_state,
    make_optimizer,
    make_source,
    replicate,
    sample_batch,
    train_step,
    train_steps,
    train_steps_program,
)


def random_data(config: WorldModelConfig, episodes: int, length: int, seed: int = 0) -> MultiScenarioData:
    rng = np.random.default_rng(seed)
    s, o, a, p = config.num_scenarios, config.obs_dim, config.act_dim, max(config.context_len, 16)
    f = lambda *shape: rng.normal(size=shape).astype(np.float32)
    return MultiScenarioData(
        obs=f(episodes, length + 1, o),
        action=np.tanh(f(episodes, length, a)),
        reward=rng.uniform(size=(episodes, length)).astype(np.float32),
        scenario_id=(np.arange(episodes) % s).astype(np.int32),
        obs_mask=np.ones((s, o), np.float32),
        act_mask=np.ones((s, a), np.float32),
        prompt_obs=f(s, p + 1, o),
        prompt_action=np.tanh(f(s, p, a)),
        prompt_reward=rng.uniform(size=(s, p)).astype(np.float32),
    )


def peak_memory() -> str:
    stats = jax.local_devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return f"{stats['peak_bytes_in_use'] / 2**20:.1f} MiB device peak"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:.1f} MiB process max RSS"


def flops_per_step(state, src, config) -> float:
    """XLA cost analysis of one step, time scan unrolled (lowered HLO; no compile needed)."""
    batch = sample_batch(src, jax.random.PRNGKey(1), config.batch_size, config.seq_len, config.context_len)
    params, static = eqx.partition(state, eqx.is_array)
    weights, optimizer = LossWeights.from_config(config), make_optimizer(config)

    def step(p, b, k):
        new, metrics = train_step(eqx.combine(p, static), b, k, weights, optimizer, unroll=True)
        return eqx.filter(new, eqx.is_array), metrics

    analysis = jax.jit(step).lower(params, batch, jax.random.PRNGKey(2)).cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    return float((analysis or {}).get("flops", float("nan")))


def bench(
    name: str,
    obs_dim: int,
    act_dim: int,
    scenarios: int,
    calls: int,
    steps_per_call: int | None,
    fast_compile: bool | None = None,
) -> tuple[float, float, float]:
    """Measure one preset; returns (XLA compile seconds, train steps/s, FLOPs per step)."""
    extra = {} if steps_per_call is None else {"steps_per_call": steps_per_call}
    if fast_compile is not None:
        extra["fast_compile"] = fast_compile
    config = WorldModelConfig.preset(name, obs_dim=obs_dim, act_dim=act_dim, num_scenarios=scenarios, **extra)
    data = random_data(config, episodes=2 * scenarios, length=max(4 * config.seq_len, 200))
    sharding = data_sharding(config.batch_size)
    src = replicate(make_source(data, config.context_len), sharding)
    state = replicate(init_train_state(config, jax.random.PRNGKey(0)), sharding)
    n = config.steps_per_call

    weights, optimizer = LossWeights.from_config(config), make_optimizer(config)
    batch_shape = (config.batch_size, config.seq_len)
    t0 = time.perf_counter()
    jitted = train_steps_program.jitted[int(config.fast_compile)]  # the copy train_steps will call
    lowered = jitted.lower(state, weights, optimizer, batch_shape, src, n, sharding)
    lower_s = time.perf_counter() - t0
    lowered.compile()
    compile_s = time.perf_counter() - t0 - lower_s
    state, _ = train_steps(state, src, n, sharding, config=config)  # warm-up call (also hits the cache)
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    for _ in tqdm(range(calls), desc=f"{name}", leave=False):
        state, metrics = train_steps(state, src, n, sharding, config=config)
    jax.block_until_ready(metrics)
    elapsed = time.perf_counter() - t0
    steps_s = calls * n / elapsed
    flops = flops_per_step(state, src, config)
    params = sum(x.size for x in jax.tree.leaves(eqx.filter(state.model, eqx.is_array)))
    b, t = config.batch_size, config.seq_len
    level = "0 (fast_compile)" if config.fast_compile else "default"
    print(f"[{name}] params={params:,} batch={b} seq_len={t} m={config.context_len} XLA opt level {level}")
    print(f"  trace+lower ({n} steps/call): {lower_s:.1f} s   XLA compile: {compile_s:.1f} s")
    print(f"  train steps/s: {steps_s:.1f}   sequence-steps/s: {steps_s * b * t:,.0f}")
    print(f"  peak memory: {peak_memory()}")
    print(f"  FLOPs/step (XLA cost analysis, unrolled): {flops / 1e9:.3f} GFLOP")
    print(f"  achieved: {flops * steps_s / 1e9:.2f} GFLOP/s")
    return compile_s, steps_s, flops


def bench_kinds(name: str, models: list[str], obs_dim: int, act_dim: int, scenarios: int, steps: int) -> None:
    """Train steps/s of each registered world model through its own `train` (same data, preset `name`)."""
    import tempfile

    from mrcom.worldmodel import get_kind

    rates: dict[str, float] = {}
    for model in models:
        kind = get_kind(model)
        config = kind.config_type.preset(name, obs_dim=obs_dim, act_dim=act_dim, num_scenarios=scenarios)
        config = config.replace(eval_every=10**9, checkpoint_every=10**9)
        if hasattr(config, "cluster_at"):  # mow: its task clustering in the first (untimed) run
            config = config.replace(cluster_at=0)
        per_scenario, length = 2, max(4 * config.seq_len, 200)
        if hasattr(config, "meta_episodes"):  # mamba: whole meta-episodes (its curriculum's end) from step 0
            config = config.replace(curriculum_fraction=0.0)
            per_scenario = config.meta_episodes
        data = random_data(config, episodes=per_scenario * scenarios, length=length)
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            trained, _ = kind.train(data, config, seed=0, checkpoint_dir=d, steps=steps, progress=False)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()  # resumed: the jitted chunk is cached, so this is training time
            trained, _ = kind.train(data, config, seed=0, checkpoint_dir=d, steps=2 * steps, progress=False)
            rate = steps / (time.perf_counter() - t0)
            state_mib = sum(f.stat().st_size for f in Path(d).iterdir()) / 2**20  # params + optimizer + RNG
        rates[model] = rate
        params = sum(x.size for x in jax.tree.leaves(eqx.filter(trained, eqx.is_array)))
        seq = config.batch_size * (config.meta_episodes * length if model == "mamba" else config.seq_len)
        ratio = f"   x{rate / rates['mrcom']:.2f} of mrcom" if "mrcom" in rates and model != "mrcom" else ""
        print(
            f"[{name}] {model}: params={params:,} batch={config.batch_size} seq_len={config.seq_len}  "
            f"first {steps} steps (with compile) {first:.1f} s  train steps/s {rate:.1f}  "
            f"sequence-steps/s {rate * seq:,.0f}  train state {state_mib:.2f} MiB  "
            f"peak memory {peak_memory()}{ratio}"
        )


def main() -> None:
    jax.config.update("jax_enable_compilation_cache", False)  # measure real compiles
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=["quick", "paper"], choices=PRESET_NAMES)
    parser.add_argument("--obs-dim", type=int, default=24, help="padded observation width")
    parser.add_argument("--act-dim", type=int, default=6, help="padded action width")
    parser.add_argument("--scenarios", type=int, default=30, help="training scenarios (value heads)")
    parser.add_argument("--calls", type=int, default=3, help="timed jitted calls of steps_per_call steps")
    parser.add_argument(
        "--steps-per-call", type=int, default=None, help="override the preset's steps_per_call"
    )
    parser.add_argument(
        "--fast-compile",
        action="store_true",
        help="measure each preset with fast_compile off and on, and print the ratios",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=[],
        help="also time these registered world models (e.g. mrcom cadm dreamerv3)",
    )
    parser.add_argument("--model-steps", type=int, default=100, help="timed steps per world model (--models)")
    args = parser.parse_args()
    print(f"devices: {jax.devices()}  (os load average: {os.getloadavg()[0]:.1f})")
    common = (args.obs_dim, args.act_dim, args.scenarios, args.calls, args.steps_per_call)
    for name in args.presets:
        if args.models:
            bench_kinds(name, args.models, args.obs_dim, args.act_dim, args.scenarios, args.model_steps)
            continue
        if not args.fast_compile:
            bench(name, *common)
            continue
        (c_off, s_off, _), (c_on, s_on, _) = bench(name, *common, False), bench(name, *common, True)
        print(
            f"  fast_compile on/off [{name}]: compile x{c_on / c_off:.2f}, train steps/s x{s_on / s_off:.2f}"
        )


if __name__ == "__main__":
    main()
