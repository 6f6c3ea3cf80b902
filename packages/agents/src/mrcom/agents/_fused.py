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
from ._ring import (
    ReplayRing,
    episode_batch,
    explore_actions,
    ring_add,
    ring_init,
    ring_sample,
    sample_indices,
)
from ._sac import Batch, SACState, sac_act, sac_init, sac_update
from ._sac_config import SACConfig

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
        model_data: MBPO's model ring and counters (`mrcom.agents._device_mbpo.ModelData`), or None
            for model-free SAC.
    """

    env_state: Any
    sac: SACState
    ring: ReplayRing
    act_mask: Float[Array, "B A"]
    key: PRNGKeyArray
    step: Int[Array, ""]
    metrics: dict[str, Array]
    model_data: Any = None


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
    env, cfg: SACConfig, capacity: int, seed: int, *, state: SACState | None = None, aug: Any = None
) -> FusedCarry:
    """The carry at step 0: env reset and fresh agents from `seed`, as `run_sac` draws them.

    Arguments:
        env: an `mrcom.envs.MjxEnv` (the `.env` of an mjx `VecEnv`).
        cfg: SAC hyperparameters.
        capacity: replay capacity per agent (>= the total steps to sample from everything, as
            `run_sac` does; MBPO's branch points need it, since they read the ring as episodes).
        seed: seeds the env reset, the networks and the loop key.
        state: initial population state (fresh agents when None).
        aug: MBPO's `FusedAugment` (an empty model ring is added to the carry), or None.

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
    model_data = None
    if aug is not None:
        from ._device_mbpo import model_data_init

        model_data = model_data_init(b, aug.settings, obs_dim, mask.shape[-1])
    return FusedCarry(env_state, state, ring, mask, key, jnp.zeros((), jnp.int32), metrics, model_data)


def _chunk(env, cfg: SACConfig, n_steps: int, carry: FusedCarry, aug: Any) -> tuple[FusedCarry, Transitions]:
    params, static = eqx.partition(carry, eqx.is_array)
    shape = (cfg.update_every * cfg.updates_per_step, cfg.batch_size)
    if aug is not None:
        from ._device_mbpo import mbpo_batches

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
            key, sac_p, _, data = args
            key, k_aug, k_up = jax.random.split(key, 3)
            sac = eqx.combine(sac_p, sac_static)
            if aug is None:
                batch = ring_sample(ring, k_aug, shape)
            else:
                data, batch = mbpo_batches(k_aug, n, ring, data, sac, c.act_mask, aug, shape)
            sac, m = sac_update(sac, batch, c.act_mask, k_up, cfg)
            return key, eqx.filter(sac, eqx.is_array), m, data

        pred = (n % cfg.update_every == 0) & (n >= cfg.learning_starts)
        args = (key, sac_p, c.metrics, c.model_data)
        key, sac_p, metrics, data = jax.lax.cond(pred, update, lambda a: a, args)
        sac = eqx.combine(sac_p, sac_static)
        new = FusedCarry(env_state, sac, ring, c.act_mask, key, n, metrics, data)
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
            fn = lambda carry, aug: _chunk(env, cfg, n_steps, carry, aug)
        else:
            num_agents, episodes = static
            fn = lambda actor, reset_key: _record(env, num_agents, episodes, actor, reset_key)
        opts = {"compiler_options": FAST_COMPILE_OPTIONS} if fast else {}
        _CACHE[key] = eqx.filter_jit(fn, **opts)  # type: ignore[call-overload]
    return _CACHE[key]


def fused_sac_chunk(
    env, cfg: SACConfig, carry: FusedCarry, n_steps: int, aug: Any = None
) -> tuple[FusedCarry, Transitions]:
    """Run `n_steps` fused environment steps (with the SAC updates they schedule) in one jitted scan.

    Arguments:
        env: the `MjxEnv` the carry was made for.
        cfg: SAC hyperparameters (static; `fast_compile` picks XLA's fast-compile options).
        carry: the loop state (`fused_init` or a previous chunk).
        n_steps: environment steps of this chunk (static: each new value compiles once).
        aug: MBPO's `FusedAugment` (the world model and prompts; the carry must hold a model ring),
            or None for model-free SAC.

    Returns:
        (carry after the chunk, the chunk's `Transitions`).
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps={n_steps!r}: must be an integer >= 1")
    if (aug is None) != (carry.model_data is None):
        raise ValueError("aug: MBPO needs a carry made with fused_init(..., aug=aug), and only it")
    return _jitted(env, "chunk", cfg.fast_compile, cfg, n_steps)(carry, aug)


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


@dataclasses.dataclass
class FusedResult:
    """Final carry, all real experience in episodes (host), the last update's metrics and the
    evaluation curve (as `LoopResult`'s)."""

    carry: FusedCarry
    buffer: EpisodeBuffer
    metrics: dict[str, np.ndarray]
    curve_steps: list[int] = dataclasses.field(default_factory=list)
    curve_returns: list[np.ndarray] = dataclasses.field(default_factory=list)

    @property
    def state(self) -> SACState:
        return self.carry.sac

    @property
    def rollouts_done(self) -> int:
        """MBPO rollouts branched, summed over agents (0 for model-free SAC)."""
        data = self.carry.model_data
        return 0 if data is None else int(data.rollouts)


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
    aug: Any = None,
    eval_fn: Callable[[SACState], np.ndarray] | None = None,
    eval_every: int = 0,
    on_eval: Callable[[int, np.ndarray], None] | None = None,
    on_chunk: Callable[[FusedCarry, Transitions], None] | None = None,
    desc: str = "sac",
    progress: bool = True,
) -> FusedResult:
    """Train a population of SAC agents (MBPO with `aug`) for `total_steps` steps each with the fused loop.

    The device runs `chunk` steps per call (chunks end at every evaluation step); between calls the
    host appends the transitions to an `EpisodeBuffer` (every transition kept, as `run_sac` keeps
    them), moves the progress bar, evaluates and calls `on_chunk` (logging, checkpoints).

    Arguments:
        env: an `mrcom.envs.MjxEnv`.
        cfg: SAC hyperparameters.
        total_steps: environment steps per agent.
        seed: as `run_sac`'s.
        chunk: steps per device call (default: the episode length; the last chunk may be shorter).
        state: initial population state (fresh agents when None).
        aug: MBPO's `mrcom.agents._device_mbpo.FusedAugment` (model rollouts in every update call),
            or None for model-free SAC.
        eval_fn, eval_every, on_eval: the learning curve, as in `run_sac`.
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
    carry = fused_init(env, cfg, episodes * length, seed, state=state, aug=aug)
    b, obs_dim = carry.env_state.obs.shape
    buffer = EpisodeBuffer(b, episodes, length, obs_dim, carry.act_mask.shape[-1])
    result = FusedResult(carry, buffer, {})

    def evaluate(step: int) -> None:
        ret = eval_fn(result.carry.sac)  # type: ignore[misc]
        result.curve_steps.append(step)
        result.curve_returns.append(ret)
        if on_eval is not None:
            on_eval(step, ret)

    periodic = eval_fn is not None and eval_every > 0
    bar = tqdm(total=total_steps, desc=desc, disable=not progress, leave=False, mininterval=1.0)
    done = 0
    while done < total_steps:
        n = min(chunk, total_steps - done)
        if periodic:
            n = min(n, eval_every - done % eval_every)
        result.carry, tr = fused_sac_chunk(env, cfg, result.carry, n, aug)
        append_transitions(buffer, tr)
        if on_chunk is not None:
            on_chunk(result.carry, tr)
        done += n
        bar.update(n)
        if periodic and done % eval_every == 0 and done < total_steps:
            evaluate(done)
    bar.close()
    if eval_fn is not None:
        evaluate(total_steps)
    result.metrics = {k: np.asarray(v) for k, v in result.carry.metrics.items()}
    return result


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
