"""The context matters: on held-out scenarios the full model predicts better than a w/o C copy."""

import jax
import pytest

from mrcom.worldmodel import evaluate, train


@pytest.mark.slow
def test_trained_model_beats_context_free_copy_on_heldout_scenarios(data, heldout, config):
    c = config.replace(
        batch_size=16, seq_len=16, steps_per_call=50, fast_compile=False
    )  # 3000 steps: run time counts
    full, _ = train(data, c, seed=0, steps=1500, progress=False)
    wo_c, _ = train(data, c.replace(ablation="wo_c"), seed=0, steps=1500, progress=False)
    key = jax.random.PRNGKey(7)
    # burn_in=0: the branch starts at an episode start; only the (prompt-filled) context can tell the
    # held-out scenario's rotation angle and reward target.
    r_full = evaluate(full, heldout, key, num_windows=64, burn_in=0)
    r_wo_c = evaluate(wo_c, heldout, key, num_windows=64, burn_in=0)
    assert r_full["k1_obs_nmse"] < 0.8 * r_wo_c["k1_obs_nmse"], (r_full, r_wo_c)
    assert r_full["k1_obs_nmse"] < 0.5  # far better than predicting the mean (1.0)
