"""mrcom.agents throughput: SAC updates/s, collection env-steps/s, adaptation real-steps/s with rollouts on.

Each row times the steady state after a warm-up call (compilation excluded) and prints wall-clock rates and
the CPU seconds of this process (robust on a shared machine). The loop's replay ring holds the whole
budget, so the warm-up runs the same budget: a new budget recompiles the loop's two small ring programs
(`record`, `draw` of mrcom.agents._interact), not its update. Sizes come from a named preset of
mrcom.agents (default: quick); the adaptation row uses an untrained world model of that preset's size
(throughput does not depend on its weights).

    uv run python benchmarks/agents.py
    uv run python benchmarks/agents.py --preset smoke --agents 4 --steps 200
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from mrcom.agents import Transitions, adapt_method, preset, run_sac, sac_init, sac_update, target_scenarios
from mrcom.envs import ACT_DIM, OBS_DIM, PROTOCOLS, make
from mrcom.worldmodel import PRESET_NAMES, init_model


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def bench_updates(cfg, agents: int, calls: int) -> tuple[float, float, float]:
    """Scanned SAC updates per second (all agents of the population counted)."""
    s = cfg.sac
    state = sac_init(jax.random.PRNGKey(0), agents, OBS_DIM, ACT_DIM, s)
    u = s.update_every * s.updates_per_step
    rng = np.random.default_rng(0)
    shp = (agents, u, s.batch_size)
    b = Transitions(
        *(
            jnp.asarray(rng.normal(size=x), jnp.float32)
            for x in [(*shp, OBS_DIM), (*shp, ACT_DIM), shp, (*shp, OBS_DIM)]
        )
    )
    mask = jnp.ones((agents, ACT_DIM))
    state, _ = sac_update(state, b, mask, jax.random.PRNGKey(0), s)
    jax.block_until_ready(state)

    def run():
        nonlocal state
        for i in range(calls):
            state, m = sac_update(state, b, mask, jax.random.PRNGKey(i), s)
        jax.block_until_ready(state)

    wall, cpu = _timed(run)
    n = calls * u * agents
    return n / wall, n / cpu, wall


def bench_collect(cfg, agents: int, steps: int) -> tuple[float, float, float]:
    """Behaviour-SAC env steps per second (B scenarios in one batched env, updates on)."""
    scen = PROTOCOLS[cfg.protocol].train.sample(agents, 0)
    sac = cfg.replace(**{"sac.learning_starts": 0}).sac
    env = make(scen, engine=cfg.envs.engine, episode_length=cfg.envs.episode_length)
    run_sac(env, sac, steps, 0, progress=False)  # warm-up: the same budget (the ring's capacity) compiles
    wall, cpu = _timed(lambda: run_sac(env, sac, steps, 1, progress=False))
    return agents * steps / wall, agents * steps / cpu, wall


def bench_adapt(cfg, agents: int, steps: int) -> tuple[float, float, float]:
    """MBPO adaptation real steps/s (all targets counted), rollouts on from the first update.

    Includes the one final evaluation (`eval.episodes` episodes) that every adaptation run ends with.
    """
    length = cfg.envs.episode_length
    c = cfg.replace(
        **{
            "envs.num_targets": agents,
            "sac.learning_starts": length,
            "adapt.start_steps": length,
            "adapt.real_steps": steps + length,
            "adapt.eval_every": steps + length,
            "adapt.prompt": "first_episode",
        }
    )
    targets = target_scenarios(c)
    model = init_model(c.worldmodel, jax.random.PRNGKey(0))
    adapt_method(c, "mrcom", targets, model=model, progress=False)  # warm-up: the same budget compiles
    t = {}

    def run():
        t["res"] = adapt_method(c, "mrcom", targets, model=model, progress=False)

    wall, cpu = _timed(run)
    n = agents * (steps + length)
    return n / wall, n / cpu, wall


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--preset", default="quick", choices=PRESET_NAMES, help="sizes of nets and batches")
    p.add_argument("--agents", type=int, default=4, help="population size B (scenarios / targets per batch)")
    p.add_argument(
        "--steps", type=int, default=1000, help="env steps per agent in the collection/adaptation rows"
    )
    p.add_argument("--calls", type=int, default=20, help="jitted update calls in the SAC row")
    args = p.parse_args(argv)
    cfg = preset(args.preset, **{"envs.engine": "native"})
    s = cfg.sac
    print(
        f"mrcom.agents benchmark: preset={args.preset} B={args.agents} hidden={s.hidden} "
        f"batch={s.batch_size} "
        f"updates/call={s.update_every * s.updates_per_step} L={cfg.envs.episode_length} "
        f"jax={jax.__version__} backend={jax.default_backend()}"
    )
    a = cfg.adapt
    rows = [
        ("SAC updates/s (B agents)", bench_updates(cfg, args.agents, args.calls)),
        ("collection env-steps/s", bench_collect(cfg, args.agents, args.steps)),
        (
            f"adaptation real-steps/s (k={a.rollout_length}, {a.rollouts_per_step} rollouts/step)",
            bench_adapt(cfg, args.agents, args.steps),
        ),
    ]
    print(f"{'measure':58s} {'per wall-s':>12s} {'per CPU-s':>12s} {'wall s':>8s}")
    for name, (w, c, t) in rows:
        print(f"{name:58s} {w:12.1f} {c:12.1f} {t:8.1f}")


if __name__ == "__main__":
    main()
