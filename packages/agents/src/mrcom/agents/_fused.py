"""The fused SAC loop of the mjx engine: env step, replay insert and SAC updates in one jitted `lax.scan`.

`fused_sac_chunk` runs `n_steps` environment steps of a population of SAC agents (one per env of an
`mrcom.envs.MjxEnv`) on the device, purejaxrl / brax style: act, step the MJX physics, insert the
transition into an on-device ring buffer and, every `update_every` steps once `learning_starts` steps
have passed, run `update_every * updates_per_step` SAC updates (the schedule of `run_sac`). The host is
reached only between chunks (progress bars, logging, dataset shards, checkpoints).

Everything the loop carries (env state, SAC states, replay ring, RNG key, step) is one `FusedCarry`
pytree, so a checkpoint between chunks (`save_carry` / `load_carry`) resumes exactly.

RNG streams are those of `run_sac(..., device_rng=True)`: the key splits of the host loop, with the
uniform exploration actions drawn from the step's action key and the replay indices from the update
call's otherwise unused `k_aug`, so the host and fused loops follow the same trajectory up to float
rounding (compiled programs differ).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray
from tqdm.auto import tqdm

from mrcom.worldmodel._jit import FAST_COMPILE_OPTIONS

from ._buffer import EpisodeBuffer
from ._sac import Batch, SACConfig, SACState, sac_act, sac_init, sac_update

__all__ = [
    "ReplayRing",
    "FusedCarry",
    "Transitions",
    "ring_init",
    "ring_add",
    "ring_sample",
    "sample_indices",
    "explore_actions",
    "episode_batch",
    "fused_init",
    "fused_sac_chunk",
    "fused_record_episodes",
    "run_fused_sac",
    "save_carry",
    "load_carry",
]


# ----------------------------------------------------------------------------- on-device replay ring
class ReplayRing(eqx.Module):
    """Ring buffer of flat transitions for B agents, on the device (slot i holds the i-th transition
    until it is overwritten, i.e. while fewer than `capacity` were added)."""

    obs: Float[Array, "B C O"]
    action: Float[Array, "B C A"]
    reward: Float[Array, "B C"]
    next_obs: Float[Array, "B C O"]
    ptr: Int[Array, ""]
    size: Int[Array, ""]


def ring_init(num_agents: int, capacity: int, obs_dim: int, act_dim: int) -> ReplayRing:
    """An empty ring of `capacity` transitions per agent.

    Arguments:
        num_agents: B.
        capacity: C transitions per agent (>= 1).
        obs_dim, act_dim: padded widths.

    Returns:
        A `ReplayRing` of zeros with size 0.
    """
    if isinstance(capacity, bool) or int(capacity) < 1:
        raise ValueError(f"capacity={capacity!r}: must be an integer >= 1")
    b, c = int(num_agents), int(capacity)
    return ReplayRing(
        obs=jnp.zeros((b, c, obs_dim), jnp.float32),
        action=jnp.zeros((b, c, act_dim), jnp.float32),
        reward=jnp.zeros((b, c), jnp.float32),
        next_obs=jnp.zeros((b, c, obs_dim), jnp.float32),
        ptr=jnp.zeros((), jnp.int32),
        size=jnp.zeros((), jnp.int32),
    )


def ring_add(
    ring: ReplayRing,
    obs: Float[Array, "B O"],
    action: Float[Array, "B A"],
    reward: Float[Array, " B"],
    next_obs: Float[Array, "B O"],
) -> ReplayRing:
    """Insert one transition per agent at the write pointer (overwriting the oldest when full)."""
    c = ring.reward.shape[1]
    put = lambda buf, x: jax.lax.dynamic_update_index_in_dim(buf, x.astype(buf.dtype), ring.ptr, axis=1)
    return ReplayRing(
        obs=put(ring.obs, obs),
        action=put(ring.action, action),
        reward=put(ring.reward, reward),
        next_obs=put(ring.next_obs, next_obs),
        ptr=(ring.ptr + 1) % c,
        size=jnp.minimum(ring.size + 1, c),
    )


def sample_indices(key: PRNGKeyArray, num_agents: int, shape: tuple[int, ...], size) -> Int[Array, "B ..."]:
    """Uniform transition indices in [0, size) per agent, shaped (B, *shape) (host and fused loops)."""
    return jax.random.randint(key, (num_agents, *shape), 0, size)


def ring_sample(ring: ReplayRing, key: PRNGKeyArray, shape: tuple[int, ...]) -> Batch:
    """Uniform transitions per agent, shaped (B, *shape, ...); the ring must not be empty."""
    b = ring.reward.shape[0]
    idx = sample_indices(key, b, shape, ring.size)
    ag = jnp.arange(b).reshape((b,) + (1,) * len(shape))
    return Batch(ring.obs[ag, idx], ring.action[ag, idx], ring.reward[ag, idx], ring.next_obs[ag, idx])


def episode_batch(buffer: EpisodeBuffer, idx: np.ndarray) -> Batch:
    """The transitions of a host `EpisodeBuffer` at flat indices `idx` (B, ...) (episode-major order)."""
    idx = np.asarray(idx)
    ep, t = np.divmod(idx, buffer.episode_length)
    b = buffer.num_agents
    ag = np.arange(b).reshape((b,) + (1,) * (idx.ndim - 1))
    parts = (
        buffer.obs[ag, ep, t],
        buffer.action[ag, ep, t],
        buffer.reward[ag, ep, t],
        buffer.obs[ag, ep, t + 1],
    )
    return Batch(*(jnp.asarray(x) for x in parts))


def explore_actions(key: PRNGKeyArray, act_mask: Float[Array, "B A"]) -> Float[Array, "B A"]:
    """Uniform random actions in [-1, 1] on the real action dimensions (before `learning_starts`)."""
    return jax.random.uniform(key, act_mask.shape, jnp.float32, -1.0, 1.0) * act_mask


# ----------------------------------------------------------------------------- the fused loop
class FusedCarry(eqx.Module):
    """Everything the fused loop carries between steps and chunks (one pytree; checkpoint = its leaves).

    Attributes:
        env_state: the `brax.envs.State` of the batched `MjxEnv`.
        sac: population `SACState` (B agents).
        ring: on-device replay.
        act_mask: (B, A) action masks.
        key: the loop's PRNG key (split as in `run_sac`).
        step: environment steps taken so far.
        metrics: metrics of the last update call, each (B,) (zeros before the first).
    """

    env_state: Any
    sac: SACState
    ring: ReplayRing
    act_mask: Float[Array, "B A"]
    key: PRNGKeyArray
    step: Int[Array, ""]
    metrics: dict[str, Array]


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


def fused_init(env, cfg: SACConfig, capacity: int, seed: int, *, state: SACState | None = None) -> FusedCarry:
    """The carry at step 0: env reset and fresh agents from `seed`, as `run_sac` draws them.

    Arguments:
        env: an `mrcom.envs.MjxEnv` (the `.env` of an mjx `VecEnv`).
        cfg: SAC hyperparameters.
        capacity: replay capacity per agent (>= the total steps to sample from everything, as
            `run_sac` does).
        seed: seeds the env reset, the networks and the loop key.
        state: initial population state (fresh agents when None).

    Returns:
        A `FusedCarry`.
    """
    env_state = _jitted(env, "reset", cfg.fast_compile)(jax.random.PRNGKey(seed))
    b, obs_dim = env_state.obs.shape
    mask = jnp.asarray(_act_mask(env))
    key = jax.random.PRNGKey(seed)
    key, k_init = jax.random.split(key)
    if state is None:
        state = sac_init(k_init, b, obs_dim, mask.shape[-1], cfg)
    dummy = Batch(
        jnp.zeros((b, 1, 1, obs_dim)), jnp.zeros((b, 1, 1, mask.shape[-1])), jnp.zeros((b, 1, 1)),
        jnp.zeros((b, 1, 1, obs_dim)),
    )  # fmt: skip
    shapes = eqx.filter_eval_shape(sac_update, state, dummy, mask, key, cfg)[1]
    metrics = {k: jnp.zeros(v.shape, v.dtype) for k, v in shapes.items()}
    ring = ring_init(b, capacity, obs_dim, mask.shape[-1])
    return FusedCarry(env_state, state, ring, mask, key, jnp.zeros((), jnp.int32), metrics)


def _chunk(env, cfg: SACConfig, n_steps: int, carry: FusedCarry) -> tuple[FusedCarry, Transitions]:
    params, static = eqx.partition(carry, eqx.is_array)
    shape = (cfg.update_every * cfg.updates_per_step, cfg.batch_size)

    def body(p, _):
        c = eqx.combine(p, static)
        key, k_act = jax.random.split(c.key)
        obs = c.env_state.obs.astype(jnp.float32)
        explore = explore_actions(k_act, c.act_mask)
        policy = sac_act(c.sac.actor, obs[:, None], c.act_mask, k_act)[:, 0]
        action = jnp.where(c.step < cfg.learning_starts, explore, policy)
        env_state = env.step(c.env_state, action.astype(_physics_dtype(c.env_state)))
        done = env_state.done
        next_obs = env_state.obs.astype(jnp.float32)
        final = jnp.where(done[:, None], env_state.info["final_obs"].astype(jnp.float32), next_obs)
        ring = ring_add(c.ring, obs, action, env_state.reward, final)
        n = c.step + 1

        sac_p, sac_static = eqx.partition(c.sac, eqx.is_array)

        def update(args):
            key, sac_p, _ = args
            key, k_aug, k_up = jax.random.split(key, 3)
            sac = eqx.combine(sac_p, sac_static)
            sac, m = sac_update(sac, ring_sample(ring, k_aug, shape), c.act_mask, k_up, cfg)
            return key, eqx.filter(sac, eqx.is_array), m

        pred = (n % cfg.update_every == 0) & (n >= cfg.learning_starts)
        key, sac_p, metrics = jax.lax.cond(pred, update, lambda a: a, (key, sac_p, c.metrics))
        sac = eqx.combine(sac_p, sac_static)
        new = FusedCarry(env_state, sac, ring, c.act_mask, key, n, metrics)
        out = Transitions(obs, action, env_state.reward.astype(jnp.float32), final, done)
        return eqx.filter(new, eqx.is_array), out

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
            cfg, n_steps = static
            fn = lambda carry: _chunk(env, cfg, n_steps, carry)
        else:
            num_agents, episodes = static
            fn = lambda actor, reset_key: _record(env, num_agents, episodes, actor, reset_key)
        opts = {"compiler_options": FAST_COMPILE_OPTIONS} if fast else {}
        _CACHE[key] = eqx.filter_jit(fn, **opts)  # type: ignore[call-overload]
    return _CACHE[key]


def fused_sac_chunk(env, cfg: SACConfig, carry: FusedCarry, n_steps: int) -> tuple[FusedCarry, Transitions]:
    """Run `n_steps` fused environment steps (with the SAC updates they schedule) in one jitted scan.

    Arguments:
        env: the `MjxEnv` the carry was made for.
        cfg: SAC hyperparameters (static; `fast_compile` picks XLA's fast-compile options).
        carry: the loop state (`fused_init` or a previous chunk).
        n_steps: environment steps of this chunk (static: each new value compiles once).

    Returns:
        (carry after the chunk, the chunk's `Transitions`).
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps={n_steps!r}: must be an integer >= 1")
    return _jitted(env, "chunk", cfg.fast_compile, cfg, n_steps)(carry)


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


@dataclasses.dataclass
class FusedResult:
    """Final carry, all real experience in episodes (host) and the last update's metrics."""

    carry: FusedCarry
    buffer: EpisodeBuffer
    metrics: dict[str, np.ndarray]

    @property
    def state(self) -> SACState:
        return self.carry.sac


def append_transitions(buffer: EpisodeBuffer, tr: Transitions) -> None:
    """Append a chunk's transitions (time-major) to a host `EpisodeBuffer` (episode layout)."""
    obs, action, reward, nxt, done = (np.asarray(x) for x in tr)
    for t in range(reward.shape[0]):
        if buffer.t == 0:
            buffer.start(obs[t])
        ended = buffer.add(action[t], reward[t], nxt[t])
        if ended != bool(done[t].all()) or (not ended and done[t].any()):
            raise ValueError(
                f"env episode_length={buffer.episode_length}: envs must end episodes together at that length"
            )


def run_fused_sac(
    env,
    cfg: SACConfig,
    total_steps: int,
    seed: int,
    *,
    chunk: int | None = None,
    state: SACState | None = None,
    on_chunk: Callable[[FusedCarry, Transitions], None] | None = None,
    desc: str = "sac",
    progress: bool = True,
) -> FusedResult:
    """Train a population of SAC agents for `total_steps` steps each with the fused loop.

    The device runs `chunk` steps per call; between calls the host appends the transitions to an
    `EpisodeBuffer` (every transition kept, as `run_sac` keeps them), moves the progress bar and calls
    `on_chunk` (logging, checkpoints).

    Arguments:
        env: an `mrcom.envs.MjxEnv`.
        cfg: SAC hyperparameters.
        total_steps: environment steps per agent.
        seed: as `run_sac`'s.
        chunk: steps per device call (default: the episode length; the last chunk may be shorter).
        state: initial population state (fresh agents when None).
        on_chunk: `on_chunk(carry, transitions)` after every chunk.
        desc: progress bar label.
        progress: show a tqdm bar.

    Returns:
        A `FusedResult`.
    """
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(f"total_steps={total_steps!r}: must be an integer >= 1")
    length = env.episode_length
    chunk = length if chunk is None else chunk
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk={chunk!r}: must be an integer >= 1")
    episodes = max(1, math.ceil(total_steps / length))
    carry = fused_init(env, cfg, episodes * length, seed, state=state)
    b, obs_dim = carry.env_state.obs.shape
    buffer = EpisodeBuffer(b, episodes, length, obs_dim, carry.act_mask.shape[-1])
    bar = tqdm(total=total_steps, desc=desc, disable=not progress, leave=False, mininterval=1.0)
    done = 0
    while done < total_steps:
        n = min(chunk, total_steps - done)
        carry, tr = fused_sac_chunk(env, cfg, carry, n)
        append_transitions(buffer, tr)
        if on_chunk is not None:
            on_chunk(carry, tr)
        done += n
        bar.update(n)
    bar.close()
    return FusedResult(carry, buffer, {k: np.asarray(v) for k, v in carry.metrics.items()})


# ----------------------------------------------------------------------------- checkpoints
def save_carry(path: Path, carry: FusedCarry) -> None:
    """Write every array leaf of `carry` (env state, agents, replay, key, step) to `path`."""
    import io

    from ._io import atomic_write_bytes

    f = io.BytesIO()
    eqx.tree_serialise_leaves(f, carry)
    atomic_write_bytes(Path(path), f.getvalue())


def load_carry(path: Path, like: FusedCarry) -> FusedCarry:
    """Read a carry saved by `save_carry`; `like` (e.g. `fused_init` of the same env and config) gives
    the structure."""
    return eqx.tree_deserialise_leaves(Path(path), like)
