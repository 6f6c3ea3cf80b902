"""The bound's constants measured on mrcom.worldmodel models, and the bound report / CLI."""

import dataclasses
import json
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analysis._bound_report import Measured, write_bound_report, write_study_bound_report
from analysis._wm_constants import (
    _transition_tv_lipschitz,
    policy_constants,
    sample_windows,
    transition_dist,
    worldmodel_c_t,
    worldmodel_constants,
    worldmodel_eps_s,
    worldmodel_eps_t,
    worldmodel_eps_t_details,
)
from analysis.bound import BoundConstants, main, resolve_run, theorem6
from mrcom.worldmodel import MrCoM, WorldModelConfig, synthetic_data


@pytest.fixture(scope="module")
def small():
    data = synthetic_data(num_scenarios=3, episodes_per_scenario=2, episode_length=20, prompt_length=8)
    # In the full suite's single process, any JAX compile right after tests/test_analysis_smoke.py
    # segfaulted in XLA (not root-caused; alone, or before it, this file passes): this file is named to
    # run before it. The model is built eagerly without fast_compile.
    cfg = WorldModelConfig.preset(
        "smoke",
        obs_dim=data.obs.shape[-1],
        act_dim=data.action.shape[-1],
        num_scenarios=3,
        fast_compile=False,
    )
    return MrCoM(cfg, key=jax.random.PRNGKey(0)), data


def test_eps_s_is_zero_without_noise_and_grows_with_it(small):
    model, data = small
    key = jax.random.key(1)
    assert worldmodel_eps_s(model, data, key, noise_std=0.0, num_windows=8) == 0.0
    lo = worldmodel_eps_s(model, data, key, noise_std=0.05, num_windows=8)
    hi = worldmodel_eps_s(model, data, key, noise_std=1.0, num_windows=8)
    assert 0.0 < lo < hi
    with pytest.raises(ValueError, match="noise_std"):
        worldmodel_eps_s(model, data, key, noise_std=-1.0)


def test_eps_t_is_a_tv_and_deterministic_in_the_key(small):
    model, data = small
    a = worldmodel_eps_t(model, data, jax.random.key(2), num_windows=8)
    b = worldmodel_eps_t(model, data, jax.random.key(2), num_windows=8)
    assert 0.0 < a <= 1.0 and a == b
    d = worldmodel_eps_t_details(model, data, jax.random.key(2), num_windows=8)
    assert d["eps_t"] == a and 0.0 < d["eps_t_floor"] < 1.0 and 0.0 <= d["prior_posterior_tv"] <= 1.0
    with pytest.raises(ValueError, match="burn_in"):
        worldmodel_eps_t_details(model, data, jax.random.key(2), num_windows=8, burn_in=1000)


def test_worldmodel_constants_share_one_sample(small):
    model, data = small
    out = worldmodel_constants(model, data, jax.random.key(5), noise_std=0.1, num_windows=8, max_states=16)
    assert 0 < out["eps_t"] <= 1 and out["eps_s"] > 0 and out["c_t"] >= out["c_t_median"] > 0


def test_c_t_matches_finite_differences(small):
    # C_T at a state = ||diag(1/std) J_mean|| / sqrt(2 pi) + ||J_log std|| / sqrt(2), Jacobians by central
    # differences of the transition's Gaussian over (u_t, h_t)
    model, data = small
    c = model.spec
    batch = sample_windows(model, data, jax.random.key(3), 2)
    rng = np.random.default_rng(0)
    s = jnp.asarray(rng.normal(size=(2, c.latent_dim)), jnp.float32)
    e = jnp.asarray(rng.normal(size=(2, c.embed_dim)), jnp.float32)
    a, m = batch.action[:, 0], batch.act_mask
    op, om = batch.obs[:, 0], batch.obs_mask
    lip = np.asarray(_transition_tv_lipschitz(model, s, e, a, m, op, om))
    h = 1e-2
    eye = h * jnp.eye(c.latent_dim)
    for i in range(2):
        f = jax.jit(jax.vmap(lambda x, i=i: transition_dist(model, x, e[i], a[i], m[i], op[i], om[i])))
        (mp, sp), (mm, sm) = f(s[i] + eye), f(s[i] - eye)
        _, std = transition_dist(model, s[i], e[i], a[i], m[i], op[i], om[i])
        j_mean = np.asarray((mp - mm).T / (2 * h)) / np.asarray(std)[:, None]
        j_log = np.asarray((jnp.log(sp) - jnp.log(sm)).T / (2 * h))
        svd = lambda x: np.linalg.svd(x, compute_uv=False)[0]
        expected = svd(j_mean) / np.sqrt(2 * np.pi) + svd(j_log) / np.sqrt(2)
        assert lip[i] == pytest.approx(expected, rel=2e-2)
    ct = worldmodel_c_t(model, data, jax.random.key(4), num_windows=4, max_states=32)
    assert np.isfinite(ct) and ct > 0


class _LinearDecoder(eqx.Module):
    """A stand-in world model whose decoder is o^ = M s (masked)."""

    m: jax.Array
    spec: object = eqx.field(static=True)

    def decode_obs(self, s, o_prev, obs_mask):
        return (self.m @ s) * obs_mask


def test_policy_constants_of_one_linear_policy():
    class Cfg:
        fast_compile = False

    rng = np.random.default_rng(1)
    decoder = _LinearDecoder(jnp.asarray(rng.normal(size=(3, 4)), jnp.float32), Cfg())
    w = jnp.array([[2.0, 0.0, 0.0], [0.0, 0.5, 0.0]])
    act_mask = jnp.array([1.0, 0.0])  # second action dim is padding
    sigma = 0.5
    policy = lambda o: (w @ o, jnp.full(2, np.log(sigma)))
    n = 64
    latent = jnp.asarray(rng.normal(size=(n, 4)), jnp.float32)
    obs = jnp.asarray(rng.normal(size=(n, 3)), jnp.float32)
    decoded = obs + jnp.array([0.1, 5.0, 0.0])  # off by 0.1 on o_0 (mean shift 0.2) and 5 on o_1
    out = policy_constants(
        decoder, policy, latent, jnp.zeros((n, 3)), decoded, obs, jnp.ones(3), act_mask, jax.random.key(0)
    )
    # eps_pi: only the real action dim counts: TV(N(0, .5^2), N(.2, .5^2)) = 2 Phi(0.2) - 1
    assert out["eps_pi"] == pytest.approx(math.erf(0.2 / math.sqrt(2)), abs=0.01)
    assert out["eps_pi_max"] >= out["eps_pi"]
    # C_pi (L1): 2 ||(W M)[real rows]|| / (sigma sqrt(2 pi))
    wm = np.asarray(w @ decoder.m)[:1]
    expected = 2 * np.linalg.svd(wm, compute_uv=False)[0] / (sigma * math.sqrt(2 * math.pi))
    assert out["c_pi"] == pytest.approx(expected, rel=1e-4)


def test_bound_report_files(tmp_path):
    c = BoundConstants(eps_t=0.1, eps_s=0.2, eps_pi=0.05, c_t=2.0, c_pi=3.0, r_max=1.0, gamma=0.9)
    m = Measured(c, {k: "given" for k in c._fields})
    written = write_bound_report(m, tmp_path)
    payload = json.loads((tmp_path / "bound.json").read_text())
    assert payload["bound"] == pytest.approx(176.0)
    assert sum(payload["terms"].values()) == pytest.approx(176.0)
    md = (tmp_path / "bound.md").read_text()
    assert "**176**" in md and "| ε_T | 18 | 10.2% |" in md
    assert (tmp_path / "bound.png").read_bytes()[:4] == b"\x89PNG" and len(written) == 3
    assert "No adapted policy" in md
    assert "Scope" not in md  # a model without the skip path: Theorem 6 as printed
    write_bound_report(dataclasses.replace(m, extras={"obs_skip": 1.0}), tmp_path / "skip")
    assert "does not cover it" in (tmp_path / "skip" / "bound.md").read_text()
    # across a "study": the bound rises with eps_s, so its rank correlation with eps_s is 1
    rows = [({"lambda_s": ls}, Measured(c._replace(eps_s=0.1 / ls), {})) for ls in (0.1, 0.3, 1.0, 3.0)]
    write_study_bound_report(rows, tmp_path)
    table = (tmp_path / "study_bound.md").read_text()
    assert "| lambda_s | nan | -1 | nan | nan | nan | -1 |" in table
    assert float(theorem6(rows[0][1].constants)) > float(theorem6(rows[-1][1].constants))


def test_resolve_run_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match="does not exist"):
        resolve_run(tmp_path / "nope")
    with pytest.raises(ValueError, match="no world-model checkpoint"):
        resolve_run(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["--run", str(tmp_path), "--out", str(tmp_path / "o")])
    assert exc.value.code == 2 and "no world-model checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "o")])
    assert exc.value.code == 2
