"""The `native` engine: B MuJoCo models (they may differ) stepped together by `mujoco.rollout`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import mujoco
import numpy as np
from mujoco import rollout

from ._common import check_action, check_physics_state, check_scenarios, group_scenarios, reward_constants
from ._layout import OBS_DIM, act_mask, obs_mask
from ._obs import apply_obs_fn, obs_params
from ._reward import reward_fn
from ._scenario import Scenario

if TYPE_CHECKING:  # jaxtyping shapes document the signatures; not a runtime dependency
    from jaxtyping import Bool, Float

__all__ = ["NativeVecEnv"]

_STATE = mujoco.mjtState.mjSTATE_FULLPHYSICS


class NativeVecEnv:
    """B environments on C MuJoCo, numpy in and out, with auto-reset.

    Each control step makes one `mujoco.rollout` call per robot in the batch: the frame-skip loop of every
    env runs in C, spread over a thread pool. Envs of one robot may have different (scaled) models.

    Arguments:
        scenarios: one `Scenario` per env.
        episode_length: control steps per episode (fixed, no early termination).
        nthread: rollout threads; default ``min(os.cpu_count(), B)``, and 0 runs on the calling thread.

    Attributes:
        num_envs, episode_length, scenarios, obs_mask (B, OBS_DIM), act_mask (B, ACT_DIM).
    """

    engine = "native"

    def __init__(self, scenarios: Sequence[Scenario], episode_length: int = 1000, nthread: int | None = None):
        self.scenarios = check_scenarios(scenarios, episode_length)
        self.num_envs = len(self.scenarios)
        self.episode_length = int(episode_length)
        self.obs_mask = np.stack([obs_mask(s) for s in self.scenarios])
        self.act_mask = np.stack([act_mask(s) for s in self.scenarios])
        self._groups = group_scenarios(self.scenarios)
        self._params = obs_params(self.scenarios)
        self._rc = reward_constants(self.scenarios)
        if nthread is None:
            nthread = min(os.cpu_count() or 1, self.num_envs)
        if nthread == 1:
            nthread = 0
        if isinstance(nthread, bool) or not isinstance(nthread, int) or nthread < 0:
            raise ValueError(f"nthread={nthread!r}: must be an integer >= 0 or None")
        self._nthread = nthread
        self._pool = rollout.Rollout(nthread=nthread)
        self._datas = [[mujoco.MjData(g.models[0]) for _ in range(max(1, nthread))] for g in self._groups]
        for g in self._groups:
            assert mujoco.mj_stateSize(g.models[0], _STATE) == 1 + g.nq + g.nv
        self._state = [np.zeros((len(g.index), 1 + g.nq + g.nv)) for g in self._groups]
        self._t = np.zeros(self.num_envs, np.int64)
        self._ret = np.zeros(self.num_envs, np.float64)
        self._rng: np.random.Generator | None = None

    # ------------------------------------------------------------------ helpers
    def _init_states(self, gi: int, rows: np.ndarray) -> None:
        g, st = self._groups[gi], self._state[gi]
        for r in rows:
            m = g.models[r]
            c = self._rc["reset_noise"][g.index[r]]
            st[r, 0] = 0.0
            st[r, 1 : 1 + g.nq] = m.qpos0 + self._rng.uniform(-c, c, g.nq)
            st[r, 1 + g.nq :] = self._rng.uniform(-c, c, g.nv)

    def _observe(self) -> np.ndarray:
        base = np.zeros((self.num_envs, OBS_DIM))
        for g, st in zip(self._groups, self._state, strict=True):
            base[g.index, : g.obs_n] = st[:, 2:]  # qpos[1:], qvel
        normal = self._rng.standard_normal((self.num_envs, OBS_DIM))
        uniform = self._rng.random((self.num_envs, OBS_DIM))
        return apply_obs_fn(np, base, self._params, normal, uniform)

    def _check_started(self):
        if self._rng is None:
            raise RuntimeError("call reset(seed) before step()")

    # ------------------------------------------------------------------ API
    def reset(self, seed: int) -> Float[np.ndarray, "B OBS_DIM"]:
        """Start a new episode in every env (initial state and noise drawn from ``seed``)."""
        self._rng = np.random.default_rng(seed)
        for gi, g in enumerate(self._groups):
            self._init_states(gi, np.arange(len(g.index)))
        self._t[:] = 0
        self._ret[:] = 0.0
        return self._observe()

    def reset_to(self, qpos: Sequence[np.ndarray], qvel: Sequence[np.ndarray], seed: int = 0) -> np.ndarray:
        """Start every env from the given physics state (one unpadded qpos/qvel per env)."""
        qpos, qvel = check_physics_state(qpos, qvel, self._groups)
        self._rng = np.random.default_rng(seed)
        for g, st in zip(self._groups, self._state, strict=True):
            for r, b in enumerate(g.index):
                st[r] = np.concatenate([[0.0], np.asarray(qpos[b], float), np.asarray(qvel[b], float)])
        self._t[:] = 0
        self._ret[:] = 0.0
        return self._observe()

    def physics_state(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Current unpadded (qpos, qvel) of every env."""
        qpos, qvel = [None] * self.num_envs, [None] * self.num_envs
        for g, st in zip(self._groups, self._state, strict=True):
            for r, b in enumerate(g.index):
                qpos[b], qvel[b] = st[r, 1 : 1 + g.nq].copy(), st[r, 1 + g.nq :].copy()
        return qpos, qvel

    def step(
        self, action: Float[np.ndarray, "B ACT_DIM"]
    ) -> tuple[np.ndarray, Float[np.ndarray, " B"], Bool[np.ndarray, " B"], dict]:
        """Advance every env by one control step.

        Arguments:
            action: (B, ACT_DIM) padded actions in [-1, 1] (clipped; padding ignored); NaN/inf raise.

        Returns:
            obs (B, OBS_DIM) float32, reward (B,) float32, done (B,) bool and info with "final_obs"
            (B, OBS_DIM; the last obs of an episode where done, else equal to obs), "episode_return" (B,;
            return so far of the episode this step belongs to), "speed" (B,), "stand" (B,; the reward's
            standing term in [0, 1]) and "t" (B,).
        """
        self._check_started()
        a = check_action(action, self.num_envs)
        x0 = np.zeros(self.num_envs)
        x1, z, pitch, dt = (np.zeros(self.num_envs) for _ in range(4))
        for gi, g in enumerate(self._groups):
            st = self._state[gi]
            x0[g.index] = st[:, 1]
            ctrl = a[g.index, None, : g.nu]
            out, _ = self._pool.rollout(
                g.models, self._datas[gi], st, ctrl, nstep=g.frame_skip, skip_checks=False
            )
            st[:] = out[:, -1]
            x1[g.index], z[g.index], pitch[g.index] = st[:, 1], st[:, 2], st[:, 3]
            dt[g.index] = g.dt
        rc = self._rc
        reward, speed, stand = reward_fn(
            np, x0, x1, rc["z0"] + z, pitch, dt, rc["target"], rc["v_max"], rc["min_height"], rc["standing"]
        )
        self._t += 1
        self._ret += reward
        ep_return = self._ret.copy()
        done = self._t >= self.episode_length
        obs = self._observe()
        final_obs = obs
        if done.any():
            final_obs = obs.copy()
            for gi, g in enumerate(self._groups):
                rows = np.nonzero(done[g.index])[0]
                if rows.size:
                    self._init_states(gi, rows)
            fresh = self._observe()
            obs = np.where(done[:, None], fresh, obs)
            self._t[done] = 0
            self._ret[done] = 0.0
        info = {
            "final_obs": final_obs,
            "episode_return": ep_return,
            "speed": speed,
            "stand": stand,
            "t": self._t.copy(),
        }
        return obs, reward.astype(np.float32), done, info

    def close(self) -> None:
        """Release the rollout thread pool (also released when the env is garbage-collected)."""
        self._pool.close()
