"""The fused backend of the interaction loop (mjx engine): env step, replay and updates in one `lax.scan`.

`fused_chunk` runs `n_steps` steps of the interaction loop (`act`, the MJX physics step, `observe` of
`mrcom.agents._interact`: the host backend's step) on the device, purejaxrl / brax style. The host is
reached only between chunks (progress bars, evaluation, logging, checkpoints). The carry is the
loop's `LoopCarry` (its `env_state` the brax state), so a checkpoint between chunks (`save_carry` /
`load_carry`) resumes exactly. `run_fused` trains any learner (SAC, MBPO, the imagination actor-critic);
`run_fused_sac`, `fused_init` and `fused_sac_chunk` are its SAC / MBPO form.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float
from tqdm.auto import tqdm

from mrcom.worldmodel import FAST_COMPILE_OPTIONS

from ._interact import LoopCarry, LoopResult, act, check_lockstep, loop_init, observe
from ._learners import Learner, SACLearner
from ._mbpo import MBPOAugment
from ._sac import SACState, sac_act
from ._sac_config import SACConfig
from ._schedule import Cadence, Schedule
from ._validate import check_int

__all__ = [
    "Transitions",
    "fused_init",
    "fused_chunk",
    "fused_sac_chunk",
    "fused_record_episodes",
    "fused_policy_returns",
    "run_fused",
    "run_fused_sac",
    "save_carry",
    "load_carry",
]


class Transitions(NamedTuple):
    """The steps of one chunk, time-major: obs (N, B, O), action (N, B, A), reward (N, B),
    next_obs (N, B, O) (the final observation where `done`), done (N, B)."""

    obs: Float[Array, "N B O"]
    action: Float[Array, "N B A"]
    reward: Float[Array, "N B"]
    next_obs: Float[Array, "N B O"]
    done: Bool[Array, "N B"]


def _act_mask(env) -> np.ndarray:
    from mrcom.envs._layout import act_mask

    return np.stack([act_mask(s) for s in env.scenarios]).astype(np.float32)


def _physics_dtype(env_state) -> Any:
    return env_state.pipeline_state[0].qpos.dtype


def fused_init(
    env,
    learner: Learner | SACConfig,
    capacity: int,
    seed: int,
    *,
    state: Any = None,
    aug: MBPOAugment | None = None,
) -> LoopCarry:
    """The carry at step 0: env reset and fresh agents from `seed`, as the host backend draws them.

    Arguments:
        env: an `mrcom.envs.MjxEnv` (the `.env` of an mjx `VecEnv`).
        learner: what the loop trains, or a `SACConfig` (SAC; MBPO with `aug`).
        capacity: real replay slots per agent (`Schedule.capacity`: every step, in episode layout).
        seed: seeds the env reset, the networks and the loop key.
        state: initial population state (fresh agents when None).
        aug: MBPO's augmentation where `learner` is a `SACConfig`.

    Returns:
        A `LoopCarry`.
    """
    learner = _learner(learner, aug)
    env_state = _jitted(env, "reset", learner.fast_compile)(jax.random.PRNGKey(seed))
    obs_dim = env_state.obs.shape[-1]
    return loop_init(learner, capacity, seed, obs_dim, _act_mask(env), env_state=env_state, state=state)


def _learner(learner: Learner | SACConfig, aug: MBPOAugment | None) -> Learner:
    return SACLearner(learner, aug) if isinstance(learner, SACConfig) else learner


def _chunk(
    env, cadence: Cadence, n_steps: int, learner: Learner, carry: LoopCarry
) -> tuple[LoopCarry, Transitions]:
    params, static = eqx.partition(carry, eqx.is_array)

    def body(p, _):
        c = eqx.combine(p, static)
        obs = c.env_state.obs.astype(jnp.float32)
        key, action = act(c, obs, cadence)
        env_state = env.step(c.env_state, action.astype(_physics_dtype(c.env_state)))
        done, reward = env_state.done, env_state.reward.astype(jnp.float32)
        next_obs = env_state.obs.astype(jnp.float32)
        final = jnp.where(done[:, None], env_state.info["final_obs"].astype(jnp.float32), next_obs)
        c = observe(
            learner,
            eqx.tree_at(lambda x: x.env_state, c, env_state),
            cadence,
            key,
            obs,
            action,
            reward,
            final,
        )
        return eqx.filter(c, eqx.is_array), Transitions(obs, action, reward, final, done)

    params, out = jax.lax.scan(body, params, None, length=n_steps)
    return eqx.combine(params, static), out


def _record(env, num_agents: int, episodes: int, actor, reset_key) -> tuple[Array, Array, Array]:
    mask = jnp.asarray(_act_mask(env)).reshape(num_agents, episodes, -1)[:, 0]
    s0 = env.reset(reset_key)
    key = jax.random.PRNGKey(0)  # unused by the deterministic policy (as in `record_episodes`)
    length = env.episode_length

    def body(s, t):
        obs = s.obs.astype(jnp.float32)
        a = sac_act(actor, obs.reshape(num_agents, episodes, -1), mask, key, True)
        a = a.reshape(num_agents * episodes, -1)
        s = env.step(s, a.astype(_physics_dtype(s)))
        nxt = jnp.where(t == length - 1, s.info["final_obs"], s.obs).astype(jnp.float32)
        return s, (a, s.reward.astype(jnp.float32), nxt)

    _, (act, rew, nxt) = jax.lax.scan(body, s0, jnp.arange(length))
    obs = jnp.concatenate([s0.obs.astype(jnp.float32)[None], nxt], axis=0)  # (L+1, B*E, O)
    # time-major (T, B*E, ...) -> agent-major (B, E, T, ...)
    shape = lambda x: jnp.swapaxes(x, 0, 1).reshape(num_agents, episodes, x.shape[0], *x.shape[2:])
    return shape(obs), shape(act), shape(rew)


# jitted programs, keyed by what they close over (the env's scenarios and length, not its identity), so
# a new env of the same scenarios (the next collect() call, a test) reuses the compiled program
_CACHE: dict[tuple, Callable] = {}


def _jitted(env, kind: str, fast: bool, *static) -> Callable:
    x64 = bool(jax.config.read("jax_enable_x64"))
    key = (kind, tuple(env.scenarios), env.episode_length, bool(fast), x64, *static)
    if key not in _CACHE:
        if kind == "reset":
            fn = env.reset
        elif kind == "chunk":
            cadence, n_steps = static
            fn = lambda learner, carry: _chunk(env, cadence, n_steps, learner, carry)
        else:
            num_agents, episodes = static
            fn = lambda actor, reset_key: _record(env, num_agents, episodes, actor, reset_key)
        opts = {"compiler_options": FAST_COMPILE_OPTIONS} if fast else {}
        _CACHE[key] = eqx.filter_jit(fn, **opts)  # type: ignore[call-overload]
    return _CACHE[key]


def fused_chunk(
    env, learner: Learner, cadence: Cadence, carry: LoopCarry, n_steps: int
) -> tuple[LoopCarry, Transitions]:
    """Run `n_steps` steps of the interaction loop (with the updates they schedule) in one jitted scan.

    Arguments:
        env: the `MjxEnv` the carry was made for.
        learner: what the loop trains (its `fast_compile` picks XLA's fast-compile options).
        cadence: random actions and update calls (static).
        carry: the loop state (`fused_init` or a previous chunk).
        n_steps: steps of this chunk (static: each new value compiles once).

    Returns:
        (carry after the chunk, the chunk's `Transitions`).
    """
    check_int("n_steps", n_steps, 1)
    return _jitted(env, "chunk", learner.fast_compile, cadence, n_steps)(learner, carry)


def fused_sac_chunk(
    env, cfg: SACConfig, carry: LoopCarry, n_steps: int, aug: MBPOAugment | None = None
) -> tuple[LoopCarry, Transitions]:
    """`fused_chunk` of SAC (MBPO with `aug`; the carry must come from `fused_init(..., aug=aug)`)."""
    check_int("n_steps", n_steps, 1)
    if (aug is None) != (carry.data is None):
        raise ValueError("aug: MBPO needs a carry made with fused_init(..., aug=aug), and only it")
    cadence = Cadence(cfg.learning_starts, cfg.update_every)
    return fused_chunk(env, SACLearner(cfg, aug), cadence, carry, n_steps)


def fused_record_episodes(
    state: SACState, env, num_agents: int, episodes: int, seed: int, *, fast_compile: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`record_episodes` as one jitted scan: each agent's deterministic policy for E whole episodes.

    Arguments:
        state: population state (B agents).
        env: an `MjxEnv` of B*E envs, agent-major (env b*E+e is agent b's).
        num_agents: B.
        episodes: E.
        seed: reset seed of the episodes.
        fast_compile: compile with XLA's fast-compile options.

    Returns:
        obs (B, E, L+1, O), action (B, E, L, A), reward (B, E, L), as numpy float32.
    """
    if env.num_envs != num_agents * episodes:
        want = num_agents * episodes
        raise ValueError(f"env.num_envs={env.num_envs}: must be num_agents * episodes = {want}")
    fn = _jitted(env, "record", fast_compile, num_agents, episodes)
    out = fn(state.actor, jax.random.PRNGKey(seed))
    return tuple(np.asarray(x, np.float32) for x in out)  # type: ignore[return-value]


def fused_policy_returns(
    state: SACState, env, num_agents: int, episodes: int, seed: int, *, fast_compile: bool = False
) -> np.ndarray:
    """`evaluate_policy` on the device: (B,) mean normalized return 100 * return / L over E episodes
    of each agent's deterministic policy (`fused_record_episodes` on an `MjxEnv` of B*E envs)."""
    reward = fused_record_episodes(state, env, num_agents, episodes, seed, fast_compile=fast_compile)[2]
    return 100.0 * reward.astype(np.float64).mean(axis=(1, 2))


def run_fused(
    env,
    learner: Learner,
    schedule: Schedule,
    seed: int,
    *,
    chunk: int | None = None,
    state: Any = None,
    eval_fn: Callable[[Any], np.ndarray] | None = None,
    on_eval: Callable[[int, np.ndarray], None] | None = None,
    on_chunk: Callable[[LoopCarry, Transitions], None] | None = None,
    desc: str = "loop",
    progress: bool = True,
) -> LoopResult:
    """Train `learner` with the fused loop for `schedule.total_steps` steps per agent.

    The device runs `chunk` steps per call (chunks end at every evaluation step, `Schedule.segments`);
    between calls the host checks that episodes end together, moves the progress bar, evaluates and
    calls `on_chunk` (logging, checkpoints).

    Arguments:
        env: an `mrcom.envs.MjxEnv`.
        learner: SAC, MBPO or the imagination actor-critic.
        schedule: budget, cadence and evaluation points (`episode_length` must be the env's).
        seed: as `run_host`'s.
        chunk: steps per device call (default: the episode length).
        state: initial population state (fresh agents when None).
        eval_fn, on_eval: the learning curve, as in `run_host`.
        on_chunk: `on_chunk(carry, transitions)` after every chunk.
        desc, progress: tqdm bar.

    Returns:
        A `LoopResult`.
    """
    schedule.check_env(env)
    length = env.episode_length
    chunk = length if chunk is None else chunk
    check_int("chunk", chunk, 1)
    carry = fused_init(env, learner, schedule.capacity, seed, state=state)
    result = LoopResult(carry, None, {})  # type: ignore[arg-type]
    evals = set(schedule.eval_steps()) if eval_fn is not None else set()
    bar = tqdm(total=schedule.total_steps, desc=desc, disable=not progress, leave=False, mininterval=1.0)
    done = 0
    for n in schedule.segments(chunk):
        result.carry, tr = fused_chunk(env, learner, schedule.cadence, result.carry, n)
        for t, d in enumerate(np.asarray(tr.done)):
            check_lockstep(d, done + t + 1, length)
        if on_chunk is not None:
            on_chunk(result.carry, tr)
        done += n
        bar.update(n)
        if done in evals:
            result.evaluate(done, eval_fn, on_eval)  # type: ignore[arg-type]
    bar.close()
    return result.finish(result.carry, length)


def run_fused_sac(
    env,
    cfg: SACConfig,
    total_steps: int,
    seed: int,
    *,
    chunk: int | None = None,
    state: SACState | None = None,
    aug: MBPOAugment | None = None,
    eval_fn: Callable[[SACState], np.ndarray] | None = None,
    eval_every: int = 0,
    on_eval: Callable[[int, np.ndarray], None] | None = None,
    on_chunk: Callable[[LoopCarry, Transitions], None] | None = None,
    desc: str = "sac",
    progress: bool = True,
) -> LoopResult:
    """`run_sac` on the fused backend: SAC (MBPO with `aug`) for `total_steps` steps per agent.

    Arguments:
        env: an `mrcom.envs.MjxEnv`.
        cfg, total_steps, seed, state, aug, eval_fn, eval_every, on_eval, desc, progress: as `run_sac`'s.
        chunk, on_chunk: as `run_fused`'s.

    Returns:
        A `LoopResult`.
    """
    check_int("total_steps", total_steps, 1)
    schedule = Schedule(total_steps, env.episode_length, cfg.learning_starts, cfg.update_every, eval_every)
    return run_fused(
        env, SACLearner(cfg, aug), schedule, seed, chunk=chunk, state=state, eval_fn=eval_fn,
        on_eval=on_eval, on_chunk=on_chunk, desc=desc, progress=progress,
    )  # fmt: skip


# ----------------------------------------------------------------------------- checkpoints
def save_carry(path: Path, carry: LoopCarry) -> None:
    """Write every array leaf of `carry` (env state, agents, replay, key, step, learner data) to `path`."""
    import io

    from ._io import atomic_write_bytes

    f = io.BytesIO()
    eqx.tree_serialise_leaves(f, carry)
    atomic_write_bytes(Path(path), f.getvalue())


def load_carry(path: Path, like: LoopCarry) -> LoopCarry:
    """Read a carry saved by `save_carry`; `like` (e.g. `fused_init` of the same env and learner) gives
    the structure."""
    return eqx.tree_deserialise_leaves(Path(path), like)
