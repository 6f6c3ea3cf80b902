"""The `mjx` engine: a `brax.envs.Env` stepping B (differing) MJX models under jit, and a numpy wrapper.

Envs are grouped by robot. Within a group the per-env `mjx.Model`s are compared leaf by leaf: the leaves
that differ (the scaled torso's geometry, mass, inertia, child positions) are stacked along a batch axis
and vmapped (``in_axes=0``); the others are shared (``in_axes=None``). Reward and observation come from
the same numpy/jax-generic functions as the native engine, so both engines have the same semantics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from brax.envs.base import Env, State
from mujoco import mjx

from ._common import check_action, check_physics_state, check_scenarios, group_scenarios, reward_constants
from ._layout import ACT_DIM, OBS_DIM, act_mask, obs_mask
from ._obs import apply_obs_fn, obs_params
from ._reward import reward_fn
from ._scenario import Scenario

if TYPE_CHECKING:  # jaxtyping shapes document the signatures; not a runtime dependency
    from jaxtyping import Array, Bool, Float

__all__ = ["MjxEnv", "MjxVecEnv", "stack_models"]


def stack_models(models: Sequence[Any]) -> tuple[Any, Any]:
    """Stack the leaves that differ across ``models`` (same-structure `mjx.Model`s).

    Returns:
        (batched model, in_axes tree: 0 where a leaf was stacked, None where it is shared).
    """

    # `geom_rbound_hfield` is a static (non-traced) copy of geom_rbound that MJX only reads for height
    # fields, which these robots do not have; it must be equal across models for them to share a pytree.
    first = models[0]._impl.geom_rbound_hfield
    models = [m.replace(_impl=m._impl.replace(geom_rbound_hfield=first)) for m in models]

    def same(*xs):
        x0 = np.asarray(xs[0])
        return all(np.asarray(x).shape == x0.shape and np.array_equal(np.asarray(x), x0) for x in xs[1:])

    def merge(*xs):
        return xs[0] if same(*xs) else jnp.stack([jnp.asarray(x) for x in xs])

    def axes(*xs):
        return None if same(*xs) else 0

    return jax.tree.map(merge, *models), jax.tree.map(axes, *models)


def _select(mask, a, b):
    """Per-env ``where`` over two batched pytrees: ``a`` where ``mask`` (B,), else ``b``."""
    return jax.tree.map(lambda x, y: jnp.where(mask.reshape((-1,) + (1,) * (x.ndim - 1)), x, y), a, b)


class MjxEnv(Env):
    """Brax environment over a batch of scenarios; states and actions carry the batch axis B.

    ``reset(rng)`` and ``step(state, action)`` are pure and jit-able. ``state.obs`` is (B, OBS_DIM),
    ``action`` is (B, ACT_DIM) in [-1, 1] (clipped; padding ignored). Auto-reset happens inside `step`:
    ``state.info`` holds "t", "episode_return" (of the episode the step belongs to), "running_return"
    (of the current episode), "final_obs", "speed" and "rng".

    Arguments:
        scenarios: one `Scenario` per env.
        episode_length: control steps per episode.
    """

    def __init__(self, scenarios: Sequence[Scenario], episode_length: int = 1000):
        self.scenarios = check_scenarios(scenarios, episode_length)
        self.num_envs = len(self.scenarios)
        self.episode_length = int(episode_length)
        self._groups = group_scenarios(self.scenarios)
        self._models, self._axes, self._qpos0 = [], [], []
        for g in self._groups:
            m, ax = stack_models([mjx.put_model(mm) for mm in g.models])
            self._models.append(m)
            self._axes.append(ax)
            self._qpos0.append(jnp.asarray(np.stack([mm.qpos0 for mm in g.models])))
        self._data0 = [mjx.make_data(g.models[0]) for g in self._groups]
        self._params = jax.tree.map(jnp.asarray, obs_params(self.scenarios))
        # float64 under jax_enable_x64 (as the native engine computes the reward), float32 otherwise
        self._rc = {k: jnp.asarray(v) for k, v in reward_constants(self.scenarios).items()}
        self._index = [jnp.asarray(g.index) for g in self._groups]

    # --------------------------------------------------------------- brax Env API
    @property
    def observation_size(self) -> int:
        return OBS_DIM

    @property
    def action_size(self) -> int:
        return ACT_DIM

    @property
    def backend(self) -> str:
        return "mjx"

    def _fresh(self, gi: int, key: Array, qpos=None, qvel=None):
        g = self._groups[gi]
        bg = len(g.index)
        c = self._rc["reset_noise"][self._index[gi]][:, None]
        k1, k2 = jax.random.split(key)
        if qpos is None:
            qpos = self._qpos0[gi] + jax.random.uniform(k1, (bg, g.nq), minval=-1.0, maxval=1.0) * c
            qvel = jax.random.uniform(k2, (bg, g.nv), minval=-1.0, maxval=1.0) * c
        d = jax.tree.map(lambda x: jnp.broadcast_to(x, (bg,) + x.shape), self._data0[gi])
        return d.replace(qpos=jnp.asarray(qpos, d.qpos.dtype), qvel=jnp.asarray(qvel, d.qvel.dtype))

    def _observe(self, datas, key):
        base = jnp.zeros((self.num_envs, OBS_DIM), jnp.float32)
        for gi, g in enumerate(self._groups):
            d = datas[gi]
            o = jnp.concatenate([d.qpos[:, 1:], d.qvel], axis=1).astype(jnp.float32)
            base = base.at[self._index[gi], : g.obs_n].set(o)
        kn, ku = jax.random.split(key)
        normal = jax.random.normal(kn, (self.num_envs, OBS_DIM))
        uniform = jax.random.uniform(ku, (self.num_envs, OBS_DIM))
        return apply_obs_fn(jnp, base, self._params, normal, uniform)

    def _state(self, datas, rng, obs) -> State:
        b = self.num_envs
        info = {
            "t": jnp.zeros(b, jnp.int32),
            "running_return": jnp.zeros(b, jnp.float32),
            "episode_return": jnp.zeros(b, jnp.float32),
            "final_obs": obs,
            "speed": jnp.zeros(b, jnp.float32),
            "stand": jnp.zeros(b, jnp.float32),
            "rng": rng,
        }
        return State(tuple(datas), obs, jnp.zeros(b, jnp.float32), jnp.zeros(b, bool), {}, info)

    def reset(self, rng: Array) -> State:
        """New episodes in every env; initial state and observation noise drawn from ``rng``."""
        keys = jax.random.split(rng, len(self._groups) + 2)
        datas = [self._fresh(gi, keys[gi]) for gi in range(len(self._groups))]
        return self._state(datas, keys[-1], self._observe(datas, keys[-2]))

    def reset_to(self, qpos: Sequence[np.ndarray], qvel: Sequence[np.ndarray], rng: Array) -> State:
        """New episodes starting from the given unpadded physics states (one per env)."""
        datas = [
            self._fresh(gi, rng, np.stack([qpos[b] for b in g.index]), np.stack([qvel[b] for b in g.index]))
            for gi, g in enumerate(self._groups)
        ]
        k1, k2 = jax.random.split(rng)
        return self._state(datas, k2, self._observe(datas, k1))

    def _physics(self, gi: int, d, ctrl):
        g, m, ax = self._groups[gi], self._models[gi], self._axes[gi]

        def one(m, d, u):
            d = d.replace(ctrl=u)
            return jax.lax.fori_loop(0, g.frame_skip, lambda _, dd: mjx.step(m, dd), d)

        return jax.vmap(one, in_axes=(ax, 0, 0))(m, d, ctrl)

    def step(self, state: State, action: Float[Array, "B ACT_DIM"]) -> State:
        """One control step of every env, with auto-reset at ``episode_length``."""
        action = jnp.clip(action, -1.0, 1.0)
        rng, k_obs, k_reset, k_obs2 = jax.random.split(state.info["rng"], 4)
        b = self.num_envs
        dtype = state.pipeline_state[0].qpos.dtype  # float64 under jax_enable_x64
        x0, x1, z, pitch, dt = (jnp.zeros(b, dtype) for _ in range(5))
        datas = []
        for gi, g in enumerate(self._groups):
            d = state.pipeline_state[gi]
            idx = self._index[gi]
            x0 = x0.at[idx].set(d.qpos[:, 0])
            d = self._physics(gi, d, action[idx, : g.nu].astype(d.ctrl.dtype))
            x1, z, pitch = (
                x1.at[idx].set(d.qpos[:, 0]),
                z.at[idx].set(d.qpos[:, 1]),
                pitch.at[idx].set(d.qpos[:, 2]),
            )
            dt = dt.at[idx].set(g.dt)
            datas.append(d)
        rc = self._rc
        reward, speed, stand = reward_fn(
            jnp, x0, x1, rc["z0"] + z, pitch, dt, rc["target"], rc["v_max"], rc["min_height"], rc["standing"]
        )
        reward = reward.astype(jnp.float32)
        t = state.info["t"] + 1
        ep_return = state.info["running_return"] + reward
        done = t >= self.episode_length
        obs = self._observe(datas, k_obs)
        # auto-reset the finished envs
        keys = jax.random.split(k_reset, len(self._groups))
        new = []
        for gi, d in enumerate(datas):
            fresh = self._fresh(gi, keys[gi])
            new.append(_select(done[self._index[gi]], fresh, d))
        fresh_obs = self._observe(new, k_obs2)
        next_obs = jnp.where(done[:, None], fresh_obs, obs)
        info = {
            "t": jnp.where(done, 0, t),
            "running_return": jnp.where(done, 0.0, ep_return),
            "episode_return": ep_return,
            "final_obs": obs,
            "speed": speed.astype(jnp.float32),
            "stand": stand.astype(jnp.float32),
            "rng": rng,
        }
        return state.replace(pipeline_state=tuple(new), obs=next_obs, reward=reward, done=done, info=info)


class MjxVecEnv:
    """numpy VecEnv API (same as `NativeVecEnv`) over a jitted `MjxEnv`.

    Arguments:
        scenarios: one `Scenario` per env.
        episode_length: control steps per episode.

    Attributes:
        env: the raw `MjxEnv` (a `brax.envs.Env`) for JAX users; num_envs, episode_length, scenarios,
        obs_mask (B, OBS_DIM), act_mask (B, ACT_DIM).
    """

    engine = "mjx"

    def __init__(self, scenarios: Sequence[Scenario], episode_length: int = 1000):
        self.env = MjxEnv(scenarios, episode_length)
        self.scenarios = self.env.scenarios
        self.num_envs = self.env.num_envs
        self.episode_length = self.env.episode_length
        self.obs_mask = np.stack([obs_mask(s) for s in self.scenarios])
        self.act_mask = np.stack([act_mask(s) for s in self.scenarios])
        self._reset = jax.jit(self.env.reset)
        self._step = jax.jit(self.env.step)
        self._state: State | None = None

    def reset(self, seed: int) -> Float[np.ndarray, "B OBS_DIM"]:
        """Start new episodes (initial state and noise drawn from ``seed``)."""
        self._state = self._reset(jax.random.PRNGKey(seed))
        return np.asarray(self._state.obs)

    def reset_to(self, qpos: Sequence[np.ndarray], qvel: Sequence[np.ndarray], seed: int = 0) -> np.ndarray:
        """Start every env from the given unpadded physics state."""
        qpos, qvel = check_physics_state(qpos, qvel, self.env._groups)
        self._state = self.env.reset_to(qpos, qvel, jax.random.PRNGKey(seed))
        return np.asarray(self._state.obs)

    def physics_state(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Current unpadded (qpos, qvel) of every env."""
        if self._state is None:
            raise RuntimeError("physics_state: call reset() or reset_to() first")
        qpos: list[np.ndarray] = [np.empty(0)] * self.num_envs
        qvel: list[np.ndarray] = [np.empty(0)] * self.num_envs
        for g, d in zip(self.env._groups, self._state.pipeline_state, strict=True):
            qp, qv = np.asarray(d.qpos), np.asarray(d.qvel)
            for r, b in enumerate(g.index):
                qpos[b], qvel[b] = qp[r], qv[r]
        return qpos, qvel

    def step(
        self, action: Float[np.ndarray, "B ACT_DIM"]
    ) -> tuple[np.ndarray, Float[np.ndarray, " B"], Bool[np.ndarray, " B"], dict]:
        """Same contract as `NativeVecEnv.step`."""
        if self._state is None:
            raise RuntimeError("call reset(seed) before step()")
        a = check_action(action, self.num_envs)
        # the action in the physics dtype: float64 under jax_enable_x64, so that it is not rounded to
        # float32 (a ~1e-7 perturbation that the cheetah's contacts amplify past 1e-3 within 40 steps)
        dtype = self._state.pipeline_state[0].qpos.dtype
        self._state = self._step(self._state, jnp.asarray(a, dtype))
        s = self._state
        info = {
            "final_obs": np.asarray(s.info["final_obs"]),
            "episode_return": np.asarray(s.info["episode_return"]),
            "speed": np.asarray(s.info["speed"]),
            "stand": np.asarray(s.info["stand"]),
            "t": np.asarray(s.info["t"]),
        }
        return np.asarray(s.obs), np.asarray(s.reward), np.asarray(s.done), info

    def close(self) -> None:
        """Drop the state (nothing else to release)."""
        self._state = None
