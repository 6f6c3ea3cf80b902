"""CaDM baseline: the future loss trains the encoder, backward model, context conditioning, bounded
log-variance, loss decrease, exact resume, imagine consistency and masks, config validation."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from wm_testing import (
    KEY,
    assert_resumes_bit_identical,
    assert_same_leaves,
    jit_fast,
    smoke_config_fixture,
    tree_norm,
)

from mrcom.worldmodel import (
    Context,
    NonFiniteLossError,
    OpenLoop,
    Prefix,
    eval_windows,
    make_source,
)
from mrcom.worldmodel._data import window
from mrcom.worldmodel.cadm import (
    CaDM,
    CaDMConfig,
    History,
    compute_loss,
    compute_normalizer,
    imagine,
    init_train_state,
    load_checkpoint,
    load_model,
    member_batches,
    predict,
    split_windows,
    train,
)


def with_config(model: CaDM, config: CaDMConfig) -> CaDM:
    """The same parameters under another config of the same shapes (CaDM holds its config statically)."""
    new = object.__new__(CaDM)
    for f in dataclasses.fields(model):
        object.__setattr__(new, f.name, config if f.name == "config" else getattr(model, f.name))
    return new


cfg = smoke_config_fixture(CaDMConfig)


@pytest.fixture(scope="module")
def trained(data, cfg):
    logged = {}
    model, metrics = train(
        data, cfg, seed=0, steps=300, log=lambda n, v, s: logged.setdefault(n, []).append(v), progress=False
    )
    return model, logged, metrics


_member_batches, _predict, _imagine = jit_fast(member_batches), jit_fast(predict), jit_fast(imagine)


@jit_fast
def _term_grads(model, batch):
    def terms(params):
        return compute_loss(eqx.combine(params, static), batch)[1]

    params, static = eqx.partition(model, eqx.is_array)
    return jax.jacrev(terms)(params)


def _batch(data, c, key=KEY):
    return _member_batches(make_source(data, c.context_len), key, c)


def _init(data, c):
    """A fresh model with the data's statistics (the program `train` compiles for the same config)."""
    return init_train_state(c, KEY, compute_normalizer(data)).model


def test_future_loss_trains_the_encoder_from_all_m_steps(data, cfg):
    model = _init(data, cfg)
    batch = _batch(data, cfg)
    g = _term_grads(model, batch)
    assert tree_norm(g["forward"].encoder) > 0 and tree_norm(g["reward"].encoder) > 0
    # M = 1 scores the context against one step only: a different encoder gradient
    g1 = _term_grads(with_config(model, cfg.replace(future_len=1)), batch)  # the same parameters
    diff = jax.tree.map(lambda a, b: a - b, g1["forward"].encoder, g["forward"].encoder)
    assert tree_norm(diff) > 1e-6 * tree_norm(g["forward"].encoder)
    # the futures are the M steps after each anchor's K-step history
    hist, fut = split_windows(jax.tree.map(lambda x: x[0], batch), cfg.context_len, cfg.future_len)
    t, m, k = cfg.seq_len, cfg.future_len, cfg.context_len
    assert hist.obs.shape[1:3] == (t - m + 1, k) and fut.obs.shape[1:3] == (t - m + 1, m)
    np.testing.assert_array_equal(hist.next_obs[:, :, -1], fut.obs[:, :, 0])
    np.testing.assert_array_equal(fut.obs[:, 0], jax.tree.map(lambda x: x[0], batch).obs[:, :m])


def test_backward_model_is_trained_and_only_by_its_term(data, cfg, trained):
    g = _term_grads(_init(data, cfg), _batch(data, cfg))
    assert tree_norm(g["backward"].backward_model) > 0 and tree_norm(g["backward"].encoder) > 0
    assert tree_norm(g["forward"].backward_model) == 0 and tree_norm(g["backward"].forward_model) == 0
    assert tree_norm(g["forward"].norm) == 0  # statistics are constants
    _, logged, _ = trained
    assert np.mean(logged["wm/backward_mse"][-3:]) < 0.5 * np.mean(logged["wm/backward_mse"][:2])
    assert np.mean(logged["wm/backward"][-3:]) < np.mean(logged["wm/backward"][:2])


def test_loss_decreases_and_the_context_carries_the_dynamics(data, cfg, trained):
    model, logged, metrics = trained
    assert len(logged["wm/loss"]) == 30 and np.isfinite(metrics["loss"])
    for name in ("loss", "forward_mse", "reward"):
        assert np.mean(logged[f"wm/{name}"][-3:]) < 0.8 * np.mean(logged[f"wm/{name}"][:2]), name
    # one-step error with each window's own history vs a history of another scenario of the same robot
    src = make_source(data, cfg.context_len)
    eps = np.repeat(np.arange(24), 4)
    starts = np.tile(np.array([0, 9, 18, 27]), 24)
    windows = jit_fast(jax.vmap(window, (None, 0, 0, None, None)))
    win = lambda e: windows(src, e, starts, cfg.seq_len, cfg.context_len)
    own, other = win(eps), win((eps + 8) % 24)  # 4 episodes per scenario: +8 is scenario +2
    h_own, fut = split_windows(own, cfg.context_len, cfg.future_len)
    h_other, _ = split_windows(other, cfg.context_len, cfg.future_len)
    om, am = own.obs_mask[:, None], own.act_mask[:, None]
    err = lambda h: float(
        jnp.sum(
            (_predict(model, h, fut.obs[:, :, 0], fut.action[:, :, 0], om, am)[0] - fut.next_obs[:, :, 0])
            ** 2
        )
    )
    assert err(h_own) < 0.8 * err(h_other)


def test_context_changes_the_forward_and_reward_prediction(data, cfg):
    model = _init(data, cfg)
    b = jax.tree.map(lambda x: x[0], _batch(data, cfg))
    hist, fut = split_windows(b, cfg.context_len, cfg.future_len)
    args = (fut.obs[:, 0, 0], fut.action[:, 0, 0], b.obs_mask, b.act_mask)
    h0 = jax.tree.map(lambda x: x[:, 0], hist)
    h1 = h0._replace(next_obs=h0.next_obs + 0.5 * b.obs_mask[:, None])
    (o0, r0), (o1, r1) = _predict(model, h0, *args), _predict(model, h1, *args)
    assert float(jnp.max(jnp.abs(o0 - o1))) > 1e-4 and float(jnp.max(jnp.abs(r0 - r1))) > 1e-4
    # an empty (invalid) history is not the same as a real one
    (o2, _) = _predict(model, h0._replace(valid=jnp.zeros_like(h0.valid)), *args)
    assert float(jnp.max(jnp.abs(o0 - o2))) > 1e-4


def test_log_variance_stays_within_its_soft_bounds(data, cfg, trained):
    for model in (_init(data, cfg), trained[0]):
        for head in (model.forward_model, model.backward_model):
            x = 1e3 * jax.random.normal(KEY, (cfg.ensemble_size, 256, head.mlp.layers[0].weight.shape[-1]))
            _, logvar = jit_fast(lambda h, x: h(x))(head, x)
            lo, hi = head.min_logvar[:, None], head.max_logvar[:, None]
            assert float(jnp.min(logvar - lo)) >= 0 and float(jnp.max(logvar - hi)) <= 1e-4
            assert float(jnp.min(logvar - lo)) < 1e-2 and float(jnp.min(hi - logvar)) < 1e-2  # both reached
    # the bounds are trained (the 0.01 bound term and the NLL move them) only when probabilistic
    init = _init(data, cfg)
    assert not np.allclose(trained[0].forward_model.max_logvar, init.forward_model.max_logvar)
    g = _term_grads(with_config(init, cfg.replace(probabilistic=False)), _batch(data, cfg))
    assert tree_norm(g["forward"].forward_model.max_logvar) == 0


def test_exact_resume_and_checkpoint_round_trip(tmp_path, data, cfg):
    resumed = assert_resumes_bit_identical(train, load_checkpoint, data, cfg, tmp_path / "b", tmp_path / "a")
    loaded = load_model(tmp_path / "b" / "checkpoint.eqx")
    assert isinstance(loaded, CaDM) and loaded.config == cfg
    assert_same_leaves(loaded, resumed)
    assert float(jnp.max(jnp.abs(loaded.norm.obs_std - 1))) > 0  # statistics of the data were stored
    with pytest.raises(ValueError, match="different config"):
        train(
            data, cfg.replace(backward_weight=0.25), steps=40, checkpoint_dir=tmp_path / "b", progress=False
        )
    bad = data._replace(reward=np.full_like(data.reward, 1e30))
    with pytest.raises(NonFiniteLossError, match="step 31"):
        train(bad, cfg, seed=3, steps=40, checkpoint_dir=tmp_path / "b", progress=False)
    assert load_checkpoint(tmp_path / "b").step == 30


def _chain(model, context, prefix, masks, actions):
    """imagine(OpenLoop, sample=False) by hand: a python list of transitions and `predict`."""
    om, am = masks
    k = model.config.context_len
    obs = list(np.concatenate([context.obs, prefix.obs], 1).transpose(1, 0, 2))
    act = list(np.concatenate([context.action, prefix.action], 1).transpose(1, 0, 2))
    rew = list(np.concatenate([context.reward, prefix.reward], 1).T)
    o = obs[-1] * om
    out_o, out_r = [o], []
    for t in range(actions.shape[1]):
        h = History(
            np.stack(obs[-k - 1 : -1], 1),
            np.stack(act[-k:], 1),
            np.stack(rew[-k:], 1),
            np.stack(obs[-k:], 1),
            np.ones((o.shape[0], k), np.float32),
        )
        a = actions[:, t] * am
        o_next, r = (np.asarray(x) for x in _predict(model, h, o, a, om, am))
        obs.append(o_next), act.append(a), rew.append(r)
        out_o.append(o_next), out_r.append(r)
        o = o_next
    return np.stack(out_o, 1), np.stack(out_r, 1)


def test_imagine_is_the_chained_one_step_prediction_and_keeps_padding_zero(data, cfg, trained):
    model = trained[0]
    k, w, horizon = cfg.context_len, 3, 6
    b = eval_windows(make_source(data, k), KEY, 8, w + horizon, k)
    context = Context(*(x[:, :k] for x in b.ctx))
    prefix = Prefix(b.obs[:, : w + 1], b.action[:, :w], b.reward[:, :w])
    masks = (b.obs_mask, b.act_mask)
    actions = b.action[:, w:]
    run = _imagine
    out = run(model, context, prefix, masks, OpenLoop(actions), horizon, KEY, sample=False)
    e, z, o = cfg.ensemble_size, cfg.context_dim, cfg.obs_dim
    assert out.obs.shape == (8, horizon + 1, o) and out.reward.shape == (8, horizon)
    assert out.latent.shape == (8, horizon + 1, e * z + o) and cfg.latent_dim == e * z + o
    np.testing.assert_array_equal(out.latent[..., -o:], out.obs)
    np.testing.assert_array_equal(out.obs[:, 0], prefix.obs[:, -1] * b.obs_mask)
    np.testing.assert_array_equal(out.action, actions * b.act_mask[:, None])
    obs, rew = _chain(model, context, prefix, masks, np.asarray(actions))
    np.testing.assert_allclose(out.obs, obs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.reward, rew, rtol=1e-5, atol=1e-5)
    # garbage on the padded dims changes nothing; imagined padded dims are exactly zero
    pad_o, pad_a = 1.0 - b.obs_mask[:, None], 1.0 - b.act_mask[:, None]
    noisy_ctx = context._replace(obs=context.obs + 7 * pad_o, action=context.action + 3 * pad_a)
    noisy_pre = prefix._replace(obs=prefix.obs + 7 * pad_o, action=prefix.action + 3 * pad_a)
    for sample in (False, True):
        noisy = run(
            model, noisy_ctx, noisy_pre, masks, OpenLoop(actions + 3 * pad_a), horizon, KEY, sample=sample
        )
        assert float(jnp.max(jnp.abs(noisy.obs * pad_o))) == 0.0
        if not sample:
            np.testing.assert_allclose(noisy.obs, out.obs, rtol=1e-6, atol=1e-6)
    # sampling (random member per rollout and step, its Gaussian) differs from the mean, is keyed
    s1 = run(model, context, prefix, masks, OpenLoop(actions), horizon, KEY, sample=True)
    s2 = run(model, context, prefix, masks, OpenLoop(actions), horizon, KEY, sample=True)
    np.testing.assert_array_equal(s1.obs, s2.obs)
    assert float(jnp.max(jnp.abs(s1.obs - out.obs))) > 1e-4 and np.all(np.isfinite(s1.reward))
    # a callable policy sees the imagined observation
    pol = run(model, context, prefix, masks, lambda key, obs: -obs[:, :2], horizon, KEY, sample=False)
    np.testing.assert_allclose(pol.action, -pol.obs[:, :-1, :2] * b.act_mask[:, None], atol=1e-6)


@pytest.mark.parametrize(
    "field, value",
    [
        ("context_len", 0),
        ("future_len", -1),
        ("ensemble_size", 1.5),
        ("encoder_hidden", ()),
        ("encoder_hidden", (32, 0)),
        ("backward_weight", -0.5),
        ("probabilistic", 1),
        ("steps", True),
        ("seq_len", 2),
    ],
)
def test_bad_config_values_raise_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^{field}="):
        CaDMConfig.preset("smoke", **{field: value})


def test_paper_preset_is_the_published_architecture():
    p = CaDMConfig.preset("paper")
    assert (p.context_len, p.future_len, p.context_dim, p.encoder_hidden) == (10, 10, 10, (256, 128, 64))
    assert (p.hidden, p.num_layers, p.ensemble_size, p.batch_size, p.backward_weight) == (200, 4, 5, 256, 0.5)


def test_sample_batch_shapes_for_members(data, cfg):
    b = _batch(data, cfg)
    assert b.obs.shape == (cfg.ensemble_size, cfg.batch_size, cfg.seq_len + 1, cfg.obs_dim)
    assert b.ctx.obs.shape[2] == cfg.context_len + cfg.seq_len
    assert not np.array_equal(b.obs[0], b.obs[1])  # every member its own windows
