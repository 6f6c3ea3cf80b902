"""The harness options of the DreamerV3-style baselines (`HarnessConfig`: obs_transform, obs_skip,
lambda_pred, reward_input) on DreamerV3, MAMBA and MoW: one declaration and the checks, defaults that
are the same-budget grid's selection (old checkpoints load with the papers' settings), the
standardization's statistics (from the data, kept through a checkpoint), the skip's change from
o_{t-1}, the prediction loss on the prior's latent and the lagged reward input. The no-target-leak
contract with every option on is in test_contract_leak.py."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from wm_testing import jit_fast, smoke_config, tree_norm

from mrcom.worldmodel import (
    PAPER_OPTIONS,
    Context,
    HarnessConfig,
    Prefix,
    get_kind,
    make_source,
    observation_stats,
    sample_batch,
)
from mrcom.worldmodel._checkpoint import checkpoint_config_of
from mrcom.worldmodel._harness import previous_inputs
from mrcom.worldmodel.mamba import make_meta_source, sample_meta_batch

NAMES = ("dreamerv3", "mamba", "mow")
KEY = jax.random.PRNGKey(0)


def _fresh(name: str, data, **overrides):
    """(kind, a model of its smoke preset with `overrides`, set up on `data` without training)."""
    kind = get_kind(name)
    model, _ = kind.train(data, smoke_config(kind.config_type, **overrides), seed=0, steps=0, progress=False)
    return kind, model


def _decoder_out(model):
    """The decoder's output layer (MoW: its stacked modules')."""
    return (model.decoders if hasattr(model, "decoders") else model.decoder).out


def _loss_of(model, data_batch, key):
    """(loss, terms) of the model's own `compute_loss`."""
    kind_loss = {"Dreamer": "dreamerv3", "Mamba": "mamba", "MoW": "mow"}[type(model).__name__]
    if kind_loss == "mamba":
        from mrcom.worldmodel.mamba import compute_loss

        return compute_loss(model, data_batch, jnp.asarray(8), key)
    if kind_loss == "dreamerv3":
        from mrcom.worldmodel.dreamerv3 import compute_loss as dreamer_loss

        return dreamer_loss(model, data_batch, key)
    from mrcom.worldmodel.mow import compute_loss as mow_loss

    return mow_loss(model, data_batch, key)


_loss = jit_fast(_loss_of)


def _batch(name: str, model, data):
    """A training batch of the kind's own format."""
    c = model.config
    if name == "mamba":
        return sample_meta_batch(make_meta_source(data, c.meta_episodes), KEY, 4, 8)
    return sample_batch(make_source(data, c.context_len), KEY, 4, c.seq_len, c.context_len)


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize("name", NAMES)
def test_the_options_are_the_shared_fields_default_to_the_selected_setting_and_old_checkpoints_keep_theirs(
    name,
):
    config_type = get_kind(name).config_type
    assert issubclass(config_type, HarnessConfig)
    c = config_type()
    # the same-budget grid's selection (docs/results.md): standardize, skip and prediction loss on
    assert (c.obs_transform, c.obs_skip, c.lambda_pred) == ("standardize", True, 1.0)
    # the reward input: off for DreamerV3 (it hurt its reward), on for MAMBA and MoW (their own design)
    assert c.reward_input is (name != "dreamerv3")
    # a checkpoint header written before the options existed loads with the models as their papers have them
    old = {k: v for k, v in c.to_dict().items() if k not in PAPER_OPTIONS}
    loaded = checkpoint_config_of(config_type, old)
    assert (
        {k: getattr(loaded, k) for k in PAPER_OPTIONS}
        == PAPER_OPTIONS
        == dict(obs_transform="symlog", obs_skip=False, lambda_pred=0.0)
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("obs_transform", "log", "obs_transform='log': must be one of ('symlog', 'standardize')"),
        ("obs_skip", 1, "obs_skip=1: must be a bool"),
        ("reward_input", "yes", "reward_input='yes': must be a bool"),
        ("lambda_pred", -0.5, "lambda_pred=-0.5: must be a number >= 0"),
    ],
)
def test_a_bad_option_names_its_field_value_and_the_allowed_values(field, value, message):
    for name in NAMES:
        with pytest.raises(ValueError, match=re.escape(message)):
            smoke_config(get_kind(name).config_type, **{field: value})


# ----------------------------------------------------------------------------- obs_transform


@pytest.mark.parametrize("name", NAMES)
def test_standardize_stats_are_the_data_mean_and_std_and_survive_a_checkpoint(name, data, tmp_path):
    kind = get_kind(name)
    plain = _fresh(name, data, obs_transform="symlog")[1]
    assert plain.obs_norm is None  # symlog: no statistics, the parameters of the model without options
    config = smoke_config(kind.config_type, obs_transform="standardize")
    model, _ = kind.train(data, config, seed=0, steps=10, checkpoint_dir=tmp_path, progress=False)
    d = data.validate()
    real = np.broadcast_to(d.obs_mask[d.scenario_id][:, None, :] > 0, d.obs.shape)
    obs = np.where(real, d.obs, np.nan)
    present = real.any(axis=(0, 1))
    mean, std = np.nanmean(obs[..., present], axis=(0, 1)), np.nanstd(obs[..., present], axis=(0, 1))
    # training leaves them as they were set (they are data, not parameters)
    np.testing.assert_allclose(np.asarray(model.obs_norm.loc)[present], mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(model.obs_norm.scale)[present], np.maximum(std, 1e-2), rtol=1e-4)
    loaded = kind.load_model(tmp_path)
    for got, want in zip(observation_stats(data), (loaded.obs_norm.loc, loaded.obs_norm.scale), strict=True):
        np.testing.assert_array_equal(np.asarray(want), got)
    # the encoder reads the standardized observation
    o = jnp.asarray(d.obs[0, 5])
    want = (o - loaded.obs_norm.loc) / loaded.obs_norm.scale
    np.testing.assert_allclose(loaded.transform(o), want, rtol=1e-6)


# ----------------------------------------------------------------------------- obs_skip


def test_the_skip_input_is_the_previous_observation_never_the_current_one():
    obs = jnp.arange(12.0).reshape(4, 3)
    valid = jnp.array([1.0, 0.0, 1.0, 1.0])
    x = previous_inputs(None, obs, valid, jnp.array([1.0, 1.0, 0.0]))
    sym = lambda v: np.sign(v) * np.log1p(np.abs(v))
    want = np.stack([[0, 0, 0], [*sym(np.array([0.0, 1.0])), 0], [0, 0, 0], [*sym(np.array([6.0, 7.0])), 0]])
    np.testing.assert_allclose(x, want, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_with_obs_skip_a_zero_change_decodes_the_previous_observation(name, data):
    _, model = _fresh(name, data, obs_skip=True, obs_transform="standardize")
    out = _decoder_out(model)
    model = eqx.tree_at(
        lambda m: (_decoder_out(m).weight, _decoder_out(m).bias),
        model,
        (jnp.zeros_like(out.weight), jnp.zeros_like(out.bias)),
    )
    d = data.validate()
    mask = jnp.asarray(d.obs_mask[d.scenario_id[0]])
    o_prev = jnp.asarray(d.obs[0, 7])
    c = model.config
    if name == "mow":
        z = jax.nn.one_hot(jnp.arange(c.stoch) % c.classes, c.classes)
        got = model.decode_obs(jnp.asarray(0), z, mask, o_prev)
    else:
        got = model.decode_obs(jax.random.normal(KEY, (c.latent_dim,)), mask, o_prev)
    np.testing.assert_allclose(got, o_prev * mask, rtol=1e-5, atol=1e-5)


def _identity_data(data):
    """`data` whose every episode (and prompt) stays at its first observation: o_{t+1} = o_t."""
    hold = lambda x: np.repeat(x[:, :1], x.shape[1], axis=1)
    return data._replace(obs=hold(data.obs), prompt_obs=hold(data.prompt_obs))


def test_with_obs_skip_identity_dynamics_are_predicted_almost_exactly_after_a_few_steps(data):
    kind = get_kind("dreamerv3")
    still = _identity_data(data)
    nmse = {}
    for skip in (False, True):
        config = smoke_config(kind.config_type, obs_skip=skip, obs_transform="standardize", eval_burn_in=4)
        model, _ = kind.train(still, config, seed=0, steps=60, progress=False)
        nmse[skip] = kind.evaluate(model, still, KEY, num_windows=16)["k1_obs_nmse"]
    assert nmse[True] < 0.05 and nmse[True] < 0.25 * nmse[False], nmse


# ----------------------------------------------------------------------------- lambda_pred


@pytest.mark.parametrize("name", NAMES)
def test_lambda_pred_zero_is_exactly_the_old_loss_and_positive_adds_the_prior_prediction(name, data):
    _, model0 = _fresh(name, data, lambda_pred=0.0)
    _, model1 = _fresh(name, data, lambda_pred=1.0)
    batch = _batch(name, model0, data)
    loss0, terms0 = _loss(model0, batch, KEY)
    loss1, terms1 = _loss(model1, batch, KEY)
    assert "prediction" not in terms0 and float(terms1["prediction"]) > 0
    for k, v in terms0.items():  # the same parameters and keys: every other term is unchanged
        assert float(terms1[k]) == float(v), k
    np.testing.assert_allclose(float(loss1), float(loss0) + float(terms1["prediction"]), rtol=1e-5)
    # the reconstruction decodes the posterior (no gradient reaches the prior's head); the prediction
    # decodes the prior's own latent
    prior_head = lambda m: m.prior_head if name == "mow" else m.rssm.prior_logits
    grad = lambda term: jit_fast(eqx.filter_grad(lambda m: _loss_of(m, batch, KEY)[1][term]))(model1)
    assert tree_norm(prior_head(grad("recon"))) == 0
    assert tree_norm(prior_head(grad("prediction"))) > 0


# ----------------------------------------------------------------------------- reward_input


@pytest.mark.parametrize("name", NAMES)
def test_reward_input_off_the_prior_reads_no_reward_on_it_reads_r_t_minus_2(name, data):
    t = 3
    for on in (False, True):
        kind, model = _fresh(name, data, reward_input=on)
        m = model.config.context_len
        src = make_source(data.validate(context_len=m), m)
        b = sample_batch(src, KEY, 2, t + 2, m)
        context = Context(*(x[:, :m] for x in b.ctx))
        prefix = Prefix(b.obs[:, : t + 2], b.action[:, : t + 1], b.reward[:, : t + 1])

        def predict(context, prefix, model=model, kind=kind, b=b):
            one = lambda c, p, om, am: kind.prior_at(model, c, p, (om, am), t, KEY)
            return np.asarray(jax.vmap(one)(context, prefix, b.obs_mask, b.act_mask))

        base = predict(context, prefix)
        earlier = prefix._replace(reward=prefix.reward.at[:, : t - 1].add(0.7))  # r_0 .. r_{t-2}
        more = context._replace(reward=context.reward + 0.7)
        if on:
            assert np.max(np.abs(predict(context, earlier) - base)) > 1e-6, f"{name} does not read r_{{t-2}}"
        else:
            np.testing.assert_array_equal(predict(context, earlier), base)
            np.testing.assert_array_equal(predict(more, prefix), base)
