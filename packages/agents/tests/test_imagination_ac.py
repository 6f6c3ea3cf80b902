"""Imagination actor-critic: lambda-returns, return normalization, slow critic, starts, and learning."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mrcom.agents import (
    ACConfig,
    ImaginationAC,
    evaluate_policy,
    run_imagination_ac,
)
from mrcom.agents._ac_nets import BoundedNormalActor, Critic
from mrcom.agents._ac_returns import (
    ReturnNorm,
    ema_update,
    return_scale,
)
from mrcom.agents._ac_returns import (
    lambda_returns as _lambda_returns,
)
from mrcom.agents._ac_returns import (
    update_return_norm as _update_return_norm,
)
from mrcom.agents._imagination_ac import ac_init, ac_update
from mrcom.agents._ring import ring_add, ring_init
from mrcom.agents._starts import StartSpec, prompt_tails, real_starts
from mrcom.worldmodel import Context, Imagined, Prefix, act_at


def test_lambda_returns_match_a_hand_computation():
    lambda_returns = jax.jit(_lambda_returns, static_argnums=(2, 3))
    r = jnp.array([1.0, 2.0, 3.0])
    v = jnp.array([10.0, 20.0, 30.0, 40.0])
    g, lam = 0.9, 0.5
    r2 = 3.0 + g * 40.0  # R_H = v_H: the last step bootstraps fully
    r1 = 2.0 + g * ((1 - lam) * 30.0 + lam * r2)
    r0 = 1.0 + g * ((1 - lam) * 20.0 + lam * r1)
    np.testing.assert_allclose(lambda_returns(r, v, g, lam), [r0, r1, r2], rtol=1e-6)
    # lam = 1: the discounted Monte-Carlo return bootstrapped at H; lam = 0: one-step TD targets
    np.testing.assert_allclose(lambda_returns(r, v, g, 1.0)[0], 1 + g * 2 + g**2 * 3 + g**3 * 40, rtol=1e-6)
    np.testing.assert_allclose(lambda_returns(r, v, g, 0.0), r + g * v[1:], rtol=1e-6)
    # batched over leading axes
    batch = lambda_returns(jnp.stack([r, 2 * r]), jnp.stack([v, 2 * v]), g, lam)
    np.testing.assert_allclose(batch[1], 2 * batch[0], rtol=1e-6)
    with pytest.raises(ValueError, match="H\\+1"):
        _lambda_returns(r, v[:3], g, lam)


def test_return_norm_tracks_the_percentile_range_with_floor():
    ret = jnp.arange(101.0)  # P5 = 5, P95 = 95
    valid = jnp.ones_like(ret, bool)
    update_return_norm = jax.jit(_update_return_norm, static_argnums=(3, 4, 5))
    n = update_return_norm(ReturnNorm(jnp.float32(0.0), jnp.float32(0.0)), ret, valid, 0.01, 5.0, 95.0)
    np.testing.assert_allclose([n.low, n.high], [0.05, 0.95], rtol=1e-5)
    assert float(return_scale(n, 1.0)) == 1.0  # range 0.9 < 1: returns are never scaled up
    for _ in range(2000):
        n = update_return_norm(n, ret, valid, 0.01, 5.0, 95.0)
    np.testing.assert_allclose([n.low, n.high], [5.0, 95.0], rtol=1e-3)
    np.testing.assert_allclose(return_scale(n, 1.0), 90.0, rtol=1e-3)
    # invalid entries are ignored; with none valid the EMA is kept
    bad = ret.at[:50].set(1e6)
    m = update_return_norm(n, bad, ret >= 50, 1.0, 5.0, 95.0)
    np.testing.assert_allclose([m.low, m.high], np.percentile(np.arange(50, 101.0), [5, 95]), rtol=1e-5)
    k = update_return_norm(n, bad, jnp.zeros_like(valid), 0.5, 5.0, 95.0)
    assert float(k.low) == float(n.low) and float(k.high) == float(n.high)


def test_slow_critic_is_an_ema_of_the_critic():
    c1 = Critic(3, 8, 1, bins=5, key=jax.random.PRNGKey(0))
    c2 = jax.tree.map(lambda x: x + 1.0 if eqx.is_array(x) else x, c1)
    ema = eqx.filter_jit(ema_update)
    s = ema(c1, c2, 0.02)
    leaves = zip(jax.tree.leaves(s), jax.tree.leaves(c1), jax.tree.leaves(c2), strict=True)
    for ls, l1, l2 in leaves:
        np.testing.assert_allclose(ls, 0.98 * l1 + 0.02 * l2, rtol=1e-6)
    # n steps towards a fixed critic close (1 - rate)^n of the gap
    for _ in range(9):
        s = ema(s, c2, 0.02)
    for ls, l1, l2 in zip(jax.tree.leaves(s), jax.tree.leaves(c1), jax.tree.leaves(c2), strict=True):
        np.testing.assert_allclose(l2 - ls, 0.98**10 * (l2 - l1), rtol=1e-4, atol=1e-6)


def test_actor_log_prob_is_the_censored_normal():
    """Clipped samples carry the mass beyond the bound; padded dims are 0 and carry nothing."""
    from jax.scipy.stats import norm

    actor = BoundedNormalActor(2, 3, 8, 1, key=jax.random.PRNGKey(0))
    obs, mask = jnp.array([0.3, -1.0]), jnp.array([1.0, 1.0, 0.0])

    @eqx.filter_jit
    def run(actor):
        mean, std = actor.dist(obs)
        fixed = jnp.array([1.0, 0.2, 0.7])
        want = norm.logsf((1 - mean[0]) / std[0]) + norm.logpdf((0.2 - mean[1]) / std[1]) - jnp.log(std[1])
        a, logp = actor.sample(obs, mask, jax.random.PRNGKey(1))
        out = (mean, std, actor.log_prob(obs, fixed, mask), want, a, logp, actor.log_prob(obs, a, mask))
        return out + (actor.mode(obs, mask),)

    mean, std, got, want, a, logp, logp_again, mode = map(np.asarray, run(actor))
    assert np.all(np.abs(mean) < 1) and np.all((std > 0.1) & (std < 1.0))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert a[2] == 0 and np.all(np.abs(a) <= 1)
    np.testing.assert_allclose(logp, logp_again, rtol=1e-6)
    np.testing.assert_array_equal(mode[:2], mean[:2])


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="ac.horizon=0"):
        ACConfig(horizon=0)
    with pytest.raises(ValueError, match="ac.return_high=5.0"):
        ACConfig(return_low=5.0, return_high=5.0)
    with pytest.raises(ValueError, match="ac.bins=4"):
        ACConfig(bins=4)
    with pytest.raises(ValueError, match="ac.reward_clip"):
        ACConfig(reward_clip=(1.0, 0.0))
    assert ACConfig(reward_clip=[0, 1]).reward_clip == (0.0, 1.0)


# --------------------------------------------------------------------------- synthetic world models


@dataclasses.dataclass(frozen=True)
class _Cfg:
    context_len: int = 2
    fast_compile: bool = False


class _TargetModel(eqx.Module):
    """obs = (target, 1): reward -|a_0 - target|, the observation never changes; latent = obs.

    (The constant keeps the target's magnitude through the actor's first LayerNorm.)"""

    spec: _Cfg = eqx.field(static=True)


def _target_imagine(model, context, prefix, masks, policy, horizon, key, *, sample=True):
    o0 = prefix.obs[:, -1]

    def step(o, xs):
        t, k = xs
        a = act_at(policy, t, k, o) * masks[1]
        return o, (o, a, -jnp.abs(a[:, 0] - o[:, 0]))

    _, (o, a, r) = jax.lax.scan(step, o0, (jnp.arange(horizon), jax.random.split(key, horizon)))
    obs = jnp.concatenate([o0[:, None], jnp.swapaxes(o, 0, 1)], axis=1)
    return Imagined(obs, jnp.swapaxes(a, 0, 1), jnp.swapaxes(r, 0, 1), obs)


@pytest.mark.slow
@pytest.mark.parametrize("actor_grad", ["dynamics", "reinforce"])
def test_actor_learns_a_one_dimensional_target_in_imagination(actor_grad):
    """reward = -|a - target|, target read from the observation: the mode goes to the target."""
    cfg = ACConfig(
        horizon=4, gamma=0.5, batch_size=64, units=32, layers=1, actor_lr=3e-3, critic_lr=3e-3,
        reward_clip=None, actor_grad=actor_grad,
    )  # fmt: skip
    b, u, n, m, w = 2, 25, cfg.batch_size, 2, 1
    state = ac_init(jax.random.PRNGKey(0), b, 2, 1, 2, cfg)
    model = _TargetModel(_Cfg())
    masks = jnp.ones((b, 2)), jnp.ones((b, 1))
    grid = jnp.linspace(-0.8, 0.8, 33)
    grid_obs = jnp.stack([grid, jnp.ones_like(grid)], -1)

    def error(state):
        act = jax.vmap(lambda actor: jax.vmap(lambda o: actor.mode(o, jnp.ones(1)))(grid_obs))(state.actor)
        return np.abs(np.asarray(act[..., 0]) - np.asarray(grid)).mean(-1)

    before = error(state)
    rng = np.random.default_rng(0)
    key = jax.random.PRNGKey(1)
    for _ in range(8):
        targets = rng.uniform(-0.8, 0.8, (b, u, n))
        obs = np.ones((b, u, n, w + 1, 2), np.float32)
        obs[..., 0] = targets[..., None]
        z = lambda *s: jnp.zeros((b, u, n, *s))
        prefix = Prefix(jnp.asarray(obs), z(w, 1), z(w))
        context = Context(z(m, 2), z(m, 1), z(m), jnp.ones((b, u, n, m)))
        key, k = jax.random.split(key)
        state, metrics = ac_update(state, model, context, prefix, *masks, k, cfg, True, _target_imagine)
    after = error(state)
    assert np.all(after < 0.1) and np.all(after < 0.3 * before), (before, after)
    assert np.all(np.asarray(metrics["imagined_reward"]) > -0.2), metrics
    assert np.all(np.asarray(metrics["valid_fraction"]) == 1.0)
    assert np.all(np.asarray(state.step) == 8 * u)


class _ToyEnvModel(eqx.Module):
    """A perfect world model of conftest's ToyVecEnv (v' = 0.8 v + 0.2 a, x' = x + 0.2 v')."""

    spec: _Cfg = eqx.field(static=True)


def _toy_env_imagine(model, context, prefix, masks, policy, horizon, key, *, sample=True):
    obs_mask, act_mask = masks
    o0 = prefix.obs[:, -1] * obs_mask

    def step(o, xs):
        t, k = xs
        a = act_at(policy, t, k, o) * act_mask
        v = 0.8 * o[:, 1::2] + 0.2 * a
        x = o[:, 0::2] + 0.2 * v
        r = jnp.sum(jnp.exp(-2.0 * (x - 1.0) ** 2) * act_mask, 1) / jnp.sum(act_mask, 1)
        nxt = jnp.stack([x, v], -1).reshape(o.shape) * obs_mask
        return nxt, (nxt, a, r)

    _, (o, a, r) = jax.lax.scan(step, o0, (jnp.arange(horizon), jax.random.split(key, horizon)))
    obs = jnp.concatenate([o0[:, None], jnp.swapaxes(o, 0, 1)], axis=1)
    return Imagined(obs, jnp.swapaxes(a, 0, 1), jnp.swapaxes(r, 0, 1), obs)


@pytest.mark.slow
def test_adaptation_loop_learns_the_toy_task_from_a_perfect_model(toy_env):
    """Trained only on imagined branches of a perfect model, the actor holds x = 1 in the real env."""
    dims = [1, 2]
    env = toy_env(dims)
    cfg = ACConfig(batch_size=32, units=64, layers=1, actor_lr=1e-3, critic_lr=1e-3, updates_per_step=2)
    learner = ImaginationAC(
        _ToyEnvModel(_Cfg()), [None, None], env.obs_mask, env.act_mask, cfg,
        episode_length=env.episode_length, prefix_len=2, start_steps=40, imagine=_toy_env_imagine,
    )  # fmt: skip
    assert learner.latent_dim == 6
    make_eval = lambda e: toy_env([d for d in dims for _ in range(e)])
    before = evaluate_policy(learner.init(jax.random.PRNGKey(1), 2, 6, 3)[0], make_eval, 2, 2, 7)
    res = run_imagination_ac(
        env, learner, 480, 0, learning_starts=80, update_every=20, eval_fn=None, progress=False
    )
    after = evaluate_policy(res.state, make_eval, 2, 2, 7)
    assert res.buffer.size == 480 and res.rollouts_done == 2 * 40 * 32 * (480 // 20 - 3)
    assert after.min() > 45 and after.mean() > before.mean() + 30, (before, after)


# --------------------------------------------------------------------------- start states


def test_starts_line_up_with_the_real_episodes_and_the_prompt():
    b, length, od, a, m, w = 2, 6, 2, 1, 3, 2
    code = lambda ag, e, t: 1000.0 * ag + 100.0 * e + t
    ring = ring_init(b, 3 * length, od, a)
    for e in range(2):
        for t in range(length if e == 0 else 3):
            v = np.array([code(g, e, t) for g in range(b)], np.float32)
            nxt = np.array([[code(g, e, t + 1)] * od for g in range(b)], np.float32)
            ring = ring_add(ring, np.repeat(v[:, None], od, 1), v[:, None], v, nxt)
    p = 5
    prompt_obs = lambda g: -np.arange(1, p + 2.0)[:, None].repeat(od, 1) - 1e4 * g
    prompts = [(prompt_obs(g), -np.arange(1, p + 1.0)[:, None], -np.arange(1, p + 1.0)) for g in range(b)]
    spec = StartSpec(length, m, w)
    context, prefix, ok = real_starts(
        jax.random.PRNGKey(0), ring, prompt_tails(prompts, m, od, a), (4, 50), spec
    )
    assert bool(ok)
    context, prefix = jax.tree.map(np.asarray, (context, prefix))
    assert prefix.obs.shape == (b, 4, 50, w + 1, od) and context.reward.shape == (b, 4, 50, m)
    seen = set()
    for g in range(b):
        for i in np.ndindex(4, 50):
            last = prefix.obs[(g, *i)][-1, 0] - 1000 * g
            e, t = int(last) // 100, int(last) % 100
            seen.add((e, t))
            np.testing.assert_array_equal(
                prefix.obs[(g, *i)][:, 0], [code(g, e, s) for s in range(t - w, t + 1)]
            )
            np.testing.assert_array_equal(prefix.reward[(g, *i)], [code(g, e, s) for s in range(t - w, t)])
            for j, s in enumerate(range(t - w - m, t - w)):
                want = code(g, e, s) if s >= 0 else prompts[g][2][p + s]
                assert context.reward[(g, *i)][j] == want and context.action[(g, *i)][j, 0] == want
                want_o = code(g, e, s) if s >= 0 else prompts[g][0][p + s, 0]
                assert context.obs[(g, *i)][j, 0] == want_o
    # every start with a full prefix is drawn: t in [w, L-1] of episode 0 and [w, 3] of the running one
    assert seen == {(0, t) for t in range(w, length)} | {(1, t) for t in range(w, 4)}
    # the first episode as prompt: nothing before it completes
    one = ring_add(
        ring_init(b, 2 * length, od, a), np.zeros((b, od)), np.zeros((b, a)), np.zeros(b), np.zeros((b, od))
    )
    none = prompt_tails([None, None], m, od, a)
    assert not bool(real_starts(jax.random.PRNGKey(0), one, none, (1,), spec)[2])


def _diverging_imagine(model, context, prefix, masks, policy, horizon, key, *, sample=True):
    """`_target_imagine`, but the branches of targets above 0.5 diverge (NaN rewards)."""
    im = _target_imagine(model, context, prefix, masks, policy, horizon, key, sample=sample)
    bad = im.obs[:, :1, 0] > 0.5
    return im._replace(reward=jnp.where(bad, jnp.nan, im.reward))


@pytest.mark.slow
def test_diverged_branches_get_no_weight_and_never_poison_the_state():
    cfg = ACConfig(horizon=3, batch_size=16, units=16, layers=1, bins=21, reward_clip=None)
    b, u, n, m = 1, 2, cfg.batch_size, 2
    state = ac_init(jax.random.PRNGKey(0), b, 2, 1, 2, cfg)
    obs = np.ones((b, u, n, 2, 2), np.float32)
    obs[..., 0] = np.linspace(-0.8, 0.8, n)[:, None]  # targets above 0.5 in 3 of 16 rows
    z = lambda *s: jnp.zeros((b, u, n, *s))
    prefix = Prefix(jnp.asarray(obs), z(1, 1), z(1))
    context = Context(z(m, 2), z(m, 1), z(m), jnp.ones((b, u, n, m)))
    masks = jnp.ones((b, 2)), jnp.ones((b, 1))
    args = (context, prefix, *masks, jax.random.PRNGKey(1), cfg, True)
    new, metrics = ac_update(state, _TargetModel(_Cfg()), *args, _diverging_imagine)
    np.testing.assert_allclose(metrics["valid_fraction"], 13 / 16)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(eqx.filter(new, eqx.is_array)))
    assert np.isfinite(metrics["return_mean"]).all() and np.isfinite(metrics["critic_loss"]).all()
    moved = jax.tree.leaves(eqx.filter(new.actor, eqx.is_array))[0] - jax.tree.leaves(state.actor)[0]
    assert np.any(np.asarray(moved) != 0)  # the valid rows still train
