"""The `native` engine: B MuJoCo models (they may differ) stepped together by `mujoco.rollout`.

A batch of one env (the Gymnasium adapter, evaluation) takes a lean path instead: its physics lives in one
`mujoco.MjData` stepped by ``mj_step(m, d, frame_skip)`` and its reward is computed on floats
(`reward_one`), because a rollout call and numpy on 1-element arrays cost several times the physics of a
control step. Both paths give the same results (``tests/test_native_single.py`` checks it bit for bit).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import mujoco
import numpy as np
from mujoco import rollout

from ._common import (
    RobotGroup,
    check_action,
    check_physics_state,
    check_scenarios,
    group_scenarios,
    reward_constants,
)
from ._layout import ACT_DIM, OBS_DIM, act_mask, obs_mask
from ._obs import apply_obs_fn_np, obs_params, obs_parts
from ._reward import reward_fn, reward_one
from ._scenario import Scenario

if TYPE_CHECKING:  # jaxtyping shapes document the signatures; not a runtime dependency
    from jaxtyping import Bool, Float

__all__ = ["NativeVecEnv"]

_STATE = mujoco.mjtState.mjSTATE_FULLPHYSICS


def _rows(index: np.ndarray) -> slice | np.ndarray:
    """``index`` as a slice when it is a contiguous range (cheaper to index with, same elements)."""
    if index.size and np.array_equal(index, np.arange(index[0], index[0] + index.size)):
        return slice(int(index[0]), int(index[0]) + index.size)
    return index


class _One:
    """What the single-env path of `NativeVecEnv` reads every step, looked up once.

    ``data`` holds the env's physics between steps; ``state`` (time, qpos, qvel) mirrors it. ``state`` is
    the head of a zero buffer of ``2 + OBS_DIM`` floats, so ``base`` = ``buffer[2:]`` is the padded base
    observation (qpos[1:], qvel, zeros) without a copy.
    """

    def __init__(self, g: RobotGroup, data: mujoco.MjData, rc: dict[str, np.ndarray]):
        self.model, self.data = g.models[0], data
        buffer = np.zeros(2 + OBS_DIM)
        self.states = buffer[None, : 1 + g.nq + g.nv]  # the (1, nstate) state array of NativeVecEnv
        self.state = self.states[0]
        self.base = buffer[None, 2:]
        self.normal = np.zeros((1, OBS_DIM))  # buffers for the per-step draws
        self.uniform = np.zeros((1, OBS_DIM))
        self.ctrl = data.ctrl  # live views into `data`
        self.warnings = data.warning.number
        self.no_warnings = self.warnings.tobytes()
        self.nu, self.frame_skip = g.nu, g.frame_skip
        self.identity_obs = False  # set by NativeVecEnv: no env of the batch needs the obs function
        m = self.model
        # MuJoCo clamps ctrl to ctrlrange itself (on a copy; d.ctrl is left as is) when every actuator is
        # ctrllimited: with the range [-1, 1] that is our clip, so the clip can be left to it. Should MuJoCo
        # warn about a huge ctrl instead, the step is redone with the clipped ctrl (see _advance_one).
        self.mujoco_clips = bool(
            np.all(m.actuator_ctrllimited)
            and np.all(m.actuator_ctrlrange == np.array([-1.0, 1.0]))
            and not m.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_CLAMPCTRL
        )
        self.dt = float(g.dt)
        self.z0, self.target, self.v_max, self.min_height, self.standing = (
            float(rc[k][0]) for k in ("z0", "target", "v_max", "min_height", "standing")
        )

    def load(self) -> None:
        """Set ``data``'s physics from ``state`` (after a reset), as a rollout call would."""
        mujoco.mj_setState(self.model, self.data, self.state, _STATE)
        self.warnings[:] = 0


class NativeVecEnv:
    """B environments on C MuJoCo, numpy in and out, with auto-reset.

    Each control step makes one `mujoco.rollout` call per robot in the batch: the frame-skip loop of every
    env runs in C, spread over a thread pool. Envs of one robot may have different (scaled) models. A
    batch of one env makes one ``mj_step`` call instead (same results, less per-call overhead).

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
        self._parts = obs_parts(self._params)
        self._rows = [_rows(g.index) for g in self._groups]
        # rollout buffers (skip_checks=True writes into them in place: float64, C order)
        self._ctrl = [np.zeros((len(g.index), g.frame_skip, g.nu)) for g in self._groups]
        self._out = [np.zeros((len(g.index), g.frame_skip, 1 + g.nq + g.nv)) for g in self._groups]
        self._sens = [np.zeros((len(g.index), g.frame_skip, g.models[0].nsensordata)) for g in self._groups]
        self._one: _One | None = None
        if self.num_envs == 1:
            self._one = _One(self._groups[0], self._datas[0][0], self._rc)
            self._state[0] = self._one.states
            self._one.identity_obs = not any(self._parts)

    # ------------------------------------------------------------------ helpers
    def _init_states(self, gi: int, rows: np.ndarray) -> None:
        g, st, rng = self._groups[gi], self._state[gi], self._generator()
        for r in rows:
            m = g.models[r]
            c = self._rc["reset_noise"][g.index[r]]
            st[r, 0] = 0.0
            st[r, 1 : 1 + g.nq] = m.qpos0 + rng.uniform(-c, c, g.nq)
            st[r, 1 + g.nq :] = rng.uniform(-c, c, g.nv)
        if self._one is not None:
            self._one.load()

    def _observe(self) -> np.ndarray:
        base = np.zeros((self.num_envs, OBS_DIM))
        for g, rows, st in zip(self._groups, self._rows, self._state, strict=True):
            base[rows, : g.obs_n] = st[:, 2:]  # qpos[1:], qvel
        rng = self._generator()
        normal = rng.standard_normal((self.num_envs, OBS_DIM))
        uniform = rng.random((self.num_envs, OBS_DIM))
        return apply_obs_fn_np(base, self._params, normal, uniform, self._parts)

    def _generator(self) -> np.random.Generator:
        if self._rng is None:
            raise RuntimeError("call reset(seed) before step()")
        return self._rng

    def _check_started(self) -> None:
        self._generator()

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
        if self._one is not None:
            self._one.load()
        self._t[:] = 0
        self._ret[:] = 0.0
        return self._observe()

    def physics_state(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Current unpadded (qpos, qvel) of every env."""
        qpos: list[np.ndarray] = [np.empty(0)] * self.num_envs
        qvel: list[np.ndarray] = [np.empty(0)] * self.num_envs
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
        if self._one is not None:
            return self._step_one(action)
        self._check_started()
        a = check_action(action, self.num_envs)
        x0 = np.zeros(self.num_envs)
        x1, z, pitch, dt = (np.zeros(self.num_envs) for _ in range(4))
        for gi, (g, rows) in enumerate(zip(self._groups, self._rows, strict=True)):
            st, ctrl, out = self._state[gi], self._ctrl[gi], self._out[gi]
            x0[rows] = st[:, 1]
            ctrl[:] = a[rows, None, : g.nu]  # the same control for every physics step of the control step
            self._pool.rollout(
                g.models,
                self._datas[gi],
                st,
                ctrl,
                nstep=g.frame_skip,
                skip_checks=True,  # shapes and dtypes are fixed here; outputs go into our buffers
                state=out,
                sensordata=self._sens[gi],
            )
            st[:] = out[:, -1]
            x1[rows], z[rows], pitch[rows] = st[:, 1], st[:, 2], st[:, 3]
            dt[rows] = g.dt
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

    def _step_one(self, action) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """`step` for a batch of one env: the same results, without the per-call cost of a rollout and of
        numpy on 1-element arrays."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (1, ACT_DIM):
            check_action(a, 1)  # raises, naming the shape
        row = a[0]
        if not math.isfinite(sum(row.tolist())):  # NaN/inf propagate; huge finite entries may overflow
            row = check_action(a, 1)[0]  # raises on NaN/inf
        obs, final_obs, reward, done, speed, stand, ret, t = self._advance_one(row)
        # one float64 array holds the per-step figures; info gets disjoint views of it
        out = np.array([ret, speed, stand, reward])
        info = {
            "final_obs": final_obs,
            "episode_return": out[0:1],
            "speed": out[1:2],
            "stand": out[2:3],
            "t": np.array([t]),
        }
        return obs, out[3:].astype(np.float32), np.array([done]), info

    def _advance_one(
        self, action: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float, bool, float, float, float, int]:
        """One control step of the single env (also called by `GymEnv`).

        Arguments:
            action: (>= nu,) finite actions, float32 or float64, not yet clipped.

        Returns:
            obs, final_obs ((1, OBS_DIM) float32), then floats reward, done (bool), speed, stand,
            episode_return and t as in `step`.
        """
        if self._rng is None:
            self._check_started()  # raises
        one = self._one
        assert one is not None  # B == 1
        st = one.state
        x0 = st.item(1)  # rootx
        one.ctrl[:] = action[: one.nu] if one.mujoco_clips else np.clip(action[: one.nu], -1.0, 1.0)
        mujoco.mj_step(one.model, one.data, one.frame_skip)
        if one.warnings.tobytes() != one.no_warnings:
            # MuJoCo warned (unstable, full arena, a huge ctrl): rollout stops a control step at the first
            # warning; redo the step with it from the state before, so both paths agree there too.
            ctrl = np.clip(np.asarray(action[: one.nu], np.float64), -1.0, 1.0)[None, None]
            out, _ = self._pool.rollout([one.model], [one.data], st[None], ctrl, nstep=one.frame_skip)
            st[:] = out[0, -1]
            one.load()
        else:
            mujoco.mj_getState(one.model, one.data, st, _STATE)
        x1, z, pitch = st.item(1), st.item(2), st.item(3)  # rootx, rootz, rooty
        reward, speed, stand = reward_one(
            x0, x1, one.z0 + z, pitch, one.dt, one.target, one.v_max, one.min_height, one.standing
        )
        t = self._t.item() + 1
        ret = self._ret.item() + reward
        done = t >= self.episode_length
        obs = final_obs = self._observe_one()
        if done:  # auto-reset; obs becomes the first obs of the next episode
            self._init_states(0, np.arange(1))
            obs = self._observe_one()
            self._t[0], self._ret[0] = 0, 0.0
        else:
            self._t[0], self._ret[0] = t, ret
        return obs, final_obs, reward, done, speed, stand, ret, 0 if done else t

    def _observe_one(self) -> np.ndarray:
        one, rng = self._one, self._rng
        assert one is not None and rng is not None
        # the same draws as standard_normal / random((1, OBS_DIM)), into buffers
        normal = rng.standard_normal(out=one.normal)
        uniform = rng.random(out=one.uniform)
        if one.identity_obs:  # the draws above still advance the generator, as for B > 1
            return one.base.astype(np.float32)
        return apply_obs_fn_np(one.base, self._params, normal, uniform, self._parts)

    def close(self) -> None:
        """Release the rollout thread pool (also released when the env is garbage-collected)."""
        self._pool.close()
        self._one = None  # a later step takes the rollout path, which raises as for B > 1
