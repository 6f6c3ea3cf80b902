"""Evaluation on (held-out) scenarios: open-loop observation error, reward error, value equivalence.

`open_loop_errors` scores any world model of the registry through its `imagine` (one set of
windows, one normalization, one mean), so MrCoM, the baselines and the references of
`_reference.py` are compared on the same predictions (MrCoM's `evaluate` adds value equivalence).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from ._data import Batch, MultiScenarioData, SequenceSource, make_source, window
from ._jit import jit_by_config
from ._seam import Context, Imagined, OpenLoop, Prefix

HORIZON = 15
KS = (1, 5, 15)


def eval_windows(
    src: SequenceSource, key: PRNGKeyArray, windows: int, length: int, context_len: int
) -> Batch:
    """The evaluation windows of `length` steps drawn with `key` (the draws every scorer shares).

    `split(key, 5)`: episodes uniform from the first key, starts uniform from the second.
    """
    ke, ks = jax.random.split(key, 5)[:2]
    num_episodes, steps = src.action.shape[:2]
    episodes = jax.random.randint(ke, (windows,), 0, num_episodes)
    starts = jax.random.randint(ks, (windows,), 0, steps - length + 1)
    return jax.vmap(window, (None, 0, 0, None, None))(src, episodes, starts, length, context_len)


def _open_loop(imagine_fn: Callable, model, b: Batch, scale: Array, key: PRNGKeyArray, m: int, w: int):
    """Filter over the first w steps of windows b, imagine HORIZON steps under the real actions."""
    context = Context(*(x[:, :m] for x in b.ctx))
    prefix = Prefix(b.obs[:, : w + 1], b.action[:, :w], b.reward[:, :w])
    policy = OpenLoop(b.action[:, w:])
    out: Imagined = imagine_fn(
        model, context, prefix, (b.obs_mask, b.act_mask), policy, HORIZON, key, sample=False
    )
    err = (out.obs[:, 1:] - b.obs[:, w + 1 :]) ** 2 / scale  # (B, H, O)
    mask = b.obs_mask[:, None, :]
    nmse = jnp.sum(err * mask, axis=(0, 2)) / jnp.sum(mask * jnp.ones_like(err), axis=(0, 2))  # (H,)
    reward_mse = jnp.mean((out.reward - b.reward[:, w:]) ** 2)
    return nmse, reward_mse, out


def _check(data: MultiScenarioData, context_len: int, num_windows: int, burn_in: int) -> MultiScenarioData:
    d = data.validate(context_len=context_len)
    if d.episode_length < burn_in + HORIZON:
        raise ValueError(
            f"episode length {d.episode_length}: must be >= burn_in + {HORIZON} = {burn_in + HORIZON}"
        )
    if num_windows < 1 or burn_in < 0:
        raise ValueError(f"(num_windows, burn_in)={(num_windows, burn_in)}: must be >= 1 and >= 0")
    return d


def _scale(d: MultiScenarioData) -> Array:
    from ._reference import obs_scale  # imported here: _reference imports this module

    return jnp.asarray(obs_scale(d), jnp.float32)


def _summary(nmse, reward_mse) -> dict[str, float]:
    nmse = np.asarray(nmse)
    result = {f"k{k}_obs_nmse": float(nmse[k - 1]) for k in KS}
    result["reward_mse"] = float(reward_mse)
    return result


@jit_by_config(lambda imagine_fn, model, *args: model.spec.fast_compile)
def _score(imagine_fn, model, src: SequenceSource, scale, key, windows: int, burn_in: int):
    m = model.spec.context_len
    b = eval_windows(src, key, windows, burn_in + HORIZON, m)
    nmse, reward_mse, _ = _open_loop(imagine_fn, model, b, scale, jax.random.split(key, 5)[4], m, burn_in)
    return nmse, reward_mse


def open_loop_errors(
    imagine_fn: Callable, model, data: MultiScenarioData, key: PRNGKeyArray, *, num_windows: int, burn_in: int
) -> dict[str, float]:
    """k-step open-loop errors of any world model, through its `imagine_fn` (see `WorldModelKind`).

    Windows of `burn_in` + 15 steps are drawn with `key` (`eval_windows`); the model filters the
    first `burn_in` steps (context prompt-filled at episode starts), then imagines 15 steps under
    the real actions (`OpenLoop`, `sample=False`).

    Returns:
        "k1_obs_nmse", "k5_obs_nmse", "k15_obs_nmse": squared error of the observation k steps
        ahead divided by the per-dimension variance of `data` (`obs_scale`), averaged over the real
        dims of all windows; "reward_mse": predicted vs real reward over the 15 steps.
    """
    d = _check(data, model.spec.context_len, num_windows, burn_in)
    src = make_source(d, model.spec.context_len)
    return _summary(*_score(imagine_fn, model, src, _scale(d), key, num_windows, burn_in))


def evaluate_by_config(imagine_fn: Callable) -> Callable[..., dict[str, float]]:
    """The `evaluate` of a baseline whose `imagine` is `imagine_fn` (its config has `eval_windows`
    and `eval_burn_in`)."""

    def evaluate(
        model,
        data: MultiScenarioData,
        key: PRNGKeyArray,
        *,
        num_windows: int | None = None,
        burn_in: int | None = None,
    ) -> dict[str, float]:
        """`open_loop_errors` of the model on `data` (the metrics every world model reports).

        Arguments:
            num_windows, burn_in: default the config's `eval_windows` and `eval_burn_in`.

        Returns:
            "k1_obs_nmse", "k5_obs_nmse", "k15_obs_nmse", "reward_mse" (see `open_loop_errors`).
        """
        c = model.config
        num_windows = c.eval_windows if num_windows is None else num_windows
        burn_in = c.eval_burn_in if burn_in is None else burn_in
        return open_loop_errors(imagine_fn, model, data, key, num_windows=num_windows, burn_in=burn_in)

    return evaluate
