"""Scenarios (one POMDP each) and the distributions the paper samples them from."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._robots import MAX_SCALE, MIN_SCALE, ROBOTS
from ._vmax import V_MAX

__all__ = ["OBS_FNS", "DEFAULT_OBS_NOISE", "Scenario", "ScenarioDistribution", "default_scenario"]

OBS_FNS: tuple[str, ...] = ("identity", "add_g", "add_d", "msk_r", "msk_f")
DEFAULT_OBS_NOISE = 0.1
MAX_ALPHA = 100.0 * (1.0 - MIN_SCALE)  # keeps every sampled scale inside the valid model range
_MAX_REJECTIONS = 10_000


def _finite(field: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field}={value!r}: must be a finite number") from None
    if isinstance(value, bool) or not math.isfinite(out):
        raise ValueError(f"{field}={value!r}: must be a finite number")
    return out


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One scenario: a robot with scaled torso, a target speed and an observation function.

    Arguments:
        robot: "hopper" | "walker" | "cheetah".
        length_scale: factor on the torso length (1 = default dynamics).
        size_scale: factor on the torso radius.
        target_speed: forward speed (m/s) the reward asks for, >= 0.
        obs_fn: "identity" | "add_g" | "add_d" | "msk_r" | "msk_f".
        obs_noise: std of the Add-G noise and of the Add-D noise dimensions (>= 0).
        seed: seeds what is fixed per scenario (the Msk-F mask).
    """

    robot: str
    length_scale: float = 1.0
    size_scale: float = 1.0
    target_speed: float = 0.0
    obs_fn: str = "identity"
    obs_noise: float = DEFAULT_OBS_NOISE
    seed: int = 0

    def __post_init__(self):
        if self.robot not in ROBOTS:
            raise ValueError(f"robot={self.robot!r}: must be one of {ROBOTS}")
        for field in ("length_scale", "size_scale"):
            value = _finite(field, getattr(self, field))
            if not MIN_SCALE <= value <= MAX_SCALE:
                raise ValueError(f"{field}={value!r}: must be in [{MIN_SCALE}, {MAX_SCALE}] (a valid model)")
            object.__setattr__(self, field, value)
        for field in ("target_speed", "obs_noise"):
            value = _finite(field, getattr(self, field))
            if value < 0:
                raise ValueError(f"{field}={value!r}: must be >= 0")
            object.__setattr__(self, field, value)
        if self.obs_fn not in OBS_FNS:
            raise ValueError(f"obs_fn={self.obs_fn!r}: must be one of {OBS_FNS}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r}: must be an integer >= 0")
        object.__setattr__(self, "seed", int(self.seed))

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Scenario:
        """Inverse of `to_dict`; unknown keys raise ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        extra = set(d) - names
        if extra:
            raise ValueError(f"scenario keys {sorted(extra)}: unknown, allowed keys are {sorted(names)}")
        return cls(**d)

    def to_json(self) -> str:
        """JSON text; ``Scenario.from_json(s.to_json()) == s``."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        """Inverse of `to_json`."""
        return cls.from_dict(json.loads(text))


@dataclasses.dataclass(frozen=True)
class ScenarioDistribution:
    """The paper's scenario distribution (section 5, "Domains").

    Torso length and size scales are each uniform in [1 - alpha/100, 1 + alpha/100]; the target speed is
    uniform in [0, beta/100 * V_MAX[robot]], or fixed at ``fixed_target_fraction * V_MAX[robot]`` (Table 2
    uses 0.5). `sample` draws ``n`` scenarios in total with the robots taken in turn (scenario ``i`` has
    robot ``robots[i % len(robots)]``), so every robot gets the same share.

    Arguments:
        robots: robots to draw from.
        alpha: dynamics range in percent, in [0, 75].
        beta: target-speed range in percent of v_max, >= 0 (ignored with a fixed target).
        obs_fn: observation function of every sampled scenario.
        fixed_target_fraction: if given, every target speed is this fraction of v_max.
        obs_noise: noise std of Add-G / Add-D.
        outside: if given, a box to stay out of (the training distribution of an OOD protocol): a draw
            whose length scale, size scale and target speed all lie inside ``outside``'s ranges is
            rejected and drawn again, so at least one of them is out of distribution.
    """

    robots: tuple[str, ...] = ROBOTS
    alpha: float = 0.0
    beta: float = 0.0
    obs_fn: str = "identity"
    fixed_target_fraction: float | None = None
    obs_noise: float = DEFAULT_OBS_NOISE
    outside: ScenarioDistribution | None = None

    def __post_init__(self):
        if self.outside is not None and not isinstance(self.outside, ScenarioDistribution):
            raise ValueError(f"outside={self.outside!r}: must be a ScenarioDistribution or None")
        if self.outside is not None and self.outside.outside is not None:
            raise ValueError("outside.outside: must be None (one excluded box)")
        robots = (self.robots,) if isinstance(self.robots, str) else tuple(self.robots)
        if not robots:
            raise ValueError(f"robots={robots!r}: must name at least one of {ROBOTS}")
        for r in robots:
            if r not in ROBOTS:
                raise ValueError(f"robots={robots!r}: {r!r} is not one of {ROBOTS}")
        object.__setattr__(self, "robots", robots)
        alpha = _finite("alpha", self.alpha)
        if not 0 <= alpha <= MAX_ALPHA:
            raise ValueError(f"alpha={alpha!r}: must be in [0, {MAX_ALPHA}]")
        beta = _finite("beta", self.beta)
        if beta < 0:
            raise ValueError(f"beta={beta!r}: must be >= 0")
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "beta", beta)
        if self.obs_fn not in OBS_FNS:
            raise ValueError(f"obs_fn={self.obs_fn!r}: must be one of {OBS_FNS}")
        if self.fixed_target_fraction is not None:
            f = _finite("fixed_target_fraction", self.fixed_target_fraction)
            if f < 0:
                raise ValueError(f"fixed_target_fraction={f!r}: must be >= 0 or None")
            object.__setattr__(self, "fixed_target_fraction", f)
        noise = _finite("obs_noise", self.obs_noise)
        if noise < 0:
            raise ValueError(f"obs_noise={noise!r}: must be >= 0")
        object.__setattr__(self, "obs_noise", noise)

    def scale_range(self) -> tuple[float, float]:
        """Interval of the torso length and size scales."""
        return 1.0 - self.alpha / 100.0, 1.0 + self.alpha / 100.0

    def target_range(self, robot: str) -> tuple[float, float]:
        """Interval of the target speed for ``robot``."""
        if self.fixed_target_fraction is not None:
            v = self.fixed_target_fraction * V_MAX[robot]
            return v, v
        return 0.0, self.beta / 100.0 * V_MAX[robot]

    def in_box(self, s: Scenario) -> bool:
        """Whether ``s``'s length scale, size scale and target speed all lie in this box's ranges."""
        lo, hi = self.scale_range()
        tlo, thi = self.target_range(s.robot)
        eps = 1e-9
        return (
            lo - eps <= s.length_scale <= hi + eps
            and lo - eps <= s.size_scale <= hi + eps
            and tlo - eps * max(1.0, thi) <= s.target_speed <= thi + eps * max(1.0, thi)
        )

    def sample(self, n: int, seed: int) -> list[Scenario]:
        """Draw ``n`` scenarios (robots in turn), reproducibly from ``seed``.

        Arguments:
            n: number of scenarios, >= 0.
            seed: integer seed.

        Returns:
            A list of ``n`` `Scenario`; the same (n, seed) always gives the same list.
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n={n!r}: must be an integer >= 0")
        rng = np.random.default_rng(seed)
        lo, hi = self.scale_range()
        out = []
        for i in range(int(n)):
            robot = self.robots[i % len(self.robots)]
            tlo, thi = self.target_range(robot)
            for _ in range(_MAX_REJECTIONS):
                length, size = rng.uniform(lo, hi, size=2)
                target = rng.uniform(tlo, thi) if thi > tlo else tlo
                s = Scenario(
                    robot=robot,
                    length_scale=float(length),
                    size_scale=float(size),
                    target_speed=float(target),
                    obs_fn=self.obs_fn,
                    obs_noise=self.obs_noise,
                    seed=int(rng.integers(0, 2**31 - 1)),
                )
                if self.outside is None or not self.outside.in_box(s):
                    break
            else:
                assert self.outside is not None  # only a box rejects draws
                raise ValueError(
                    f"outside={self.outside.to_dict()}: {_MAX_REJECTIONS} draws of {robot} all fell "
                    "inside it; the box must not contain this distribution"
                )
            out.append(s)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict of the fields (robots as a list)."""
        d = dataclasses.asdict(self)
        d["robots"] = list(self.robots)
        d["outside"] = None if self.outside is None else self.outside.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScenarioDistribution:
        """Inverse of `to_dict`."""
        d = dict(d)
        d["robots"] = tuple(d.get("robots", ROBOTS))
        if d.get("outside") is not None:
            d["outside"] = cls.from_dict(d["outside"])
        return cls(**d)


def default_scenario(robot: str, target_fraction: float = 0.5, **kw: Any) -> Scenario:
    """Default dynamics and a target speed of ``target_fraction * V_MAX[robot]``."""
    if robot not in ROBOTS:
        raise ValueError(f"robot={robot!r}: must be one of {ROBOTS}")
    return Scenario(robot=robot, target_speed=target_fraction * V_MAX[robot], **kw)
