"""Objectives of the lambda search and the intermediate values reported for pruning.

``model`` (the default): held-out world-model error, mean of the k = 1, 5, 15 step observation NMSE
plus the value-equivalence error over the variance of the real meta-value (``value_equiv_rel``,
scale-free like the NMSE; the absolute ``value_equiv`` is about 1e-4 and would leave the objective the
k-step error alone), from each seed's ``worldmodels/mrcom/metrics.json``; minimized. A trial runs the
Sacred ``train`` command (collect + train, no adaptation) once per seed of
``SearchConfig.trial_seeds`` and its value is the mean over them. Intermediate values: after the i-th
seed (step i, from 0), the mean over the seeds done so far, so the median pruner compares trials on the
same seeds.

``adapt``: mean normalized return of MrCoM over every robot and evaluation target of the trial's
protocol (``results.json`` ``methods.mrcom``); maximized. A trial runs the ``pipeline`` command on
one seed. Intermediate values: at each evaluation of the adaptation (real step s), the mean over robots
of ``adapt/mrcom/<robot>/normalized_return``, reported at step s once every target robot is logged for
s (the curve of the objective itself, so the median pruner compares trials at the same real step on the
same quantity).
"""

from __future__ import annotations

import json
import math
from typing import Any

MODEL_TERMS = ("k1_obs_nmse", "k5_obs_nmse", "k15_obs_nmse")
# the Sacred command a trial runs per seed, by objective
OBJECTIVE_COMMANDS = {"model": "train", "adapt": "pipeline"}
VALUE_TERM = "value_equiv_rel"


def model_error(metrics: dict[str, float]) -> float:
    """``mean(k1, k5, k15 observation NMSE) + value_equiv_rel`` from a dict of world-model metrics."""
    missing = [k for k in (*MODEL_TERMS, VALUE_TERM) if k not in metrics]
    if missing:
        raise ValueError(f"world-model metrics {sorted(metrics)}: missing {missing} for objective 'model'")
    return sum(float(metrics[k]) for k in MODEL_TERMS) / len(MODEL_TERMS) + float(metrics[VALUE_TERM])


def objective_value(results: dict[str, Any], objective: str) -> float:
    """The objective of one pipeline run.

    Arguments:
        results: for ``adapt`` the parsed ``results.json`` written by ``mrcom.agents.run_evaluate``;
            for ``model`` a dict whose ``worldmodel`` holds MrCoM's world-model metrics (a
            ``results.json``, or ``{"worldmodel": <worldmodels/mrcom/metrics.json>}``).
        objective: ``adapt`` or ``model``.

    Returns:
        A finite float.
    """
    if objective == "adapt":
        per_robot = results["methods"]["mrcom"]
        values = [float(v) for vs in per_robot.values() for v in vs]
        if not values:
            raise ValueError("results.json methods.mrcom: no normalized returns for objective 'adapt'")
        value = sum(values) / len(values)
    elif objective == "model":
        value = model_error(results["worldmodel"])
    else:
        raise ValueError(f"objective={objective!r}: must be one of adapt, model")
    if not math.isfinite(value):
        raise ValueError(f"objective {objective}={value}: not finite")
    return value


def uninformative_until(pcfg: Any) -> int:
    """The real step up to which (inclusive) the learning curve says nothing about the lambdas.

    Before ``adapt.start_steps`` the model has not been used; before ``sac.learning_starts`` no update
    has run (at it, one burst). Every trial's curve up to there is the same initial policy within
    noise, and a median pruner fed those points would prune on noise.

    Arguments:
        pcfg: the trial's ``mrcom.agents.PipelineConfig``.

    Returns:
        ``max(adapt.start_steps, sac.learning_starts)``: the ``after_step`` of ``IntermediateValues``.
    """
    return max(int(pcfg.adapt.start_steps), int(pcfg.sac.learning_starts))


def run_objective(workdir, objective: str) -> float:
    """The objective of the pipeline run in ``workdir`` (a ``mrcom.agents.Workdir`` root): ``model``
    from ``worldmodels/mrcom/metrics.json``, ``adapt`` from ``results.json``."""
    from mrcom.agents import Workdir

    wd = Workdir(workdir)
    path = wd.worldmodel_metrics("mrcom") if objective == "model" else wd.results
    if not path.is_file():
        raise ValueError(f"{path}: missing; the run wrote no result for objective {objective!r}")
    data = json.loads(path.read_text())
    return objective_value({"worldmodel": data} if objective == "model" else data, objective)


class IntermediateValues:
    """Turns what a trial logs into ``(step, value)`` pairs to report to Optuna: the stream of metrics
    (``adapt``) or the seeds' objectives (``model``, ``seed_done``).

    Arguments:
        objective: ``adapt`` or ``model``.
        robots: for ``adapt``, the robots of the target scenarios (a step is complete when each is
            logged); ``None`` until known (then nothing is reported).
        after_step: for ``adapt``, curve points at or before this real step are not reported. The
            trial passes ``max(adapt.start_steps, sac.learning_starts)``: before ``start_steps`` the
            model has not been used, before ``learning_starts`` no update has run (at it, one burst),
            so every trial's curve there is the same initial policy, within noise, and the value carries
            no signal about the lambdas (the median pruner would prune on noise).
    """

    def __init__(self, objective: str, robots: frozenset[str] | None = None, after_step: int = 0):
        if objective not in ("adapt", "model"):
            raise ValueError(f"objective={objective!r}: must be one of adapt, model")
        self.objective = objective
        self.robots = robots
        self.after_step = int(after_step)
        self._pending: dict[int, dict[str, float]] = {}
        self._seed_values: list[float] = []

    def seed_done(self, value: float) -> tuple[int, float] | None:
        """For ``model``: one more seed's objective; returns ``(i, mean of the i + 1 seeds so far)``."""
        if self.objective != "model":
            return None
        self._seed_values.append(float(value))
        return len(self._seed_values) - 1, sum(self._seed_values) / len(self._seed_values)

    def __call__(self, name: str, value: float, step: int) -> tuple[int, float] | None:
        """Feed one logged metric; return ``(step, value)`` when an intermediate value is complete."""
        if self.objective != "adapt":  # model: reported per seed (seed_done)
            return None
        parts = name.split("/")
        is_curve = len(parts) == 4 and parts[:2] == ["adapt", "mrcom"] and parts[3] == "normalized_return"
        if not is_curve or not self.robots or parts[2] not in self.robots or step <= self.after_step:
            return None
        terms = self._pending.setdefault(int(step), {})
        terms[parts[2]] = float(value)
        if set(terms) == set(self.robots):
            del self._pending[int(step)]
            return int(step), sum(terms.values()) / len(terms)
        return None
