"""Environment throughput: mrcom.envs native and mjx engines vs Gymnasium's MuJoCo v5 envs.

Prints one table: env steps per second (wall clock) and per CPU-second of this process (the "per core"
figure, robust on a shared machine), for native at B=1 and B=16 (1 thread and all threads), our Gymnasium
adapter `GymEnv` (native, one env), mjx at B=16 on CPU (and on GPU, B=16 and B=4096, when JAX sees one),
and Gymnasium's Hopper-v5 / Walker2d-v5 / HalfCheetah-v5 with random actions. The ratio column is
per-CPU-second / Gymnasium-per-CPU-second for the same robot (targets: >= 1 at B=1 and for GymEnv, >= 2
at B=16). On a loaded machine use ``--repeat``: each row keeps its least disturbed (lowest CPU time) run.

    uv run python benchmarks/envs.py            # default: 3000 env steps per gym/native row
    uv run python benchmarks/envs.py --no-mjx --repeat 5
    uv run python benchmarks/envs.py --help
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from mrcom.envs import ACT_DIM, GymEnv, Scenario, make

GYM_IDS = {"hopper": "Hopper-v5", "walker": "Walker2d-v5", "cheetah": "HalfCheetah-v5"}


def _progress(it, **kw):
    try:
        from tqdm import tqdm
    except ImportError:
        return it
    return tqdm(it, leave=False, **kw)


def _timed(fn, n_calls: int, desc: str):
    """Run ``fn()`` n_calls times; return (wall seconds, CPU seconds of this process)."""
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in _progress(range(n_calls), desc=desc):
        fn()
    return time.perf_counter() - w0, time.process_time() - c0


def _bench_gym_api(env, steps: int, seed: int, desc: str) -> dict:
    """``steps`` single-env steps of uniform random actions through the Gymnasium API of ``env``."""
    env.reset(seed=seed)
    acts = np.random.default_rng(seed).uniform(-1, 1, (steps,) + env.action_space.shape).astype(np.float32)
    it = iter(acts)

    def one():
        _, _, term, trunc, _ = env.step(next(it))
        if term or trunc:
            env.reset()

    wall, cpu = _timed(one, steps, desc)
    return {"steps": steps, "wall": wall, "cpu": cpu}


def bench_gym(robot: str, steps: int, seed: int) -> dict:
    import gymnasium as gym

    env = gym.make(GYM_IDS[robot])
    result = _bench_gym_api(env, steps, seed, f"gym {robot}")
    env.close()
    return result


def bench_gymenv(robot: str, steps: int, seed: int) -> dict:
    env = GymEnv(Scenario(robot, target_speed=1.0), episode_length=1000)
    return _bench_gym_api(env, steps, seed, f"GymEnv {robot}")


def _best(repeat: int, fn, *args) -> dict:
    """The run of ``fn(*args)`` with the lowest CPU time out of ``repeat``."""
    return min((fn(*args) for _ in range(repeat)), key=lambda res: res["cpu"])


def bench_native(robot: str, batch: int, nthread: int, steps: int, seed: int) -> dict:
    env = make(
        [Scenario(robot, target_speed=1.0)] * batch, engine="native", episode_length=1000, nthread=nthread
    )
    env.reset(seed)
    calls = max(1, steps // batch)
    acts = np.random.default_rng(seed).uniform(-1, 1, (calls, batch, ACT_DIM))
    it = iter(acts)
    wall, cpu = _timed(lambda: env.step(next(it)), calls, f"native {robot} B={batch} t={nthread}")
    return {"steps": calls * batch, "wall": wall, "cpu": cpu}


def bench_mjx(robot: str, batch: int, steps: int, seed: int, device) -> dict:
    import jax
    import jax.numpy as jnp

    with jax.default_device(device):
        env = make([Scenario(robot, target_speed=1.0)] * batch, engine="mjx", episode_length=1000).env
        step = jax.jit(env.step)
        state = jax.jit(env.reset)(jax.random.PRNGKey(seed))
        a = jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (batch, ACT_DIM)), jnp.float32)
        t0 = time.perf_counter()
        state = step(state, a)
        jax.block_until_ready(state.obs)
        compile_s = time.perf_counter() - t0
        calls = max(1, steps // batch)
        box = [state]

        def one():
            box[0] = step(box[0], a)

        def last():
            one()
            jax.block_until_ready(box[0].obs)  # the timing includes the final sync

        w0, c0 = time.perf_counter(), time.process_time()
        for _ in _progress(range(calls - 1), desc=f"mjx {robot} B={batch} {device.platform}"):
            one()
        last()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"steps": calls * batch, "wall": wall, "cpu": cpu, "compile": compile_s}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python benchmarks/envs.py",
        description="Env steps/s of mrcom.envs (native B=1/B=16, GymEnv, mjx CPU/GPU) vs Gymnasium v5.",
    )
    p.add_argument("--robots", nargs="+", default=["hopper", "walker", "cheetah"], choices=list(GYM_IDS))
    p.add_argument("--steps", type=int, default=3000, help="env steps per gym/native row")
    p.add_argument("--mjx-steps", type=int, default=1600, help="env steps per mjx row (after compiling)")
    p.add_argument("--no-mjx", action="store_true", help="skip the mjx rows (each compiles for ~30 s on CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--repeat", type=int, default=1, help="runs per gym/native row; each keeps its lowest-CPU-time run"
    )
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error(f"--repeat={args.repeat}: must be >= 1")
    rep = args.repeat

    ncpu = os.cpu_count() or 1
    rows = []  # (robot, engine, B, threads, result)
    for robot in args.robots:
        g = _best(rep, bench_gym, robot, args.steps, args.seed)
        rows.append((robot, "gymnasium " + GYM_IDS[robot], 1, 1, g))
        for b, thr in ((1, 0), (16, 0), (16, ncpu)):
            res = _best(rep, bench_native, robot, b, thr, args.steps, args.seed)
            rows.append((robot, "native", b, max(thr, 1), res))
        res = _best(rep, bench_gymenv, robot, args.steps, args.seed)
        rows.append((robot, "mrcom GymEnv (native)", 1, 1, res))
        if not args.no_mjx:
            import jax

            rows.append(
                (
                    robot,
                    "mjx cpu",
                    16,
                    ncpu,
                    bench_mjx(robot, 16, args.mjx_steps, args.seed, jax.devices("cpu")[0]),
                )
            )
            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            for b in (16, 4096) if gpus else ():
                rows.append(
                    (
                        robot,
                        "mjx gpu",
                        b,
                        1,
                        bench_mjx(robot, b, max(args.mjx_steps, 50 * b), args.seed, gpus[0]),
                    )
                )

    gym_rate = {r: res["steps"] / res["cpu"] for r, e, _, _, res in rows if e.startswith("gymnasium")}
    cols = ("B", 5), ("thr", 4), ("steps/s", 10), ("steps/cpu-s", 12), ("x gym/core", 11), ("compile s", 9)
    head = f"{'robot':8s} {'engine':24s} " + " ".join(f"{c:>{w}s}" for c, w in cols)
    print(
        f"machine: {ncpu} CPU cores, load average {os.getloadavg()[0]:.1f} at the end, "
        f"python {sys.version.split()[0]}"
    )
    print(head)
    print("-" * len(head))
    for robot, engine, b, thr, res in rows:
        wall_rate = res["steps"] / res["wall"]
        cpu_rate = res["steps"] / res["cpu"] if res["cpu"] > 0 else float("nan")
        ratio = cpu_rate / gym_rate[robot]
        comp = f"{res['compile']:.1f}" if "compile" in res else ""
        print(
            f"{robot:8s} {engine:24s} {b:5d} {thr:4d} {wall_rate:10.0f} {cpu_rate:12.0f} {ratio:11.2f} "
            f"{comp:>9s}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
