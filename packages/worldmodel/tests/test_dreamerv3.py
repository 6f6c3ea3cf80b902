"""DreamerV3 baseline: KL split, two-hot, unimix, free nats, training, exact resume, imagination, config."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from wm_testing import (
    KEY,
    assert_losses_halve,
    assert_open_loop_branch,
    assert_policy_rollout,
    branch_inputs,
    first_step_prefix,
    jit_fast,
    smoke_config_fixture,
    tree_norm,
)

from mrcom.worldmodel import (
    OpenLoop,
    make_source,
    sample_batch,
    symexp_bins,
    twohot_decode,
    twohot_encode,
)
from mrcom.worldmodel.dreamerv3 import (
    RSSM,
    DreamerConfig,
    compute_loss,
    imagine,
    init_model,
    kl_losses,
    train,
    unimix_probs,
)

dconfig = smoke_config_fixture(DreamerConfig, eval_burn_in=4)


# ----------------------------------------------------------------------------- (1) KL split


def test_kl_terms_route_gradients_to_their_side_only():
    # on the loss itself: dyn trains only the prior's logits, rep only the posterior's
    post = jax.random.normal(KEY, (5, 8, 4)) * 3
    prior = jax.random.normal(jax.random.PRNGKey(1), (5, 8, 4)) * 3
    grads = {}
    for i, name in enumerate(("dyn", "rep")):
        f = lambda q, p, i=i: jnp.mean(kl_losses(q, p, free_nats=0.0)[i])
        grads[name] = jax.jit(jax.grad(f, argnums=(0, 1)))(post, prior)
    assert np.all(grads["dyn"][0] == 0) and np.abs(grads["dyn"][1]).sum() > 0
    assert np.all(grads["rep"][1] == 0) and np.abs(grads["rep"][0]).sum() > 0


def test_kl_terms_route_gradients_to_rssm_parts(dconfig):
    # one posterior step of the model from its initial state: the dynamics loss reaches the prior
    # head (and the shared recurrent path), never the posterior layers or the encoder; the
    # representation loss reaches the posterior layers and the encoder, never the prior head
    model = init_model(dconfig, KEY)
    obs = jax.random.normal(KEY, (6,))
    mask = jnp.ones(6)

    def term(m, i):
        state, post, prior = m.rssm.obs_step(m.rssm.initial(), jnp.ones(2), m.embed(obs, mask), KEY)
        return kl_losses(post, prior, free_nats=0.0)[i]

    g_dyn, g_rep = jit_fast(lambda m: [eqx.filter_grad(lambda m, i=i: term(m, i))(m) for i in (0, 1)])(model)
    for part in ("img_out", "prior_logits", "gru", "img_in"):
        assert tree_norm(getattr(g_dyn.rssm, part)) > 0, part
    assert (
        tree_norm(g_dyn.rssm.obs_out) == 0
        and tree_norm(g_dyn.rssm.post_logits) == 0
        and tree_norm(g_dyn.encoder) == 0
    )
    assert (
        tree_norm(g_rep.rssm.obs_out) > 0
        and tree_norm(g_rep.rssm.post_logits) > 0
        and tree_norm(g_rep.encoder) > 0
    )
    assert tree_norm(g_rep.rssm.img_out) == 0 and tree_norm(g_rep.rssm.prior_logits) == 0
    assert tree_norm(g_dyn.decoder) == 0 and tree_norm(g_rep.reward_head) == 0


# ----------------------------------------------------------------------------- (2)-(4) pieces


def test_twohot_round_trip_on_symexp_bins():
    enc, dec = jax.jit(twohot_encode), jax.jit(twohot_decode)
    bins = symexp_bins(255, 20.0)
    np.testing.assert_allclose(
        bins,
        np.sign(np.linspace(-20, 20, 255)) * np.expm1(np.abs(np.linspace(-20, 20, 255))),
        rtol=1e-5,
        atol=1e-30,
    )
    np.testing.assert_array_equal(bins, -bins[::-1])
    x = jnp.concatenate([jnp.linspace(-30.0, 30.0, 101), jnp.array([0.0, 1e-3, -0.37, bins[140], 123.4])])
    w = enc(x, bins)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)
    nonzero = np.asarray(w > 0)
    assert nonzero.sum(-1).max() <= 2
    idx = [np.flatnonzero(r) for r in nonzero]
    assert all(len(i) == 1 or i[1] == i[0] + 1 for i in idx)  # two adjacent bins
    np.testing.assert_allclose(dec(w, bins), x, atol=1e-5, rtol=1e-6)
    # outside the range: everything on the end bin; a uniform distribution decodes to exactly 0
    np.testing.assert_array_equal(enc(jnp.array([1e10, -1e10]), bins)[:, [0, -1]], [[0, 1], [1, 0]])
    assert float(dec(jnp.full(255, 1 / 255), bins)) == 0.0
    small = symexp_bins(41)
    np.testing.assert_allclose(dec(enc(x, small), small), x, atol=1e-5, rtol=1e-6)


def test_unimix_keeps_every_class_above_the_floor():
    logits = jnp.array([[1e4, -1e4, 0.0, -1e30], [-1e4, -1e4, -1e4, 1e4], [0.0, 0.0, 0.0, 0.0]])
    probs = jax.jit(unimix_probs, static_argnums=1)(logits, 0.01)
    assert np.all(np.asarray(probs) >= 0.01 / 4 * (1 - 1e-6))
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-6)
    # both sides of the model's KL are mixed: extreme logits give a finite KL and finite gradients
    post, prior = jnp.array([[[1e4, -1e4, -1e4, -1e4]]]), jnp.array([[[-1e4, 1e4, -1e4, -1e4]]])
    dyn, rep, kl = jax.jit(kl_losses)(post, prior)
    assert np.isfinite(float(kl.sum())) and float(kl.sum()) <= np.log(4 / 0.01 * (1 - 0.01) + 1) + 1
    g = jax.jit(jax.grad(lambda p: kl_losses(post, p)[0].sum()))(prior)
    assert np.all(np.isfinite(g))


def test_free_nats_give_zero_gradient_below_one_nat():
    post = 0.1 * jax.random.normal(KEY, (3, 8, 4))
    prior = post + 0.05 * jax.random.normal(jax.random.PRNGKey(2), (3, 8, 4))
    dyn, rep, kl = jax.jit(kl_losses)(post, prior)
    assert float(kl.max()) < 1.0 and np.all(np.asarray(dyn) == 1.0) and np.all(np.asarray(rep) == 1.0)
    for i in (0, 1):
        g = jax.jit(jax.grad(lambda q, p, i=i: kl_losses(q, p, free_nats=1.0)[i].sum(), argnums=(0, 1)))(
            post, prior
        )
        assert all(np.all(np.asarray(x) == 0) for x in g)
    g = jax.jit(jax.grad(lambda p: kl_losses(post, p, free_nats=0.0)[0].sum()))(prior)  # without: a gradient
    assert np.abs(np.asarray(g)).sum() > 0


def test_padded_dims_never_count_and_rssm_takes_extra_inputs(data, dconfig):
    model = init_model(dconfig, KEY)
    src = make_source(data, dconfig.context_len)
    batch = sample_batch(src, KEY, 4, dconfig.seq_len, dconfig.context_len)
    noise = lambda x, m: x + 100.0 * (1 - m) * jnp.ones_like(x)
    om = batch.obs_mask
    noisy = batch._replace(
        obs=noise(batch.obs, om[:, None]),
        ctx=batch.ctx._replace(
            obs=noise(batch.ctx.obs, om[:, None]), action=noise(batch.ctx.action, batch.act_mask[:, None])
        ),
        action=noise(batch.action, batch.act_mask[:, None]),
    )
    assert float(jnp.sum(1 - om)) > 0
    loss = jit_fast(lambda mdl, bt: compute_loss(mdl, bt, KEY)[0])
    np.testing.assert_array_equal(loss(model, batch), loss(model, noisy))
    # the RSSM on its own, with an extra recurrent input (MAMBA: previous reward, normalized time)
    rssm = jit_fast(
        lambda k: RSSM(2, 5, deter=16, stoch=4, classes=3, hidden=8, blocks=2, extra_dim=2, key=k)
    )(KEY)
    run = jit_fast(lambda r, x: r.observe(r.initial(), jnp.ones((7, 2)), jnp.ones((7, 5)), KEY, extras=x))
    states, post, prior = run(rssm, jnp.ones((7, 2)))
    assert states.feat().shape == (7, 16 + 12) and post.shape == prior.shape == (7, 4, 3)
    np.testing.assert_allclose(states.stoch.sum(-1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="extra"):
        rssm.observe(rssm.initial(), jnp.ones((7, 2)), jnp.ones((7, 5)), KEY)


# ----------------------------------------------------------------------------- (5), (6) training


def test_loss_decreases_on_synthetic_data(data, heldout, dconfig):
    assert_losses_halve(train, data, dconfig, seed=0, steps=200, eval_data=heldout)


# ----------------------------------------------------------------------------- (7) imagination


def test_imagine_open_loop_and_policy(data, dconfig):
    model = init_model(dconfig, KEY)
    _imagine = jit_fast(imagine)
    w, h = 3, 5
    b, context, prefix, masks = branch_inputs(data, dconfig.context_len, KEY, width=w)
    out = _imagine(model, context, prefix, masks, OpenLoop(b.action[:, w : w + h]), h, KEY, sample=False)
    assert_open_loop_branch(out, b, w, h, dconfig.latent_dim)
    pad_o, pad_a = (1 - b.obs_mask)[:, None] > 0, (1 - b.act_mask)[:, None] > 0
    np.testing.assert_array_equal(out.reward, 0.0)  # zero-initialized reward head: exactly 0
    # modes: the stochastic part of every latent is one-hot; the same call is deterministic
    stoch = np.asarray(out.latent[..., dconfig.deter :]).reshape(5, h + 1, dconfig.stoch, dconfig.classes)
    np.testing.assert_array_equal(stoch.sum(-1), 1.0)
    again = _imagine(
        model,
        context,
        prefix,
        masks,
        OpenLoop(b.action[:, w : w + h]),
        h,
        jax.random.PRNGKey(9),
        sample=False,
    )
    np.testing.assert_array_equal(out.obs, again.obs)
    # a callable policy sees decoded observations (B, O); padded action dims are zeroed; jittable
    out = assert_policy_rollout(_imagine, model, context, prefix, masks, h)
    assert np.all(np.asarray(out.obs)[np.broadcast_to(pad_o, out.obs.shape)] == 0)
    assert not np.all(np.asarray(pad_a))
    # W = 0 and empty context slots are allowed
    empty = context._replace(valid=context.valid.at[:, :2].set(0.0))
    assert_policy_rollout(_imagine, model, empty, first_step_prefix(b), masks, 2)  # (5, 3, 6) observations


# ----------------------------------------------------------------------------- (8) config


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deter", 0),
        ("stoch", 2.5),
        ("classes", 1),
        ("unimix", 1.0),
        ("unimix", -0.1),
        ("free_nats", -1.0),
        ("dyn_scale", -0.5),
        ("reward_bins", 254),
        ("gru_blocks", 3),
    ],
)
def test_bad_config_values_raise_naming_the_field(field, value):
    name = "deter" if field == "gru_blocks" else field  # deter=128 not divisible by 3 blocks
    with pytest.raises(ValueError, match=rf"^{name}="):
        DreamerConfig(**{field: value})


def test_paper_preset_is_the_small_proprioceptive_model():
    paper = DreamerConfig.preset("paper")
    assert (paper.deter, paper.rssm_hidden, paper.stoch, paper.classes, paper.reward_bins) == (
        512,
        64,
        32,
        4,
        255,
    )
    assert (paper.dyn_scale, paper.rep_scale, paper.free_nats, paper.unimix) == (0.5, 0.1, 1.0, 0.01)
    assert DreamerConfig().replace(deter=64).deter == 64
