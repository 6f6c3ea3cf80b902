"""On the fixed small setting of `comparison_config` (cheetah, every target at half of v_max), MBPO with a
trained MrCoM model reaches a higher normalized return than model-free SAC at the same real-step budget,
averaged over seeds. The figures behind it: `benchmarks/mbpo_vs_sac.py`."""

import numpy as np
import pytest

from mrcom.agents import Comparison, compare_mbpo_sac, comparison_config

SEEDS = 3


@pytest.mark.slow
def test_mbpo_with_mrcom_beats_model_free_sac_at_the_same_budget(tmp_path):
    cfg = comparison_config()
    res = compare_mbpo_sac(cfg, tmp_path, SEEDS)
    mbpo, sac = res.finals[Comparison.MBPO], res.finals[Comparison.SAC]
    assert mbpo.shape == sac.shape == (SEEDS, cfg.envs.num_targets)
    assert np.all((mbpo >= 0) & (mbpo <= 100)) and np.all((sac >= 0) & (sac <= 100))
    report = f"MBPO {mbpo.mean():.1f} (seed means {mbpo.mean(axis=1).round(1)}), SAC {sac.mean():.1f}"
    assert mbpo.mean() > sac.mean(), report
    # MBPO's batches held model data (one rollout per real step and agent at least), SAC's none
    assert res.rollouts[Comparison.MBPO] >= SEEDS * cfg.envs.num_targets * cfg.adapt.real_steps // 2
    assert res.rollouts[Comparison.SAC] == 0
    # the world model was trained and evaluated on its held-out scenario
    assert np.isfinite(res.worldmodel["k1_obs_nmse"]) and res.worldmodel["k1_obs_nmse"] < 1.0
