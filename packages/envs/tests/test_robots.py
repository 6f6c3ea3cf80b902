import math

import mujoco
import numpy as np
import pytest

from mrcom.envs import ROBOTS, build_model
from mrcom.envs._robots import robot_xml_path


def capsule_volume(radius, half_length):
    return math.pi * radius**2 * 2 * half_length + 4.0 / 3.0 * math.pi * radius**3


@pytest.mark.parametrize("robot", ["hopper", "walker"])
def test_default_model_matches_brax_file(robot):
    ref = mujoco.MjModel.from_xml_path(robot_xml_path(robot))
    m = build_model(robot)
    np.testing.assert_allclose(m.body_mass, ref.body_mass)
    np.testing.assert_allclose(m.body_inertia, ref.body_inertia)
    np.testing.assert_allclose(m.body_pos, ref.body_pos)


def test_cheetah_default_keeps_brax_total_mass(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo logs the settotalmass deprecation warning to ./MUJOCO_LOG.TXT
    ref = mujoco.MjModel.from_xml_path(robot_xml_path("cheetah"))
    m = build_model("cheetah")
    np.testing.assert_allclose(m.body_mass, ref.body_mass, rtol=1e-9)
    np.testing.assert_allclose(m.body_inertia, ref.body_inertia, rtol=1e-9)
    assert m.body_mass.sum() == pytest.approx(14.0)
    # and a bigger torso is heavier (settotalmass would have renormalized it to 14)
    assert build_model("cheetah", 1.2, 1.2).body_mass.sum() > 14.5


@pytest.mark.parametrize("robot", ROBOTS)
@pytest.mark.parametrize("L, S", [(1.2, 1.0), (0.8, 1.15), (1.1, 0.9)])
def test_torso_mass_follows_capsule_volume(robot, L, S):
    m0, m = build_model(robot), build_model(robot, L, S)
    torso = m.body("torso").id
    g0, g = m0.geom("torso_geom" if robot != "cheetah" else "torso"), None
    r0, h0 = float(g0.size[0]), float(g0.size[1])
    density = (
        1000.0 if robot != "cheetah" else 1000.0 * 14.0 / _raw_cheetah_mass()
    )  # cheetah densities are rescaled to keep brax's 14 kg
    expected_delta = density * (capsule_volume(r0 * S, h0 * L) - capsule_volume(r0, h0))
    assert m.body_mass[torso] - m0.body_mass[torso] == pytest.approx(expected_delta, rel=1e-6)
    if robot != "cheetah":  # the torso body is the capsule alone: mass ~ L * S^2 (hemispherical caps aside)
        ratio = m.body_mass[torso] / m0.body_mass[torso]
        assert ratio == pytest.approx(L * S**2, rel=0.1)
    # other bodies are untouched
    others = [i for i in range(m.nbody) if i != torso]
    np.testing.assert_allclose(m.body_mass[others], m0.body_mass[others])
    del g


def _raw_cheetah_mass():
    text = open(robot_xml_path("cheetah")).read().replace('settotalmass="14"', "")
    return float(mujoco.MjSpec.from_string(text).compile().body_mass.sum())


@pytest.mark.parametrize("robot", ["hopper", "walker"])
def test_children_move_with_torso_end_and_feet_stay_on_floor(robot):
    L = 1.3
    m0, m = build_model(robot), build_model(robot, L, 1.0)
    half = 0.2
    for child in ("thigh", "thigh_left") if robot == "walker" else ("thigh",):
        assert m.body(child).pos[2] == pytest.approx(m0.body(child).pos[2] - half * (L - 1))
    # same lowest point in the initial pose: the robot is raised by the extra half-length
    assert m.body("torso").pos[2] == pytest.approx(m0.body("torso").pos[2] + half * (L - 1))
    d0, d = mujoco.MjData(m0), mujoco.MjData(m)
    mujoco.mj_kinematics(m0, d0)
    mujoco.mj_kinematics(m, d)
    foot = m.body("foot").id
    np.testing.assert_allclose(d.xpos[foot], d0.xpos[foot], atol=1e-9)


def test_cheetah_legs_and_head_move_along_x():
    L = 0.85
    m0, m = build_model("cheetah"), build_model("cheetah", L, 1.1)
    assert m.body("bthigh").pos[0] == pytest.approx(-0.5 * L)
    assert m.body("fthigh").pos[0] == pytest.approx(0.5 * L)
    assert m.geom("head").pos[0] == pytest.approx(m0.geom("head").pos[0] - 0.5 * (1 - L))
    assert m.geom("torso").size[0] == pytest.approx(0.046 * 1.1)


def test_invalid_scales_raise():
    with pytest.raises(ValueError, match="length_scale"):
        build_model("hopper", 5.0, 1.0)
    with pytest.raises(ValueError, match="robot='ant'"):
        build_model("ant")


@pytest.mark.parametrize("robot", ROBOTS)
def test_extreme_allowed_scales_compile_and_step(robot):
    for L, S in [(0.25, 0.25), (2.0, 2.0), (0.25, 2.0), (2.0, 0.25)]:
        m = build_model(robot, L, S)
        d = mujoco.MjData(m)
        mujoco.mj_step(m, d, nstep=20)
        assert np.all(np.isfinite(d.qpos)) and m.body_mass[1] > 0
