"""SAC's hyperparameters (`SACConfig`); no JAX."""

from __future__ import annotations

import dataclasses

from ._validate import check_choice, check_positive, check_range


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """SAC hyperparameters (Haarnoja et al. 2018, automatic temperature).

    Arguments:
        hidden: widths of the hidden layers of actor and critics (all equal).
        actor_lr, critic_lr, alpha_lr: Adam learning rates.
        gamma: discount. Episodes end only by time limit, so targets always bootstrap.
        tau: Polyak rate of the target critics.
        batch_size: transitions per gradient step.
        init_alpha: initial entropy temperature.
        target_entropy_scale: target entropy = -scale * (number of real action dimensions).
        updates_per_step: gradient steps per environment step (update-to-data ratio).
        update_every: environment steps between two jitted update calls; each call runs
            `update_every * updates_per_step` steps under one `lax.scan`.
        learning_starts: environment steps of uniform random actions before learning.
        fast_compile: compile init and update with XLA's backend optimization level 0 (see
            `mrcom.worldmodel.FAST_COMPILE_OPTIONS`; for smoke-sized runs).
    """

    hidden: tuple[int, ...] = (256, 256)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    batch_size: int = 256
    init_alpha: float = 0.1
    target_entropy_scale: float = 1.0
    updates_per_step: int = 1
    update_every: int = 50
    learning_starts: int = 1000
    fast_compile: bool = False

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not self.hidden or any(h <= 0 for h in self.hidden):
            raise ValueError(f"sac.hidden={self.hidden}: must be a non-empty tuple of positive ints")
        for name in (
            "actor_lr",
            "critic_lr",
            "alpha_lr",
            "init_alpha",
            "batch_size",
            "updates_per_step",
            "update_every",
        ):
            check_positive(f"sac.{name}", getattr(self, name))
        check_range("sac.gamma", self.gamma, 0.0, 1.0, hi_open=True)
        check_range("sac.tau", self.tau, 0.0, 1.0, lo_open=True)
        check_range("sac.learning_starts", self.learning_starts, 0, float("inf"))
        check_choice("sac.fast_compile", self.fast_compile, (True, False))
