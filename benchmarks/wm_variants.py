"""The world models the accuracy benchmarks train, by one name grammar, their training and its data.

A variant is `<kind>[-paper][/<ablation>]`:

- `<kind>`: a registered world model (`mrcom.worldmodel.world_model_names()`) with its preset's
  config, i.e. its defaults (for DreamerV3, MAMBA and MoW the harness options as selected by the
  same-budget grid, `mrcom.worldmodel.HarnessConfig`);
- `-paper` (DreamerV3, MAMBA, MoW): the harness options as the model's own paper has them
  (`mrcom.worldmodel.PAPER_OPTIONS`: symlog inputs, no skip path, no prediction loss). MrCoM's own
  paper version is the registered kind `mrcom-paper`;
- `/<ablation>`: an ablation of the pipeline (`mrcom.agents.ABLATIONS`; the MrCoM kinds).

Every variant of a run trains on the same data with `run_train`'s seed; a finished model in its
checkpoint folder (`<workdir>/accuracy/wm_<name>[_lr<lr>]_<steps>`, "/" written "-") is reused. That
data is the pipeline dataset split as `run_train` splits it (`split_data`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from mrcom.agents import ABLATIONS, WORLDMODEL_SECTIONS, load_dataset, split_indices, stream_seed
from mrcom.worldmodel import PAPER_OPTIONS, get_kind, world_model_names

PAPER_SUFFIX = "-paper"
HARNESS_KINDS = ("dreamerv3", "mamba", "mow")


@dataclasses.dataclass(frozen=True)
class Variant:
    """A world model to train: `<kind>[-paper][/<ablation>]` (module docstring)."""

    name: str
    kind: str
    paper_options: bool
    ablation: str

    @classmethod
    def parse(cls, name: str) -> Variant:
        base, _, ablation = name.partition("/")
        kind, paper = base, False
        if base not in world_model_names() and base.endswith(PAPER_SUFFIX):
            kind, paper = base.removesuffix(PAPER_SUFFIX), True
        if kind not in world_model_names():
            raise ValueError(f"model={name!r}: kind {kind!r} must be one of {world_model_names()}")
        if paper and kind not in HARNESS_KINDS:
            raise ValueError(f"model={name!r}: {PAPER_SUFFIX!r} applies to {HARNESS_KINDS}")
        if ablation and ablation not in ABLATIONS:
            raise ValueError(f"model={name!r}: ablation {ablation!r} must be one of {ABLATIONS}")
        return cls(name, kind, paper, ablation or "full")

    def config(self, cfg, steps: int, learning_rate: float | None = None):
        """The world-model config of this variant in pipeline config `cfg`, trained `steps` steps."""
        wm = getattr(cfg.replace(ablation=self.ablation), WORLDMODEL_SECTIONS[self.kind])
        changes = dict(PAPER_OPTIONS) if self.paper_options else {}
        if learning_rate is not None:
            changes["learning_rate"] = learning_rate
        return wm.replace(steps=steps, **changes)

    def folder(self, workdir: Path, steps: int, learning_rate: float | None = None) -> Path:
        """The checkpoint folder of this variant under `workdir`."""
        lr = "" if learning_rate is None else f"_lr{learning_rate:g}"
        return Path(workdir) / "accuracy" / f"wm_{self.name.replace('/', '-')}{lr}_{steps}"

    def train(self, cfg, data, workdir: Path, steps: int, *, learning_rate=None, progress: bool = True):
        """(kind, model, seconds): trained on `data` with `run_train`'s seed, or loaded when finished."""
        kind = get_kind(self.kind)
        t = time.perf_counter()
        model, _ = kind.train(
            data,
            self.config(cfg, steps, learning_rate),
            seed=stream_seed(cfg.seed, "worldmodel"),
            checkpoint_dir=self.folder(workdir, steps, learning_rate),
            progress=progress,
        )
        return kind, model, time.perf_counter() - t


def split_data(cfg, dataset: Path):
    """(training indices, held-out indices, training data, held-out data or None when nothing is held
    out) of the pipeline dataset at `dataset`, split as `run_train` does (the last
    `envs.num_heldout_scenarios` training scenarios held out), with the adaptation-time prompt."""
    train_idx, held_idx = split_indices(cfg)
    prompt = cfg.collect.train_prompt  # the adaptation-time kind of prompt (docs/choices.md)
    data = load_dataset(dataset, train_idx, prompt)
    held = load_dataset(dataset, held_idx, prompt) if held_idx else None
    return train_idx, held_idx, data, held


def parse_variants(names, error) -> list[Variant]:
    """`Variant.parse` of each name; `error(message)` (an argparse parser's) on the first bad one."""
    try:
        return [Variant.parse(n) for n in names]
    except ValueError as e:
        error(str(e))
        raise
