"""DeepMind-Control-style reward in [0, 1]: a standing/upright term times a tolerance on the target speed.

For a control step that moves the torso from ``x0`` to ``x1`` in ``dt`` seconds::

    speed    = (x1 - x0) / dt                                   # forward speed, as in Gymnasium
    track    = tolerance(speed, target, target, margin=TRACK_MARGIN_FRACTION * v_max)     # the peak
    shaping  = tolerance(speed, target, target, margin=SHAPING_MARGIN_FRACTION * v_max)   # the slope
    move     = (1 - SHAPING_WEIGHT) * track + SHAPING_WEIGHT * shaping
    upright  = (1 + cos(pitch)) / 2                             # 1 upright, 0 upside down
    height   = tolerance(z, min_height, inf, margin=min_height / 2)   (hopper, walker)
    stand    = (3 * height + upright) / 4   (hopper, walker)   |   upright   (cheetah)
    reward   = stand * move

``tolerance`` is dm_control's shape: 1 inside [lower, upper], a Gaussian falling to 0.1 at ``margin``
outside. Choices (also in docs/choices.md, with the calibration table that fixed the constants):

- The reward must leave headroom: a robot that stands still is not a solution. With targets drawn from
  [0, 0.2 v_max] (Table 1(a)) a still robot's mean over targets is about ``0.58 * margin / 0.2 v_max`` of the
  peak, so the tracking margin is a small fraction of v_max (``TRACK_MARGIN_FRACTION``).
- The reward must stay dense: a narrow Gaussian is flat (zero gradient) far from the target, so a wide
  Gaussian of margin v_max carries ``SHAPING_WEIGHT`` of the reward and pulls a still or random policy
  towards any target in [0, v_max].
- No constant floor (the former ``(1 + 5 move) / 6`` mix paid 1/6 per step for standing): only tracking pays.

Written once for numpy and jax.numpy (``xp``) so both engines compute exactly the same thing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "tolerance",
    "reward_fn",
    "reward_one",
    "VALUE_AT_MARGIN",
    "TRACK_MARGIN_FRACTION",
    "SHAPING_MARGIN_FRACTION",
    "SHAPING_WEIGHT",
]

VALUE_AT_MARGIN = 0.1
TRACK_MARGIN_FRACTION = 0.07
SHAPING_MARGIN_FRACTION = 1.0
SHAPING_WEIGHT = 0.1
_SCALE = math.sqrt(-2.0 * math.log(VALUE_AT_MARGIN))


def tolerance(xp: Any, x, lower, upper, margin):
    """1 inside [lower, upper]; outside, a Gaussian of the distance that is 0.1 at ``margin``."""
    below = (lower - x) / margin
    above = (x - upper) / margin
    d = xp.maximum(xp.maximum(below, above), 0.0)
    return xp.exp(-0.5 * (d * _SCALE) ** 2)


def move_fn(xp: Any, speed, target, v_max):
    """The speed term of the reward in [0, 1]: a narrow peak at ``target`` plus a wide shaping slope."""
    track = tolerance(xp, speed, target, target, TRACK_MARGIN_FRACTION * v_max)
    shaping = tolerance(xp, speed, target, target, SHAPING_MARGIN_FRACTION * v_max)
    return (1.0 - SHAPING_WEIGHT) * track + SHAPING_WEIGHT * shaping


def reward_fn(xp: Any, x0, x1, z, pitch, dt, target, v_max, min_height, standing):
    """Per-step reward, elementwise over a batch.

    Arguments:
        xp: ``numpy`` or ``jax.numpy``.
        x0, x1: torso x before and after the control step.
        z: torso height after the step.
        pitch: torso pitch angle (rooty) after the step.
        dt: control-step duration.
        target: target forward speed.
        v_max: the robot's v_max (sets the speed margins).
        min_height: height under which the height term decays (ignored where ``standing`` is 0).
        standing: 1.0 for robots that stand (hopper, walker), 0.0 for the cheetah.

    Returns:
        (reward in [0, 1], forward speed, standing term in [0, 1]).
    """
    speed = (x1 - x0) / dt
    upright = (1.0 + xp.cos(pitch)) / 2.0
    height = tolerance(xp, z, min_height, xp.inf, min_height / 2.0)
    stand = standing * (3.0 * height + upright) / 4.0 + (1.0 - standing) * upright
    return stand * move_fn(xp, speed, target, v_max), speed, stand


def reward_one(
    x0: float,
    x1: float,
    z: float,
    pitch: float,
    dt: float,
    target: float,
    v_max: float,
    min_height: float,
    standing: float,
) -> tuple[float, float, float]:
    """`reward_fn` for one env on Python floats, for the native engine's single-env path.

    It returns the same bits as ``reward_fn(np, ...)`` on arrays: the same float operations in the same
    order, with numpy's ``exp`` and ``cos`` (`math`'s can differ by an ulp). Shortcuts that cannot change a
    value: `tolerance`'s distance ``max(below, above, 0)`` is ``|x - target| / margin`` for a point
    interval (it is squared, so its sign does not matter), a zero distance gives ``exp(-0) = 1``, and the
    cheetah's height term is skipped (``standing`` = 0: ``reward_fn`` multiplies it by 0). Arguments and
    returns as in `reward_fn`, as floats.
    """
    exp = np.exp
    speed = (x1 - x0) / dt
    upright = (1.0 + float(np.cos(pitch))) / 2.0
    if standing == 0.0:
        stand = upright  # reward_fn: 0 * (finite) / 4 + 1 * upright, the same value
    else:  # tolerance(z, min_height, inf, min_height / 2); (z - inf) / margin = -inf never wins the max
        d = (min_height - z) / (min_height / 2.0)
        if d > 0.0:
            d = d * _SCALE
            height = float(exp(-0.5 * (d * d)))
        else:
            height = 1.0
        stand = standing * (3.0 * height + upright) / 4.0 + (1.0 - standing) * upright
    diff = abs(target - speed)  # = |speed - target|: IEEE subtraction and division are sign-symmetric
    d = diff / (TRACK_MARGIN_FRACTION * v_max) * _SCALE
    track = float(exp(-0.5 * (d * d)))
    d = diff / (SHAPING_MARGIN_FRACTION * v_max) * _SCALE
    shaping = float(exp(-0.5 * (d * d)))
    move = (1.0 - SHAPING_WEIGHT) * track + SHAPING_WEIGHT * shaping
    return stand * move, speed, stand
