"""Data parallelism: two forced host devices give the same training result as one device."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    import equinox as eqx, jax, numpy as np
    from mrcom.worldmodel import WorldModelConfig, data_sharding, init_train_state, make_source, replicate
    from mrcom.worldmodel import synthetic_data, train_steps

    config = WorldModelConfig.preset("smoke", obs_dim=6, act_dim=2, num_scenarios=6, steps_per_call=10)
    data = synthetic_data(num_scenarios=6, episodes_per_scenario=4, episode_length=40, seed=0)
    sharding = data_sharding(config.batch_size)
    state = replicate(init_train_state(config, jax.random.PRNGKey(0)), sharding)
    src = replicate(make_source(data, config.context_len), sharding)
    state, metrics = train_steps(state, src, 10, sharding)
    leaves = [np.asarray(x) for x in jax.tree.leaves(eqx.filter(state.model, eqx.is_array))]
    np.savez(sys.argv[1], n=len(jax.local_devices()), sharded=sharding is not None,
             loss=np.asarray(metrics["loss"]), *leaves)
    """
)


def _run(tmp_path, devices):
    out = tmp_path / f"dev{devices}.npz"
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-c", SCRIPT, str(out)], check=True, env=env, timeout=600)
    return np.load(out)


@pytest.mark.slow
def test_two_devices_match_one(tmp_path):
    one, two = _run(tmp_path, 1), _run(tmp_path, 2)
    assert int(one["n"]) == 1 and not bool(one["sharded"])
    assert int(two["n"]) == 2 and bool(two["sharded"])
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4, atol=1e-5)
    names = [k for k in one.files if k.startswith("arr_")]
    assert names
    for k in names:
        np.testing.assert_allclose(two[k], one[k], rtol=1e-3, atol=1e-5)
