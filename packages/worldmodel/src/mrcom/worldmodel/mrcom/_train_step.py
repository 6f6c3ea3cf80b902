"""Loss of a batch and the pure, jitted training step (purejaxrl style)."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._data import Batch, SequenceSource, sample_batch
from .._jit import jit_by_config
from .._train_common import scan_sampled_steps
from ._config import ModelSpec, WorldModelConfig
from ._imagine import rollout
from ._losses import (
    LossWeights,
    loss_meta_value,
    loss_open_loop,
    loss_prediction,
    loss_reward,
    loss_state,
    loss_value_reg,
    loss_value_td,
    loss_var,
    sg,
    total_loss,
    value_reg_scale,
)
from ._model import (
    Context,
    MrCoM,
    apply_value_head,
    init_model,
    observe,
    split_latent,
)

TERMS = (
    "loss",
    "var",
    "kl_u",
    "kl_h",
    "recon",
    "state",
    "prediction",
    "open_loop",
    "value_reg",
    "reward",
    "value_td",
    "meta_value",
)


class TrainState(eqx.Module):
    """Everything training needs to continue exactly: model, target value heads, optimizer, RNG, step."""

    model: MrCoM
    target: eqx.nn.MLP  # target network of the per-scenario value heads (eq. 14)
    opt_state: optax.OptState
    key: PRNGKeyArray
    step: Int[Array, ""]


def make_optimizer(config: WorldModelConfig) -> optax.GradientTransformation:
    """Adam at the training settings' `learning_rate` after global-norm clipping at `grad_clip` (one
    object per (rate, clip), so jit sees the same one for every config that shares them)."""
    settings = config.training
    return _optimizer(float(settings.learning_rate), float(settings.grad_clip))


@functools.cache
def _optimizer(learning_rate: float, grad_clip: float) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(grad_clip), optax.adam(learning_rate))


def init_train_state(config: WorldModelConfig, key: PRNGKeyArray, obs_stats=None) -> TrainState:
    """A fresh model, its target value heads (a copy), optimizer state, RNG and step 0.

    `obs_stats`: (mean (O,), std (O,)) of the training observations for the model's `ObsNorm`
    (`observation_stats`); None keeps 0 and 1. Jitted on `config.spec` alone (Adam's state does
    not depend on its rate), so configs that differ in weights or settings share the program.
    """
    return _init_train_state(config.spec, key, obs_stats)


@jit_by_config(lambda spec, key, obs_stats=None: spec.fast_compile)
def _init_train_state(spec: ModelSpec, key: PRNGKeyArray, obs_stats=None) -> TrainState:
    kmodel, kstate = jax.random.split(key)
    model = init_model(spec, kmodel)
    if obs_stats is not None:
        loc, scale = (jnp.asarray(x, jnp.float32) for x in obs_stats)
        model = eqx.tree_at(lambda m: (m.obs_norm.loc, m.obs_norm.scale), model, (loc, scale))
    # the optimizer state's structure and initial values depend on neither rate nor clip
    opt_state = _optimizer(1.0, 1.0).init(eqx.filter(model, eqx.is_array))
    return TrainState(model, model.value_heads, opt_state, kstate, jnp.zeros((), jnp.int32))


def _frozen(module):
    params, static = eqx.partition(module, eqx.is_array)
    return eqx.combine(sg(params), static)


def open_loop_predictions(
    model: MrCoM,
    batch: Batch,
    latent: Float[Array, "B T1 Z"],
    key: PRNGKeyArray,
) -> tuple[Float[Array, "B K O"], Float[Array, "B K"], Int[Array, " B"]]:
    """The prior rolled K = `open_loop_horizon` steps open loop from a random start t0 of each window.

    From the posterior latent s~_{t0} (`latent[:, t0]`) and the context of step t0, the prior is
    rolled under the real actions a_{t0..t0+K-1} on its own decoded observations and context, as
    `imagine` runs it (prior means, as `evaluate` scores it): no real observation after o_{t0}
    enters. t0 is uniform in [0, T - K].

    Returns:
        (predicted o^_{t0+1..t0+K} in the decoder space, zero on padded dims; imagined rewards
        r^_{t0..t0+K-1}; t0 per window).
    """
    c = model.spec
    k, m = c.open_loop_horizon, c.context_len
    batch_size, steps = batch.action.shape[:2]
    t0 = jax.random.randint(key, (batch_size,), 0, steps - k + 1)
    fifo = Context(*(_take(x, t0, m) for x in batch.ctx))
    state = split_latent(model, _take(latent, t0, 1)[:, 0])
    obs0 = _take(batch.obs, t0, 1)[:, 0] * batch.obs_mask
    actions = _take(batch.action, t0, k)
    out = rollout(
        model,
        fifo,
        state,
        obs0,
        batch.obs_mask,
        batch.act_mask,
        lambda t, _, o: actions[:, t],
        k,
        key,
        sample=False,
    )
    return model.obs_norm.forward(out.obs[:, 1:]) * batch.obs_mask[:, None], out.reward, t0


def _take(x: Array, start: Int[Array, " B"], size: int) -> Array:
    """x[b, start[b] : start[b] + size] for each b."""
    return jax.vmap(lambda xi, s: jax.lax.dynamic_slice_in_dim(xi, s, size, 0))(x, start)


def open_loop_term(
    model: MrCoM,
    batch: Batch,
    latent: Float[Array, "B T1 Z"],
    obs_target: Float[Array, "B T1 O"],
    obs_mask: Float[Array, "B T1 O"],
    key: PRNGKeyArray,
) -> Array:
    """`loss_open_loop` of `open_loop_predictions` against the real o_{t0+1..t0+K} and r_{t0..t0+K-1};
    0 when K = 0."""
    k = model.spec.open_loop_horizon
    if k == 0:
        return jnp.zeros(())
    pred, pred_reward, t0 = open_loop_predictions(model, batch, latent, key)
    obs, reward = _take(obs_target, t0 + 1, k), _take(batch.reward, t0, k)
    return loss_open_loop(pred, obs, obs_mask[:, :k], model.spec.obs_std, pred_reward, reward)


def compute_loss(
    model: MrCoM,
    target: eqx.nn.MLP,
    batch: Batch,
    key: PRNGKeyArray,
    weights: LossWeights,
    unroll: int | bool = 1,
) -> tuple[Array, dict[str, Array]]:
    """Total loss (eq. 16 plus heads) of a batch and its named terms.

    Arguments:
        model: the world model (theta and psi). target: target value heads.
        batch: windows of T steps (see `Batch`). key: sampling key.
        weights: the traced loss coefficients (`LossWeights.from_config(config)`). L_v is computed
            unless the ablation is wo_lv, even when lambda_v = 0, so the program does not depend on it.
        unroll: of the scan over time.

    Returns:
        (loss, terms) with terms named as in `TERMS` (without "loss").
    """
    c, w = model.spec, weights
    keys = jax.random.split(key, batch.obs.shape[0])
    seq = jax.vmap(observe, (None, 0, 0, 0, 0, 0, 0, None, None))(
        model,
        batch.ctx,
        batch.obs,
        batch.action,
        batch.obs_mask,
        batch.act_mask,
        keys,
        c.value_samples,
        unroll,
    )
    over_bt = lambda f, *axes: jax.vmap(jax.vmap(f, axes), axes)
    obs_mask = jnp.broadcast_to(batch.obs_mask[:, None], batch.obs.shape)
    obs_target = model.obs_norm.forward(batch.obs) * obs_mask  # o_t in the decoder space

    # eq. 10 (the whole variational loss) and eq. 12 (an extra posterior-side term on top)
    pred = over_bt(model.decode, 0, 0, 0)(seq.latent, seq.prev_obs, obs_mask)
    l_var, var_terms = loss_var(
        seq.prior_u,
        seq.post_u,
        seq.prior_h,
        seq.post_h,
        pred,
        obs_target,
        obs_mask,
        free_nats=w.free_nats,
        kl_balance=w.kl_balance,
        kl_direction=c.kl_direction,
        obs_std=c.obs_std,
    )
    l_s = loss_state(
        seq.prior_u,
        seq.post_u,
        free_nats=w.free_nats,
        kl_direction=c.kl_direction,
        literal=c.state_reg == "literal",
    )

    # one-step prediction: the prior's own next latent (from s~_{t-1}), decoded, against o_t (t >= 1)
    predicted = over_bt(model.decode, 0, 0, 0)(seq.predicted[:, 1:, 0], seq.prev_obs[:, 1:], obs_mask[:, 1:])
    l_pred = loss_prediction(predicted, obs_target[:, 1:], obs_mask[:, 1:], c.obs_std)

    # K-step open-loop prediction from one posterior latent per window
    l_open = open_loop_term(model, batch, seq.latent, obs_target, obs_mask, jax.random.fold_in(key, 1))

    # reward head r_t = R(s~_t, a_t, e_t)
    act_mask = jnp.broadcast_to(batch.act_mask[:, None], batch.action.shape)
    r_pred = over_bt(model.reward, 0, 0, 0, 0, 0, 0)(
        seq.latent[:, :-1], batch.obs[:, :-1], batch.action, obs_mask[:, :-1], act_mask, seq.embedding[:, :-1]
    )
    l_r = loss_reward(r_pred, batch.reward)

    # eqs. 13, 14: value heads on stop-gradient latents (they do not shape the representation)
    s = sg(seq.latent)
    sid = jnp.broadcast_to(batch.scenario_id[:, None], s.shape[:2])
    v = over_bt(model.scenario_value, 0, 0)(s, sid)
    v_target = over_bt(functools.partial(apply_value_head, target), 0, 0)(s, sid)
    l_td = loss_value_td(v[:, :-1], batch.reward, v_target[:, 1:], w.gamma)
    l_meta = loss_meta_value(over_bt(model.meta, 0)(s), v)

    # eq. 15: psi frozen, gradient into theta through the predicted latents s^_t (t >= 1), on the
    # scale `value_reg_scale` (docs/choices.md, "The scale of L_v")
    if c.ablation != "wo_lv":
        meta = _frozen(model.meta_value)
        v_true = over_bt(lambda z: meta(z)[0], 0)(s[:, 1:])
        v_pred = jax.vmap(over_bt(lambda z: meta(z)[0], 0), 2, 2)(seq.predicted[:, 1:])
        scale = value_reg_scale(v_true, w.gamma, c.value_reg_scale, c.obs_std)
        l_v = loss_value_reg(v_true, v_pred, scale)
    else:
        l_v = jnp.zeros(())

    terms = {
        "var": l_var,
        **var_terms,
        "state": l_s,
        "prediction": l_pred,
        "open_loop": l_open,
        "value_reg": l_v,
        "reward": l_r,
        "value_td": l_td,
        "meta_value": l_meta,
    }
    return total_loss(terms, w), terms


def train_step(
    state: TrainState,
    batch: Batch,
    key: PRNGKeyArray,
    weights: LossWeights,
    optimizer: optax.GradientTransformation,
    unroll: int | bool = 1,
) -> tuple[TrainState, dict[str, Array]]:
    """One gradient step (pure): `optimizer` (`make_optimizer(config)`) on the total loss, then the
    EMA (rate `weights.target_tau`) of the target heads.

    Returns:
        (new state with step + 1, metrics: the loss terms and "grad_norm").
    """

    def loss_fn(params):
        model = eqx.combine(params, static)
        return compute_loss(model, state.target, batch, key, weights, unroll)

    params, static = eqx.partition(state.model, eqx.is_array)
    (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, state.opt_state, params)
    model = eqx.combine(optax.apply_updates(params, updates), static)
    tau = weights.target_tau
    target_params, target_static = eqx.partition(state.target, eqx.is_array)
    target_params = jax.tree.map(
        lambda t, o: (1 - tau) * t + tau * o, target_params, eqx.filter(model.value_heads, eqx.is_array)
    )
    target = eqx.combine(target_params, target_static)
    metrics = {"loss": loss, **terms, "grad_norm": optax.tree.norm(grads)}
    return TrainState(model, target, opt_state, state.key, state.step + 1), metrics


def train_steps(
    state: TrainState, src: SequenceSource, num_steps: int, sharding=None, *, config: WorldModelConfig
):
    """`num_steps` training steps in one `lax.scan`, sampling each batch from `src` with the state's key.

    The loss coefficients travel as traced `LossWeights` and the model holds only its static spec,
    so configs that differ only in loss weights (an Optuna study's trials) share one compiled program.

    Arguments:
        config: the run's config (weights, optimizer, batch shape; its `spec` must be the model's).
        sharding: optional `jax.sharding.Sharding` for the batch axis (data parallel); None on one device.

    Returns:
        (state, metrics stacked over the steps).
    """
    if config.spec != state.model.spec:
        raise ValueError("config: its spec differs from the model's (another model's config?)")
    weights, settings = LossWeights.from_config(config), config.training
    batch_shape = (settings.batch_size, settings.seq_len)
    return train_steps_program(state, weights, make_optimizer(config), batch_shape, src, num_steps, sharding)


@jit_by_config(lambda state, *args, **kwargs: state.model.spec.fast_compile)
def train_steps_program(
    state: TrainState,
    weights: LossWeights,
    optimizer: optax.GradientTransformation,
    batch_shape: tuple[int, int],
    src: SequenceSource,
    num_steps: int,
    sharding=None,
):
    """The jitted program behind `train_steps`, with the loss weights, optimizer and batch shape as
    arguments (its `.jitted` holds the plain and the fast-compile copy: `benchmarks/worldmodel.py`
    lowers and compiles it apart from running it)."""
    m = state.model.spec.context_len
    sample = lambda st, k: sample_batch(src, k, *batch_shape, m)
    step = lambda st, batch, k: train_step(st, batch, k, weights, optimizer)
    return scan_sampled_steps(state, num_steps, sample, step, sharding)
