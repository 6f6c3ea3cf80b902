"""Robot models: brax's MJCF files edited with `mujoco.MjSpec` for a torso length and size scale.

The torso is a capsule. Scaling its *length* by ``L`` scales the capsule's half-length (hopper, walker: the
``size[1]`` of a capsule along z; cheetah: the ``fromto`` segment along x) and moves everything attached to
the torso's ends (child bodies, the cheetah's head geom) so they stay attached at the same relative place.
Scaling its *size* by ``S`` scales the capsule radius. The spec is recompiled, so MuJoCo recomputes the
torso's mass and inertia from the new geometry (density unchanged): mass grows about as ``L * S**2``.

Choices (also in docs/choices.md):
- hopper and walker stand on their feet: when the torso gets longer the whole robot is raised by the extra
  half-length below the torso centre, so an episode starts with the feet on the floor as in the default model.
- brax's half_cheetah.xml uses ``settotalmass="14"`` which would undo any mass change. We drop it and instead
  multiply every geom density by the factor that gives the default model its 14 kg, so the default scenario
  keeps brax's masses exactly and a scaled torso changes the total mass.
- Warm-starting of the constraint solver is disabled, so one control step is a function of (qpos, qvel, ctrl)
  only. That makes auto-reset, the native engine (``mujoco.rollout``) and the MJX engine agree.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from xml.etree import ElementTree

import mujoco
import numpy as np

__all__ = ["RobotInfo", "ROBOT_INFO", "ROBOTS", "MIN_SCALE", "MAX_SCALE", "build_model", "robot_xml_path"]

MIN_SCALE = 0.25
MAX_SCALE = 2.0


@dataclasses.dataclass(frozen=True)
class RobotInfo:
    """Static facts about one robot.

    Arguments:
        name: our name ("hopper", "walker", "cheetah").
        xml: file name in ``brax/envs/assets``.
        frame_skip: physics steps per control step (as in brax and Gymnasium v5).
        torso_geom: name of the torso capsule geom.
        torso_axis: index of the axis the torso capsule lies along in the torso frame (0 = x, 2 = z).
        standing: whether the robot stands on its feet (hopper, walker) rather than lies (cheetah).
        min_height: torso height under which the DMC-style standing term starts to fall off (None: no
            height term).
        reset_noise: half-width of the uniform noise added to qpos and qvel at reset.
    """

    name: str
    xml: str
    frame_skip: int
    torso_geom: str
    torso_axis: int
    standing: bool
    min_height: float | None
    reset_noise: float


ROBOT_INFO: dict[str, RobotInfo] = {
    "hopper": RobotInfo("hopper", "hopper.xml", 4, "torso_geom", 2, True, 0.8, 0.005),
    "walker": RobotInfo("walker", "walker2d.xml", 4, "torso_geom", 2, True, 0.8, 0.005),
    "cheetah": RobotInfo("cheetah", "half_cheetah.xml", 5, "torso", 0, False, None, 0.1),
}
ROBOTS: tuple[str, ...] = tuple(ROBOT_INFO)


def robot_xml_path(robot: str) -> str:
    """Path of the installed brax MJCF file for ``robot``."""
    import importlib.util

    spec = importlib.util.find_spec("brax")
    if spec is None or spec.origin is None:  # pragma: no cover - brax is a dependency
        raise ImportError("brax is not installed; mrcom.envs loads its robot models from brax's assets")
    return os.path.join(os.path.dirname(spec.origin), "envs", "assets", ROBOT_INFO[robot].xml)


def _check(robot: str, length_scale: float, size_scale: float) -> None:
    if robot not in ROBOT_INFO:
        raise ValueError(f"robot={robot!r}: must be one of {ROBOTS}")
    for field, value in (("length_scale", length_scale), ("size_scale", size_scale)):
        if not (np.isfinite(value) and MIN_SCALE <= value <= MAX_SCALE):
            raise ValueError(f"{field}={value!r}: must be a finite number in [{MIN_SCALE}, {MAX_SCALE}]")


def _load_spec(robot: str) -> mujoco.MjSpec:
    # Drop the (deprecated) settotalmass attribute before MuJoCo parses the file; remember its value.
    root = ElementTree.parse(robot_xml_path(robot)).getroot()
    total = -1.0
    for compiler in root.iter("compiler"):
        total = float(compiler.attrib.pop("settotalmass", total))
    spec = mujoco.MjSpec.from_string(ElementTree.tostring(root, encoding="unicode"))
    spec.option.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_WARMSTART)
    if total > 0:  # the cheetah: densities scaled so the default model weighs `total`
        factor = total / float(spec.compile().body_mass.sum())
        for geom in spec.geoms:
            geom.density = geom.density * factor
    return spec


def _scale_torso(spec: mujoco.MjSpec, info: RobotInfo, length: float, size: float) -> None:
    torso = spec.body("torso")
    geom = spec.geom(info.torso_geom)
    axis = info.torso_axis
    if info.torso_axis == 2:  # capsule given by size = (radius, half-length) along the body's z axis
        half = float(geom.size[1])
        geom.size = np.array([geom.size[0] * size, half * length, 0.0])
    else:  # capsule given by fromto along x
        fromto = np.array(geom.fromto, dtype=float)
        half = float(abs(fromto[3] - fromto[0]) / 2)
        geom.fromto = fromto * np.array([length, 1, 1, length, 1, 1])
        geom.size = np.array([geom.size[0] * size, 0.0, 0.0])
    shift = half * (length - 1.0)
    # Everything hanging off the torso's ends moves out with them.
    for child in torso.bodies:
        pos = np.array(child.pos, dtype=float)
        pos[axis] += np.sign(pos[axis]) * shift
        child.pos = pos
    for other in torso.geoms:
        if other.name == info.torso_geom:
            continue
        pos = np.array(other.pos, dtype=float)
        pos[axis] += np.sign(pos[axis]) * shift
        other.pos = pos
    if info.standing:  # keep the feet on the floor at the initial pose
        pos = np.array(torso.pos, dtype=float)
        pos[2] += shift
        torso.pos = pos


@functools.lru_cache(maxsize=256)
def build_model(robot: str, length_scale: float = 1.0, size_scale: float = 1.0) -> mujoco.MjModel:
    """Compile ``robot`` with its torso scaled.

    Arguments:
        robot: one of ``ROBOTS``.
        length_scale: factor on the torso length, in [MIN_SCALE, MAX_SCALE].
        size_scale: factor on the torso radius, in [MIN_SCALE, MAX_SCALE].

    Returns:
        A compiled ``mujoco.MjModel`` (cached: do not modify it in place).
    """
    _check(robot, length_scale, size_scale)
    info = ROBOT_INFO[robot]
    spec = _load_spec(robot)
    _scale_torso(spec, info, float(length_scale), float(size_scale))
    try:
        model = spec.compile()
    except Exception as err:  # pragma: no cover - the scale bounds keep models valid
        raise ValueError(
            f"length_scale={length_scale!r}, size_scale={size_scale!r}: the {robot} model does not compile "
            f"({err}); allowed scales are in [{MIN_SCALE}, {MAX_SCALE}]"
        ) from err
    return model


def torso_height0(model: mujoco.MjModel) -> float:
    """World height of the torso frame at qpos0 (rootz = 0)."""
    return float(model.body_pos[1, 2])
