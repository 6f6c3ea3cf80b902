"""Training: loss goes down, gradients reach the right parameters, exact resume, NaN stop, logging."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from wm_testing import assert_resumes_bit_identical, assert_same_leaves, leaves, tree_norm

from mrcom.worldmodel import (
    LossWeights,
    NonFiniteLossError,
    compute_loss,
    evaluate,
    gaussian_kl,
    init_train_state,
    load_checkpoint,
    make_source,
    observe,
    sample_batch,
    save_checkpoint,
    train,
)

KEY = jax.random.PRNGKey(0)


def test_loss_decreases_on_synthetic_multi_scenario_data(data, config):
    logged = {}
    train(
        data,
        config,
        seed=0,
        steps=200,
        log=lambda n, v, s: logged.setdefault(n, []).append((s, v)),
        progress=False,
    )
    recon = [v for _, v in logged["wm/recon"]]
    loss = [v for _, v in logged["wm/loss"]]
    assert [s for s, _ in logged["wm/loss"]] == list(range(10, 201, 10))
    assert np.mean(recon[-3:]) < 0.7 * np.mean(recon[:2])
    assert np.mean(loss[-3:]) < np.mean(loss[:2])
    assert np.mean([v for _, v in logged["wm/reward"]][-3:]) < np.mean(
        [v for _, v in logged["wm/reward"]][:2]
    )


@eqx.filter_jit
def _term_grads(model, target, batch, key, weights):
    def terms(params):
        return compute_loss(eqx.combine(params, static), target, batch, key, weights)[1]

    params, static = eqx.partition(model, eqx.is_array)
    return jax.jacrev(terms)(params)


def test_gradients_reach_the_right_parameters(data, config):
    c = config.replace(free_nats=0.0)
    state = init_train_state(c, KEY)
    batch = sample_batch(make_source(data, config.context_len), KEY, 4, config.seq_len, config.context_len)
    g = _term_grads(state.model, state.target, batch, KEY, LossWeights.from_config(c))
    # eq. 15: into theta through the predicted latent, never into psi (meta-value or value heads)
    assert tree_norm(g["value_reg"].prior_u) > 0 and tree_norm(g["value_reg"].gru) > 0
    assert tree_norm(g["value_reg"].meta_value) == 0 and tree_norm(g["value_reg"].value_heads) == 0
    # eqs. 13, 14: only psi; the latents they read are stop-gradient
    assert tree_norm(g["value_td"].value_heads) > 0 and tree_norm(g["meta_value"].meta_value) > 0
    for name in ("value_td", "meta_value"):
        for part in ("context", "prior_u", "post_u", "gru", "prior_h", "post_h", "decoder"):
            assert tree_norm(getattr(g[name], part)) == 0, (name, part)
    assert tree_norm(g["meta_value"].value_heads) == 0
    # L_s is an extra posterior-side term: it reaches the u-posterior, never a prior head
    assert tree_norm(g["state"].post_u) > 0
    assert tree_norm(g["state"].prior_u) == 0 and tree_norm(g["state"].prior_h) == 0
    assert tree_norm(g["recon"].decoder) > 0 and tree_norm(g["reward"].reward_head) > 0


def test_without_l_s_the_posterior_still_gets_kl_pressure(data, config):
    # w/o d: the u-prior does not read u_{t-1} through d_{t-1}, so L_var reaches the u-posterior
    # only through the reconstruction and the posterior side of its u-KL
    c = config.replace(free_nats=0.0, lambda_s=0.0, ablation="wo_d")
    state = init_train_state(c, KEY)
    batch = sample_batch(make_source(data, c.context_len), KEY, 4, c.seq_len, c.context_len)
    g = _term_grads(state.model, state.target, batch, KEY, LossWeights.from_config(c))
    kl_part = jax.tree.map(lambda v, r: v - r, g["var"].post_u, g["recon"].post_u)
    assert tree_norm(kl_part) > 1e-4 * tree_norm(g["recon"].post_u) > 0
    assert tree_norm(jax.tree.map(lambda v, r: v - r, g["var"].prior_u, g["recon"].prior_u)) > 0


@pytest.mark.parametrize("direction", ["posterior_prior", "prior_posterior"])
def test_kl_direction_reaches_the_training_loss(data, config, direction):
    c = config.replace(kl_direction=direction)
    state = init_train_state(c, KEY)
    batch = sample_batch(make_source(data, c.context_len), KEY, 4, c.seq_len, c.context_len)
    _, terms = eqx.filter_jit(compute_loss)(state.model, state.target, batch, KEY, LossWeights.from_config(c))
    keys = jax.random.split(KEY, 4)
    fn = lambda *x: observe(state.model, *x, c.value_samples)
    seq = eqx.filter_jit(jax.vmap(fn))(
        batch.ctx, batch.obs, batch.action, batch.obs_mask, batch.act_mask, keys
    )
    p, q = (seq.prior_u, seq.post_u), (seq.prior_h, seq.post_h)
    if direction == "posterior_prior":  # KL(q || p), eq. 11's bound
        kl_u, kl_h = gaussian_kl(p[1], p[0]), gaussian_kl(q[1], q[0])
    else:  # KL(p || q) as printed
        kl_u, kl_h = gaussian_kl(*p), gaussian_kl(*q)
    np.testing.assert_allclose(terms["kl_u"], jnp.mean(kl_u), rtol=1e-4)
    np.testing.assert_allclose(terms["kl_h"], jnp.mean(kl_h), rtol=1e-4)
    l_s = jnp.mean(jnp.maximum(kl_u, c.free_nats))
    np.testing.assert_allclose(terms["state"], l_s, rtol=1e-4)


def test_exact_resume_and_checkpoint_round_trip(tmp_path, data, config):
    folder = tmp_path / "b"
    resumed = assert_resumes_bit_identical(train, load_checkpoint, data, config, folder, tmp_path / "a")
    ck = load_checkpoint(folder / "checkpoint.eqx")
    assert ck.step == 30 and ck.config == config and int(ck.state.step) == 30
    assert_same_leaves(ck.model, resumed)
    with pytest.raises(ValueError, match="different config"):
        train(data, config.replace(lambda_s=0.5), steps=40, checkpoint_dir=tmp_path / "b", progress=False)


def test_nan_loss_stops_with_step_and_terms_and_keeps_last_good_checkpoint(tmp_path, data, config):
    train(data, config, seed=0, steps=10, checkpoint_dir=tmp_path, progress=False)
    bad = data._replace(reward=np.full_like(data.reward, 1e30))  # finite data, infinite squared error
    with pytest.raises(NonFiniteLossError, match=r"step 11: .*reward=inf") as err:
        train(bad, config, seed=0, steps=20, checkpoint_dir=tmp_path, progress=False)
    assert "loss=" in str(err.value) and "recon=" in str(err.value)
    ck = load_checkpoint(tmp_path)
    assert ck.step == 10 and all(np.all(np.isfinite(x)) for x in leaves(ck.state))
    broken = eqx.tree_at(lambda s: s.model.decoder.layers[0].bias, ck.state, replace_fn=lambda b: b * jnp.nan)
    with pytest.raises(ValueError, match="NaN or inf"):
        save_checkpoint(tmp_path / "other", broken, config)
    assert not (tmp_path / "other" / "checkpoint.eqx").exists()


def test_log_may_raise_to_stop_training(data, config):
    class Prune(Exception):
        pass

    seen = []

    def log(name, value, step):
        seen.append(step)
        if step >= 20:
            raise Prune

    with pytest.raises(Prune):
        train(data, config, seed=0, steps=100, log=log, progress=False)
    assert max(seen) == 20


def test_evaluate_reports_the_interface_metrics(data, heldout, config):
    state = init_train_state(config, KEY)
    windows = dict(num_windows=config.eval_windows, burn_in=config.eval_burn_in)
    r = evaluate(state.model, heldout, KEY, **windows)
    value = {"value_equiv", "value_equiv_rel"}
    assert set(r) == {"k1_obs_nmse", "k5_obs_nmse", "k15_obs_nmse", "reward_mse"} | value
    assert all(np.isfinite(v) and v >= 0 for v in r.values())
    assert evaluate(state.model, heldout, KEY, **windows) == r  # deterministic given the key
    with pytest.raises(ValueError, match="episode length"):
        evaluate(
            state.model,
            heldout._replace(
                obs=heldout.obs[:, :10], action=heldout.action[:, :9], reward=heldout.reward[:, :9]
            ),
            KEY,
            **windows,
        )
