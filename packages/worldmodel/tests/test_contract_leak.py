"""The "no target leak" contract, run over every registered model: a model's prediction for step t
(its prior over o_t under teacher forcing, `WorldModelKind.prior_at`) reads nothing of o_t, of r_{t-1}
(the reward of the transition into o_t, a function of it in our environments) or of any later step,
and it does read o_{t-1} and a_{t-1} (so that the test can fail). The DreamerV3-style baselines are
also held to it with every harness option on (`HarnessConfig`: standardized inputs, the decoder's skip
from o_{t-1}, which their `prior_at` then includes, the prediction loss, the lagged reward input)."""

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mrcom.worldmodel import (
    FAST_COMPILE_OPTIONS,
    PAPER_OPTIONS,
    Context,
    Prefix,
    get_kind,
    make_source,
    sample_batch,
    world_model_names,
)

KEY = jax.random.PRNGKey(0)
BATCH, WIDTH, T = 4, 4, 2  # sequences, prefix transitions, the predicted prefix step
HARNESS = dict(obs_transform="standardize", obs_skip=True, lambda_pred=1.0, reward_input=True)
# every registered kind as configured by default, then each DreamerV3-style kind with the harness options
# all on and as its paper has them
CASES = [(name, {}) for name in world_model_names()]
CASES += [(name, opts) for opts in (HARNESS, PAPER_OPTIONS) for name in ("dreamerv3", "mamba", "mow")]


def _fresh(name: str, data, **overrides):
    """A model of kind `name` (its smoke preset with `overrides`) set up on `data` (normalizers,
    routing) without training, every weight that is exactly zero (zero-initialized heads, biases)
    replaced by a small random one."""
    kind = get_kind(name)
    config = kind.config_type.preset("smoke", obs_dim=6, act_dim=2, num_scenarios=6, **overrides)
    model, _ = kind.train(data, config, seed=0, steps=0, progress=False)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(KEY, len(leaves))
    noise = lambda x, k: jnp.where(x == 0, 0.05 * jax.random.normal(k, x.shape, x.dtype), x)
    leaves = [noise(x, k) for x, k in zip(leaves, keys, strict=True)]
    return kind, eqx.combine(jax.tree.unflatten(tree, leaves), static)


def _sequences(data, context_len: int):
    """BATCH contexts of m steps, prefixes of WIDTH steps and masks from the synthetic data."""
    src = make_source(data.validate(context_len=context_len), context_len)
    b = sample_batch(src, KEY, BATCH, WIDTH + 1, context_len)
    context = Context(*(x[:, :context_len] for x in b.ctx))
    prefix = Prefix(b.obs[:, : WIDTH + 1], b.action[:, :WIDTH], b.reward[:, :WIDTH])
    return context, prefix, (b.obs_mask, b.act_mask)


@pytest.mark.parametrize(("name", "overrides"), CASES, ids=[n + ("+harness" if o else "") for n, o in CASES])
def test_the_prediction_for_step_t_reads_nothing_of_o_t_or_r_t_minus_1(name, overrides, data):
    kind, model = _fresh(name, data, **overrides)
    context, prefix, masks = _sequences(data, model.spec.context_len)

    @partial(eqx.filter_jit, compiler_options=FAST_COMPILE_OPTIONS)
    def predict(model, prefix):
        one = lambda c, p, om, am, k: kind.prior_at(model, c, p, (om, am), T, k)
        return jax.vmap(one)(context, prefix, *masks, jax.random.split(KEY, BATCH))

    base = np.asarray(predict(model, prefix))
    assert base.shape[0] == BATCH and np.all(np.isfinite(base))
    o, a, r = prefix.obs, prefix.action, prefix.reward
    later = {
        "o_t and later observations": prefix._replace(obs=o.at[:, T:].add(1.5)),
        "r_{t-1} and later rewards": prefix._replace(reward=r.at[:, T - 1 :].add(0.7)),
        "a_t and later actions": prefix._replace(action=a.at[:, T:].add(0.5)),
    }
    for what, changed in later.items():
        np.testing.assert_array_equal(predict(model, changed), base, err_msg=f"{name} reads {what}")
    before = {
        "o_{t-1}": prefix._replace(obs=o.at[:, T - 1].add(1.5)),
        "a_{t-1}": prefix._replace(action=a.at[:, T - 1].add(0.5)),
    }
    for what, changed in before.items():
        diff = float(np.max(np.abs(np.asarray(predict(model, changed)) - base)))
        assert diff > 1e-6, f"{name}: the prediction for step t does not read {what}"
