"""The schedule of an interaction loop, in one place for both backends and every learner.

A run of `total_steps` real steps per agent: uniform random actions before `learning_starts`, one
update call every `update_every` steps from `learning_starts` on, the learning curve evaluated every
`eval_every` steps and at the end, and a replay ring holding every step as whole episodes.
"""

from __future__ import annotations

import dataclasses
import math

from ._validate import check_positive


@dataclasses.dataclass(frozen=True)
class Cadence:
    """The part of a schedule a loop step reads (static in the jitted step, whatever the budget).

    Attributes:
        learning_starts: steps of uniform random actions before the policy acts and learns.
        update_every: steps between two update calls.
    """

    learning_starts: int
    update_every: int

    def updates_at(self, step):
        """Whether an update call follows real step `step` (1-based; a Python int or a traced array)."""
        return (step % self.update_every == 0) & (step >= self.learning_starts)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When a loop acts at random, updates, evaluates, and how much replay it keeps.

    Attributes:
        total_steps: real steps per agent (the budget).
        episode_length: L (episodes never end early).
        learning_starts: steps of uniform random actions before the policy acts and learns.
        update_every: steps between two update calls.
        eval_every: steps between evaluations of the learning curve (0: only at the end).
    """

    total_steps: int
    episode_length: int
    learning_starts: int
    update_every: int
    eval_every: int = 0

    def __post_init__(self):
        for name in ("total_steps", "episode_length", "update_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name}={value!r}: must be an integer >= 1")
            check_positive(name, value)
        if self.learning_starts < 0 or self.eval_every < 0:
            raise ValueError(f"learning_starts, eval_every: must be >= 0, got {self}")

    def check_env(self, env) -> None:
        """Raise `ValueError` unless `env`'s episodes have this schedule's length (either backend's env)."""
        if env.episode_length != self.episode_length:
            raise ValueError(
                f"schedule.episode_length={self.episode_length}: the env's is {env.episode_length}"
            )

    @property
    def episodes(self) -> int:
        """Episodes per agent the run starts (the last one may be cut by the budget)."""
        return max(1, math.ceil(self.total_steps / self.episode_length))

    @property
    def capacity(self) -> int:
        """Replay slots per agent: every step, slot e*L + t is step t of episode e."""
        return self.episodes * self.episode_length

    @property
    def cadence(self) -> Cadence:
        """Random actions and update calls."""
        return Cadence(self.learning_starts, self.update_every)

    def eval_steps(self) -> list[int]:
        """The steps after which the learning curve is evaluated: every `eval_every`, then the end."""
        every = self.eval_every
        periodic = list(range(every, self.total_steps, every)) if every > 0 else []
        return [*periodic, self.total_steps]

    def segments(self, chunk: int) -> list[int]:
        """Lengths of consecutive runs of at most `chunk` steps covering the budget, each ending at
        an evaluation step where one falls inside it."""
        check_positive("chunk", chunk)
        out, done = [], 0
        for stop in self.eval_steps():
            while done < stop:
                n = min(chunk, stop - done)
                out.append(n)
                done += n
        return out
