"""The baselines learn on real MuJoCo smoke data: every baseline's loss falls, through the registry."""

import numpy as np
import pytest

from mrcom.agents import WORLDMODEL_SECTIONS, load_dataset, preset, run_collect
from mrcom.agents._stages import split_indices
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
    kind.train(data, wm_cfg, seed=0, steps=20 + steps, checkpoint_dir=tmp_path, log=log, progress=False)
    last = seen["wm/loss"][-1][1]
    assert np.isfinite(last) and last < first, (first, last)
