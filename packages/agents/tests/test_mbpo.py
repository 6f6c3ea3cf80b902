"""MBPO's augmentation (`_mbpo`, JAX, both backends): branch prefixes and prompt-filled contexts line up
with the real episodes; model transitions; batch mixing."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mrcom.agents import SACConfig, sac_init
from mrcom.agents._mbpo import MBPOAugment, MBPOSettings, mbpo_batches, mixed_batch, model_data_init
from mrcom.agents._ring import ring_add, ring_add_many, ring_init
from mrcom.agents._sac import Transitions
from mrcom.agents._starts import prompt_tails, real_starts
from mrcom.worldmodel import Imagined

B, L, OD, A, M, W = 2, 10, 3, 2, 4, 2


def _code(b, e, t):
    return 1000.0 * b + 100.0 * e + t


def _ring(episodes_done, t_running):
    """The loop's real ring (episode layout) after `episodes_done` episodes and `t_running` steps."""
    ring = ring_init(B, 4 * L, OD, A)
    for e in range(episodes_done + 1):
        for t in range(L if e < episodes_done else t_running):
            v = np.array([_code(b, e, t) for b in range(B)], np.float32)
            obs = np.repeat(v[:, None], OD, 1)
            nxt = np.array([[_code(b, e, t + 1)] * OD for b in range(B)], np.float32)
            ring = ring_add(ring, obs, np.repeat(v[:, None], A, 1), v, nxt)
    return ring


def _prompt(b):
    p = 5 + M  # longer than m; only its last m steps enter a context
    return (
        -np.arange(1, p + 2, dtype=np.float32)[:, None].repeat(OD, 1) - 10000 * b,
        -np.arange(1, p + 1, dtype=np.float32)[:, None].repeat(A, 1) - 10000 * b,
        -np.arange(1, p + 1, dtype=np.float32) - 10000 * b,
    )


def _fake_imagine(model, context, prefix, masks, policy, horizon, key, sample=False):
    n = prefix.obs.shape[0]
    obs = jnp.concatenate([prefix.obs[:, -1:], jnp.full((n, horizon, OD), 0.5)], axis=1)
    return Imagined(
        obs, jnp.zeros((n, horizon, A)), jnp.full((n, horizon), 2.0), jnp.zeros((n, horizon + 1, 1))
    )


def _augment(prompts, **kw):
    model = SimpleNamespace(spec=SimpleNamespace(context_len=M))
    s = _settings(rollout_length=3, per_refresh=50, capacity=200, **kw)
    tails = prompt_tails(prompts, M, OD, A)
    return MBPOAugment(model, tails, jnp.ones((B, OD)), s, imagine=_fake_imagine), s


def test_model_transitions_are_clipped_and_mixed_at_the_real_ratio():
    """One update call's data: 50 rollouts of 3 steps per agent, rewards clipped to [0, 1], next_obs of
    step k the obs of step k+1; batches with real_ratio 0.5 of model transitions."""
    aug, s = _augment([_prompt(0), _prompt(1)])
    state = sac_init(jax.random.PRNGKey(0), B, OD, A, SACConfig(hidden=(8, 8)))
    data = model_data_init(B, s, OD, A)
    real = _ring(episodes_done=1, t_running=6)
    data, batch = mbpo_batches(jax.random.PRNGKey(3), 16, real, data, state, jnp.ones((B, A)), aug, (7, 8))
    assert int(data.ring.size) == 50 * 3 and int(data.rollouts) == B * 50
    np.testing.assert_array_equal(data.ring.reward[:, : 50 * 3], 1.0)
    assert batch.obs.shape == (B, 7, 8, OD)
    model_rows = np.asarray(batch.next_obs[..., 0]) == 0.5
    np.testing.assert_array_equal(model_rows.sum(-1), 4)  # real_ratio 0.5 of 8


def test_no_rollouts_before_a_prompt_exists():
    aug, s = _augment([None, None])
    state = sac_init(jax.random.PRNGKey(0), B, OD, A, SACConfig(hidden=(8, 8)))
    real = _ring(episodes_done=0, t_running=8)  # first episode still running: no prompt yet
    data, batch = mbpo_batches(
        jax.random.PRNGKey(0), 8, real, model_data_init(B, s, OD, A), state, jnp.ones((B, A)), aug, (2, 4)
    )
    assert int(data.ring.size) == 0 and int(data.rollouts) == 0
    assert batch.obs.shape == (B, 2, 4, OD) and np.all(np.asarray(batch.reward) >= 0)  # all real


# ---------------------------------------------------------------- windows, model ring, mixing
def _settings(**kw):
    base = dict(
        episode_length=L, context_len=M, prefix_len=W, rollout_length=2, per_refresh=50,
        real_ratio=0.5, start_steps=0, sample=False, capacity=100,
    )  # fmt: skip
    return MBPOSettings(**{**base, **kw})


@pytest.mark.parametrize("given", [True, False])
def test_branch_windows_line_up_with_the_real_episodes(given):
    """Prefixes are W+1 consecutive real steps of one episode of the agent's own; the context is the m
    steps before, from the prompt's tail (or the first real episode's) where the episode has none."""
    prompts = [_prompt(0), _prompt(1)] if given else [None, None]
    real = _ring(episodes_done=1, t_running=6)
    tails = prompt_tails(prompts, M, OD, A)
    ctx, pre, ok = real_starts(jax.random.PRNGKey(3), real, tails, (300,), _settings())
    assert bool(ok)
    ctx, pre = jax.tree.map(np.asarray, (ctx, pre))
    seen_prompt, seen_run = False, False
    for b in range(B):
        for i in range(300):
            last = float(pre.obs[b, i, -1, 0])
            e, t = int(last - 1000 * b) // 100, int(last - 1000 * b) % 100
            assert W <= t <= (L - 1 if e == 0 else 6)
            seen_run |= e == 1
            np.testing.assert_array_equal(pre.obs[b, i, :, 0], [_code(b, e, s) for s in range(t - W, t + 1)])
            np.testing.assert_array_equal(pre.reward[b, i], [_code(b, e, s) for s in range(t - W, t)])
            for j, s in enumerate(range(t - W - M, t - W)):
                if s >= 0:
                    want_o = want_r = _code(b, e, s)
                elif given:
                    po, _, pr = prompts[b]
                    want_o, want_r = po[pr.shape[0] + s, 0], pr[pr.shape[0] + s]
                    seen_prompt = True
                else:  # the first real episode's last m steps
                    want_o = want_r = _code(b, 0, L + s)
                    seen_prompt = True
                assert float(ctx.obs[b, i, j, 0]) == want_o and float(ctx.reward[b, i, j]) == want_r
    assert seen_prompt and seen_run
    # no start while a needed prompt (the first episode) is incomplete, or no step has a full prefix
    running = _ring(episodes_done=0, t_running=8)
    assert not bool(
        real_starts(jax.random.PRNGKey(0), running, prompt_tails([None, None], M, OD, A), (4,), _settings())[
            2
        ]
    )
    early = _ring(episodes_done=0, t_running=1)
    assert not bool(real_starts(jax.random.PRNGKey(0), early, tails, (4,), _settings())[2])


def test_model_ring_and_batch_mixing():
    ring = ring_init(B, 5, OD, A)
    batch = lambda v, n: Transitions(
        jnp.full((B, n, OD), v), jnp.zeros((B, n, A)), jnp.full((B, n), v), jnp.full((B, n, OD), v + 1)
    )
    ring = ring_add_many(ring, batch(-1.0, 3))
    ring = ring_add_many(ring, batch(-2.0, 3))  # wraps: the oldest -1 is overwritten
    assert int(ring.size) == 5 and int(ring.ptr) == 1
    np.testing.assert_array_equal(ring.reward[0], [-2, -1, -1, -2, -2])
    real = _ring(episodes_done=1, t_running=6)  # real rewards are codes >= 0
    mixed = mixed_batch(jax.random.PRNGKey(0), real, ring, (7, 8), 0.5)
    assert mixed.obs.shape == (B, 7, 8, OD)
    is_model = np.asarray(mixed.reward) < 0
    np.testing.assert_array_equal(is_model[..., :4], False)  # real_ratio 0.5 of 8: the first 4 real
    np.testing.assert_array_equal(is_model[..., 4:], True)
    # rows stay whole transitions; each agent sees only its own real data
    np.testing.assert_array_equal(np.asarray(mixed.next_obs[..., 0] - mixed.obs[..., 0]), 1)
    assert np.all(np.asarray(mixed.reward[1, ..., :4]) >= 1000) and np.all(np.asarray(mixed.reward[0]) < 1000)
    empty = mixed_batch(jax.random.PRNGKey(0), real, ring_init(B, 5, OD, A), (7, 8), 0.5)
    assert np.all(np.asarray(empty.reward) >= 0)  # all real while the model ring is empty
