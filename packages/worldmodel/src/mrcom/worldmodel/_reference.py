"""Reference predictors that every world-model error is reported beside.

- persistence: o_{t+k} = o_t (no model at all), here;
- an MLP-ensemble delta model in the style of MBPO / PETS (`_ensemble.py`): E Gaussian MLPs on (o_t, a_t),
  trained on the pooled transitions of all training scenarios, no context.

Both are scored like `mrcom.worldmodel.evaluate`: the same windows (drawn from the same key: episode
and start uniform, prediction from step `burn_in` of the window), the same normalization
(`obs_scale`: per-dimension variance of the evaluated data) and the same mean over real (mask = 1)
dimensions, so a figure of MrCoM and of a reference on one key are errors on the same predictions.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np
from jaxtyping import PRNGKeyArray

from ._config_base import SharedConfig
from ._data import MultiScenarioData, observation_moments
from ._evaluate import HORIZON, KS

_DEFAULTS = SharedConfig()


def obs_scale(data: MultiScenarioData) -> np.ndarray:
    """Per-dimension variance of the observations of `data` (the normalizer of every obs NMSE).

    Masked mean and variance over all episodes and steps (each episode's real dims from its
    scenario's `obs_mask`), floored at 1e-6 (padded dims get the floor). Returns (O,) float32.
    """
    return np.maximum(observation_moments(data)[1], 1e-6)


class _Windows:
    """The evaluation windows of `evaluate` as numpy arrays, from step `burn_in` of each window.

    obs (B, H+1, O) = o_{s+w} .. o_{s+w+H}; action, reward (B, H, .); obs_mask, act_mask (B, .).
    """

    def __init__(self, d: MultiScenarioData, key: PRNGKeyArray, num_windows: int, burn_in: int, horizon: int):
        # the same draws as `_evaluate._evaluate`: split(key, 5), episodes from the 1st, starts from the 2nd
        ke, ks = jax.random.split(key, 5)[:2]
        num_episodes, length = d.action.shape[:2]
        w, h = burn_in, horizon
        episodes = np.asarray(jax.random.randint(ke, (num_windows,), 0, num_episodes))
        starts = np.asarray(jax.random.randint(ks, (num_windows,), 0, length - (w + HORIZON) + 1))
        # windows are drawn for evaluate's horizon; a longer `ks` needs room for it too
        starts = np.minimum(starts, length - (w + h))
        t = starts[:, None] + w + np.arange(h + 1)[None]
        e = episodes[:, None]
        self.obs = d.obs[e, t]
        self.action = d.action[e, t[:, :-1]]
        self.reward = d.reward[e, t[:, :-1]]
        self.obs_mask = d.obs_mask[d.scenario_id[episodes]]
        self.act_mask = d.act_mask[d.scenario_id[episodes]]


def _prepare(data, ks, burn_in, num_windows, seed, key):
    ks = tuple(int(k) for k in ks)
    burn_in = _DEFAULTS.eval_burn_in if burn_in is None else int(burn_in)
    num_windows = _DEFAULTS.eval_windows if num_windows is None else int(num_windows)
    if not ks or min(ks) < 1:
        raise ValueError(f"ks={ks}: must be a non-empty sequence of integers >= 1")
    if num_windows < 1 or burn_in < 0:
        raise ValueError(f"(num_windows, burn_in)={(num_windows, burn_in)}: must be >= 1 and >= 0")
    d = data.validate()
    horizon = max(HORIZON, max(ks))
    if d.episode_length < burn_in + horizon:
        raise ValueError(
            f"episode length {d.episode_length}: must be >= burn_in + {horizon} = {burn_in + horizon}"
        )
    key = jax.random.PRNGKey(seed) if key is None else key
    return d, ks, _Windows(d, key, num_windows, burn_in, horizon), obs_scale(d)


def _nmse(pred: np.ndarray, win: _Windows, scale: np.ndarray, ks: Sequence[int]) -> dict[str, float]:
    """pred (B, H, O) of o_{t+1..t+H}: `evaluate`'s NMSE per k (sum over windows and real dims / count)."""
    err = (np.asarray(pred, np.float64) - win.obs[:, 1:]) ** 2 / scale
    mask = win.obs_mask[:, None, :]
    nmse = np.sum(err * mask, axis=(0, 2)) / np.sum(mask * np.ones_like(err), axis=(0, 2))
    return {f"k{k}_obs_nmse": float(nmse[k - 1]) for k in ks}


def persistence_nmse(
    data: MultiScenarioData,
    ks: Sequence[int] = KS,
    *,
    burn_in: int | None = None,
    num_windows: int | None = None,
    seed: int = 0,
    key: PRNGKeyArray | None = None,
) -> dict[str, float]:
    """NMSE of the persistence prediction o_{t+k} = o_t on `evaluate`'s windows.

    Arguments:
        data: the evaluated episodes (usually held-out scenarios); it also gives the normalizer.
        ks: horizons; burn_in / num_windows: as `evaluate`'s (default: `SharedConfig`'s
            eval_burn_in / eval_windows). seed / key: the windows' key (`key` wins); pass the key
            given to `evaluate` to score the same windows.

    Returns:
        {"k1_obs_nmse", ...} for each k of `ks`.
    """
    d, ks, win, scale = _prepare(data, ks, burn_in, num_windows, seed, key)
    pred = np.broadcast_to(win.obs[:, :1], win.obs[:, 1:].shape)
    return _nmse(pred, win, scale, ks)
