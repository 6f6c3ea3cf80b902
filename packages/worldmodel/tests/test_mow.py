"""Mixture-of-World Models: task clustering, expert routing, the cached Transformer, training, exact
resume, imagination and expert selection for unseen scenarios, config."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from wm_testing import (
    INTERFACE_METRICS,
    KEY,
    assert_losses_halve,
    assert_open_loop_branch,
    assert_policy_rollout,
    assert_same_leaves,
    branch_inputs,
    first_step_prefix,
    jit_fast,
    smoke_config_fixture,
)

from mrcom.worldmodel import (
    Context,
    MultiScenarioData,
    NonFiniteLossError,
    OpenLoop,
    Prefix,
    make_source,
    sample_batch,
    save_checkpoint,
)
from mrcom.worldmodel.mow import (
    MoWConfig,
    cluster_tasks,
    evaluate,
    gradient_similarity,
    imagine,
    init_model,
    load_checkpoint,
    load_model,
    match_labels,
    routing_from_masks,
    run_sequence,
    select_experts,
    train,
)

CLUSTER_AT = 200  # the two families separate once the shared model has learned (about 200 smoke steps)


# one config for every training test (the jitted chunks compile once)
mconfig = smoke_config_fixture(MoWConfig, eval_burn_in=4, cluster_at=CLUSTER_AT, cluster_windows=32)


def families(seed: int, num_scenarios: int = 6, episodes: int = 4, length: int = 40, prompt: int = 16):
    """Two families of scenarios with opposite dynamics, interleaved: scenario s has
    x' = sign_s 0.95 R x + B u (sign +1 for even s, -1 for odd s), R a fixed rotation of every
    2-D block; constant reward; the shapes of the conftest's `synthetic_data` (obs 6, action 2,
    all dims real)."""
    rng = np.random.default_rng(seed)
    th = 0.8
    rot = 0.95 * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])

    def episode(sign, n):
        x = rng.normal(0.0, 1.0, 6).astype(np.float32)
        obs, act = [x], []
        for _ in range(n):
            u = rng.uniform(-1.0, 1.0, 2).astype(np.float32)
            y = np.concatenate([sign * rot @ x[i : i + 2] for i in (0, 2, 4)])
            y[:2] += 0.5 * u
            x = (y + rng.normal(0.0, 0.02, 6)).astype(np.float32)
            act.append(u)
            obs.append(x)
        return np.stack(obs), np.stack(act), np.full(n, 0.5, np.float32)

    eps, sid, prompts = [], [], []
    for s in range(num_scenarios):
        sign = 1.0 if s % 2 == 0 else -1.0
        for _ in range(episodes):
            eps.append(episode(sign, length))
            sid.append(s)
        prompts.append(episode(sign, prompt))
    stack = lambda xs, i: np.stack([x[i] for x in xs])
    return MultiScenarioData(
        stack(eps, 0),
        stack(eps, 1),
        stack(eps, 2),
        np.asarray(sid, np.int32),
        np.ones((num_scenarios, 6), np.float32),
        np.ones((num_scenarios, 2), np.float32),
        stack(prompts, 0),
        stack(prompts, 1),
        stack(prompts, 2),
    )


@pytest.fixture(scope="module")
def fam():
    return families(0)


@pytest.fixture(scope="module")
def trained(fam, mconfig, tmp_path_factory):
    """300 steps on the two families (clustered at step 200), checkpointed: (model, logged, dir)."""
    ckpt = tmp_path_factory.mktemp("mow_families")
    logged = {}
    model, _ = train(
        fam,
        mconfig,
        seed=0,
        steps=300,
        checkpoint_dir=ckpt,
        log=lambda n, v, s: logged.setdefault(n, []).append(v),
        progress=False,
    )
    return model, logged, ckpt


# ----------------------------------------------------------------------------- task clustering


def test_cluster_tasks_groups_aligned_gradients():
    # gradients of two known families: family A along d, family B along -d (opposite) or an
    # orthogonal e, each plus small noise and a large component common to all scenarios
    rng = np.random.default_rng(0)
    p = 200
    d, e, common = rng.normal(size=(3, p))
    e -= d * (e @ d) / (d @ d)
    family = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    for other in (-d, e):
        base = np.where(family[:, None] == 0, d, other)
        grads = 5 * common + base + 0.1 * rng.normal(size=(8, p))
        present = np.ones(8, bool)
        raw = np.asarray(gradient_similarity(grads, present, center=False))
        assert raw.min() > 0.8  # without centering the common part hides the families
        sim = np.asarray(gradient_similarity(grads, present, center=True))
        labels = cluster_tasks(sim, 2)
        np.testing.assert_array_equal(labels, family)  # numbered by first scenario: 0 is in cluster 0
        np.testing.assert_allclose(np.diag(sim), 1.0, atol=1e-5)
    # more clusters than families split a family, never merge across; an absent scenario is orthogonal
    labels = cluster_tasks(sim, 3)
    assert all(len(set(family[labels == k])) == 1 for k in range(3))
    present[2] = False
    sim = np.asarray(gradient_similarity(grads * present[:, None], present))
    assert np.all(sim[2] == 0)
    with pytest.raises(ValueError, match="num_clusters"):
        cluster_tasks(sim, 0)


def test_match_labels_keeps_experts_on_their_scenarios():
    old = np.array([2, 2, 0, 0, 1, 1])
    new = np.array([0, 0, 1, 1, 1, 2])  # the same clusters renumbered, scenario 4 moved
    np.testing.assert_array_equal(match_labels(new, old, 3), [2, 2, 0, 0, 0, 1])
    np.testing.assert_array_equal(match_labels(new, np.full(6, -1), 3), new)  # first clustering


@pytest.mark.slow
def test_training_clusters_the_families_by_their_gradients(trained, fam, mconfig):
    model, logged, _ = trained
    assignment = np.asarray(model.routing.assignment)
    family = np.arange(6) % 2
    assert int(model.routing.clustered_at) == CLUSTER_AT
    assert len(set(assignment)) == 2
    assert all(len(set(assignment[family == f])) == 1 for f in (0, 1))  # a family shares one expert
    # the allocated experts trained after the clustering (zero-initialized output layers moved)
    for experts in model.dynamics.experts:
        assert np.abs(np.asarray(experts.w2)).sum(axis=(1, 2)).min() > 0
    first, last = np.mean(logged["wm/loss"][:2]), np.mean(logged["wm/loss"][-3:])
    assert last < 0.6 * first


# ----------------------------------------------------------------------------- experts and routing


def _routed(model, assignment):
    routing = eqx.tree_at(lambda r: r.assignment, model.routing, jnp.asarray(assignment, jnp.int32))
    model = eqx.tree_at(lambda m: m.routing, model, routing)
    # give every expert a distinct, non-zero output layer (they start at zero)
    experts = [
        eqx.tree_at(lambda x: x.w2, x, 0.3 * jax.random.normal(jax.random.PRNGKey(i), x.w2.shape))
        for i, x in enumerate(model.dynamics.experts)
    ]
    return eqx.tree_at(lambda m: m.dynamics.experts, model, experts)


@pytest.mark.slow
def test_experts_are_selected_by_scenario(data, mconfig):
    base = init_model(mconfig, KEY, routing_from_masks(mconfig, data.obs_mask, data.act_mask))
    model = _routed(base, [0, 1, 0, 1, 1, 0])
    src = make_source(data, mconfig.context_len)
    b = sample_batch(src, KEY, 4, mconfig.seq_len, mconfig.context_len)
    b = jax.tree.map(lambda x: x[:1], b)  # one window, scenario id rewritten below

    def outputs(mdl, sid, b=b):
        m = mdl.config.context_len
        e, gate = mdl.expert_of(jnp.asarray(sid))
        seq = run_sequence(
            mdl,
            mdl.routing.group_of[0],
            e,
            gate,
            jnp.concatenate([b.ctx.obs[0, :m], b.obs[0]]),
            jnp.concatenate([b.ctx.action[0, :m], b.action[0]]),
            jnp.concatenate([b.ctx.reward[0, :m], b.reward[0]]),
            jnp.ones(m + mdl.config.seq_len),
            b.obs_mask[0],
            b.act_mask[0],
            KEY,
            False,
        )
        return seq.h

    run = jit_fast(outputs)
    h = [np.asarray(run(model, jnp.asarray(s))) for s in range(6)]
    np.testing.assert_array_equal(h[0], h[2])  # same expert: the same output
    np.testing.assert_array_equal(h[1], h[3])
    assert np.abs(h[0] - h[1]).max() > 1e-3  # another expert: another output
    # before the clustering (assignment -1) no expert is used: the backbone's output alone
    unrouted = _routed(base, [-1] * 6)
    np.testing.assert_allclose(
        np.asarray(run(unrouted, jnp.asarray(1))), np.asarray(run(base, jnp.asarray(1))), atol=1e-6
    )
    # only the scenario's expert gets a gradient (of any function of the outputs)
    weights = jax.random.normal(KEY, h[0].shape)
    grad = jit_fast(lambda mdl, sid: eqx.filter_grad(lambda x: jnp.sum(outputs(x, sid) * weights))(mdl))
    for sid, expert in ((0, 0), (1, 1)):
        g = grad(model, jnp.asarray(sid))
        for layer in g.dynamics.experts:
            for name in ("w1", "b1", "w2", "b2"):
                per_expert = np.abs(np.asarray(getattr(layer, name))).reshape(2, -1).sum(1)
                assert per_expert[1 - expert] == 0 and per_expert[expert] > 0, name
    g = grad(unrouted, jnp.asarray(0))
    assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(g.dynamics.experts))
    assert np.abs(np.asarray(g.dynamics.blocks[0].ffn1.weight)).sum() > 0


def test_vae_modules_by_mask_layout(data, mconfig):
    routing = routing_from_masks(mconfig, data.obs_mask, data.act_mask)
    np.testing.assert_array_equal(routing.group_of, np.arange(6) % 2)  # synthetic robots alternate
    model = init_model(mconfig, KEY, routing)
    for s in range(6):
        assert (
            int(model.group_of_masks(jnp.asarray(data.obs_mask[s]), jnp.asarray(data.act_mask[s]))) == s % 2
        )
    # a layout never seen goes to the nearest one; too many layouts for the modules raise
    odd = jnp.asarray(data.obs_mask[0]).at[4].set(1.0)
    assert int(model.group_of_masks(odd, jnp.asarray(data.act_mask[0]))) == 0
    masks = np.tril(np.ones((6, 6), np.float32))
    with pytest.raises(ValueError, match="num_groups=3"):
        routing_from_masks(mconfig, masks, np.ones((6, 2), np.float32))
    # the candidates of an unseen scenario: the experts of its module's training scenarios
    model = _routed(model, [0, 0, 0, 1, 0, 1])
    np.testing.assert_array_equal(model.candidates(jnp.asarray(0)), [True, False])
    np.testing.assert_array_equal(model.candidates(jnp.asarray(1)), [True, True])


@pytest.mark.slow
def test_cached_steps_equal_the_parallel_transformer(mconfig):
    model = _routed(init_model(mconfig, KEY), [1] * 6)
    dyn = model.dynamics
    n = mconfig.window
    for t in (n + 5,):  # longer than the attention window: it slides
        tokens = jax.random.normal(jax.random.PRNGKey(t), (t, dyn.token.in_features))
        valid = jnp.ones(t).at[1].set(0.0)

        def both(dyn, tokens, valid):
            h, cache = dyn.forward(tokens, valid, jnp.asarray(1), jnp.asarray(1.0))

            def one(c, x):
                tok, v = x  # an empty slot enters the cache marked invalid (it keeps its position)
                out, new = dyn.step(c, tok, jnp.asarray(1), jnp.asarray(1.0))
                return new._replace(valid=new.valid.at[-1].set(v)), out

            last, hs = jax.lax.scan(one, dyn.empty_cache(), (tokens, valid))
            return h, cache, hs, last

        h, cache, hs, last = jit_fast(both)(dyn, tokens, valid)
        keep = np.asarray(valid) > 0
        np.testing.assert_allclose(np.asarray(h)[keep], np.asarray(hs)[keep], atol=2e-5)
        np.testing.assert_allclose(np.asarray(cache.k)[:, -3:], np.asarray(last.k)[:, -3:], atol=2e-5)


# ----------------------------------------------------------------------------- training


@pytest.mark.slow
def test_loss_falls_on_synthetic_data(data, heldout, mconfig):
    _, metrics, _ = assert_losses_halve(
        train, data, mconfig, seed=1, steps=CLUSTER_AT + 20, eval_data=heldout
    )
    assert "experts_allocated" in metrics and metrics["experts_allocated"] == 2.0


@pytest.mark.slow
def test_exact_resume_across_the_clustering(trained, fam, mconfig, tmp_path):
    straight, _, _ = trained
    # "killed" right before the clustering (step 200) and again after it (205)
    for steps in (CLUSTER_AT, CLUSTER_AT + 5):
        train(fam, mconfig, seed=0, steps=steps, checkpoint_dir=tmp_path, progress=False)
        assert load_checkpoint(tmp_path).step == steps
    assert int(load_checkpoint(tmp_path).model.routing.clustered_at) == CLUSTER_AT
    resumed, _ = train(fam, mconfig, seed=0, steps=300, checkpoint_dir=tmp_path, progress=False)
    assert_same_leaves(straight, resumed)
    loaded = load_model(tmp_path / "checkpoint.eqx")
    assert loaded.config == mconfig
    np.testing.assert_array_equal(loaded.routing.assignment, straight.routing.assignment)
    with pytest.raises(ValueError, match="different config"):
        train(fam, mconfig.replace(dyn_scale=1.0), steps=310, checkpoint_dir=tmp_path, progress=False)


def test_nonfinite_loss_raises_and_writes_no_checkpoint(trained, fam, mconfig, tmp_path):
    _, _, ckpt = trained
    state = load_checkpoint(ckpt).state  # step 300
    big = eqx.tree_at(lambda s: s.model.encoders.out.weight, state, state.model.encoders.out.weight * 1e38)
    save_checkpoint(tmp_path, big, mconfig)  # finite, but the first forward pass overflows
    with pytest.raises(NonFiniteLossError, match="step 301"):
        train(fam, mconfig, seed=0, steps=310, checkpoint_dir=tmp_path, progress=False)
    assert load_checkpoint(tmp_path).step == 300


# ----------------------------------------------------------------------------- imagination


@pytest.mark.slow
def test_unseen_scenarios_select_their_familys_expert(trained, mconfig):
    model, _, _ = trained
    new = families(7, num_scenarios=4, episodes=2)  # unseen scenarios of both families
    src = make_source(new, mconfig.context_len)
    b = sample_batch(src, KEY, 32, 8, mconfig.context_len)
    m, w = mconfig.context_len, 4
    context = Context(*(x[:, :m] for x in b.ctx))
    prefix = Prefix(b.obs[:, : w + 1], b.action[:, :w], b.reward[:, :w])
    select = jit_fast(lambda mdl, c, p, om, am: select_experts(mdl, c, p, om, am, KEY, False)[1:])
    chosen, gate = select(model, context, prefix, b.obs_mask, b.act_mask)
    expert_of_family = np.asarray(model.routing.assignment)[:2]  # scenario 0: family +, 1: family -
    family = np.asarray(b.scenario_id) % 2
    assert np.all(np.asarray(gate) == 1.0)
    assert np.mean(np.asarray(chosen) == expert_of_family[family]) >= 0.9


@pytest.mark.slow
def test_imagine_shapes_and_policy(trained, data, mconfig):
    model, _, _ = trained
    w, h = 3, 5
    b, context, prefix, masks = branch_inputs(data, mconfig.context_len, KEY, width=w)
    run = jit_fast(imagine)
    out = run(model, context, prefix, masks, OpenLoop(b.action[:, w : w + h]), h, KEY, sample=False)
    assert_open_loop_branch(out, b, w, h, mconfig.latent_dim)
    z = np.asarray(out.latent[..., : mconfig.stoch * mconfig.classes]).reshape(5, h + 1, mconfig.stoch, -1)
    np.testing.assert_array_equal(z.sum(-1), 1.0)  # modes: one-hot latents
    again = run(model, context, prefix, masks, OpenLoop(b.action[:, w : w + h]), h, KEY, sample=False)
    np.testing.assert_array_equal(out.obs, again.obs)
    # a callable policy sees decoded observations; W = 0 and empty context slots are allowed
    empty = context._replace(valid=context.valid.at[:, :2].set(0.0))
    assert_policy_rollout(run, model, empty, first_step_prefix(b), masks, 2)


def test_evaluate_reports_the_experts_allocated(trained, heldout, mconfig):
    model, _, _ = trained
    result = evaluate(model, heldout, KEY, num_windows=8)
    assert set(result) == INTERFACE_METRICS | {"experts_allocated"}
    assert all(np.isfinite(v) for v in result.values())


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [
        ("num_experts", 0, "num_experts"),
        ("num_groups", 0, "num_groups"),
        ("classes", 1, "classes"),
        ("unimix", 1.0, "unimix"),
        ("reward_bins", 254, "reward_bins"),
        ("num_heads", 3, "d_model"),  # d_model=128 not divisible by 3 heads
        ("cluster_at", 25, "cluster_at"),  # not a multiple of steps_per_call=50
        ("recluster_every", -50, "recluster_every"),
        ("center_gradients", 1, "center_gradients"),
    ],
)
def test_bad_config_values_raise_naming_the_field(field, value, name):
    with pytest.raises(ValueError, match=rf"^{name}="):
        MoWConfig(**{field: value})


def test_config_presets_and_serialization():
    for name in ("smoke", "quick", "paper"):
        c = MoWConfig.preset(name, obs_dim=6)
        assert c.cluster_at < c.steps and c.window == c.context_len + c.seq_len
        assert c.latent_dim == c.stoch * c.classes + c.d_model
