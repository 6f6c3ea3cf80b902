"""The fused mjx loop (`mrcom.agents._fused`): exact resume, parity with the host loop, shard layout; the
same with MBPO inside the loop (`mrcom.agents._mbpo`), and the mjx engine's adaptation path.

One tiny setting throughout (two hopper scenarios, episodes of 20 steps, 60 steps, nets of width 8), so
the jitted chunk (MJX physics + SAC updates in one scan, a long compile on CPU) compiles once per module.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mrcom.agents import LoopResult, adapt_method, preset, run_sac
from mrcom.agents._collect import collect
from mrcom.agents._dataset import load_shard, read_manifest
from mrcom.agents._fused import fused_init, fused_sac_chunk, load_carry, run_fused_sac, save_carry
from mrcom.agents._mbpo import MBPOAugment, MBPOSettings
from mrcom.agents._ring import ring_add, ring_episodes, ring_init, ring_sample
from mrcom.agents._starts import prompt_tails
from mrcom.envs import Scenario, make
from mrcom.worldmodel import FAST_COMPILE_OPTIONS, init_model

L, STEPS, SEED = 20, 60, 3
SCENARIOS = [Scenario("hopper", 1.0, 1.0, 1.0), Scenario("hopper", 1.1, 0.9, 0.5)]
TINY = {
    "envs.episode_length": L,
    "collect.steps_per_scenario": STEPS,
    "collect.batch_scenarios": 2,
    "collect.prompt_episodes": 1,
    "sac.hidden": (8, 8),
    "sac.batch_size": 8,
    "sac.learning_starts": 20,
    "sac.update_every": 10,
    "adapt.start_steps": 20,
    "adapt.rollout_length": 2,
    "adapt.rollouts_per_step": 1,
    "adapt.prefix_len": 2,
}


@pytest.fixture(scope="module")
def cfg():
    return preset("smoke", **TINY)


@pytest.fixture(scope="module")
def vec():
    return make(SCENARIOS, engine="mjx", episode_length=L)


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree) if hasattr(x, "shape")]


def test_ring_buffer_wraps_and_samples_per_agent():
    ring = ring_init(2, 3, 2, 1)
    for i in range(5):  # 5 inserts into 3 slots: slots hold steps 3, 4, 2
        o = np.array([[i, 0.0], [100 + i, 0.0]], np.float32)
        ring = ring_add(ring, o, o[:, :1], o[:, 0], o + 1)
    assert int(ring.size) == 3 and int(ring.ptr) == 2
    np.testing.assert_array_equal(ring.obs[0, :, 0], [3, 4, 2])
    batch = ring_sample(ring, jax.random.PRNGKey(0), (50,))
    assert batch.obs.shape == (2, 50, 2)
    assert set(np.asarray(batch.reward[0]).tolist()) == {2.0, 3.0, 4.0}  # agent 0 sees only its own
    assert set(np.asarray(batch.reward[1]).tolist()) == {102.0, 103.0, 104.0}
    np.testing.assert_array_equal(batch.next_obs, batch.obs + 1)  # rows stay whole transitions


def test_ring_episodes_match_the_episode_layout():
    ring = ring_init(1, 6, 1, 1)
    obs = 0.0
    for t in range(6):
        nxt = float(t + 1)
        ring = ring_add(ring, np.full((1, 1), obs), np.full((1, 1), t), np.full(1, t), np.full((1, 1), nxt))
        obs = 10.0 if t == 2 else nxt  # episode 1 starts from its own reset observation
    ep = ring_episodes(ring, 3)
    assert ep.obs.shape == (1, 2, 4, 1) and ep.size == 6
    np.testing.assert_array_equal(ep.reward[0, :, 2:], [[2], [5]])
    np.testing.assert_array_equal(ep.obs[0, :, -1, 0], [3, 6])  # the final obs of each episode
    np.testing.assert_array_equal(ep.obs[0, :, 0, 0], [0, 10])


def test_bad_arguments_raise(toy_env, cfg):
    with pytest.raises(ValueError, match="n_steps=0"):
        fused_sac_chunk(None, cfg.sac, None, 0)
    with pytest.raises(ValueError, match="capacity=0"):
        ring_init(2, 0, 3, 1)


@pytest.mark.slow
def test_checkpoint_between_chunks_resumes_exactly(vec, cfg, tmp_path):
    env = vec.env
    start = fused_init(env, cfg.sac, STEPS, SEED)
    c = start
    trs = []
    for _ in range(3):
        c, tr = fused_sac_chunk(env, cfg.sac, c, L)
        trs.append(tr)
    assert int(c.step) == STEPS and int(c.agent.step[0]) == 50  # 10 updates at steps 20, 30, ..., 60
    assert int(c.ring.size) == STEPS
    r, tr0 = fused_sac_chunk(env, cfg.sac, start, L)
    save_carry(tmp_path / "carry.eqx", r)
    r = load_carry(tmp_path / "carry.eqx", fused_init(env, cfg.sac, STEPS, SEED + 1))  # other values
    rtrs = [tr0]
    for _ in range(2):
        r, tr = fused_sac_chunk(env, cfg.sac, r, L)
        rtrs.append(tr)
    for a, b in zip(_leaves((c, trs)), _leaves((r, rtrs)), strict=True):
        np.testing.assert_array_equal(a, b)
    # the run did something: agents moved away from their initialisation, episodes had rewards
    assert not np.allclose(c.agent.actor.net.layers[0].weight, start.agent.actor.net.layers[0].weight)
    assert np.abs(np.concatenate([np.asarray(t.reward) for t in trs])).max() > 0


@pytest.mark.slow
def test_fused_loop_matches_host_loop(vec, cfg):
    """The two backends of one loop: the same trajectory and agents up to float rounding."""
    # the host loop's env step compiled with the same XLA options as the fused program
    vec._step = jax.jit(vec.env.step, compiler_options=FAST_COMPILE_OPTIONS)
    host = run_sac(vec, cfg.sac, STEPS, SEED, progress=False)
    fused = run_fused_sac(vec.env, cfg.sac, STEPS, SEED, progress=False)
    hb, fb = host.buffer, fused.buffer
    assert hb.size == fb.size == STEPS
    np.testing.assert_allclose(fb.action, hb.action, atol=1e-4)
    np.testing.assert_allclose(fb.obs, hb.obs, atol=1e-3)
    np.testing.assert_allclose(fb.reward, hb.reward, atol=1e-3)
    for a, b in zip(_leaves(fused.state), _leaves(host.state), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-3, rtol=1e-3)
    for k, v in host.metrics.items():
        np.testing.assert_allclose(fused.metrics[k], v, rtol=1e-3, atol=1e-4)
    # the learned actor acts after learning_starts (not the uniform exploration of the first 20 steps)
    assert not np.allclose(fb.action[:, 1:], 0.0)
    # a different seed is a different run (the comparison above can fail)
    other = run_fused_sac(vec.env, cfg.sac, STEPS, SEED + 1, progress=False)
    assert not np.allclose(other.buffer.action, hb.action, atol=1e-2)


@pytest.mark.slow
def test_collect_writes_the_same_layout_with_both_engines(cfg, tmp_path):
    out = {}
    for engine in ("native", "mjx"):
        c = cfg.replace(**{"envs.engine": engine})
        out[engine] = collect(SCENARIOS, tmp_path / engine, c, seed=SEED, progress=False)
    mn, mm = read_manifest(out["native"]), read_manifest(out["mjx"])
    assert len(mn["shards"]) == len(mm["shards"]) == len(SCENARIOS)
    for en, em in zip(mn["shards"], mm["shards"], strict=True):
        assert set(en) == set(em)
        assert {k: en[k] for k in ("index", "episodes", "steps", "obs_mask", "act_mask", "robot")} == {
            k: em[k] for k in ("index", "episodes", "steps", "obs_mask", "act_mask", "robot")
        }
        zn, zm = load_shard(out["native"], en, mn), load_shard(out["mjx"], em, mm)
        assert set(zn) == set(zm)
        for k in zn:
            assert zn[k].shape == zm[k].shape and zn[k].dtype == zm[k].dtype, k
        assert zm["obs"].shape == (STEPS // L, L + 1, zm["obs"].shape[-1])
        assert np.abs(zm["prompt_reward"]).max() > 0 and np.isfinite(zm["obs"]).all()


# ---------------------------------------------------------------- MBPO in the fused loop
@pytest.fixture(scope="module")
def setting(cfg, vec):
    """An untrained smoke world model (its rollouts mean nothing, but every draw, window and update
    does, so the host and fused loops must agree on them) and MBPO's device augmentation."""
    model = init_model(cfg.worldmodel, jax.random.PRNGKey(0))
    s = MBPOSettings.from_adapt(cfg.adapt, model, L, cfg.sac.update_every)
    rng = np.random.default_rng(0)
    o, a = vec.obs_mask.shape[1], vec.act_mask.shape[1]
    prompt = (rng.normal(size=(L + 1, o)).astype(np.float32), rng.uniform(-1, 1, (L, a)).astype(np.float32),
              rng.uniform(0, 1, L).astype(np.float32))  # fmt: skip
    prompts = [None, prompt]  # agent 0: its first real episode; agent 1: a given prompt
    tails = prompt_tails(prompts, s.context_len, o, a)
    aug = MBPOAugment(model, tails, jnp.asarray(vec.obs_mask, jnp.float32), s)
    return cfg, vec, model, s, prompts, aug


@pytest.mark.slow
def test_fused_mbpo_matches_host_loop(setting):
    """MBPO on the host and fused backends: the same trajectory, model data and agents up to float
    rounding."""
    cfg, vec, model, s, prompts, aug = setting
    vec._step = jax.jit(vec.env.step, compiler_options=FAST_COMPILE_OPTIONS)
    host = run_sac(vec, cfg.sac, STEPS, SEED, aug=aug, progress=False)
    fused = run_fused_sac(vec.env, cfg.sac, STEPS, SEED, aug=aug, progress=False)
    hb, fb = host.buffer, fused.buffer
    np.testing.assert_allclose(fb.action, hb.action, atol=1e-4)
    np.testing.assert_allclose(fb.obs, hb.obs, atol=1e-3)
    # rollouts from start_steps on: refreshes at steps 20 (agent 0 waits for its first episode) .. 60
    data = fused.carry.data
    assert fused.rollouts_done == host.rollouts_done > 0
    assert int(data.ring.size) == int(host.carry.data.ring.size) > 0
    for a, b in zip(_leaves(data), _leaves(host.carry.data), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-3, rtol=1e-3)
    for a, b in zip(_leaves(fused.state), _leaves(host.state), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-3, rtol=1e-3)
    # MBPO changed the agents: model-free SAC from the same seed ends elsewhere
    free = run_fused_sac(vec.env, cfg.sac, STEPS, SEED, progress=False)
    assert not np.allclose(_leaves(free.state)[0], _leaves(fused.state)[0], atol=1e-4)


@pytest.mark.slow
def test_fused_mbpo_checkpoint_resumes_exactly(setting, tmp_path):
    cfg, vec, _, _, _, aug = setting
    env = vec.env
    start = fused_init(env, cfg.sac, STEPS, SEED, aug=aug)
    c = start
    for _ in range(3):
        c, _ = fused_sac_chunk(env, cfg.sac, c, L, aug)
    r, _ = fused_sac_chunk(env, cfg.sac, start, L, aug)
    save_carry(tmp_path / "carry.eqx", r)
    r = load_carry(tmp_path / "carry.eqx", fused_init(env, cfg.sac, STEPS, SEED + 1, aug=aug))
    for _ in range(2):
        r, _ = fused_sac_chunk(env, cfg.sac, r, L, aug)
    for a, b in zip(_leaves(c), _leaves(r), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(c.data.ring.size) > 0
    with pytest.raises(ValueError, match="aug"):
        fused_sac_chunk(env, cfg.sac, c, L)  # an MBPO carry without its augmentation


@pytest.mark.slow
def test_adapt_method_runs_mbpo_fused_with_the_mjx_engine(setting):
    """`adapt_method` on the mjx engine: MBPO inside the device loop, its curve evaluated on the device."""
    cfg, _, model, _, _, _ = setting
    cfg = cfg.replace(**{"envs.engine": "mjx", "adapt.real_steps": STEPS, "adapt.eval_every": 40})
    res = adapt_method(cfg, "mrcom", SCENARIOS, model=model, progress=False)
    assert isinstance(res, LoopResult) and res.carry.env_state is not None  # the fused backend
    assert res.curve_steps == [40, STEPS]
    curve = np.asarray(res.curve_returns)
    assert curve.shape == (2, len(SCENARIOS)) and np.isfinite(curve).all()
    assert res.rollouts_done > 0 and res.buffer.size == STEPS
