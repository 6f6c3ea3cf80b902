"""The MLP-ensemble reference: a delta model in the style of MBPO / PETS, E Gaussian MLPs on (o_t, a_t)
trained on the pooled transitions of all training scenarios, no context; scored on the windows and with the
normalization of `_reference.py` (so its errors sit beside every world model's on the same predictions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, PRNGKeyArray
from tqdm.auto import tqdm

from ._data import MultiScenarioData
from ._evaluate import HORIZON, KS
from ._reference import _nmse, _prepare
from ._seam import OpenLoop, act_at

# PETS (Chua et al. 2018, mbrl-lib): soft bounds on the log-variance, learned, initialized at these
# values and pulled together by LOGVAR_BOUND_WEIGHT * (sum max_logvar - sum min_logvar).
MAX_LOGVAR_INIT, MIN_LOGVAR_INIT, LOGVAR_BOUND_WEIGHT = 0.5, -10.0, 0.01
VAL_CHUNK = 8192  # validation transitions per jitted call


class EnsembleMembers(eqx.Module):
    """The trained part of an `MLPEnsemble`: every array stacked over members (leading axis E).

    mlp: eqx.nn.MLP with stacked weights; max_logvar, min_logvar (E, O+1): PETS soft bounds.
    """

    mlp: eqx.nn.MLP
    max_logvar: Array
    min_logvar: Array

    def __call__(self, x: Array) -> tuple[Array, Array]:
        """x (E, ..., in): member e on x[e] -> (mean, logvar), each (E, ..., O+1)."""

        def member(mlp, hi, lo, xe):
            flat = xe.reshape(-1, xe.shape[-1])
            out = jax.vmap(mlp)(flat)
            mean, raw = jnp.split(out, 2, axis=-1)
            logvar = hi - jax.nn.softplus(hi - raw)
            logvar = lo + jax.nn.softplus(logvar - lo)
            shape = xe.shape[:-1] + (hi.shape[-1],)
            return mean.reshape(shape), logvar.reshape(shape)

        return eqx.filter_vmap(member)(self.mlp, self.max_logvar, self.min_logvar, x)


class MLPEnsemble(eqx.Module):
    """An MBPO/PETS-style ensemble of Gaussian MLPs predicting (o_{t+1} - o_t, r_t) from (o_t, a_t).

    Input (padded layout): [(o_t - mu_o) / sd_o * obs_mask, (a_t - mu_a) / sd_a * act_mask,
    obs_mask, act_mask] (the masks tell the robot apart; no scenario context). Output of member e:
    a diagonal Gaussian over the normalized target [(delta - mu_d) / sd_d, (r - mu_r) / sd_r].
    Statistics are masked means / standard deviations (variance floored at 1e-6) of the training
    transitions; they are constants, not trained.
    """

    members: EnsembleMembers
    obs_mean: Array
    obs_std: Array
    act_mean: Array
    act_std: Array
    delta_mean: Array
    delta_std: Array
    reward_mean: Array
    reward_std: Array

    @property
    def num_members(self) -> int:
        return int(self.members.max_logvar.shape[0])

    def features(self, obs: Array, action: Array, obs_mask: Array, act_mask: Array) -> Array:
        """Normalized network input (..., 2 O + 2 A)."""
        o = (obs - self.obs_mean) / self.obs_std * obs_mask
        a = (action - self.act_mean) / self.act_std * act_mask
        return jnp.concatenate([o, a, obs_mask * jnp.ones_like(o), act_mask * jnp.ones_like(a)], -1)

    def targets(self, obs: Array, next_obs: Array, reward: Array) -> Array:
        """Normalized target (..., O+1)."""
        delta = (next_obs - obs - self.delta_mean) / self.delta_std
        r = (reward - self.reward_mean) / self.reward_std
        return jnp.concatenate([delta, r[..., None]], -1)

    def __call__(self, obs: Array, action: Array, obs_mask: Array, act_mask: Array) -> tuple[Array, Array]:
        """Every member on the same (..., O), (..., A) input -> (mean, logvar), each (E, ..., O+1)."""
        x = self.features(obs, action, obs_mask, act_mask)
        return self.members(jnp.broadcast_to(x, (self.num_members,) + x.shape))

    def predict(self, obs: Array, action: Array, obs_mask: Array, act_mask: Array) -> tuple[Array, Array]:
        """Ensemble-mean prediction (mean over members of each member's mean): (next obs, reward).

        Padded observation dims are carried over unchanged (o_{t+1} = o_t there).
        """
        mean = jnp.mean(self(obs, action, obs_mask, act_mask)[0], axis=0)
        delta = self.delta_mean + self.delta_std * mean[..., :-1]
        reward = self.reward_mean + self.reward_std * mean[..., -1]
        return obs + delta * obs_mask, reward


def _masked_stats(x: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masked mean / std over the leading axis (variance floored at 1e-6; padded dims: 0 / 1)."""
    n = np.maximum(m.sum(0), 1.0)
    mean = (x * m).sum(0) / n
    var = (((x - mean) ** 2) * m).sum(0) / n
    real = m.sum(0) > 0
    return np.where(real, mean, 0.0).astype(np.float32), np.where(
        real, np.sqrt(np.maximum(var, 1e-6)), 1.0
    ).astype(np.float32)


def _transitions(d: MultiScenarioData, episodes: np.ndarray):
    """Flattened (obs, action, next_obs, reward, obs_mask, act_mask) of `episodes`."""
    n = len(episodes) * d.episode_length
    sid = np.repeat(d.scenario_id[episodes], d.episode_length)
    return (
        d.obs[episodes, :-1].reshape(n, -1),
        d.action[episodes].reshape(n, -1),
        d.obs[episodes, 1:].reshape(n, -1),
        d.reward[episodes].reshape(n),
        d.obs_mask[sid],
        d.act_mask[sid],
    )


def _target_weights(obs_mask: Array) -> Array:
    """Loss weights of the target (..., O+1): real obs dims and the reward."""
    return jnp.concatenate([obs_mask, jnp.ones_like(obs_mask[..., :1])], -1)


def _nll(members: EnsembleMembers, x, y, w, dim_mask) -> Array:
    """PETS loss of each member on its own batch x (E, B, in): Gaussian NLL summed over real target
    dims, mean over the batch, plus the log-variance bound term. Returns (E,)."""
    mean, logvar = members(x)
    nll = 0.5 * ((mean - y) ** 2 * jnp.exp(-logvar) + logvar)
    bound = LOGVAR_BOUND_WEIGHT * jnp.sum((members.max_logvar - members.min_logvar) * dim_mask, -1)
    return jnp.mean(jnp.sum(nll * w, -1), -1) + bound


@eqx.filter_jit
def _train_chunk(members, opt_state, x, y, w, dim_mask, boot, key, steps: int, batch: int, lr: float):
    """`steps` Adam steps (one lax.scan); member e draws its batches from its bootstrap boot[e]."""
    opt = optax.adam(lr)
    params, static = eqx.partition(members, eqx.is_array)
    e, n = boot.shape

    def step(carry, k):
        params, opt_state = carry
        idx = jnp.take_along_axis(boot, jax.random.randint(k, (e, batch), 0, n), axis=1)  # (E, B)

        def loss(p):
            per_member = _nll(eqx.combine(p, static), x[idx], y[idx], w[idx], dim_mask)
            return jnp.sum(per_member), per_member  # members are independent: the sum trains each

        grads, per_member = jax.grad(loss, has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), per_member

    (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), jax.random.split(key, steps))
    return eqx.combine(params, static), opt_state, losses  # losses (steps, E)


@eqx.filter_jit
def _val_sums(members, x, y, w):
    """Sum over transitions of the masked squared error of each member's mean, and the weight count."""
    mean, _ = members(jnp.broadcast_to(x, (members.max_logvar.shape[0],) + x.shape))
    return jnp.sum((mean - y) ** 2 * w, axis=(1, 2)), jnp.sum(w)


def _val_loss(members: EnsembleMembers, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-member validation MSE per real target dim (normalized units), in fixed-size jitted chunks."""
    n = x.shape[0]
    size = min(VAL_CHUNK, n)
    pad = -n % size
    x, y, w = (np.concatenate([a, np.zeros((pad,) + a.shape[1:], a.dtype)]) for a in (x, y, w))
    total, count = np.zeros((), np.float64), 0.0
    for i in range(0, n + pad, size):
        s, c = _val_sums(members, x[i : i + size], y[i : i + size], w[i : i + size])
        total, count = total + np.asarray(s, np.float64), count + float(c)
    return total / count


def _select(improved: np.ndarray, new: EnsembleMembers, old: EnsembleMembers) -> EnsembleMembers:
    """Member-wise: new where improved, else old (every array leaf has the member axis first)."""
    pick = lambda a, b: jnp.where(jnp.asarray(improved).reshape((-1,) + (1,) * (a.ndim - 1)), a, b)
    return eqx.combine(
        jax.tree.map(pick, eqx.filter(new, eqx.is_array), eqx.filter(old, eqx.is_array)),
        eqx.filter(new, lambda x: not eqx.is_array(x)),
    )


def train_mlp_ensemble(
    data: MultiScenarioData,
    *,
    members: int = 5,
    hidden: int = 200,
    layers: int = 4,
    lr: float = 1e-3,
    batch: int = 256,
    max_steps: int = 20_000,
    eval_every: int = 250,
    val_fraction: float = 0.1,
    patience: int = 5,
    min_improvement: float = 0.01,
    seed: int = 0,
    progress: bool = False,
) -> tuple[MLPEnsemble, dict[str, Any]]:
    """Train an MBPO/PETS-style MLP ensemble on the pooled transitions of `data`.

    Choices (MBPO / PETS defaults where they exist):

    - `members` = 5 MLPs of `layers` = 4 hidden layers of `hidden` = 200 SiLU (swish) units, vmapped
      (one stacked set of weights); each outputs the mean and a raw log-variance of the normalized
      target (delta o, r) (see `MLPEnsemble`).
    - Log-variance soft bounds as in PETS: logvar = max - softplus(max - raw), then
      min + softplus(logvar - min), with learned per-member, per-dim bounds initialized at 0.5 and
      -10 and the term 0.01 * (sum max - sum min) (over real target dims) in the loss.
    - Loss: Gaussian NLL 0.5 ((mu - y)^2 / var + log var) summed over the real target dims (obs_mask
      of the transition's scenario, and the reward), mean over a batch of `batch` transitions.
      Adam, `lr`, no weight decay.
    - Bootstrap: member e draws its batches uniformly (with replacement) from its own bootstrap
      resample of the training transitions, so members see different data and batch orders.
    - Validation: `val_fraction` of the episodes (at least one, at least one left for training;
      random, all scenarios pooled) are held out of training. Every `eval_every` steps (one jitted
      lax.scan of that many steps) each member's validation MSE of its mean (normalized targets, per
      real dim; MBPO's holdout criterion) is measured; a member's parameters are snapshot whenever
      its validation MSE is the lowest so far.
    - Early stopping (MBPO's rule): training stops when for `patience` = 5 evaluations in a row no
      member improved its best validation MSE by more than `min_improvement` = 1 % (relative), or
      after `max_steps`. The returned ensemble holds each member's best snapshot.

    `progress`: a tqdm bar (training loss and validation MSE per evaluation).

    Returns:
        (ensemble, info): info has "steps" (trained), "best_val_loss" (mean over members of each
        member's best validation MSE: the validation loss of the returned ensemble),
        "best_val_loss_members", "best_step_members", "stopped_early", "history" (per evaluation:
        step, mean training loss of the chunk, mean validation MSE), "train_transitions",
        "val_transitions".
    """
    sizes = dict(members=members, hidden=hidden, layers=layers, batch=batch, max_steps=max_steps)
    for name, v in {**sizes, "eval_every": eval_every, "patience": patience}.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r}: must be an integer >= 1")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction!r}: must be in (0, 1)")
    d = data.validate()
    num_episodes = d.obs.shape[0]
    if num_episodes < 2:
        raise ValueError(f"{num_episodes} episode(s): need at least 2 (one for validation)")
    rng = np.random.default_rng(seed)
    order = rng.permutation(num_episodes)
    n_val = min(max(1, round(val_fraction * num_episodes)), num_episodes - 1)
    val_eps, train_eps = np.sort(order[:n_val]), np.sort(order[n_val:])
    o, a, o2, r, om, am = _transitions(d, train_eps)

    obs_mean, obs_std = _masked_stats(o, om)
    act_mean, act_std = _masked_stats(a, am)
    delta_mean, delta_std = _masked_stats(o2 - o, om)
    ones = np.ones((len(r), 1), np.float32)
    reward_mean, reward_std = (s[0] for s in _masked_stats(r[:, None], ones))
    obs_dim, act_dim = o.shape[1], a.shape[1]
    out_dim = obs_dim + 1
    key = jax.random.PRNGKey(seed)
    k_init, k_boot, k_train = jax.random.split(key, 3)
    mlp = eqx.filter_vmap(
        lambda k: eqx.nn.MLP(
            2 * (obs_dim + act_dim), 2 * out_dim, hidden, layers, activation=jax.nn.silu, key=k
        )
    )(jax.random.split(k_init, members))
    bounds = lambda v: jnp.full((members, out_dim), v, jnp.float32)
    ens = MLPEnsemble(
        EnsembleMembers(mlp, bounds(MAX_LOGVAR_INIT), bounds(MIN_LOGVAR_INIT)),
        jnp.asarray(obs_mean),
        jnp.asarray(obs_std),
        jnp.asarray(act_mean),
        jnp.asarray(act_std),
        jnp.asarray(delta_mean),
        jnp.asarray(delta_std),
        jnp.asarray(reward_mean),
        jnp.asarray(reward_std),
    )

    def arrays(o, a, o2, r, om, am):
        x = np.asarray(ens.features(o, a, om, am))
        return x, np.asarray(ens.targets(o, o2, r)), np.asarray(_target_weights(jnp.asarray(om)))

    x, y, w = (jnp.asarray(v) for v in arrays(o, a, o2, r, om, am))
    xv, yv, wv = arrays(*_transitions(d, val_eps))
    dim_mask = jnp.concatenate([jnp.asarray((d.obs_mask.max(0) > 0).astype(np.float32)), jnp.ones(1)])
    boot = jax.random.randint(k_boot, (members, x.shape[0]), 0, x.shape[0])

    params = eqx.filter(ens.members, eqx.is_array)
    opt_state = optax.adam(lr).init(params)
    current = best_members = ens.members
    best = np.full(members, np.inf)
    best_step = np.zeros(members, np.int64)
    history: list[dict[str, float]] = []
    step, since, stopped = 0, 0, False
    bar = tqdm(total=max_steps, desc="mlp ensemble", disable=not progress, unit="step")
    while step < max_steps:
        n = min(eval_every, max_steps - step)
        k_train, k = jax.random.split(k_train)
        current, opt_state, losses = _train_chunk(
            current, opt_state, x, y, w, dim_mask, boot, k, n, batch, lr
        )
        step += n
        val = _val_loss(current, xv, yv, wv)
        improved = val < best
        significant = improved & (~np.isfinite(best) | (best - val > min_improvement * np.abs(best)))
        best_members = _select(improved, current, best_members)
        best = np.where(improved, val, best)
        best_step = np.where(improved, step, best_step)
        history.append({"step": step, "train_loss": float(np.mean(losses)), "val_loss": float(np.mean(val))})
        since = 0 if significant.any() else since + 1
        bar.update(n)
        bar.set_postfix(loss=f"{history[-1]['train_loss']:.3f}", val=f"{history[-1]['val_loss']:.4f}")
        if since >= patience:
            stopped = True
            break
    bar.close()
    info = {
        "steps": step,
        "best_val_loss": float(np.mean(best)),
        "best_val_loss_members": [float(v) for v in best],
        "best_step_members": [int(s) for s in best_step],
        "stopped_early": stopped,
        "history": history,
        "train_transitions": int(x.shape[0]),
        "val_transitions": int(xv.shape[0]),
        "val_episodes": [int(e) for e in val_eps],
    }
    return eqx.tree_at(lambda e: e.members, ens, best_members), info


def mlp_ensemble_val_loss(ensemble: MLPEnsemble, data: MultiScenarioData) -> np.ndarray:
    """Per-member MSE per real target dim (normalized units) of `ensemble` on all transitions of `data`."""
    d = data.validate()
    tr = _transitions(d, np.arange(d.obs.shape[0]))
    o, a, o2, r, om, am = (jnp.asarray(v) for v in tr)
    x = np.asarray(ensemble.features(o, a, om, am))
    y = np.asarray(ensemble.targets(o, o2, r))
    return _val_loss(ensemble.members, x, y, np.asarray(_target_weights(om)))


@eqx.filter_jit
def mlp_ensemble_rollout(
    ensemble: MLPEnsemble,
    obs0: Array,
    policy,
    horizon: int,
    masks: tuple[Array, Array],
    key: PRNGKeyArray,
) -> tuple[Array, Array]:
    """The ensemble-mean prediction fed back for `horizon` steps from obs0 (B, O) under `policy` (an
    `OpenLoop` or a callable `policy(key, obs)`, as `imagine` takes; `key` is passed to a callable).

    Returns:
        predicted obs (B, H, O) of o_{t+1..t+H} and rewards (B, H).
    """
    obs_mask, act_mask = masks

    def step(o, t):
        o2, r = ensemble.predict(o, act_at(policy, t, key, o), obs_mask, act_mask)
        return o2, (o2, r)

    _, (obs, reward) = jax.lax.scan(step, obs0, jnp.arange(horizon))
    return jnp.swapaxes(obs, 0, 1), jnp.swapaxes(reward, 0, 1)


def mlp_ensemble_nmse(
    ensemble: MLPEnsemble,
    data: MultiScenarioData,
    ks: Sequence[int] = KS,
    *,
    burn_in: int | None = None,
    num_windows: int | None = None,
    seed: int = 0,
    key: PRNGKeyArray | None = None,
) -> dict[str, float]:
    """Open-loop k-step NMSE of the ensemble under the real actions, on `evaluate`'s windows.

    From the real o_t at step `burn_in` of each window, the ensemble-mean prediction (mean over
    members of each member's Gaussian mean; deterministic, no member sampling as in PETS' TS-inf)
    is fed back for the next step. The `burn_in` steps before are not used (the model has no memory).

    Arguments: as `persistence_nmse`.

    Returns:
        {"k1_obs_nmse", ...} for each k of `ks`, and "reward_mse": predicted vs real reward over the
        first 15 steps (as `evaluate`'s).
    """
    d, ks, win, scale = _prepare(data, ks, burn_in, num_windows, seed, key)
    obs, reward = mlp_ensemble_rollout(
        ensemble,
        jnp.asarray(win.obs[:, 0]),
        OpenLoop(jnp.asarray(win.action)),
        win.action.shape[1],
        (jnp.asarray(win.obs_mask), jnp.asarray(win.act_mask)),
        jax.random.PRNGKey(0),  # unused: an open loop draws nothing
    )
    result = _nmse(np.asarray(obs), win, scale, ks)
    h = HORIZON
    result["reward_mse"] = float(np.mean((np.asarray(reward)[:, :h] - win.reward[:, :h]) ** 2))
    return result
