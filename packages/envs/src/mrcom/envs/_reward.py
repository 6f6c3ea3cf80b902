"""DeepMind-Control-style reward in [0, 1]: a standing/upright term times a tolerance on the target speed.

For a control step that moves the torso from ``x0`` to ``x1`` in ``dt`` seconds::

    speed    = (x1 - x0) / dt                                   # forward speed, as in Gymnasium
    move     = tolerance(speed, target, target, margin=0.5 * v_max)
    upright  = (1 + cos(pitch)) / 2                             # 1 upright, 0 upside down
    height   = tolerance(z, min_height, inf, margin=min_height / 2)   (hopper, walker)
    stand    = (3 * height + upright) / 4   (hopper, walker)   |   upright   (cheetah)
    reward   = stand * (1 + 5 * move) / 6

``tolerance`` is dm_control's shape: 1 inside [lower, upper], a Gaussian falling to 0.1 at ``margin``
outside. Choices (also in docs/choices.md): a two-sided Gaussian around the target so that any target
in [0, v_max] can be tracked and standing still earns partial credit when the target is slow; a speed margin
of half the robot's v_max so a slow or random policy still gets a gradient towards the target; DMC walker's
``(1 + 5 move) / 6`` mix so a robot that stays up earns at least 1/6 per step (never an all-zero signal).
Written once for numpy and jax.numpy (``xp``) so both engines compute exactly the same thing.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["tolerance", "reward_fn", "VALUE_AT_MARGIN", "SPEED_MARGIN_FRACTION"]

VALUE_AT_MARGIN = 0.1
SPEED_MARGIN_FRACTION = 0.5
_SCALE = math.sqrt(-2.0 * math.log(VALUE_AT_MARGIN))


def tolerance(xp: Any, x, lower, upper, margin):
    """1 inside [lower, upper]; outside, a Gaussian of the distance that is 0.1 at ``margin``."""
    below = (lower - x) / margin
    above = (x - upper) / margin
    d = xp.maximum(xp.maximum(below, above), 0.0)
    return xp.exp(-0.5 * (d * _SCALE) ** 2)


def reward_fn(xp: Any, x0, x1, z, pitch, dt, target, v_max, min_height, standing):
    """Per-step reward, elementwise over a batch.

    Arguments:
        xp: ``numpy`` or ``jax.numpy``.
        x0, x1: torso x before and after the control step.
        z: torso height after the step.
        pitch: torso pitch angle (rooty) after the step.
        dt: control-step duration.
        target: target forward speed.
        v_max: the robot's v_max (sets the speed margin).
        min_height: height under which the height term decays (ignored where ``standing`` is 0).
        standing: 1.0 for robots that stand (hopper, walker), 0.0 for the cheetah.

    Returns:
        (reward in [0, 1], forward speed).
    """
    speed = (x1 - x0) / dt
    move = tolerance(xp, speed, target, target, SPEED_MARGIN_FRACTION * v_max)
    upright = (1.0 + xp.cos(pitch)) / 2.0
    height = tolerance(xp, z, min_height, xp.inf, min_height / 2.0)
    stand = standing * (3.0 * height + upright) / 4.0 + (1.0 - standing) * upright
    return stand * (1.0 + 5.0 * move) / 6.0, speed
