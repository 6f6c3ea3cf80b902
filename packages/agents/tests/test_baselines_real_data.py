"""The baselines learn on real MuJoCo smoke data: every baseline's loss falls, through the registry, and its
trained model branches MBPO rollouts through the JAX augmentation of both loops (`MBPOAugment`)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mrcom.agents import WORLDMODEL_SECTIONS, load_dataset, preset, run_collect, sac_init
from mrcom.agents._mbpo import MBPOAugment, MBPOSettings, mbpo_batches, model_data_init
from mrcom.agents._ring import ring_add, ring_init
from mrcom.agents._stages import split_indices
from mrcom.agents._starts import prompt_tails
from mrcom.worldmodel import get_kind


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    cfg = preset("smoke", "table1-a")
    wd = tmp_path_factory.mktemp("baselines")
    run_collect(cfg, wd, progress=False)
    train_idx, _ = split_indices(cfg)
    return cfg, load_dataset(wd / "dataset", train_idx)


@pytest.mark.slow
# steps after the first 20: MAMBA trains on whole meta-episodes (about 10x slower per step)
@pytest.mark.parametrize("method, steps", [("cadm", 200), ("dreamerv3", 200), ("mamba", 60), ("mow", 200)])
def test_baseline_loss_decreases_on_real_smoke_data(smoke_data, method, steps, tmp_path):
    cfg, data = smoke_data
    kind = get_kind(method)
    wm_cfg = getattr(cfg, WORLDMODEL_SECTIONS[method]).replace(
        steps_per_call=20, checkpoint_every=20, fast_compile=False
    )
    seen = {}
    log = lambda name, value, step: seen.setdefault(name, []).append((step, value))
    kind.train(data, wm_cfg, seed=0, steps=20, checkpoint_dir=tmp_path, log=log, progress=False)
    first = seen["wm/loss"][-1][1]
    model, _ = kind.train(
        data, wm_cfg, seed=0, steps=20 + steps, checkpoint_dir=tmp_path, log=log, progress=False
    )
    last = seen["wm/loss"][-1][1]
    assert np.isfinite(last) and last < first, (first, last)
    _check_device_mbpo(cfg, data, model)


def _check_device_mbpo(cfg, data, model):
    """Real data: two whole dataset episodes per agent (the first is its prompt); one update call's draws."""
    b, (length, o), a = 2, data.obs.shape[-2:], data.action.shape[-1]
    length -= 1
    obs, act, rew = (np.asarray(x) for x in (data.obs, data.action, data.reward))
    real = ring_init(b, 3 * length, o, a)
    for e in range(2):
        ep = np.arange(b) * 2 + e  # agent i: episodes 2i, 2i + 1
        for t in range(length):
            real = ring_add(real, obs[ep, t], act[ep, t], rew[ep, t], obs[ep, t + 1])
    settings = MBPOSettings.from_adapt(cfg.adapt, model, length, cfg.sac.update_every)
    tails = prompt_tails([None] * b, settings.context_len, o, a)
    aug = MBPOAugment(model, tails, jnp.ones((b, o)), settings)
    state = sac_init(jax.random.PRNGKey(0), b, o, a, cfg.sac)
    data = model_data_init(b, settings, o, a)
    data, batch = mbpo_batches(
        jax.random.PRNGKey(1), 2 * length, real, data, state, jnp.ones((b, a)), aug, (2, 8)
    )
    assert int(data.rollouts) == b * settings.per_refresh  # the refresh was kept: finite rollouts
    assert int(data.ring.size) == settings.per_refresh * settings.rollout_length
    assert batch.obs.shape == (b, 2, 8, o) and bool(jnp.isfinite(batch.obs).all())
