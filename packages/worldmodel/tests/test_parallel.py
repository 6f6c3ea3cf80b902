"""Data parallelism: two forced host devices give the same training result as one device."""

import os
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import numpy as np
import pytest

from mrcom.worldmodel import data_sharding, init_train_state, make_source, train_steps

SCRIPT = textwrap.dedent(
    """
    import sys
    import equinox as eqx, jax, numpy as np
    from mrcom.worldmodel import WorldModelConfig, data_sharding, init_train_state, make_source, replicate
    from mrcom.worldmodel import synthetic_data, train_steps

    config = WorldModelConfig.from_json(sys.argv[2])
    data = synthetic_data(num_scenarios=6, episodes_per_scenario=4, episode_length=40, seed=0)
    sharding = data_sharding(config.batch_size)
    state = replicate(init_train_state(config, jax.random.PRNGKey(0)), sharding)
    src = replicate(make_source(data, config.context_len), sharding)
    state, metrics = train_steps(state, src, 10, sharding, config=config)
    leaves = [np.asarray(x) for x in jax.tree.leaves(eqx.filter(state.model, eqx.is_array))]
    np.savez(sys.argv[1], n=len(jax.local_devices()), sharded=sharding is not None,
             loss=np.asarray(metrics["loss"]), *leaves)
    """
)


@pytest.mark.slow
def test_two_devices_match_one(tmp_path, data, config):
    # one device, in this process (shares the compiled chunk with the training tests)
    assert data_sharding(config.batch_size) is None and len(jax.local_devices()) == 1
    state, metrics = train_steps(
        init_train_state(config, jax.random.PRNGKey(0)), make_source(data, 4), 10, None, config=config
    )
    one = [np.asarray(x) for x in jax.tree.leaves(eqx.filter(state.model, eqx.is_array))]
    # two forced host devices, batch axis sharded, in a subprocess
    out = tmp_path / "two.npz"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out), config.to_json()], check=True, env=env, timeout=600
    )
    two = np.load(out)
    assert int(two["n"]) == 2 and bool(two["sharded"])
    np.testing.assert_allclose(two["loss"], np.asarray(metrics["loss"]), rtol=1e-4, atol=1e-5)
    assert len([k for k in two.files if k.startswith("arr_")]) == len(one)
    for i, x in enumerate(one):
        np.testing.assert_allclose(two[f"arr_{i}"], x, rtol=1e-3, atol=1e-5)
