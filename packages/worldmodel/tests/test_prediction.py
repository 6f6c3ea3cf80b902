"""The mechanisms that make MrCoM predict (docs/choices.md, "World-model accuracy").

- `ObsNorm`: observations standardized by the training data's per-dimension mean and std, set by
  `train` and never moved by the optimizer;
- `obs_skip`: the decoder predicts the change from o_{t-1}, so an untrained change is persistence;
- `loss_prediction`: the decoded prior latent is scored against o_t, and its gradient reaches the prior;
- `loss_open_loop`: the prior rolled K steps on its own predictions (as imagination runs it) is scored
  against o_{t+1..t+K}.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mrcom.worldmodel import (
    Context,
    LossWeights,
    compute_loss,
    init_train_state,
    make_source,
    observation_stats,
    observe,
    open_loop_predictions,
    prior_step,
    push,
    sample_batch,
    split_latent,
    train,
)


def test_train_sets_observation_stats_and_keeps_them(data, config):
    model, _ = train(data, config, seed=0, steps=20, progress=False)
    loc, scale = observation_stats(data)
    np.testing.assert_allclose(model.obs_norm.loc, loc, rtol=1e-6)
    np.testing.assert_allclose(model.obs_norm.scale, scale, rtol=1e-6)
    # standardized observations of the data have mean 0 and std 1 on every real dimension
    z = np.asarray(model.obs_norm.forward(jnp.asarray(data.obs)))
    real = np.broadcast_to(data.obs_mask[data.scenario_id][:, None, :], z.shape)
    for i in range(z.shape[-1]):
        zi = z[..., i][real[..., i] > 0]
        assert abs(zi.mean()) < 1e-4 and abs(zi.std() - 1.0) < 1e-3, (i, zi.mean(), zi.std())
    np.testing.assert_allclose(model.obs_norm.inverse(jnp.asarray(z)), data.obs, atol=1e-4)


def test_symlog_transform_is_the_printed_one(config):
    state = init_train_state(config.replace(obs_transform="symlog"), jax.random.PRNGKey(0))
    x = jnp.array([-3.0, 0.0, 2.0])
    np.testing.assert_allclose(
        state.model.obs_norm.forward(x), jnp.sign(x) * jnp.log1p(jnp.abs(x)), rtol=1e-6
    )


def _zero_last_layer(model):
    last = model.decoder.layers[-1]
    return eqx.tree_at(
        lambda m: (m.decoder.layers[-1].weight, m.decoder.layers[-1].bias),
        model,
        (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)),
    )


@pytest.mark.parametrize("skip", [True, False])
def test_skip_decoder_predicts_a_change_from_the_previous_observation(config, skip):
    state = init_train_state(
        config.replace(obs_skip=skip), jax.random.PRNGKey(1), (np.full(6, 0.5), np.full(6, 2.0))
    )
    model = _zero_last_layer(state.model)
    o_prev = jnp.array([1.0, -2.0, 0.3, 4.0, 0.0, 9.0])
    mask = jnp.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    s = jax.random.normal(jax.random.PRNGKey(2), (config.latent_dim,))
    got = model.decode_obs(s, o_prev, mask)
    # a decoder that predicts no change is persistence with the skip, and the data mean without it
    expect = o_prev * mask if skip else jnp.full(6, 0.5) * mask
    np.testing.assert_allclose(got, expect, atol=1e-5)


def test_prediction_loss_trains_the_prior(data, config):
    c, config = config.replace(lambda_pred=1.0), config.replace(lambda_pred=0.0)
    state = init_train_state(c, jax.random.PRNGKey(3), observation_stats(data))
    batch = sample_batch(make_source(data, c.context_len), jax.random.PRNGKey(4), 4, c.seq_len, c.context_len)

    on, off = LossWeights.from_config(c), LossWeights.from_config(config)

    def term(model, name):
        return compute_loss(model, state.target, batch, jax.random.PRNGKey(5), on)[1][name]

    grad = eqx.filter_grad(lambda m: term(m, "prediction"))(state.model)
    norm = lambda t: float(sum(jnp.sum(x**2) for x in jax.tree.leaves(eqx.filter(t, eqx.is_array))))
    assert norm(grad.prior_u) > 0 and norm(grad.decoder) > 0
    # reconstruction alone never reaches the prior of u (it decodes posterior latents)
    recon = eqx.filter_grad(lambda m: term(m, "recon"))(state.model)
    assert norm(recon.prior_u) == 0.0
    # the weight scales the term inside the total loss
    loss_on = compute_loss(state.model, state.target, batch, jax.random.PRNGKey(5), on)
    loss_off = compute_loss(state.model, state.target, batch, jax.random.PRNGKey(5), off)
    assert float(loss_on[0] - loss_off[0]) == pytest.approx(float(loss_on[1]["prediction"]), rel=1e-4)


def _posterior(state, batch, c):
    keys = jax.random.split(jax.random.PRNGKey(7), batch.obs.shape[0])
    seq = jax.vmap(observe, (None, 0, 0, 0, 0, 0, 0))(
        state.model, batch.ctx, batch.obs, batch.action, batch.obs_mask, batch.act_mask, keys
    )
    return seq.latent


def test_open_loop_predictions_roll_the_prior_on_its_own_outputs(data, config):
    # K = T: every window starts at t0 = 0
    c = config.replace(open_loop_horizon=config.seq_len)
    state = init_train_state(c, jax.random.PRNGKey(3), observation_stats(data))
    batch = sample_batch(make_source(data, c.context_len), jax.random.PRNGKey(4), 4, c.seq_len, c.context_len)
    latent = _posterior(state, batch, c)
    pred, reward, t0 = open_loop_predictions(state.model, batch, latent, jax.random.PRNGKey(8))
    assert pred.shape == (4, c.seq_len, c.obs_dim) and reward.shape == (4, c.seq_len)
    assert not np.any(np.asarray(t0))
    # no real observation after o_t0 enters: changing them (the posterior latent held) changes nothing
    moved = batch._replace(obs=batch.obs.at[:, 1:].add(3.0))
    again, again_reward, _ = open_loop_predictions(state.model, moved, latent, jax.random.PRNGKey(8))
    np.testing.assert_array_equal(np.asarray(pred), np.asarray(again))
    np.testing.assert_array_equal(np.asarray(reward), np.asarray(again_reward))
    # the first prediction is the prior mean one step from the posterior at t0 (its context + step t0)
    m = c.context_len

    def first(ctx, s, o0, a0, om, am):
        fifo = push(Context(*(x[:m] for x in ctx)), o0 * om, a0 * am, 0.0)
        _, o1 = prior_step(
            state.model, fifo, split_latent(state.model, s), a0 * am, om, am, jax.random.PRNGKey(0), False
        )
        return state.model.obs_norm.forward(o1) * om

    expect = jax.vmap(first)(
        batch.ctx, latent[:, 0], batch.obs[:, 0], batch.action[:, 0], batch.obs_mask, batch.act_mask
    )
    np.testing.assert_allclose(np.asarray(pred[:, 0]), np.asarray(expect), rtol=1e-5, atol=1e-5)


def test_open_loop_loss_trains_the_prior_and_is_weighted(data, config):
    c = config.replace(open_loop_horizon=4, lambda_pred=0.0, lambda_var=0.0)
    state = init_train_state(c, jax.random.PRNGKey(3), observation_stats(data))
    batch = sample_batch(make_source(data, c.context_len), jax.random.PRNGKey(4), 4, c.seq_len, c.context_len)
    key = jax.random.PRNGKey(5)
    weights = LossWeights.from_config(c)
    term = lambda model: compute_loss(model, state.target, batch, key, weights)[1]["open_loop"]
    assert float(term(state.model)) > 0
    grad = eqx.filter_grad(term)(state.model)
    norm = lambda t: float(sum(jnp.sum(x**2) for x in jax.tree.leaves(eqx.filter(t, eqx.is_array))))
    # through the rollout: the prior of u, the GRU, the context encoder, the decoder and the reward head
    for part in ("prior_u", "gru", "context", "decoder", "reward_head"):
        assert norm(getattr(grad, part)) > 0, part
    off = LossWeights.from_config(c.replace(lambda_open_loop=0.0))
    diff = (
        compute_loss(state.model, state.target, batch, key, weights)[0]
        - compute_loss(state.model, state.target, batch, key, off)[0]
    )
    assert float(diff) == pytest.approx(c.lambda_open_loop * float(term(state.model)), rel=1e-4)
    # K = 0 turns the term off
    none = init_train_state(c.replace(open_loop_horizon=0), jax.random.PRNGKey(3), observation_stats(data))
    assert float(compute_loss(none.model, state.target, batch, key, weights)[1]["open_loop"]) == 0.0
