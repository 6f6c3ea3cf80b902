"""PipelineConfig: one default plus named presets (smoke, quick, paper) merged on top, DreamerV3 style.

`preset(name, protocol, **overrides)` builds a validated config. Overrides are top-level fields
(`seed=1`), whole sections as dicts (`adapt={"real_steps": 500}`) or dotted keys
(`**{"worldmodel.lambda_s": 0.5}`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from mrcom.envs import ACT_DIM, ENGINES, OBS_DIM, OOD_SAMPLING, PROTOCOLS, ROBOTS
from mrcom.worldmodel import ABLATIONS as ABLATIONS  # defined once, in mrcom.worldmodel
from mrcom.worldmodel import PRESET_NAMES as PRESETS
from mrcom.worldmodel import CaDMConfig, DreamerConfig, MambaConfig, MoWConfig, PaperConfig, WorldModelConfig

from ._ac_config import ACConfig, ac_base, ac_method
from ._sac_config import SACConfig
from ._validate import check_choice, check_int, check_positive, check_range

# Model-based methods adapt by MBPO with their world model (one registry name each, mrcom.worldmodel);
# "sac-utd": model-free SAC at MBPO's update-to-data ratio (adapt.updates_per_step), the control that
# separates what the model's data add from what the higher update ratio adds. "mrcom-paper": MrCoM as
# the paper prints it (`mrcom.worldmodel.PaperConfig`: our additions off), reported beside "mrcom".
MODEL_METHODS = ("mrcom", "mrcom-paper", "cadm", "dreamerv3", "mamba", "mow")
MODEL_FREE_METHODS = ("sac", "sac-utd")
# "<kind>-ac": the world model of <kind> with DreamerV3's imagination actor-critic instead of MBPO
# (its own learner; section `ac`), one per model-based method.
AC_METHODS = tuple(ac_method(m) for m in MODEL_METHODS)
METHODS = MODEL_METHODS + MODEL_FREE_METHODS + AC_METHODS
DEFAULT_METHODS = ("mrcom", "sac", "sac-utd")
# the config section of each model-based method's world model
WORLDMODEL_SECTIONS = {
    "mrcom": "worldmodel",
    "mrcom-paper": "mrcom_paper",
    "cadm": "cadm",
    "dreamerv3": "dreamerv3",
    "mamba": "mamba",
    "mow": "mow",
}
TARGET_SPLITS = ("test", "validation")
# how a training scenario is prompted (`collect.train_prompt`, `mrcom.agents.find_prompt`)
PROMPT_KINDS = ("first_episode", "expert")


@dataclasses.dataclass(frozen=True)
class EnvsConfig:
    """Scenarios and engine.

    Arguments:
        engine: "native" (C MuJoCo, CPU) or "mjx" (GPU).
        episode_length: fixed episode length L (the paper: 1000).
        robots: robots used (a subset of the protocol's; the paper uses all three).
        num_train_scenarios: training scenarios drawn from the protocol's train distribution.
        num_heldout_scenarios: of those, how many (robots in turn) are held out of world-model
            training and used for its evaluation metrics.
        num_targets: target scenarios drawn from the protocol's eval distribution (robots in turn).
        target_split: "test" (the reported targets) or "validation" (the lambda search's targets, drawn
            from a disjoint seed stream).
        ood_sampling: how OOD protocols draw targets: "outside" (outside the training box, the paper's
            "exceed") or "wide" (anywhere in the wider box, which contains the training box).
    """

    engine: str = "native"
    episode_length: int = 1000
    robots: tuple[str, ...] = ROBOTS
    num_train_scenarios: int = 30
    num_heldout_scenarios: int = 3
    num_targets: int = 6
    target_split: str = "test"
    ood_sampling: str = "outside"

    def __post_init__(self):
        robots = (self.robots,) if isinstance(self.robots, str) else tuple(self.robots)
        object.__setattr__(self, "robots", robots)
        check_choice("envs.engine", self.engine, ENGINES)
        check_choice("envs.target_split", self.target_split, TARGET_SPLITS)
        check_choice("envs.ood_sampling", self.ood_sampling, OOD_SAMPLING)
        for r in robots:
            check_choice("envs.robots", r, ROBOTS)
        if not robots:
            raise ValueError(f"envs.robots={robots!r}: must name at least one of {ROBOTS}")
        for name in ("episode_length", "num_targets"):
            check_positive(f"envs.{name}", getattr(self, name))
        check_range("envs.num_heldout_scenarios", self.num_heldout_scenarios, 0, self.num_train_scenarios - 1)


@dataclasses.dataclass(frozen=True)
class CollectConfig:
    """Training-phase data collection.

    Arguments:
        steps_per_scenario: real steps of the behaviour SAC in each training scenario (all kept);
            rounded up to whole episodes.
        prompt_episodes: K expert episodes per scenario from the final (deterministic) policy.
        batch_scenarios: scenarios trained together in one batched env (independent agents).
        train_prompt: the prompt of each training scenario when the world model trains and is
            evaluated: "first_episode" (its first behaviour episode, random actions: the kind of
            prompt a new target gives at adaptation) or "expert" (its K expert episodes).
    """

    steps_per_scenario: int = 100_000
    prompt_episodes: int = 2
    batch_scenarios: int = 8
    train_prompt: str = "first_episode"

    def __post_init__(self):
        for name in ("steps_per_scenario", "prompt_episodes", "batch_scenarios"):
            check_positive(f"collect.{name}", getattr(self, name))
        check_choice("collect.train_prompt", self.train_prompt, PROMPT_KINDS)


@dataclasses.dataclass(frozen=True)
class AdaptConfig:
    """MBPO-style scenario adaptation (and its model-free SAC baseline).

    Arguments:
        real_steps: budget in real environment steps per target scenario.
        real_ratio: share of real transitions in every SAC batch (the rest from model rollouts).
        rollout_length: k, length of each branched model rollout.
        rollouts_per_step: branched rollouts started per real step (started in bursts before each
            SAC update call, `sac.update_every` real steps at a time).
        updates_per_step: MBPO's gradient steps per real step (its update-to-data ratio). Model data
            is what lets MBPO update more often than model-free SAC, which keeps `sac.updates_per_step`.
        model_buffer_steps: real steps' worth of rollouts the model buffer keeps (FIFO).
        prefix_len: real steps before the branch point the posterior filters over.
        start_steps: real steps before model rollouts begin (the world model first needs a prompt).
        model_sample: sample the world model's priors in rollouts (False: prior means, whose k-step
            predictions are more accurate for a single, non-ensemble model).
        prompt: "dataset" (expert episodes of the target when the dataset holds it, else the first
            real episode) or "first_episode" (always the first real episode).
        eval_every: real steps between evaluations of the learning curve.
        methods: methods run (of `METHODS`); model-free "sac" is always included.
    """

    real_steps: int = 100_000
    real_ratio: float = 0.5
    rollout_length: int = 1
    rollouts_per_step: int = 4
    updates_per_step: int = 10
    model_buffer_steps: int = 10_000
    prefix_len: int = 8
    start_steps: int = 1000
    model_sample: bool = False
    prompt: str = "dataset"
    eval_every: int = 10_000
    methods: tuple[str, ...] = DEFAULT_METHODS

    def __post_init__(self):
        object.__setattr__(self, "methods", tuple(self.methods))
        for name in (
            "real_steps",
            "rollout_length",
            "rollouts_per_step",
            "updates_per_step",
            "model_buffer_steps",
            "prefix_len",
            "eval_every",
        ):
            check_positive(f"adapt.{name}", getattr(self, name))
        check_range("adapt.real_ratio", self.real_ratio, 0.0, 1.0)
        check_range("adapt.start_steps", self.start_steps, 0, self.real_steps)
        check_choice("adapt.prompt", self.prompt, ("dataset", "first_episode"))
        check_choice("adapt.model_sample", self.model_sample, (True, False))
        for m in self.methods:
            check_choice("adapt.methods", m, METHODS)
        if "sac" not in self.methods:
            raise ValueError(f"adapt.methods={self.methods!r}: must include 'sac' (always reported beside)")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Evaluation of the final deterministic policies.

    Arguments:
        episodes: E evaluation episodes per target scenario and seed.
    """

    episodes: int = 10

    def __post_init__(self):
        check_positive("eval.episodes", self.episodes)


_SECTIONS = {
    "envs": EnvsConfig,
    "collect": CollectConfig,
    "sac": SACConfig,
    "worldmodel": WorldModelConfig,
    "mrcom_paper": PaperConfig,
    "cadm": CaDMConfig,
    "dreamerv3": DreamerConfig,
    "mamba": MambaConfig,
    "mow": MoWConfig,
    "ac": ACConfig,
    "adapt": AdaptConfig,
    "eval": EvalConfig,
}


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Everything one run of collect -> train -> adapt -> evaluate needs.

    `ablation` is the source of truth for the world model's ablation, and every world model's
    `obs_dim`, `act_dim` and `num_scenarios` are derived from `envs` (padded widths, training
    scenarios not held out), so they are overwritten here. `worldmodel` is MrCoM's config and
    `mrcom_paper` the paper's MrCoM's (both take `ablation`); `cadm`,
    `dreamerv3`, `mamba` and `mow` are the baselines' (used when `adapt.methods` names them or their
    `<kind>-ac`); `ac` is the imagination actor-critic's.
    """

    protocol: str = "table1-a"
    seed: int = 0
    preset: str = "paper"
    ablation: str = "full"
    envs: EnvsConfig = EnvsConfig()
    collect: CollectConfig = CollectConfig()
    sac: SACConfig = SACConfig()
    worldmodel: WorldModelConfig = WorldModelConfig()
    mrcom_paper: PaperConfig = PaperConfig()
    cadm: CaDMConfig = CaDMConfig()
    dreamerv3: DreamerConfig = DreamerConfig()
    mamba: MambaConfig = MambaConfig()
    mow: MoWConfig = MoWConfig()
    ac: ACConfig = ACConfig()
    adapt: AdaptConfig = AdaptConfig()
    eval: EvalConfig = EvalConfig()

    def __post_init__(self):
        check_choice("protocol", self.protocol, tuple(PROTOCOLS))
        check_choice("preset", self.preset, PRESETS)
        check_choice("ablation", self.ablation, ABLATIONS)
        check_int("seed", self.seed, 0)
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise ValueError(f"{name}={getattr(self, name)!r}: must be a {cls.__name__}")
        shapes = dict(
            obs_dim=OBS_DIM,
            act_dim=ACT_DIM,
            num_scenarios=self.envs.num_train_scenarios - self.envs.num_heldout_scenarios,
        )
        object.__setattr__(self, "worldmodel", self.worldmodel.replace(**shapes, ablation=self.ablation))
        object.__setattr__(self, "mrcom_paper", self.mrcom_paper.replace(**shapes, ablation=self.ablation))
        object.__setattr__(self, "cadm", self.cadm.replace(**shapes))
        object.__setattr__(self, "dreamerv3", self.dreamerv3.replace(**shapes))
        object.__setattr__(self, "mamba", self.mamba.replace(**shapes))
        object.__setattr__(self, "mow", self.mow.replace(**shapes))
        bases = {ac_base(m) or m for m in self.adapt.methods}
        checked = {WORLDMODEL_SECTIONS[m] for m in bases if m in MODEL_METHODS} | {"worldmodel"}
        for section in sorted(checked):
            self._check_worldmodel(section, getattr(self, section))

    def _check_worldmodel(self, section: str, wm) -> None:
        """A world model's windows must fit the episodes and its context the prompt."""
        if self.collect.prompt_episodes * self.envs.episode_length < wm.context_len:
            raise ValueError(
                f"collect.prompt_episodes={self.collect.prompt_episodes}: prompt steps must be >= "
                f"{section}.context_len={wm.context_len}"
            )
        if self.envs.num_heldout_scenarios and wm.eval_burn_in + 15 > self.envs.episode_length:
            raise ValueError(
                f"{section}.eval_burn_in={wm.eval_burn_in}: eval windows of eval_burn_in + 15 steps "
                f"must fit in envs.episode_length={self.envs.episode_length}"
            )
        if wm.seq_len > self.envs.episode_length:
            raise ValueError(
                f"{section}.seq_len={wm.seq_len}: must be <= envs.episode_length={self.envs.episode_length}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types only (lists for tuples), JSON-able."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PipelineConfig:
        """Inverse of `to_dict`; unknown keys raise ValueError."""
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"config keys {unknown}: unknown; allowed keys are {sorted(known)}")
        for name, sec in _SECTIONS.items():
            if name in d and isinstance(d[name], dict):
                fields = {f.name: f for f in dataclasses.fields(sec)}
                bad = sorted(set(d[name]) - set(fields))
                if bad:
                    raise ValueError(f"{name} keys {bad}: unknown; allowed keys are {sorted(fields)}")
                values = {k: tuple(v) if isinstance(v, list) else v for k, v in d[name].items()}
                d[name] = sec(**values)
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, s: str) -> PipelineConfig:
        return cls.from_dict(json.loads(s))

    def replace(self, **overrides) -> PipelineConfig:
        """A copy with overrides applied (same forms as `preset`)."""
        return PipelineConfig.from_dict(_merge(self.to_dict(), _nest(overrides)))


def _nest(overrides: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if "." in key:
            section, field = key.split(".", 1)
            out.setdefault(section, {})[field] = value
        elif key in _SECTIONS and isinstance(value, dict):
            out.setdefault(key, {}).update(value)
        else:
            out[key] = value
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if key in _SECTIONS and isinstance(value, dict):
            if key not in out or not isinstance(out[key], dict):
                raise ValueError(f"{key}={value!r}: unknown section")
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _worldmodels(name: str) -> dict[str, dict[str, Any]]:
    """Every world-model section of preset `name`: each model's own `preset(name)`, which holds the one
    training budget of the preset (`mrcom.worldmodel.TRAINING_BUDGETS`) under the model's sizes."""
    configs: dict[str, Any] = {s: _SECTIONS[s] for s in WORLDMODEL_SECTIONS.values()}
    return {section: cls.preset(name).to_dict() for section, cls in configs.items()}


# Preset overrides on top of the defaults (which are the paper scale).
_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "envs": dict(episode_length=20, num_train_scenarios=4, num_heldout_scenarios=1, num_targets=4),
        "collect": dict(steps_per_scenario=100, prompt_episodes=1, batch_scenarios=4),
        "sac": dict(hidden=(32, 32), batch_size=32, learning_starts=40, update_every=20, fast_compile=True),
        **_worldmodels("smoke"),
        "adapt": dict(
            real_steps=80,
            rollout_length=2,
            rollouts_per_step=2,
            updates_per_step=2,
            model_buffer_steps=80,
            prefix_len=2,
            start_steps=20,
            eval_every=40,
        ),
        "ac": dict(horizon=5, batch_size=8, units=32, layers=1, bins=41),
        "eval": dict(episodes=1),
    },
    "quick": {
        "envs": dict(episode_length=200, num_train_scenarios=9, num_heldout_scenarios=3, num_targets=3),
        "collect": dict(steps_per_scenario=4000, prompt_episodes=1, batch_scenarios=9),
        "sac": dict(hidden=(128, 128), batch_size=128, learning_starts=1000, update_every=50),
        **_worldmodels("quick"),
        "adapt": dict(
            real_steps=3000,
            rollout_length=5,  # k = 1, 3, 5 measured: docs/choices.md, "Rollout length k"
            rollouts_per_step=4,
            updates_per_step=5,
            model_buffer_steps=2000,
            prefix_len=8,
            start_steps=600,
            eval_every=1000,
        ),
        "ac": dict(units=128),
        "eval": dict(episodes=3),
    },
    "paper": {
        "envs": dict(engine="mjx"),
        **_worldmodels("paper"),
    },
}


def preset(name: str, protocol: str | None = None, **overrides) -> PipelineConfig:
    """The default config with preset `name` and `overrides` merged on top.

    Arguments:
        name: "smoke" (CI: the whole chain in well under a minute), "quick" (CPU minutes) or
            "paper" (GPU, MJX engine, the paper's scale).
        protocol: a key of `mrcom.envs.PROTOCOLS` (default "table1-a").
        **overrides: top-level fields, section dicts or dotted "section.field" keys.

    Returns:
        A validated `PipelineConfig`.
    """
    if name not in _PRESETS:
        raise ValueError(f"preset={name!r}: must be one of {PRESETS}")
    base = PipelineConfig(preset="paper").to_dict()
    d = _merge(base, _nest(_PRESETS[name]))
    d["preset"] = name
    if protocol is not None:
        d["protocol"] = protocol
    return PipelineConfig.from_dict(_merge(d, _nest(overrides)))
