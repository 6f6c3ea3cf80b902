"""ConfigBase: what every world-model config (a frozen dataclass) shares.

Serialization (`replace`, `to_dict` / `from_dict`, `to_json` / `from_json`), named presets merged
on top of the defaults (`preset`, reading the class's `PRESETS`), and the checks `__post_init__`
runs, each raising `ValueError("<name>=<value!r>: must be ...")`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Self


def is_int(value: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class ConfigBase:
    """Mixin for the frozen config dataclasses; subclasses set `PRESETS` (preset name -> overrides).

    It holds no fields, so the dataclass's equality and hash (a config is a static field of its
    model) are those of the subclass's fields alone.
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    # Fields added after checkpoints were written without them, with the value those checkpoints were
    # trained under (read by `checkpoint_config_of`; a config written today has every field).
    CHECKPOINT_DEFAULTS: ClassVar[dict[str, Any]] = {}
    __dataclass_fields__: ClassVar[dict[str, Any]]  # set by @dataclass on each subclass

    def replace(self, **changes) -> Self:
        """A copy with `changes` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields, JSON-ready (tuples as lists)."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"config keys {unknown}: unknown; allowed keys are {sorted(known)}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> Self:
        return cls.from_dict(json.loads(s))

    @classmethod
    def preset(cls, name: str, **overrides) -> Self:
        """The default config with preset `name` ("smoke", "quick", "paper") and `overrides` on top."""
        if name not in cls.PRESETS:
            raise ValueError(f"preset={name!r}: must be one of {sorted(cls.PRESETS)}")
        return cls.from_dict({**cls.PRESETS[name], **overrides})

    # Checks for `__post_init__`; each raises on the first of `names` that fails.
    def _require_shared(self) -> None:
        """The fields every world-model config has: data widths, context length, training loop."""
        self._require_ints(
            ("obs_dim", "act_dim", "num_scenarios", "context_len", "batch_size", "seq_len")
            + ("steps_per_call", "eval_every", "checkpoint_every", "eval_windows")
        )
        self._require_ints(("steps", "eval_burn_in"), minimum=0)
        self._require_bools(("fast_compile",))

    def _require_dreamer_losses(self) -> None:
        """The fields of DreamerV3's heads, losses and optimizer (DreamerV3, MAMBA, MoW): odd
        `reward_bins` >= 3 (a bin at 0), loss scales, free nats and clip >= 0, learning rate, Adam eps
        and reward range > 0, `unimix` in [0, 1)."""
        odd = lambda v: is_int(v) and v >= 3 and v % 2 == 1
        self._require(("reward_bins",), odd, "an odd integer >= 3 (a bin at 0)")
        self._require_numbers(("free_nats", "dyn_scale", "rep_scale", "pred_scale", "grad_clip"))
        self._require_numbers(("learning_rate", "adam_eps", "reward_range"), positive=True)
        self._require_unit(("unimix",), closed=False)

    def _require(self, names: Iterable[str], ok: Callable[[Any], bool], what: str) -> None:
        """Raise `ValueError("<name>=<value!r>: must be <what>")` for the first field not `ok`."""
        for name in names:
            value = getattr(self, name)
            if not ok(value):
                raise ValueError(f"{name}={value!r}: must be {what}")

    def _require_ints(self, names: Iterable[str], minimum: int = 1) -> None:
        self._require(names, lambda v: is_int(v) and v >= minimum, f"an integer >= {minimum}")

    def _require_numbers(self, names: Iterable[str], *, positive: bool = False) -> None:
        """Numbers >= 0 (`positive`: > 0)."""
        if positive:
            self._require(names, lambda v: is_number(v) and v > 0, "a number > 0")
        else:
            self._require(names, lambda v: is_number(v) and v >= 0, "a number >= 0")

    def _require_unit(self, names: Iterable[str], *, closed: bool = True) -> None:
        """Numbers in [0, 1] (`closed`) or [0, 1)."""
        if closed:
            self._require(names, lambda v: is_number(v) and 0 <= v <= 1, "a number in [0, 1]")
        else:
            self._require(names, lambda v: is_number(v) and 0 <= v < 1, "a number in [0, 1)")

    def _require_bools(self, names: Iterable[str]) -> None:
        self._require(names, lambda v: isinstance(v, bool), "a bool")

    def _require_choice(self, name: str, choices: tuple) -> None:
        self._require((name,), lambda v: v in choices, f"one of {choices}")

    def _require_divisible(self, name: str, by: str) -> None:
        """Field `name` a multiple of field `by`."""
        self._require((name,), lambda v: not v % getattr(self, by), f"divisible by {by}={getattr(self, by)}")
