"""MAMBA baseline: meta-episodes, curriculum, loss-step subsample, training, exact resume, scenario
inference across episode boundaries, imagination, registry, config."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from wm_testing import (
    KEY,
    assert_losses_halve,
    assert_open_loop_branch,
    assert_policy_rollout,
    assert_resumes_bit_identical,
    assert_same_leaves,
    branch_inputs,
    first_step_prefix,
    jit_fast,
    smoke_config_fixture,
)

from mrcom.worldmodel import (
    PAPER_OPTIONS,
    Context,
    MultiScenarioData,
    NonFiniteLossError,
    OpenLoop,
    synthetic_data,
)
from mrcom.worldmodel.mamba import (
    Mamba,
    MambaConfig,
    chunk_bucket,
    compute_loss,
    curriculum_length,
    imagine,
    init_model,
    length_buckets,
    load_checkpoint,
    load_model,
    make_meta_source,
    meta_episode_index,
    meta_inputs,
    meta_sequence,
    sample_meta_batch,
    step_length,
    subsample_steps,
    train,
)

mconfig = smoke_config_fixture(MambaConfig, eval_burn_in=4)


# ----------------------------------------------------------------------------- meta-episodes


def test_meta_episodes_join_consecutive_episodes_of_one_scenario(data):
    # interleaved scenario ids: runs of K consecutive episodes are taken per scenario, in data order
    sid = np.array([0, 1, 0, 1, 0, 2, 2], np.int32)
    np.testing.assert_array_equal(meta_episode_index(sid, 2), [[0, 2], [2, 4], [1, 3], [5, 6]])
    np.testing.assert_array_equal(meta_episode_index(sid, 1), [[0], [2], [4], [1], [3], [5], [6]])
    with pytest.raises(ValueError, match="meta_episodes=3: .*scenario 1 has 2"):
        meta_episode_index(sid, 3)
    # one meta-episode: every episode but the last drops its final observation, so the last action
    # of episode k leads into the first observation of episode k + 1
    src = make_meta_source(data, 3)
    length = data.episode_length
    assert src.meta.shape == (6 * 2, 3) and src.meta_length == 3 * length
    e = np.asarray(src.meta[5])
    assert len(set(data.scenario_id[e])) == 1 and np.all(np.diff(e) == 1)
    seq = jax.jit(meta_sequence, static_argnums=2)(src, 5, 3 * length)
    want_obs = np.concatenate([data.obs[e[0], :-1], data.obs[e[1], :-1], data.obs[e[2]]])
    np.testing.assert_array_equal(seq.obs, want_obs)
    np.testing.assert_array_equal(seq.action, np.concatenate(list(data.action[e])))
    np.testing.assert_array_equal(seq.reward, np.concatenate(list(data.reward[e])))
    np.testing.assert_array_equal(seq.obs_mask, data.obs_mask[data.scenario_id[e[0]]])
    # a batch always starts at a meta-episode's start
    b = jax.jit(sample_meta_batch, static_argnums=(2, 3))(src, KEY, 16, 10)
    assert b.obs.shape == (16, 11, 6) and b.action.shape == (16, 10, 2) and b.reward.shape == (16, 10)
    starts = {tuple(np.asarray(data.obs[i, 0])) for i in range(data.obs.shape[0])}
    assert all(tuple(np.asarray(o)) in starts for o in b.obs[:, 0])
    # the previous action leads into every observation (zero before the first); the reward input
    # of o_j is r_{j-2}, the reward into o_{j-1} (r_{j-1} is a function of o_j; zero for j < 2)
    prev_a, lag_r, index = meta_inputs(seq.obs, seq.action, seq.reward, seq.act_mask)
    np.testing.assert_array_equal(prev_a[1:], seq.action * seq.act_mask)
    np.testing.assert_array_equal(lag_r[2:], seq.reward[:-1])
    assert lag_r.shape == (3 * length + 1,) and float(jnp.abs(lag_r[:2]).sum()) == 0.0
    assert float(jnp.abs(prev_a[0]).sum()) == 0.0
    np.testing.assert_array_equal(index, np.arange(3 * length + 1))


# ----------------------------------------------------------------------------- curriculum, subsample


def test_curriculum_grows_linearly_to_the_whole_meta_episode(mconfig):
    c = mconfig.replace(seq_len=10, steps=200, curriculum_fraction=0.25)  # full length at step 50
    total = 80
    host = [step_length(c, s, total) for s in range(0, 200)]
    traced = np.asarray(jax.jit(jax.vmap(lambda s: step_length(c, s, total)))(jnp.arange(200)))
    np.testing.assert_array_equal(host, traced)
    assert host[0] == 10 and host[25] == 45 and host[50] == 80 and host[-1] == 80
    np.testing.assert_array_equal(host[:51], np.floor(10 + 70 * np.arange(51) / 50))
    assert curriculum_length(7, 10, 80, 0) == 80  # no ramp: the whole meta-episode at once
    # a chunk runs over the smallest static bucket that holds its last step's length
    assert length_buckets(10, 80) == (10, 20, 40, 80)
    for start in range(0, 200, 10):
        bucket = chunk_bucket(c, start, 10, total)
        assert bucket in length_buckets(10, 80) and bucket >= host[start + 9]
        assert bucket == min(b for b in length_buckets(10, 80) if b >= host[start + 9])


def test_subsample_picks_the_stated_number_of_steps():
    draw = jax.jit(subsample_steps, static_argnums=(2, 3))
    # enough valid positions: `count` distinct ones, all within 0 .. length
    for k in range(5):
        idx, w = draw(jax.random.PRNGKey(k), jnp.asarray(50), 81, 16)
        idx = np.asarray(idx)
        assert idx.shape == (16,) and len(set(idx)) == 16 and idx.max() <= 50 and np.all(np.asarray(w) == 1)
    # fewer valid positions than `count`: each valid one exactly once, the fillers weigh 0
    idx, w = draw(KEY, jnp.asarray(9), 81, 16)
    idx, w = np.asarray(idx), np.asarray(w)
    assert sorted(idx[w > 0]) == list(range(10)) and w.sum() == 10
    # uniform over the valid positions
    counts = np.zeros(81)
    for k in range(300):
        idx, _ = draw(jax.random.PRNGKey(100 + k), jnp.asarray(39), 81, 8)
        counts[np.asarray(idx)] += 1
    assert counts[40:].sum() == 0 and counts[:40].min() > 0.4 * 60 and counts[:40].max() < 1.8 * 60


def test_loss_reads_only_the_curriculum_length(data, mconfig):
    # steps after the current length never reach the loss; steps within it do
    model = init_model(mconfig, KEY, 80.0)
    src = make_meta_source(data, 2)
    b = sample_meta_batch(src, KEY, 4, 80)
    late = b._replace(obs=b.obs.at[:, 31:].add(3.0), reward=b.reward.at[:, 30:].add(1.0))
    early = b._replace(obs=b.obs.at[:, 20].add(3.0))
    loss = jit_fast(lambda m, bt, n: compute_loss(m, bt, n, KEY)[0])
    l0, l1, l2 = (float(loss(model, x, jnp.asarray(30))) for x in (b, late, early))
    assert l0 == l1 and l0 != l2
    assert float(loss(model, late, jnp.asarray(40))) != l0


# ----------------------------------------------------------------------------- training, resume


@pytest.mark.slow
def test_loss_decreases_on_synthetic_data(data, heldout, mconfig):
    model, _, logged = assert_losses_halve(
        train, data, mconfig, seed=0, steps=100, eval_data=heldout, recon=0.6
    )
    # the trained length grows with the curriculum to the whole meta-episode (2 x 40 steps)
    lengths = logged["wm/length"]
    assert lengths[0] < 30 and np.all(np.diff(lengths) >= 0) and lengths[-1] == 80
    assert float(model.horizon) == 80.0


def test_exact_resume_and_checkpoint_round_trip(tmp_path, data, mconfig):
    # the run crosses length buckets (curriculum over the first 25 steps) and a resume point
    resumed = assert_resumes_bit_identical(train, load_checkpoint, data, mconfig, tmp_path)
    loaded = load_model(tmp_path / "checkpoint.eqx")
    assert isinstance(loaded, Mamba) and loaded.config == mconfig and load_checkpoint(tmp_path).step == 30
    assert_same_leaves(loaded, resumed)
    assert float(loaded.horizon) == 80.0  # the time scale of the data is stored
    with pytest.raises(ValueError, match="different config"):
        train(data, mconfig.replace(loss_steps=8), steps=40, checkpoint_dir=tmp_path, progress=False)
    # a NaN loss stops training with the step and the terms, and no NaN checkpoint is written
    # (the state is written by hand: save_checkpoint refuses NaN parameters)
    state = load_checkpoint(tmp_path).state
    nan = eqx.tree_at(lambda s: s.model.decoder.out.bias, state, jnp.full(6, jnp.nan))
    bad = tmp_path / "nan" / "checkpoint.eqx"
    bad.parent.mkdir()
    with open(bad, "wb") as f:
        header = {"format": 1, "config": mconfig.to_dict(), "step": 30}
        f.write((json.dumps(header) + "\n").encode())
        eqx.tree_serialise_leaves(f, nan)
    with pytest.raises(NonFiniteLossError, match=r"step 31: .*recon=nan"):
        train(data, mconfig, seed=3, steps=40, checkpoint_dir=bad.parent, progress=False)
    assert load_checkpoint(bad.parent).step == 30
    with pytest.raises(ValueError, match="meta_episodes=5"):
        train(data, mconfig.replace(meta_episodes=5), steps=1, progress=False)


# ----------------------------------------------------------------------------- scenario inference


def _two_reward_scenarios(seed: int, episodes: int = 6, length: int = 20) -> MultiScenarioData:
    """Two scenarios with the same dynamics whose rewards differ (0.2 and 0.8): only the rewards
    of the history reveal the scenario."""
    base = synthetic_data(1, 2 * episodes, length, 16, seed=seed, angle_range=(0.3, 0.3))
    sid = np.repeat(np.arange(2), episodes).astype(np.int32)
    level = lambda s, like: np.broadcast_to(np.where(s == 0, 0.2, 0.8)[:, None], like.shape).astype(
        np.float32
    )
    two = lambda x: np.repeat(x, 2, 0)
    return MultiScenarioData(
        base.obs,
        base.action,
        level(sid, base.reward),
        sid,
        two(base.obs_mask),
        two(base.act_mask),
        two(base.prompt_obs),
        two(base.prompt_action),
        level(np.arange(2), two(base.prompt_reward)),
    )


@pytest.mark.slow
def test_recurrent_state_carries_the_scenario_across_episode_boundaries():
    length = 20
    config = MambaConfig.preset(
        "smoke",
        obs_dim=6,
        act_dim=2,
        num_scenarios=2,
        eval_burn_in=4,
        reward_bins=255,
        learning_rate=3e-3,
        batch_size=16,
        seq_len=length,
        curriculum_fraction=0.0,
        steps=200,
        steps_per_call=50,
        # MAMBA's mechanism as its paper has it. With the default harness options this 200-step model
        # carries the scenario less well (with/without history 0.091 / 0.106): the prediction loss takes
        # its capacity (symlog 0.041 / 0.215; standardize 0.066 / 0.219; + skip 0.039 / 0.169; +
        # lambda_pred 1 0.101 / 0.212). On the quick real data the options cut MAMBA's observation error
        # about 10x and move its reward error both ways (docs/results.md, "The same-budget grid").
        **PAPER_OPTIONS,
    )
    model, _ = train(_two_reward_scenarios(0), config, seed=0, progress=False)
    src = make_meta_source(_two_reward_scenarios(1), 2)

    @jit_fast
    def first_rewards(model, i):
        # the reward predicted for the first 3 steps of episode 2: filtered over the whole
        # meta-episode (episode 1 included), or from a fresh state at episode 2's start
        seq = meta_sequence(src, i, 2 * length)
        ahead = slice(length, length + 3)
        run = lambda o, a, r: model.filter(
            o, *meta_inputs(o, a, r, seq.act_mask), seq.obs_mask, KEY, sample=False
        )
        states, _, _ = run(seq.obs, seq.action, seq.reward)
        fresh, _, _ = run(seq.obs[length:], seq.action[length:], seq.reward[length:])
        target = seq.reward[ahead]
        predicted = jax.vmap(model.reward)(states.feat()[ahead], seq.action[ahead])
        without = jax.vmap(model.reward)(fresh.feat()[:3], seq.action[ahead]) - target
        return jnp.mean((predicted - target) ** 2), jnp.mean(without**2), predicted

    out = [first_rewards(model, i) for i in range(src.meta.shape[0])]
    with_history, without = np.mean([o[0] for o in out]), np.mean([o[1] for o in out])
    # 0.041 at this setting (0.068 with seed 1). The earlier bound of 0.03 held only while step j's
    # recurrent input was r_{j-1}, a function of o_j (the leak the lag now removes: test_contract_leak.py)
    assert with_history < 0.25 * without and with_history < 0.06, (with_history, without)
    # read through the reward head, the state at episode 2's first steps separates the scenarios
    sid = np.asarray(src.scenario_id)[np.asarray(src.meta[:, 0])]
    predicted = np.stack([np.asarray(o[2]) for o in out])  # (M, 3)
    # (27 of 30 steps right at this setting since the reward input is lagged: one meta-episode's first
    # steps of episode 2 are read as the other scenario; 30 of 30 with the leaky r_{j-1} input)
    right = (predicted > 0.5) == np.broadcast_to((sid == 1)[:, None], predicted.shape)
    assert right.mean() >= 0.9, right


# ----------------------------------------------------------------------------- imagination


def test_imagine_shapes_and_uses_the_prefix(data, mconfig):
    model = init_model(mconfig, KEY, 80.0)
    # a non-zero reward head, so that imagined rewards (and the reward input) carry information
    head = model.reward_head.out
    model = eqx.tree_at(
        lambda m: m.reward_head.out.weight, model, 0.3 * jax.random.normal(KEY, head.weight.shape)
    )
    w, h = 3, 5
    b, context, prefix, masks = branch_inputs(data, mconfig.context_len, KEY, width=w)
    _imagine = jit_fast(imagine)
    run = lambda c, p, k=KEY: _imagine(
        model, c, p, masks, OpenLoop(b.action[:, w : w + h]), h, k, sample=False
    )
    out = run(context, prefix)
    assert_open_loop_branch(out, b, w, h, mconfig.latent_dim)
    assert np.all(np.isfinite(np.asarray(out.obs)))
    np.testing.assert_array_equal(out.obs, run(context, prefix, jax.random.PRNGKey(9)).obs)  # modes
    # the filter reads the prefix: its observations, its rewards (the previous-reward input) and
    # the context before it; empty context slots (valid = 0) are skipped whatever they hold
    changed = lambda x, y: float(jnp.max(jnp.abs(x.latent[:, 0] - y.latent[:, 0]))) > 1e-4
    assert changed(out, run(context, prefix._replace(obs=prefix.obs.at[:, 1].add(1.0))))
    assert changed(out, run(context, prefix._replace(reward=prefix.reward.at[:, 1].add(0.5))))
    assert changed(out, run(context._replace(reward=context.reward.at[:, 2].add(0.5)), prefix))
    # the reward into the start o_t (r_{t-1}, a function of o_t) is no input of the start's state,
    # only of the first imagined step's (the reward input is lagged one slot)
    last = run(context, prefix._replace(reward=prefix.reward.at[:, -1].add(0.5)))
    np.testing.assert_array_equal(last.latent[:, 0], out.latent[:, 0])
    assert float(jnp.max(jnp.abs(last.latent[:, 1] - out.latent[:, 1]))) > 1e-4
    empty = context._replace(valid=context.valid.at[:, :3].set(0.0))
    junk = empty._replace(obs=empty.obs.at[:, :3].add(5.0), reward=empty.reward.at[:, :3].add(5.0))
    np.testing.assert_array_equal(run(empty, prefix).latent, run(junk, prefix).latent)
    assert changed(out, run(empty, prefix))
    # a callable policy sees decoded observations (B, O); W = 0 is allowed
    assert_policy_rollout(_imagine, model, context, first_step_prefix(b), masks, h)
    policy = lambda key, obs: jnp.ones((obs.shape[0], 2))
    with pytest.raises(ValueError, match="context.obs.shape"):
        imagine(model, Context(*(x[:, :2] for x in b.ctx)), prefix, masks, policy, h, KEY)


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deter", 0),
        ("classes", 1),
        ("meta_episodes", 0),
        ("loss_steps", 0),
        ("curriculum_fraction", 1.5),
        ("seq_len", 0),
        ("reward_bins", 254),
        ("unimix", 1.0),
    ],
)
def test_bad_config_values_raise_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^{field}="):
        MambaConfig(**{field: value})


def test_paper_preset_is_mambas_default():
    paper = MambaConfig.preset("paper")
    assert (paper.deter, paper.rssm_hidden, paper.stoch, paper.classes, paper.units) == (512, 64, 16, 16, 128)
    assert (paper.seq_len, paper.loss_steps, paper.learning_rate, paper.batch_size) == (50, 64, 1e-4, 16)
    assert (paper.dyn_scale, paper.rep_scale, paper.free_nats) == (0.5, 0.1, 1.0)
    assert MambaConfig.preset("quick").curriculum_steps == 750  # 0.25 of the quick budget's 3000 steps
