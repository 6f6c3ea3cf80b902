"""Helpers the world-model test modules share (importable through pytest's ``pythonpath`` setting in the
root pyproject.toml); the shared data and config are fixtures in conftest.py."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mrcom.worldmodel import FAST_COMPILE_OPTIONS, Context, Prefix, make_source, sample_batch

KEY = jax.random.PRNGKey(0)
# the metrics every world model's `evaluate` (and `train` with `eval_data`) reports (docs/interfaces.md)
INTERFACE_METRICS = {"k1_obs_nmse", "k5_obs_nmse", "k15_obs_nmse", "reward_mse"}


def jit_fast(fn):
    """Jit with XLA's quick backend options: these tests are dominated by compiling."""
    return eqx.filter_jit(fn, compiler_options=FAST_COMPILE_OPTIONS)


def leaves(tree) -> list[np.ndarray]:
    """The array leaves of a pytree (a model, a training state), as numpy arrays."""
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def tree_norm(tree) -> float:
    """The squared L2 norm over the array leaves of a pytree (a model's gradient, say)."""
    return float(sum(jnp.sum(x**2) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))))


def smoke_config(config_type, **overrides):
    """``config_type``'s smoke preset for the conftest's synthetic data (6 scenarios, obs 6, action 2)."""
    return config_type.preset("smoke", obs_dim=6, act_dim=2, num_scenarios=6, **overrides)


def smoke_config_fixture(config_type, **overrides):
    """A module-scoped fixture of `smoke_config(config_type, **overrides)`, named by the test module's
    name for it (``dconfig = smoke_config_fixture(DreamerConfig)``): one config object per module, so
    the module's jitted programs compile once."""

    @pytest.fixture(scope="module")
    def config():
        return smoke_config(config_type, **overrides)

    return config


def assert_same_leaves(a, b) -> None:
    """Two pytrees hold bit-identical arrays."""
    for x, y in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def assert_resumes_bit_identical(train, load_checkpoint, data, config, folder, straight_folder=None):
    """A run "killed" at step 10 and resumed to 30 from its checkpoint in ``folder`` ends with the
    parameters of a straight 30-step run (seed 3) to the bit. Returns the resumed model."""
    straight, _ = train(data, config, seed=3, steps=30, checkpoint_dir=straight_folder, progress=False)
    train(data, config, seed=3, steps=10, checkpoint_dir=folder, progress=False)  # "killed" at 10
    assert load_checkpoint(folder).step == 10
    resumed, _ = train(data, config, seed=3, steps=30, checkpoint_dir=folder, progress=False)
    assert_same_leaves(straight, resumed)
    return resumed


def assert_losses_halve(train, data, config, *, seed: int, steps: int, eval_data, recon: float = 0.5):
    """`train` on `data` for `steps` steps, evaluated on `eval_data`: the mean of the last three logged
    chunks' loss and reward terms is under half the first two's, the reconstruction term's under
    `recon` times; the final metrics hold the interface metrics, all finite.
    Returns (model, metrics, logged: each logged name -> its values in order)."""
    logged: dict[str, list[float]] = {}
    log = lambda name, value, step: logged.setdefault(name, []).append(value)
    model, metrics = train(data, config, seed=seed, steps=steps, eval_data=eval_data, log=log, progress=False)
    first, last = (lambda k: np.mean(logged[k][:2])), (lambda k: np.mean(logged[k][-3:]))
    for name, factor in (("wm/loss", 0.5), ("wm/recon", recon), ("wm/reward", 0.5)):
        assert last(name) < factor * first(name), (name, logged[name])
    assert INTERFACE_METRICS <= set(metrics), metrics
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    return model, metrics, logged


def branch_inputs(data, context_len: int, key, batch: int = 5, length: int = 8, width: int = 3):
    """A batch of `batch` windows of `length` steps drawn from `data` with `key`, and the `imagine`
    inputs of its branches from prefixes of `width` real steps: (batch, context, prefix, masks)."""
    b = sample_batch(make_source(data, context_len), key, batch, length, context_len)
    context = Context(*(x[:, :context_len] for x in b.ctx))
    prefix = Prefix(b.obs[:, : width + 1], b.action[:, :width], b.reward[:, :width])
    return b, context, prefix, (b.obs_mask, b.act_mask)


def assert_open_loop_branch(out, b, width: int, horizon: int, latent_dim: int) -> None:
    """`out`, imagined from `branch_inputs` (obs 6, action 2) under the window's next `horizon`
    actions: its shapes, its start (the masked last prefix observation), its actions (masked) and
    its padded observation dims (exactly zero)."""
    batch = b.obs.shape[0]
    assert out.obs.shape == (batch, horizon + 1, 6) and out.action.shape == (batch, horizon, 2)
    assert out.reward.shape == (batch, horizon) and out.latent.shape == (batch, horizon + 1, latent_dim)
    np.testing.assert_array_equal(out.obs[:, 0], b.obs[:, width] * b.obs_mask)
    np.testing.assert_array_equal(out.action, b.action[:, width : width + horizon] * b.act_mask[:, None])
    pad_o = np.broadcast_to((1 - np.asarray(b.obs_mask))[:, None] > 0, out.obs.shape)
    assert np.all(np.asarray(out.obs)[pad_o] == 0)


def first_step_prefix(b) -> Prefix:
    """The prefix of no real step (W = 0) of the windows `b`: their first observation alone."""
    return Prefix(b.obs[:, :1], b.action[:, :0], b.reward[:, :0])


def assert_policy_rollout(imagine, model, context, prefix, masks, horizon: int):
    """`imagine` (sampling) for `horizon` steps under a callable policy that answers ones (obs 6, action
    2): the policy is called with decoded observations (batch, 6), the actions are the action mask,
    the `horizon` + 1 observations finite. Returns the rollout."""
    seen = []  # a new policy each call: `imagine` is traced again, so the policy sees the shapes
    policy = lambda key, obs: (seen.append(obs.shape), jnp.ones((obs.shape[0], 2)))[1]
    out = imagine(model, context, prefix, masks, policy, horizon, KEY)
    batch = prefix.obs.shape[0]
    assert seen[0] == (batch, 6) and out.obs.shape == (batch, horizon + 1, 6)
    assert np.all(np.isfinite(np.asarray(out.obs)))
    np.testing.assert_array_equal(out.action, np.broadcast_to(masks[1][:, None], out.action.shape))
    return out
