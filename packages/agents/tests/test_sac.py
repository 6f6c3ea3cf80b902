"""SAC: masked log-probabilities, vmapped population updates, and learning on a small task."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mrcom.agents import SACConfig, evaluate_policy, run_sac, sac_init
from mrcom.agents._nets import Actor


def test_masked_log_prob_matches_unpadded_actor():
    """Padded action dims contribute nothing: log-prob equals the hand-computed 1-D tanh-Gaussian density."""
    actor = Actor(4, 3, (8, 8), key=jax.random.PRNGKey(0))
    obs = jnp.arange(4.0)
    mask = jnp.array([1.0, 0.0, 0.0])
    a, logp = actor.sample(obs, mask, jax.random.PRNGKey(1))
    assert a[1] == 0 and a[2] == 0
    mean, log_std = actor.dist(obs)
    u = jnp.arctanh(a[0])
    ref = (
        -0.5 * ((u - mean[0]) / jnp.exp(log_std[0])) ** 2
        - log_std[0]
        - 0.5 * jnp.log(2 * jnp.pi)
        - jnp.log(1 - a[0] ** 2)
    )
    np.testing.assert_allclose(logp, ref, rtol=1e-3, atol=1e-3)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="sac.gamma=1.5"):
        SACConfig(gamma=1.5)
    with pytest.raises(ValueError, match="sac.batch_size=0"):
        SACConfig(batch_size=0)


def test_population_agents_are_independent():
    """An agent's update does not depend on what the other agents of the population saw."""
    from mrcom.agents._sac import Transitions, sac_update

    cfg = SACConfig(hidden=(16, 16), batch_size=8)
    state = sac_init(jax.random.PRNGKey(0), 2, 4, 2, cfg)
    rng = np.random.default_rng(0)
    mk = lambda: Transitions(
        *(
            jnp.asarray(rng.normal(size=s), jnp.float32)
            for s in [(2, 3, 8, 4), (2, 3, 8, 2), (2, 3, 8), (2, 3, 8, 4)]
        )
    )
    b1 = mk()
    b2 = Transitions(*(x.at[1].set(x[1] * 3.0 + 1.0) for x in b1))  # change agent 1's data only
    mask = jnp.ones((2, 2))
    s1, _ = sac_update(state, b1, mask, jax.random.PRNGKey(5), cfg)
    s2, _ = sac_update(state, b2, mask, jax.random.PRNGKey(5), cfg)
    w1 = s1.actor.net.layers[0].weight
    w2 = s2.actor.net.layers[0].weight
    np.testing.assert_array_equal(w1[0], w2[0])
    assert not np.allclose(w1[1], w2[1])


def _learning_config(learning_starts: int, update_every: int) -> SACConfig:
    """The small SAC of the learning tests: two 64-unit layers, batches of 128, every rate 1e-3."""
    return SACConfig(
        hidden=(64, 64),
        batch_size=128,
        learning_starts=learning_starts,
        update_every=update_every,
        actor_lr=1e-3,
        critic_lr=1e-3,
        alpha_lr=1e-3,
    )


def test_sac_learns_toy_task(toy_env):
    """Four agents with 1, 2, 3, 1 real action dims all learn to hold x = 1 (random is ~25)."""
    cfg = _learning_config(learning_starts=200, update_every=20)
    dims = [1, 2, 3, 1]
    make_eval = lambda e: toy_env([d for d in dims for _ in range(e)])
    before = evaluate_policy(sac_init(jax.random.PRNGKey(0), 4, 6, 3, cfg), make_eval, 4, 3, 123)
    res = run_sac(toy_env(dims), cfg, 1600, 0, progress=False)
    after = evaluate_policy(res.state, make_eval, 4, 3, 123)
    assert res.buffer.size == 1600
    assert after.mean() > before.mean() + 25, (before, after)
    assert after.min() > 45, after


class _StandStillReward:
    """The env with ``stand * tolerance(speed, 0, 0, margin=v_max)`` as the reward: stay up and still.

    The benchmark's own reward at target 0 is the same with a 14x narrower margin, too sharp for this
    2500-step budget; this keeps the task (standing still) and the env, with a wide tolerance.
    """

    def __init__(self, env):
        self.env = env

    def __getattr__(self, name):
        return getattr(self.env, name)

    def reset(self, seed):
        return self.env.reset(seed)

    def step(self, action):
        import mrcom.envs as E

        obs, _, done, info = self.env.step(action)
        still = E.tolerance(np, info["speed"], 0.0, 0.0, E.V_MAX["walker"])
        return obs, np.asarray(info["stand"] * still, np.float32), done, info


@pytest.mark.slow
def test_sac_learns_walker_standing():
    """On mrcom.envs (native engine): walker learns to stay up and still, far above random."""
    import mrcom.envs as E

    scen = [E.default_scenario("walker", 0.0)]
    length = 100
    cfg = _learning_config(learning_starts=500, update_every=50)
    make = lambda n: _StandStillReward(E.make(scen * n, episode_length=length))
    env = make(1)
    env.reset(5)
    rng = np.random.default_rng(0)
    rand = 0.0
    for _ in range(length):
        rand += env.step(rng.uniform(-1, 1, (1, E.ACT_DIM)))[1][0]
    rand = 100 * rand / length
    res = run_sac(make(1), cfg, 2500, 0, progress=False)
    after = evaluate_policy(res.state, make, 1, 2, 9)[0]
    assert after > 80 and after > rand + 30, (rand, after)
