"""Loss weights are traced: configs differing only in loss coefficients share one compiled training
program, and the config's three parts (spec, weights, training settings) partition its fields."""

import dataclasses

import jax
import numpy as np
import pytest

from mrcom.worldmodel import (
    LossWeights,
    ModelSpec,
    MrCoM,
    TrainSettings,
    WorldModelConfig,
    compute_loss,
    init_train_state,
    make_source,
    sample_batch,
    train_steps,
    train_steps_program,
)
from mrcom.worldmodel.mrcom._config import SPEC_FIELDS, TRAIN_FIELDS, WEIGHT_FIELDS

KEY = jax.random.PRNGKey(0)
is_model = lambda x: isinstance(x, MrCoM)
compiled = lambda: sum(f._cached._cache_size() for f in train_steps_program.jitted)  # traces of both copies


def test_lambdas_do_not_recompile_but_still_weight_the_loss(data, config):
    src = make_source(data, config.context_len)
    other = config.replace(lambda_var=2.0, lambda_s=0.7, lambda_v=0.0, lambda_r=0.5, gamma=0.9, free_nats=0.5)
    a, b = init_train_state(config, KEY), init_train_state(other, KEY)
    assert a.model.spec == b.model.spec == other.spec  # the model holds no loss weight
    train_steps(a, src, 10, config=config)  # compiled (or cached) for `config`
    traces = compiled()
    new_b, metrics_b = train_steps(b, src, 10, config=other)
    assert compiled() == traces  # no new trace, no new compile
    models = [x for x in jax.tree.leaves(new_b, is_leaf=is_model) if is_model(x)]
    assert len(models) >= 3 and all(m.spec == other.spec for m in models)  # model + Adam moments

    # same program text for both configs (what the persistent compilation cache keys on)
    lower = lambda s, c: jax.jit(lambda w: compute_loss(s.model, s.target, batch, KEY, w)[0]).lower(
        LossWeights.from_config(c)
    )
    batch = sample_batch(src, KEY, 4, config.seq_len, config.context_len)
    assert lower(a, config).as_text() == lower(b, other).as_text()

    # ...and the weights still act: the total is the hand-weighted sum of the same terms
    other = other.replace(gamma=config.gamma, free_nats=config.free_nats)  # the same terms, reweighted
    loss_a, terms = compute_loss(a.model, a.target, batch, KEY, LossWeights.from_config(config))
    loss_b, terms_b = compute_loss(b.model, b.target, batch, KEY, LossWeights.from_config(other))
    for name in terms:
        np.testing.assert_allclose(terms[name], terms_b[name], rtol=1e-6)
    # lambda_pred and lambda_open_loop at their defaults in both
    heads = (
        terms["value_td"]
        + terms["meta_value"]
        + terms["prediction"]
        + config.lambda_open_loop * terms["open_loop"]
    )
    expected_a = terms["var"] + 0.1 * terms["state"] + 0.1 * terms["value_reg"] + terms["reward"] + heads
    expected_b = 2.0 * terms["var"] + 0.7 * terms["state"] + 0.5 * terms["reward"] + heads
    np.testing.assert_allclose(loss_a, expected_a, rtol=1e-5)
    np.testing.assert_allclose(loss_b, expected_b, rtol=1e-5)
    assert abs(float(loss_a) - float(loss_b)) > 1e-3
    # ablation wo_ls zeroes lambda_s through the traced weights too
    w = LossWeights.from_config(config.replace(ablation="wo_ls"))
    assert float(w.lambda_s) == 0.0 and w.lambda_v == np.float32(0.1)


def test_spec_weights_and_settings_partition_the_config():
    fields = [f.name for f in dataclasses.fields(WorldModelConfig)]
    parts = SPEC_FIELDS + WEIGHT_FIELDS + TRAIN_FIELDS
    assert sorted(parts) == sorted(fields) and len(set(parts)) == len(parts)
    assert [f.name for f in dataclasses.fields(ModelSpec)] == list(SPEC_FIELDS)
    assert [f.name for f in dataclasses.fields(TrainSettings)] == list(TRAIN_FIELDS)
    assert [f.name for f in dataclasses.fields(LossWeights)] == list(WEIGHT_FIELDS)
    c = WorldModelConfig.preset("quick", lambda_s=0.3, learning_rate=5e-4)
    assert c.spec == WorldModelConfig.preset("quick").spec  # weights and settings are not in it
    assert c.training.learning_rate == 5e-4 and float(LossWeights.from_config(c).lambda_s) == np.float32(0.3)


def test_train_steps_refuses_a_config_of_another_model(data, config):
    state = init_train_state(config, KEY)
    with pytest.raises(ValueError, match="spec differs"):
        train_steps(state, make_source(data, config.context_len), 1, config=config.replace(u_dim=5))
