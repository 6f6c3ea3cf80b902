"""Shapes and masks for mixed widths, the ablations, the FIFO context and the sampler."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mrcom.worldmodel import (
    Context,
    Prefix,
    filter_prefix,
    imagine,
    init_model,
    make_source,
    observe,
    prior_step,
    push,
    sample_batch,
    split_latent,
)
from mrcom.worldmodel._data import window

KEY = jax.random.PRNGKey(0)


def _sequence(data, config, episode, start, length):
    src = make_source(data, config.context_len)
    return window(src, episode, start, length, config.context_len)


@eqx.filter_jit
def _observe(model, b, key=KEY):
    return observe(model, b.ctx, b.obs, b.action, b.obs_mask, b.act_mask, key, model.spec.value_samples)


def test_shapes_and_masks_for_mixed_widths(data, config):
    model = init_model(config, KEY)
    t, z = 6, config.latent_dim
    for episode in (0, 4):  # scenario 0 (4 obs dims, 2 actions) and scenario 1 (6 obs dims, 1 action)
        b = _sequence(data, config, episode, 3, t)
        seq = _observe(model, b)
        assert seq.latent.shape == (t + 1, z)
        assert seq.predicted.shape == (t + 1, config.value_samples, z)
        assert seq.prior_u.mean.shape == (t + 1, config.u_dim) and seq.post_h.std.shape == (
            t + 1,
            config.h_dim,
        )
        assert float(jnp.min(seq.prior_u.std)) >= config.min_std
        pred = jax.vmap(model.decode, (0, 0, None))(seq.latent, seq.prev_obs, b.obs_mask)
        assert np.all(np.asarray(pred)[:, np.asarray(b.obs_mask) == 0] == 0)
        # junk in padded dimensions changes nothing: inputs are masked
        junk = b._replace(
            obs=b.obs + 7.0 * (1 - b.obs_mask),
            action=b.action + 3.0 * (1 - b.act_mask),
            ctx=b.ctx._replace(
                obs=b.ctx.obs + 5.0 * (1 - b.obs_mask), action=b.ctx.action + 2.0 * (1 - b.act_mask)
            ),
        )
        np.testing.assert_allclose(_observe(model, junk).latent, seq.latent, atol=1e-5)
    assert data.obs_mask[0].sum() == 4 and data.obs_mask[1].sum() == 6


def _two_contexts(data, config):
    b = _sequence(data, config, 1, 5, 4)
    rng = np.random.default_rng(0)
    # every context step differs but the newest: it is the current step o_t, which the skip reads
    obs = jnp.asarray(rng.normal(size=b.ctx.obs.shape), jnp.float32) * b.obs_mask
    other = Context(
        obs.at[-1].set(b.ctx.obs[-1]),
        jnp.asarray(rng.normal(size=b.ctx.action.shape), jnp.float32) * b.act_mask,
        jnp.asarray(rng.normal(size=b.ctx.reward.shape), jnp.float32),
        b.ctx.valid,
    )
    return b, b._replace(ctx=other)


@pytest.mark.parametrize("ablation, invariant", [("wo_c", True), ("full", False)])
def test_wo_c_outputs_invariant_to_context(data, config, ablation, invariant):
    model = init_model(config.replace(ablation=ablation), KEY)
    b1, b2 = _two_contexts(data, config)
    s1, s2 = _observe(model, b1), _observe(model, b2)
    m = config.context_len
    state = split_latent(model, s1.latent[-1])
    step = eqx.filter_jit(
        lambda ctx: prior_step(
            model, Context(*(x[-m:] for x in ctx)), state, b1.action[-1], b1.obs_mask, b1.act_mask, KEY
        )
    )
    (_, o1), (_, o2) = step(b1.ctx), step(b2.ctx)
    same = [
        np.allclose(s1.latent, s2.latent),
        np.allclose(s1.prior_u.mean, s2.prior_u.mean),
        np.allclose(o1, o2),
    ]
    assert all(same) if invariant else not any(same)


def test_wo_d_has_no_deterministic_state(data, config):
    model = init_model(config.replace(ablation="wo_d"), KEY)
    seq = _observe(model, _sequence(data, config, 2, 0, 5))
    d = split_latent(model, seq.latent).d
    assert d.shape[-1] == config.d_dim and float(jnp.abs(d).max()) == 0.0
    full = _observe(init_model(config, KEY), _sequence(data, config, 2, 0, 5))
    assert float(jnp.abs(split_latent(model, full.latent).d).max()) > 0.0


def test_context_is_prompt_filled_fifo_at_episode_start(data, config):
    m = config.context_len
    sid = int(data.scenario_id[5])
    p = data.prompt_action.shape[1]
    b = _sequence(data, config, 5, 0, 6)
    np.testing.assert_allclose(b.ctx.obs[:m], data.prompt_obs[sid, p - m : p])
    np.testing.assert_allclose(b.ctx.action[:m], data.prompt_action[sid, p - m : p])
    np.testing.assert_allclose(b.ctx.obs[m:], data.obs[5, :6])  # real steps follow, first in first out
    b = _sequence(data, config, 5, 2, 6)  # two steps in: the two oldest prompt steps have left
    np.testing.assert_allclose(b.ctx.obs[: m - 2], data.prompt_obs[sid, p - m + 2 : p])
    np.testing.assert_allclose(b.ctx.reward[m - 2 : m], data.reward[5, :2])
    src = make_source(data, m)
    batch = sample_batch(src, KEY, 5, 6, m)
    assert batch.obs.shape == (5, 7, 6) and batch.ctx.obs.shape == (5, m + 6, 6)
    np.testing.assert_allclose(batch.obs_mask, data.obs_mask[np.asarray(batch.scenario_id)])


def test_context_holds_no_function_of_the_observation_it_predicts(data, config):
    """C_t conditions the prior of o_t: changing o_t and r_{t-1} (the reward computed from the state
    reached after step t-1, i.e. from o_t) leaves the priors up to step t unchanged."""
    assert config.context_reward  # the reward is in the token
    model = init_model(config, KEY)
    m, t = config.context_len, 3
    b = _sequence(data, config, 1, 5, 6)  # o_0 .. o_6; ctx slot m + j holds step j
    seq = _observe(model, b)
    bump = 1.5 * b.obs_mask
    changed = b._replace(
        obs=b.obs.at[t].add(bump),
        reward=b.reward.at[t - 1].add(2.0),
        ctx=b.ctx._replace(obs=b.ctx.obs.at[m + t].add(bump), reward=b.ctx.reward.at[m + t - 1].add(2.0)),
    )
    new = _observe(model, changed)
    for old_d, new_d in ((seq.prior_u, new.prior_u), (seq.prior_h, new.prior_h)):
        np.testing.assert_allclose(new_d.mean[: t + 1], old_d.mean[: t + 1], rtol=0, atol=1e-6)
        np.testing.assert_allclose(new_d.std[: t + 1], old_d.std[: t + 1], rtol=0, atol=1e-6)
    # ...while the posteriors at t, which see o_t, do change
    assert not np.allclose(new.post_u.mean[t], seq.post_u.mean[t], atol=1e-4)
    assert not np.allclose(new.post_h.mean[t], seq.post_h.mean[t], atol=1e-4)
    # the lagged reward still counts: r_{t-2} (a function of o_{t-1}) moves the prior at t
    earlier = _observe(model, b._replace(ctx=b.ctx._replace(reward=b.ctx.reward.at[m + t - 2].add(2.0))))
    np.testing.assert_allclose(earlier.prior_u.mean[: t - 1], seq.prior_u.mean[: t - 1], atol=1e-6)
    assert not np.allclose(earlier.prior_u.mean[t], seq.prior_u.mean[t], atol=1e-4)
    # imagination reads contexts the same way: prior_step ignores the reward of the newest step
    state = split_latent(model, seq.latent[t - 1])
    step = eqx.filter_jit(
        lambda ctx: prior_step(model, ctx, state, b.action[t - 1], b.obs_mask, b.act_mask, KEY)
    )
    fifo = Context(*(x[t : t + m] for x in b.ctx))  # C_t: steps t-m .. t-1
    (s1, o1), (s2, o2) = step(fifo), step(fifo._replace(reward=fifo.reward.at[-1].add(2.0)))
    np.testing.assert_allclose(s2.concat(), s1.concat(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(o2, o1, rtol=0, atol=1e-6)
    (s3, _) = step(fifo._replace(reward=fifo.reward.at[-2].add(2.0)))
    assert not np.allclose(s3.concat(), s1.concat(), atol=1e-4)


def test_push_is_first_in_first_out():
    ctx = Context(jnp.arange(3.0)[:, None], jnp.zeros((3, 1)), jnp.arange(3.0), jnp.array([0.0, 1.0, 1.0]))
    out = push(ctx, jnp.array([9.0]), jnp.array([1.0]), 5.0)
    np.testing.assert_allclose(out.obs[:, 0], [1.0, 2.0, 9.0])
    np.testing.assert_allclose(out.reward, [1.0, 2.0, 5.0])
    np.testing.assert_allclose(out.valid, [1.0, 1.0, 1.0])


def test_imagine_pushes_generated_steps_into_context(data, config):
    model = init_model(config, KEY)
    m, bsz, w, horizon = config.context_len, 3, 2, 4
    eps = np.array([0, 5, 9])
    src = make_source(data, m)
    b = jax.vmap(window, (None, 0, 0, None, None))(src, jnp.asarray(eps), jnp.array([0, 3, 6]), w, m)
    context = Context(*(x[:, :m] for x in b.ctx))
    prefix = Prefix(b.obs, b.action, b.reward)
    masks = (b.obs_mask, b.act_mask)
    policy = lambda k, o: jnp.tanh(o[:, :2] + jax.random.normal(k, (o.shape[0], 2)))
    out = eqx.filter_jit(imagine)(model, context, prefix, masks, policy, horizon, KEY, sample=False)
    assert out.obs.shape == (bsz, horizon + 1, 6) and out.action.shape == (bsz, horizon, 2)
    assert out.reward.shape == (bsz, horizon) and out.latent.shape == (bsz, horizon + 1, config.latent_dim)
    np.testing.assert_allclose(out.obs[:, 0], b.obs[:, -1])
    assert np.all(
        np.asarray(out.obs)[np.broadcast_to(np.asarray(b.obs_mask)[:, None] == 0, out.obs.shape)] == 0
    )
    assert np.all(
        np.asarray(out.action)[np.broadcast_to(np.asarray(b.act_mask)[:, None] == 0, out.action.shape)] == 0
    )
    # step 1 by hand: filter, push (o_W, a_0, r_0) into the FIFO, one prior step
    kf, _ = jax.random.split(KEY)
    keys = jax.random.split(kf, bsz)
    filt = eqx.filter_jit(jax.vmap(filter_prefix, (None, 0, 0, 0, 0, 0)))
    state, fifo = filt(model, context, prefix, *masks, keys)
    np.testing.assert_allclose(out.latent[:, 0], state.concat(), atol=1e-5)
    e0 = jax.vmap(model.embed_context)(fifo, *masks)
    r0 = jax.vmap(model.reward)(state.concat(), out.obs[:, 0], out.action[:, 0], masks[0], b.act_mask, e0)
    np.testing.assert_allclose(out.reward[:, 0], r0, atol=1e-5)
    fifo = jax.vmap(push)(fifo, out.obs[:, 0], out.action[:, 0], r0)
    step = eqx.filter_jit(jax.vmap(lambda *x: prior_step(model, *x, sample=False)))
    _, o1 = step(fifo, state, out.action[:, 0], *masks, keys)
    np.testing.assert_allclose(out.obs[:, 1], o1, atol=1e-4)
    # without pushing the generated step the prediction is different (the context matters)
    _, stale = step(fifo._replace(obs=fifo.obs.at[:, -1].set(0.0)), state, out.action[:, 0], *masks, keys)
    assert not np.allclose(stale, o1, atol=1e-4)


@pytest.mark.parametrize("bound", [5.0, 0.0])
def test_bounded_h_means_keep_an_expansive_recurrence_finite(data, config, bound):
    """h_t reads h_{t-1}: with an expansive h head (its weights scaled up, as a run of training that
    diverged had them) the unbounded posterior mean explodes over a window; the bounded one stays
    within the bound."""
    model = init_model(config.replace(h_mean_bound=bound), KEY)
    blow_up = lambda head: eqx.tree_at(lambda h: h.mlp.layers[-1].weight, head, replace_fn=lambda w: 50.0 * w)
    model = eqx.tree_at(lambda m: (m.post_h, m.prior_h), model, replace_fn=blow_up)
    seq = _observe(model, _sequence(data, config, 0, 0, 30))
    h = np.asarray(seq.post_h.mean)
    if bound:
        assert np.all(np.isfinite(h)) and np.abs(h).max() <= bound
    else:
        assert not np.all(np.isfinite(h)) or np.abs(h).max() > 1e3  # what the bound prevents


def test_a_checkpoint_without_the_h_bound_loads_unbounded(tmp_path, config):
    """Checkpoints written before `h_mean_bound` existed keep computing what they were trained to."""
    import json

    from mrcom.worldmodel import init_train_state, load_checkpoint, save_checkpoint

    old = config.replace(h_mean_bound=0.0)
    file = save_checkpoint(tmp_path, init_train_state(old, KEY), old)
    header, rest = file.read_bytes().split(b"\n", 1)
    meta = json.loads(header)
    del meta["config"]["h_mean_bound"]
    file.write_bytes(json.dumps(meta).encode() + b"\n" + rest)
    ck = load_checkpoint(tmp_path)
    assert ck.config.h_mean_bound == 0.0 and ck.model.post_h.mean_bound == 0.0
