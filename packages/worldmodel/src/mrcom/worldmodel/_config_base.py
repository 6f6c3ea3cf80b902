"""ConfigBase: what every world-model config (a frozen dataclass) shares.

Serialization (`replace`, `to_dict` / `from_dict`, `to_json` / `from_json`), named presets merged
on top of the defaults (`preset`: the shared `TRAINING_BUDGETS` of the preset, then the class's own
`PRESETS`), the checks `__post_init__` runs, each raising `ValueError("<name>=<value!r>: must be ...")`,
`SharedConfig`, the fields every world model's config has, and `HarnessConfig`, the harness options of
the DreamerV3-style baselines.
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


PRESET_NAMES = ("smoke", "quick", "paper")  # every preset table of every package has exactly these

# The training budget of each preset, the same for every world model (one budget, one meaning of a preset
# name): gradient steps, the jitted chunk, the cadence of held-out evaluation and checkpoints, the evaluation
# windows. A model's own `PRESETS` hold its sizes and may not restate these fields (a test checks it).
TRAINING_BUDGETS: dict[str, dict[str, Any]] = {
    # the pipeline's smoke episodes are 20 steps: burn-in + 15 must fit
    "smoke": dict(steps=100, steps_per_call=10, eval_every=50, checkpoint_every=50, eval_windows=16)
    | dict(eval_burn_in=2, fast_compile=True),
    # 1500 -> 3000 steps: every k-step error of MrCoM falls (docs/choices.md, "World-model accuracy")
    "quick": dict(steps=3000, steps_per_call=50, eval_every=500, checkpoint_every=500, eval_windows=64),
    "paper": dict(steps=100_000, steps_per_call=100, eval_every=5000, checkpoint_every=5000)
    | dict(eval_windows=256),
}


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
        """The default config with preset `name` ("smoke", "quick", "paper"): its training budget, the
        class's sizes, then `overrides` on top."""
        if name not in cls.PRESETS:
            raise ValueError(f"preset={name!r}: must be one of {sorted(cls.PRESETS)}")
        return cls.from_dict({**TRAINING_BUDGETS[name], **cls.PRESETS[name], **overrides})

    # Checks for `__post_init__`; each raises on the first of `names` that fails.
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


@dataclasses.dataclass(frozen=True)
class SharedConfig(ConfigBase):
    """The fields every world model's config has, with their meaning for all of them.

    Data shapes: `obs_dim`, `act_dim` (padded widths), `num_scenarios` (training scenarios),
    `context_len` (m: the real steps before every training window and every prefix that the model
    may read). Optimizer: Adam at `learning_rate`, global-norm clip `grad_clip`. Batches of
    `batch_size` windows of `seq_len` steps. Training loop (`TRAINING_BUDGETS`): `steps` gradient steps
    run `steps_per_call` at a time in one jitted scan, a held-out evaluation every `eval_every` and a
    checkpoint every `checkpoint_every` steps; evaluation on `eval_windows` windows after `eval_burn_in`
    filtered steps. `fast_compile`: XLA backend optimization level 0 (about 2x faster to compile, 2.5x
    slower to run on a CPU; for smoke sizes).
    """

    obs_dim: int = 8
    act_dim: int = 2
    num_scenarios: int = 1
    context_len: int = 8
    learning_rate: float = 3e-4
    grad_clip: float = 100.0
    batch_size: int = 16
    seq_len: int = 32
    steps: int = 2000
    steps_per_call: int = 50
    eval_every: int = 500
    checkpoint_every: int = 500
    eval_windows: int = 64
    eval_burn_in: int = 8
    fast_compile: bool = False

    def __post_init__(self) -> None:
        self._require_ints(
            ("obs_dim", "act_dim", "num_scenarios", "context_len", "batch_size", "seq_len")
            + ("steps_per_call", "eval_every", "checkpoint_every", "eval_windows")
        )
        self._require_ints(("steps", "eval_burn_in"), minimum=0)
        self._require_bools(("fast_compile",))
        self._require_numbers(("grad_clip",))
        self._require_numbers(("learning_rate",), positive=True)


OBS_TRANSFORMS = ("symlog", "standardize")  # HarnessConfig.obs_transform (MrCoM's field, the same meanings)


@dataclasses.dataclass(frozen=True)
class HarnessConfig(SharedConfig):
    """The engineering options MrCoM has, for the DreamerV3-style baselines (DreamerV3, MAMBA, MoW), with
    one meaning for every model (docs/choices.md, "Harness options for the baselines"). The defaults
    are each model's better setting on held-out k-step error under the same tuning budget as every
    other model (docs/results.md, "The same-budget grid"): standardized observations, the skip
    path and the prediction loss on; the reward input as selected per model (off for DreamerV3, on for
    MAMBA and MoW). `PAPER_OPTIONS` (= `CHECKPOINT_DEFAULTS`) are the options as each model's own paper
    has them, which checkpoints written before the options existed were trained with.

    `obs_transform`: the space the encoder reads observations in and the decoder predicts them in:
    "symlog" (DreamerV3's) or "standardize" ((o - mean) / std per dimension, the statistics of the
    training data, set by `train`, stored in the model as MrCoM's `ObsNorm` and saved with its
    checkpoints).
    `obs_skip`: the decoder reads the latent and the previous observation o_{t-1} (transformed; zeros
    where there is none) and predicts the change from it, x_t = x_{t-1} + Decoder(s_t, x_{t-1}) in the
    transformed space (never o_t itself). MrCoM's `obs_skip` also feeds o_{t-1} to its prior, posterior
    and reward head; here only the decoder reads it.
    `lambda_pred`: weight of a direct one-step prediction loss, the decoder applied to a sample of the
    PRIOR's latent of step t (straight-through, from the filter's state before o_t) against o_t, the
    reconstruction's error on the latent imagination decodes (0 = off: the loss is exactly the one
    without it). MrCoM's `lambda_pred` / `loss_prediction`.
    `reward_input`: the reward in the model's recurrent / context input, lagged so that it holds no
    function of the step it helps predict: the input that predicts o_t holds rewards up to r_{t-2} (r_{t-1}
    comes with o_t). MrCoM's `context_reward`. DreamerV3 (default off): symlog r_{t-2} as an extra RSSM
    input of step t; MAMBA (default on, as MAMBA has always read it): the reward column of its extra input
    (zeroed when off); MoW (default on): the reward slot of its token [z_t, a_t, symlog r_{t-1}], which
    predicts z_{t+1}.
    """

    # the options as the baselines' papers have them (and every checkpoint written before they existed)
    CHECKPOINT_DEFAULTS: ClassVar[dict[str, Any]] = {
        "obs_transform": "symlog",
        "obs_skip": False,
        "lambda_pred": 0.0,
    }

    obs_transform: str = "standardize"
    obs_skip: bool = True
    lambda_pred: float = 1.0
    reward_input: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self._require_choice("obs_transform", OBS_TRANSFORMS)
        self._require_bools(("obs_skip", "reward_input"))
        self._require_numbers(("lambda_pred",))


PAPER_OPTIONS: dict[str, Any] = dict(HarnessConfig.CHECKPOINT_DEFAULTS)


@dataclasses.dataclass(frozen=True)
class DreamerHeadsConfig(HarnessConfig):
    """The fields of DreamerV3's categorical latents, reward head, losses and optimizer, shared by the
    models built on them (DreamerV3, MAMBA, MoW).

    Latent: `stoch` categoricals of `classes` classes, each mixed with `unimix` of the uniform.
    Reward: two-hot over `reward_bins` bins = symexp(linspace(-r, r)), r = `reward_range`.
    Losses (DreamerV3's eq. 5): `pred_scale` (decoder + reward), `dyn_scale` KL(sg(post) || prior),
    `rep_scale` KL(post || sg(prior)), each KL floored at `free_nats` per step, plus `lambda_pred` times
    the prediction loss (`HarnessConfig`). Adam's `adam_eps`.
    """

    stoch: int = 16
    classes: int = 4
    unimix: float = 0.01
    reward_bins: int = 255
    reward_range: float = 20.0
    free_nats: float = 1.0
    dyn_scale: float = 0.5
    rep_scale: float = 0.1
    pred_scale: float = 1.0
    adam_eps: float = 1e-8
    grad_clip: float = 1000.0

    def __post_init__(self) -> None:
        super().__post_init__()  # learning_rate > 0, grad_clip >= 0
        self._require_ints(("stoch",))
        self._require_ints(("classes",), minimum=2)
        odd = lambda v: is_int(v) and v >= 3 and v % 2 == 1
        self._require(("reward_bins",), odd, "an odd integer >= 3 (a bin at 0)")
        self._require_numbers(("free_nats", "dyn_scale", "rep_scale", "pred_scale"))
        self._require_numbers(("adam_eps", "reward_range"), positive=True)
        self._require_unit(("unimix",), closed=False)
