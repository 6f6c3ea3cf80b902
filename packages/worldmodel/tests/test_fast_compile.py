"""`fast_compile` changes how XLA compiles, not what is computed: to float tolerance the same
initialization and training steps as the default optimization level; each copy is its own program."""

import equinox as eqx
import jax
import numpy as np

from mrcom.worldmodel import init_train_state, make_source, train_steps, train_steps_program

KEY = jax.random.PRNGKey(3)


def test_fast_compile_computes_the_same_training(data, config):
    assert config.fast_compile  # the smoke preset turns it on
    slow_config = config.replace(fast_compile=False)
    src = make_source(data, config.context_len)
    fast, slow = init_train_state(config, KEY), init_train_state(slow_config, KEY)
    leaves = lambda s: jax.tree.leaves(eqx.filter(s.model, eqx.is_array))
    for a, b in zip(leaves(fast), leaves(slow), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)  # same random draws, to the last bits

    fast, m_fast = train_steps(fast, src, 10, config=config)
    slow, m_slow = train_steps(slow, src, 10, config=slow_config)
    plain, quick = (f._cached._cache_size() for f in train_steps_program.jitted)
    assert plain >= 1 and quick >= 1  # each config went to its own copy
    for name in ("loss", "recon", "kl_u", "reward"):
        np.testing.assert_allclose(m_fast[name], m_slow[name], rtol=2e-3, atol=1e-4)
    for a, b in zip(leaves(fast), leaves(slow), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-2, atol=1e-4)
    assert fast.model.spec.fast_compile and not slow.model.spec.fast_compile
