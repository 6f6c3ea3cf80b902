"""The imagination actor-critic's config (`ACConfig`) and its method names ("<kind>-ac"); no JAX."""

from __future__ import annotations

import dataclasses

from ._validate import check_choice, check_int, check_positive, check_range

AC_SUFFIX = "-ac"
ACTOR_GRADS = ("dynamics", "reinforce")


def ac_method(kind: str) -> str:
    """The method name of `kind`'s imagination actor-critic ("dreamerv3" -> "dreamerv3-ac")."""
    return f"{kind}{AC_SUFFIX}"


def ac_base(method: str) -> str | None:
    """The world-model kind of an actor-critic method name, or None for any other name."""
    return method[: -len(AC_SUFFIX)] if method.endswith(AC_SUFFIX) else None


@dataclasses.dataclass(frozen=True)
class ACConfig:
    """Hyperparameters of the imagination actor-critic (DreamerV3's, Hafner et al. 2023, unless noted).

    Arguments:
        horizon: H imagined steps per start state (15).
        gamma: discount (1 - 1/333). lam: lambda of the lambda-returns (0.95).
        batch_size: imagined start states per agent and update (ours; DreamerV3 starts from every
            posterior state of its 16 x 64 replay batch).
        updates_per_step: gradient steps per real step (ours: the harness's budgets are small).
        units, layers: hidden width and depth of actor and critic.
        actor_lr, critic_lr: Adam learning rates (ours: SAC's 3e-4, Adam eps 1e-5; DreamerV3's code uses
            one LaProp-like optimizer at 4e-5 for ~1000x more updates than an adaptation run has).
        grad_clip: global-norm gradient clipping per network (the 2023 paper's 100).
        entropy: eta, the entropy bonus in normalized-return units (3e-4).
        min_std, max_std: std bounds of the bounded-normal actor (0.1, 1.0).
        return_rate: EMA rate of the percentile range (0.01). return_low, return_high: its
            percentiles (5, 95). return_floor: S is at least this (1).
        slow_rate: EMA rate of the slow critic (0.02). slow_reg: weight of the regularizer towards
            the slow critic's prediction (1). slow_target: bootstrap the returns with the slow critic
            (False: the current critic, DreamerV3's default).
        actor_grad: "dynamics" (back-propagate the normalized lambda-returns through the model's
            imagined dynamics and rewards: the 2023 paper's choice for continuous actions) or
            "reinforce" (score-function gradients, DreamerV3's current code).
        bins: two-hot bins of the critic (255, symexp of linspace(-20, 20)).
        reward_clip: (lo, hi) imagined rewards are clipped into, or None (ours: environment rewards
            lie in [0, 1], as MBPO's branches clip).
    """

    horizon: int = 15
    gamma: float = 1.0 - 1.0 / 333.0
    lam: float = 0.95
    batch_size: int = 64
    updates_per_step: int = 1
    units: int = 256
    layers: int = 2
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    grad_clip: float = 100.0
    entropy: float = 3e-4
    min_std: float = 0.1
    max_std: float = 1.0
    return_rate: float = 0.01
    return_low: float = 5.0
    return_high: float = 95.0
    return_floor: float = 1.0
    slow_rate: float = 0.02
    slow_reg: float = 1.0
    slow_target: bool = False
    actor_grad: str = "dynamics"
    bins: int = 255
    reward_clip: tuple[float, float] | None = (0.0, 1.0)

    def __post_init__(self):
        if self.reward_clip is not None:
            clip = tuple(float(x) for x in self.reward_clip)
            if len(clip) != 2 or not clip[0] < clip[1]:
                raise ValueError(
                    f"ac.reward_clip={self.reward_clip!r}: must be None or (lo, hi) with lo < hi"
                )
            object.__setattr__(self, "reward_clip", clip)
        for name in ("horizon", "batch_size", "updates_per_step", "units", "layers"):
            check_int(f"ac.{name}", getattr(self, name), 0, lo_open=True)
        for name in ("actor_lr", "critic_lr", "grad_clip", "min_std", "return_floor"):
            check_positive(f"ac.{name}", getattr(self, name))
        check_range("ac.max_std", self.max_std, self.min_std, float("inf"), lo_open=True)
        check_range("ac.gamma", self.gamma, 0.0, 1.0)
        check_range("ac.lam", self.lam, 0.0, 1.0)
        check_range("ac.entropy", self.entropy, 0.0, float("inf"))
        check_range("ac.slow_reg", self.slow_reg, 0.0, float("inf"))
        check_range("ac.return_rate", self.return_rate, 0.0, 1.0, lo_open=True)
        check_range("ac.slow_rate", self.slow_rate, 0.0, 1.0, lo_open=True)
        check_range("ac.return_low", self.return_low, 0.0, 100.0)
        check_range("ac.return_high", self.return_high, self.return_low, 100.0, lo_open=True)
        check_choice("ac.slow_target", self.slow_target, (True, False))
        check_choice("ac.actor_grad", self.actor_grad, ACTOR_GRADS)
        if (
            isinstance(self.bins, bool)
            or not isinstance(self.bins, int)
            or self.bins < 3
            or self.bins % 2 == 0
        ):
            raise ValueError(f"ac.bins={self.bins!r}: must be an odd integer >= 3")
