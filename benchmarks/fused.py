"""Fused mjx loop vs the host mjx loop: env-steps/s with SAC updates (or MBPO), same run, and their ratio.

The fused loop (`mrcom.agents.run_fused_sac`: MJX step, on-device replay insert and SAC updates in one
jitted `lax.scan`, back to the host once per chunk) and the host loop (`run_sac` over `MjxVecEnv`: one jitted
env step, numpy conversion, replay inserts and one jitted update call every `update_every` steps) run the same
work: B agents (hopper scenarios), the same SAC schedule and sizes. Each is timed on a second call after a
warm-up call of the same size (compilation excluded). Wall-clock and CPU seconds of this process are
printed (the CPU figure is robust on a shared machine). MJX on CPU is slow: keep sizes tiny, the point is
the ratio; on a GPU raise --agents.

`--mbpo` runs adaptation instead: MBPO with a (smoke-size, untrained: the work is what is timed) MrCoM world
model, k-step rollouts branched before every update call: "host" (`run_sac` with the `MBPOAugment`, the one
JAX augmentation, called from the host loop's update step) and "fused" (the same step inside the scan).

    uv run python benchmarks/fused.py
    uv run python benchmarks/fused.py --agents 4 --steps 400 --episode-length 100
    uv run python benchmarks/fused.py --mbpo --rollout-length 5
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from mrcom.agents import SACConfig, run_fused_sac, run_sac
from mrcom.envs import Scenario, make


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    jax.block_until_ready(jax.tree.leaves(out.state))
    return time.perf_counter() - w0, time.process_time() - c0, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--agents", type=int, default=2, help="B: scenarios / agents in the batched env")
    p.add_argument("--steps", type=int, default=200, help="env steps per agent of each timed run")
    p.add_argument("--episode-length", type=int, default=50)
    p.add_argument("--hidden", type=int, default=32, help="width of the two hidden layers")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--update-every", type=int, default=10)
    p.add_argument("--learning-starts", type=int, default=50)
    p.add_argument("--chunk", type=int, default=0, help="fused steps per device call (0: episode length)")
    p.add_argument("--fast-compile", action="store_true", help="XLA backend optimisation level 0 (both)")
    p.add_argument("--mbpo", action="store_true", help="MBPO adaptation with a smoke MrCoM world model")
    p.add_argument("--rollout-length", type=int, default=3, help="MBPO's k")
    p.add_argument("--rollouts-per-step", type=int, default=4, help="MBPO's rollouts per real step")
    a = p.parse_args()
    cfg = SACConfig(
        hidden=(a.hidden, a.hidden),
        batch_size=a.batch_size,
        update_every=a.update_every,
        learning_starts=a.learning_starts,
        fast_compile=a.fast_compile,
    )
    scenarios = [Scenario("hopper", 1.0 + 0.05 * i, 1.0 - 0.03 * i, 1.0) for i in range(a.agents)]
    vec = make(scenarios, engine="mjx", episode_length=a.episode_length)
    if a.fast_compile:
        from mrcom.worldmodel import FAST_COMPILE_OPTIONS

        vec._step = jax.jit(vec.env.step, compiler_options=FAST_COMPILE_OPTIONS)
    chunk = a.chunk or a.episode_length
    loops = {
        "host": lambda seed: run_sac(vec, cfg, a.steps, seed, progress=False),
        "fused": lambda seed: run_fused_sac(vec.env, cfg, a.steps, seed, chunk=chunk, progress=False),
    }
    if a.mbpo:
        loops = _mbpo_loops(a, cfg, vec, chunk)
    print(f"device: {jax.devices()[0].device_kind}  agents={a.agents} steps={a.steps} L={a.episode_length}")
    print(f"sac: hidden={cfg.hidden} batch={cfg.batch_size} update_every={cfg.update_every} chunk={chunk}")
    rows, runs = {}, {}
    for name, fn in loops.items():
        w0, _, _ = _timed(lambda fn=fn: fn(0))  # warm-up: compiles
        wall, cpu, runs[name] = _timed(lambda fn=fn: fn(1))
        n = a.steps * a.agents
        rows[name] = (n / wall, n / cpu)
        print(f"{name:8s} warm-up {w0:7.1f} s | {n / wall:9.1f} env-steps/s wall | {n / cpu:9.1f} /CPU-s")
    for peer in [k for k in loops if k != "fused"]:
        print(
            f"ratio fused/{peer}: {rows['fused'][0] / rows[peer][0]:.2f}x wall, "
            f"{rows['fused'][1] / rows[peer][1]:.2f}x CPU"
        )
    # same seeds and RNG streams: the two runs should be one trajectory up to float rounding
    hb, fb = runs["host"].buffer, runs["fused"].buffer
    d_act, d_obs = np.abs(hb.action - fb.action).max(), np.abs(hb.obs - fb.obs).max()
    print(f"parity host vs fused (same seed): max |action diff| {d_act:.2e}, max |obs diff| {d_obs:.2e}")


def _mbpo_loops(a, cfg: SACConfig, vec, chunk: int) -> dict:
    """The two MBPO loops of `--mbpo` (the smoke preset's adapt settings; k and rollouts from the flags)."""
    from mrcom.agents import MBPOAugment, MBPOSettings, preset, prompt_tails
    from mrcom.worldmodel import init_model

    pipe = preset(
        "smoke",
        **{
            "adapt.rollout_length": a.rollout_length,
            "adapt.rollouts_per_step": a.rollouts_per_step,
            "adapt.start_steps": a.learning_starts,
            "adapt.real_steps": a.steps,
        },
    )
    ad = pipe.adapt
    model = init_model(pipe.worldmodel, jax.random.PRNGKey(0))
    settings = MBPOSettings.from_adapt(ad, model, a.episode_length, cfg.update_every)
    prompts = [None] * vec.num_envs  # the first real episode
    obs_mask, act_mask = np.asarray(vec.obs_mask, np.float32), np.asarray(vec.act_mask, np.float32)
    tails = prompt_tails(prompts, settings.context_len, obs_mask.shape[1], act_mask.shape[1])
    aug = MBPOAugment(model, tails, jax.numpy.asarray(obs_mask), settings)
    print(f"mbpo: k={ad.rollout_length} rollouts/step={ad.rollouts_per_step} world model: smoke MrCoM")
    return {
        "host": lambda seed: run_sac(vec, cfg, a.steps, seed, aug=aug, progress=False),
        "fused": lambda seed: run_fused_sac(
            vec.env, cfg, a.steps, seed, chunk=chunk, aug=aug, progress=False
        ),
    }


if __name__ == "__main__":
    main()
