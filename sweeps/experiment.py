"""The one Sacred experiment of MrCoM: commands ``collect``, ``train``, ``adapt``, ``evaluate``, ``pipeline``.

The config is ``mrcom.agents.PipelineConfig.to_dict()`` (resolved from the named preset and protocol),
plus ``command`` (added by a config hook), ``workdir`` (where the stages read and write; ``None`` =
``mrcom.agents.default_workdir``: ``runs/work/<preset>_<protocol>_<ablation>_seed<seed>``, the folder
every command uses) and ``shared_collect_dir`` / ``shared_baseline_dir`` (``None``, or the folders of
``mrcom.agents.Shared``: one dataset collected once under a file lock for trials differing only in
world-model weights, one adapted model-free SAC baseline). Every command runs ``mrcom.agents``' one
runner (``run_pipeline``) or one of its stages.

Named configs: presets ``smoke``, ``quick``, ``paper``; every protocol of ``mrcom.envs.PROTOCOLS``
(``table1-a`` ...); ablations ``ablation-wo_d``, ``ablation-wo_c``, ``ablation-wo_ls``,
``ablation-wo_lv`` (and ``ablation-full``). Example::

    python -m sweeps.run pipeline with quick table1-a seed=3

Each metric goes to Sacred as a float with its step; a non-finite metric stops the run as
diverged (the reason is kept in ``info["diverged"]``). ``results.json``, the dataset manifest and
small checkpoint metadata are artifacts; large datasets and checkpoints are recorded by path and
size in ``info["paths"]``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import sacred
from sacred import Experiment
from sacred.config.config_dict import ConfigDict
from sacred.utils import SacredInterrupt, apply_backspaces_and_linefeeds

from mrcom.agents import ABLATIONS, PRESETS
from sweeps import _hooks
from sweeps._plain import to_plain
from sweeps.layout import MANIFEST_ARTIFACT, RESULTS_ARTIFACT, RunsDir

# each command of the experiment: one stage (or the whole pipeline), its ``--help`` line
STAGE_DOCS = {
    "collect": "Collect the multi-scenario dataset (behaviour SAC per training scenario) into "
    "workdir/dataset.",
    "train": "Train the world model on workdir/dataset; checkpoint in workdir/worldmodels/mrcom.",
    "adapt": "Adapt MrCoM-MBPO and model-free SAC on the protocol's evaluation targets.",
    "evaluate": "Evaluate; writes workdir/results.json (recorded as an artifact).",
    "pipeline": "collect, train, adapt and evaluate in order (stages already on disk are skipped).",
}
STAGES = tuple(STAGE_DOCS)
# config keys that are not PipelineConfig fields
RUN_KEYS = ("command", "workdir", "shared_collect_dir", "shared_baseline_dir")

sacred.SETTINGS.CAPTURE_MODE = "sys"
sacred.SETTINGS.CONFIG.READ_ONLY_CONFIG = True

ex = Experiment("mrcom")
ex.captured_out_filter = apply_backspaces_and_linefeeds  # type: ignore[assignment]  # sacred leaves it unannotated (None); progress bars: keep only their final state


class PrunedInterrupt(SacredInterrupt):
    """Raised inside a run when its Optuna trial is pruned; Sacred records status ``PRUNED``."""

    STATUS = "PRUNED"


class DivergedError(RuntimeError):
    """A logged metric became NaN or infinite; the run fails with this reason."""


def is_divergence(error: BaseException) -> bool:
    """Whether ``error`` reports diverged training: our DivergedError (a NaN/inf metric) or the world
    model's own non-finite-loss error (``mrcom.worldmodel`` raises ``NonFiniteLossError``)."""
    return isinstance(error, DivergedError) or "nonfinite" in type(error).__name__.lower()


def protocol_names() -> tuple[str, ...]:
    """Every protocol name known to ``mrcom.envs`` (the keys of ``PROTOCOLS``)."""
    from mrcom.envs import PROTOCOLS

    return tuple(PROTOCOLS)


def resolve_config(fixed: dict[str, Any]) -> dict[str, Any]:
    """Full ``PipelineConfig.to_dict()`` for the preset/protocol/ablation chosen in ``fixed``.

    Arguments:
        fixed: the values set so far by named configs and ``with`` updates (only the keys
            ``preset``, ``protocol`` and ``ablation`` are read here; the rest override later).

    Returns:
        A plain dict with every ``PipelineConfig`` field plus ``workdir`` and ``shared_collect_dir``.
    """
    from mrcom.agents import preset

    name = fixed.get("preset", "smoke")
    if name not in PRESETS:
        raise ValueError(f"preset={name!r}: must be one of {', '.join(PRESETS)}")
    kwargs: dict[str, Any] = {}
    if "ablation" in fixed:
        kwargs["ablation"] = fixed["ablation"]
    full = to_plain(preset(name, fixed.get("protocol"), **kwargs).to_dict())
    full.setdefault("workdir", None)
    full.setdefault("shared_collect_dir", None)
    full.setdefault("shared_baseline_dir", None)
    return full


class _PipelineConfigScope:
    """Sacred config entry: the packages' dataclass config, resolved after the named configs."""

    def __call__(self, fixed=None, preset=None, fallback=None):
        plain_fixed = to_plain(fixed or {})
        return ConfigDict(resolve_config(plain_fixed))(fixed=fixed, preset=preset, fallback=fallback)


ex.configurations.append(_PipelineConfigScope())

for _name in PRESETS:
    ex.add_named_config(_name, {"preset": _name})
for _name in ABLATIONS:
    ex.add_named_config(f"ablation-{_name}", {"ablation": _name})
for _name in protocol_names():
    ex.add_named_config(_name, {"protocol": _name})


@ex.config_hook
def _add_command(config, command_name, logger):
    """Record the command in the config, so ``config.json`` alone says what ran."""
    return {"command": command_name}


def pipeline_config(config: dict[str, Any]):
    """Build ``PipelineConfig`` from a run's config (plain types only; run keys removed)."""
    from mrcom.agents import PipelineConfig

    plain = to_plain(config)
    for key in RUN_KEYS:
        plain.pop(key, None)
    return PipelineConfig.from_dict(plain)


def make_logger(run):
    """The ``log(name, value, step)`` callback handed to the ``mrcom.agents`` stages.

    Logs ``float(value)`` to Sacred at ``int(step)``, stops the run on a non-finite value and then
    calls the registered metric hooks (which may raise, e.g. to prune).
    """

    def log(name: str, value: float, step: int) -> None:
        value, step = float(value), int(step)
        if not math.isfinite(value):
            reason = f"{name}={value} at step {step}"
            run.info["diverged"] = {"metric": name, "value": str(value), "step": step, "reason": reason}
            raise DivergedError(f"training diverged: {reason}")
        run.log_scalar(name, value, step)
        for hook in list(_hooks.metric_hooks):
            hook(name, value, step)

    return log


def _dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _record_outputs(run, workdir: Path) -> None:
    """Artifacts for small files, paths and sizes in ``info["paths"]`` for the large ones."""
    from mrcom.agents import Workdir

    wd = Workdir(workdir)
    paths = run.info.setdefault("paths", {})
    paths["workdir"] = str(workdir.resolve())
    for name, p in (("dataset", wd.dataset), ("worldmodel", wd.worldmodel())):
        if p.exists():
            paths[name] = {"path": str(p.resolve()), "bytes": _dir_size(p)}
    manifest = wd.dataset_manifest
    if manifest.is_file():
        run.add_artifact(str(manifest), name=MANIFEST_ARTIFACT)
    if wd.results.is_file():
        paths["results"] = str(wd.results.resolve())
        run.add_artifact(str(wd.results), name=RESULTS_ARTIFACT)


def _summary(result: Any) -> dict[str, Any] | None:
    """Small, JSON-able summary: mean normalized return per method and the world-model metrics."""
    if not (isinstance(result, dict) and "methods" in result):
        return None
    out: dict[str, Any] = {}
    for method, robots in result["methods"].items():
        values = [float(v) for vs in robots.values() for v in vs]
        out[method] = sum(values) / len(values) if values else None
    if "worldmodel" in result:
        out["worldmodel"] = {k: float(v) for k, v in result["worldmodel"].items()}
    return out


def run_stage(stage: str, run, config: dict[str, Any]) -> float | None:
    """Run one stage (or the whole pipeline) of ``mrcom.agents`` inside the Sacred run ``run``.

    Returns:
        For ``evaluate`` and ``pipeline``: the mean normalized return of MrCoM over every robot and
        target (the run's ``result``, a float so that every observer can store it); the per-method
        summary is in ``info["summary"]``. ``None`` for the other stages.
    """
    import mrcom.agents as agents

    if stage not in STAGES:
        raise ValueError(f"stage={stage!r}: must be one of {', '.join(STAGES)}")
    for hook in list(_hooks.start_hooks):
        hook(run)
    plain = to_plain(config)
    cfg = pipeline_config(plain)
    workdir = Path(plain.get("workdir") or agents.default_workdir(plain, RunsDir().work))
    workdir.mkdir(parents=True, exist_ok=True)
    log = make_logger(run)
    shared = agents.Shared(
        *(Path(plain[k]) if plain.get(k) else None for k in ("shared_collect_dir", "shared_baseline_dir"))
    )
    try:
        if stage == "pipeline":  # the one runner: it links and stores what is shared itself
            result = agents.run_pipeline(cfg, workdir, log=log, shared=shared)
        else:
            with agents.sharing(cfg, workdir, shared, log, dataset=stage != "collect"):
                result = getattr(agents, f"run_{stage}")(cfg, workdir, log=log)
    except Exception as e:
        if is_divergence(e) and "diverged" not in run.info:
            run.info["diverged"] = {"reason": f"{type(e).__name__}: {e}"}
        raise
    finally:
        _record_outputs(run, workdir)
    summary = _summary(result)
    if summary is None:
        return None
    run.info["summary"] = summary
    mrcom = summary.get("mrcom")
    return None if mrcom is None else float(mrcom)


def _stage_command(stage: str):
    """The Sacred command ``stage`` (named after it): ``run_stage(stage, ...)`` in the run."""

    def command(_run, _config):
        return run_stage(stage, _run, _config)

    command.__name__ = command.__qualname__ = stage
    command.__doc__ = STAGE_DOCS[stage]
    return ex.command(command)


for _stage in STAGES:
    _stage_command(_stage)

ex.default_command = "pipeline"  # type: ignore[assignment]  # sacred leaves it unannotated (None)
