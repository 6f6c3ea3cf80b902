"""Each loss term's share of the gradient (`gradient_shares`), and the scale of L_v (`value_reg_scale`) at
which lambda_v's search range (sweeps/_search_config.py) takes L_v from negligible to dominant."""

import equinox as eqx
import jax
import numpy as np
import optax
import pytest

from mrcom.worldmodel import (
    WEIGHTED_TERMS,
    LossWeights,
    compute_loss,
    gradient_shares,
    init_model,
    init_train_state,
    make_source,
    sample_batch,
    train,
    weighted_terms,
)
from sweeps._search_config import SearchConfig

KEY = jax.random.PRNGKey(0)
LOW, HIGH = SearchConfig().lambda_v  # the lambda_v search range


@pytest.fixture(scope="module")
def trained(data, config):
    """The smoke model after 30 steps (the value heads have moved off their initial values)."""
    model, _ = train(data, config, seed=0, steps=30, progress=False)
    batch = sample_batch(make_source(data, config.context_len), KEY, 8, config.seq_len, config.context_len)
    return model, batch


def with_spec(model, config):
    """`model`'s parameters under `config.spec` (the scale of L_v lives in the model's static spec)."""
    return jax.tree.unflatten(jax.tree.structure(init_model(config.spec, KEY)), jax.tree.leaves(model))


def _shares(model, batch, config, **overrides):
    return gradient_shares(model, batch, LossWeights.from_config(config.replace(**overrides)), KEY)


def test_shares_are_a_distribution_over_the_weighted_terms(trained, config):
    model, batch = trained
    out = _shares(model, batch, config)
    assert set(out["share"]) == set(out["norm"]) == set(WEIGHTED_TERMS)
    shares = np.array([float(out["share"][k]) for k in WEIGHTED_TERMS])
    assert np.all((shares >= 0) & (shares <= 1))
    assert shares.sum() == pytest.approx(1.0, rel=1e-5)
    # the terms are compute_loss's, weighted as in total_loss
    w = LossWeights.from_config(config)
    loss, terms = compute_loss(model, model.value_heads, batch, KEY, w)
    parts = weighted_terms(terms, w)
    for name in WEIGHTED_TERMS:
        np.testing.assert_allclose(out["term"][name], parts[name], rtol=1e-5)
    np.testing.assert_allclose(sum(float(parts[k]) for k in WEIGHTED_TERMS), loss, rtol=1e-5)
    # every term of the default config trains something (L_s is under its free nats at smoke scale)
    assert all(float(out["norm"][k]) > 0 for k in WEIGHTED_TERMS if k != "state")


def test_lambda_v_zero_and_wo_lv_give_l_v_no_share(trained, config):
    model, batch = trained
    for overrides in (dict(lambda_v=0.0), dict(ablation="wo_lv")):
        out = _shares(model, batch, config, **overrides)
        assert float(out["norm"]["value_reg"]) == 0.0 and float(out["share"]["value_reg"]) == 0.0
        assert sum(float(v) for v in out["share"].values()) == pytest.approx(1.0, rel=1e-5)


def test_the_search_range_takes_l_v_from_negligible_to_dominant(trained, config):
    """On the default ("variance") scale the high end of lambda_v's search range gives L_v most of the
    gradient, and its share moves with lambda_v as weight * norm / (weight * norm + the rest) does (the
    odds scale with lambda_v: HIGH / LOW = 300 between the ends). That the low end is negligible
    (~0.2 %) holds for the quick preset's trained model (`benchmarks/loss_shares.py`, docs/results.md);
    this smoke model after 30 steps on synthetic data gives L_v ~100x more per unit of lambda_v."""
    model, batch = trained
    low = float(_shares(model, batch, config, lambda_v=LOW)["share"]["value_reg"])
    high = float(_shares(model, batch, config, lambda_v=HIGH)["share"]["value_reg"])
    odds = lambda p: p / (1 - p)
    assert high > 0.5 and odds(high) / odds(low) == pytest.approx(HIGH / LOW, rel=1e-2)


def test_the_variance_scale_does_not_see_the_values_scale(trained, config):
    """L_v's gradient on the "variance" scale is the same when the meta-value is 10x larger; on the old
    (1 - gamma) "reward" scale it is 100x larger, so there lambda_v's effect hangs on the rewards' scale
    (synthetic rewards: L_v dominant at lambda_v = 10; the quick dataset's: < 1e-4 of the gradient)."""
    model, batch = trained
    louder = eqx.tree_at(
        lambda m: (m.meta_value.layers[-1].weight, m.meta_value.layers[-1].bias),
        model,
        (10 * model.meta_value.layers[-1].weight, 10 * model.meta_value.layers[-1].bias),
    )
    for scale, factor in (("variance", 1.0), ("reward", 100.0)):
        other = config.replace(value_reg_scale=scale)
        norm = lambda m, c=other: float(_shares(with_spec(m, c), batch, c)["norm"]["value_reg"])
        assert norm(louder) == pytest.approx(factor * norm(model), rel=1e-3)


def test_norms_are_each_terms_own_gradient_norm(trained, config):
    model, batch = trained
    w = LossWeights.from_config(config)
    out = gradient_shares(model, batch, w, KEY)
    params, static = eqx.partition(model, eqx.is_array)
    for name in ("state", "value_reg", "value_td"):
        part = lambda p, name=name: weighted_terms(
            compute_loss(eqx.combine(p, static), model.value_heads, batch, KEY, w)[1], w
        )[name]
        expected = optax.tree.norm(jax.grad(part)(params))
        np.testing.assert_allclose(out["norm"][name], expected, rtol=1e-4, atol=1e-7)


def test_state_at_init_works_too(data, config):
    state = init_train_state(config, KEY)
    batch = sample_batch(make_source(data, config.context_len), KEY, 4, config.seq_len, config.context_len)
    out = gradient_shares(state.model, batch, LossWeights.from_config(config), KEY, target=state.target)
    assert sum(float(v) for v in out["share"].values()) == pytest.approx(1.0, rel=1e-5)
