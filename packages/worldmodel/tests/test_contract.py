"""The world-model contract, run over every registered model: what training, adaptation and evaluation
rely on (docs/interfaces.md). Each model's own mechanisms are tested in its own file."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from wm_testing import INTERFACE_METRICS, KEY, assert_same_leaves, branch_inputs, smoke_config

from mrcom.worldmodel import (
    PRESET_NAMES,
    OpenLoop,
    evaluation_key,
    get_kind,
    kind_of,
    world_model_names,
)

NAMES = world_model_names()


def _config(name: str):
    """The smoke preset on the shared synthetic data (6 scenarios, obs 6, action 2)."""
    return smoke_config(get_kind(name).config_type, steps_per_call=10, eval_windows=8, eval_burn_in=4)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """name -> (model trained 40 steps straight, the losses logged per chunk, its checkpoint folder)."""
    out = {}

    def get(name):
        if name not in out:
            losses: list[float] = []
            log = lambda key, value, step: losses.append(value) if key == "wm/loss" else None
            folder = tmp_path_factory.mktemp(name)
            model, _ = get_kind(name).train(
                data, _config(name), seed=3, steps=40, checkpoint_dir=folder, log=log, progress=False
            )
            out[name] = (model, losses, folder)
        return out[name]

    return get


@pytest.mark.parametrize("name", NAMES)
def test_training_lowers_the_loss_and_resumes_bit_identical(name, data, trained, tmp_path):
    kind = get_kind(name)
    config = _config(name)
    straight, losses, folder = trained(name)
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert losses[-1] < losses[0], f"{name}: loss did not fall over 40 steps: {losses}"
    # killed at step 20 (a multiple of steps_per_call), then resumed to 40
    kind.train(data, config, seed=3, steps=20, checkpoint_dir=tmp_path, progress=False)
    resumed, _ = kind.train(data, config, seed=3, steps=40, checkpoint_dir=tmp_path, progress=False)
    assert_same_leaves(straight, resumed)
    loaded = kind.load_model(folder)
    # kinds that share a model class ("mrcom", "mrcom-paper") share their functions: any of them runs it
    found = kind_of(loaded)
    assert isinstance(loaded, kind.model_type) and found.model_type is kind.model_type
    assert (found.imagine, found.evaluate, found.prior_at) == (kind.imagine, kind.evaluate, kind.prior_at)
    assert_same_leaves(straight, loaded)
    with pytest.raises(ValueError, match="different config"):
        kind.train(data, config.replace(seq_len=10), steps=50, checkpoint_dir=folder, progress=False)


def _branch_inputs(data, config, batch: int = 5, width: int = 3):
    """A batch of contexts, prefixes of `width` real steps and masks from the synthetic data."""
    data = data.validate(context_len=config.context_len)
    _, context, prefix, masks = branch_inputs(data, config.context_len, KEY, batch, width + 1, width)
    return context, prefix, masks


@pytest.mark.parametrize("name", NAMES)
def test_imagine_follows_the_policy_and_keeps_padding_zero(name, data, trained):
    kind, config = get_kind(name), _config(name)
    model = trained(name)[0]
    context, prefix, masks = _branch_inputs(data, config)
    obs_mask, act_mask = masks
    horizon = 4
    imagine = eqx.filter_jit(kind.imagine)
    policy = lambda key, obs: jnp.tanh(obs[:, :2])  # sees the imagined (decoded) observation
    out = imagine(model, context, prefix, masks, policy, horizon, KEY, sample=False)
    assert out.obs.shape == (5, horizon + 1, 6) and out.action.shape == (5, horizon, 2)
    assert out.reward.shape == (5, horizon) and out.latent.shape[:2] == (5, horizon + 1)
    for x in (out.obs, out.action, out.reward, out.latent):
        assert np.all(np.isfinite(np.asarray(x)))
    np.testing.assert_allclose(out.obs[:, 0], prefix.obs[:, -1] * obs_mask, atol=1e-6)  # the real start
    np.testing.assert_array_equal(np.asarray(out.obs) * (1 - np.asarray(obs_mask))[:, None], 0.0)
    np.testing.assert_array_equal(np.asarray(out.action) * (1 - np.asarray(act_mask))[:, None], 0.0)
    expected = np.tanh(np.asarray(out.obs[:, :-1, :2])) * np.asarray(act_mask)[:, None]
    np.testing.assert_allclose(out.action, expected, atol=1e-5)
    # deterministic without sampling; an open-loop action sequence is taken as given
    again = imagine(model, context, prefix, masks, policy, horizon, KEY, sample=False)
    np.testing.assert_array_equal(out.obs, again.obs)
    actions = jax.random.uniform(KEY, (5, horizon, 2), minval=-1, maxval=1) * act_mask[:, None]
    fixed = imagine(model, context, prefix, masks, OpenLoop(actions), horizon, KEY, sample=False)
    np.testing.assert_allclose(fixed.action, actions, atol=1e-6)
    assert float(jnp.max(jnp.abs(fixed.obs[:, 1:] - out.obs[:, 1:]))) > 1e-6  # the actions matter


@pytest.mark.parametrize("name", NAMES)
def test_evaluate_gives_the_interface_metrics_reproducibly(name, heldout, trained):
    kind = get_kind(name)
    model = trained(name)[0]
    result = kind.evaluate(model, heldout, KEY, num_windows=8, burn_in=4)
    assert INTERFACE_METRICS <= set(result)
    assert all(np.isfinite(v) and v >= 0 for k, v in result.items() if k in INTERFACE_METRICS)
    assert kind.evaluate(model, heldout, KEY, num_windows=8, burn_in=4) == result


@pytest.mark.parametrize("name", NAMES)
def test_a_runs_metrics_are_its_evaluation_on_the_evaluation_key(name, data, heldout, trained):
    """What a training run reports for its held-out data is `evaluate` on `evaluation_key` of the run's
    key: a search re-scores a checkpoint on those windows (benchmarks/objective_noise.py)."""
    kind = get_kind(name)
    model, _, folder = trained(name)
    # the run is finished: resuming it only evaluates
    _, metrics = kind.train(
        data, _config(name), seed=3, steps=40, checkpoint_dir=folder, eval_data=heldout, progress=False
    )
    again = kind.evaluate(model, heldout, evaluation_key(jax.random.PRNGKey(3)), num_windows=8, burn_in=4)
    assert again == metrics
    assert kind.evaluate(model, heldout, jax.random.PRNGKey(3), num_windows=8, burn_in=4) != metrics


@pytest.mark.parametrize("name", NAMES)
def test_config_presets_round_trip_and_bad_shared_fields_are_named(name):
    config_type = get_kind(name).config_type
    for preset in PRESET_NAMES:
        c = config_type.preset(preset, obs_dim=7)
        assert config_type.from_json(c.to_json()) == c and c.obs_dim == 7
    with pytest.raises(ValueError, match="preset="):
        config_type.preset("huge")
    for field, value in [("steps", -1), ("learning_rate", 0.0), ("context_len", True), ("fast_compile", 1)]:
        with pytest.raises(ValueError, match=rf"^{field}={value!r}: must be"):
            config_type(**{field: value})
    with pytest.raises(ValueError, match="unknown"):
        config_type.from_dict({"not_a_field": 1})
