"""The generalization bound of Theorem 6, its constants, their sensitivity, and a report.

Library: Lemmas 3-5 and Theorem 6 (``analysis._bound``), gradients/elasticities
(``analysis._sensitivity``), estimators of the constants (``analysis._estimators``).

Estimators of the constants in consistent units (``analysis._estimators``, wired to MrCoM in
``analysis._wm_constants``), the real gap of an adapted policy (``analysis._real_gap``) and a
report over many runs with the paper's mechanism claim tested across the ablations
(``analysis._bound_runs``).

Command line (see ``--help``): ``python -m analysis.bound --run <sacred run dir | workdir |
checkpoint> --out <dir>`` (one run) or ``--runs <dir> [<dir> ...] --out <dir>`` (one report over
every run found) writes ``bound.md``, ``bound.json`` and PNG figures.
"""

from analysis._bound import (
    BoundConstants,
    compose_substitution,
    compose_triangle,
    lemma3,
    lemma4,
    lemma5,
    theorem6,
    theorem6_gap,
    theorem6_terms,
    validate_constants,
)
from analysis._bound_cli import main
from analysis._bound_one_run import RunPaths, measure_run, resolve_run
from analysis._bound_runs import find_runs, mechanism_rows
from analysis._bound_runs_report import write_runs_report
from analysis._estimators import (
    calibration_tv,
    estimate_eps_pi,
    estimate_eps_s,
    estimate_eps_t,
    gaussian_kl,
    gaussian_tv_equal_std,
    gaussian_tv_mc,
    max_over_groups,
    null_floor,
    policy_tv_per_state,
    tv_from_kl,
    tv_prior_posterior,
    whitened_residuals,
)
from analysis._lipschitz import (
    estimate_lipschitz,
    gaussian_map_tv_lipschitz,
    gaussian_tv_lipschitz,
    jacobian_spectral_norms,
)
from analysis._real_gap import (
    DeterministicPopulation,
    TargetGap,
    discounted_return,
    measure_adapted,
    model_returns,
)
from analysis._sensitivity import bound_elasticities, bound_gradients, bound_value, sensitivity_table

__all__ = [
    "BoundConstants",
    "DeterministicPopulation",
    "TargetGap",
    "calibration_tv",
    "discounted_return",
    "find_runs",
    "gaussian_map_tv_lipschitz",
    "gaussian_tv_equal_std",
    "gaussian_tv_mc",
    "measure_adapted",
    "mechanism_rows",
    "model_returns",
    "null_floor",
    "policy_tv_per_state",
    "tv_prior_posterior",
    "whitened_residuals",
    "write_runs_report",
    "RunPaths",
    "main",
    "measure_run",
    "resolve_run",
    "bound_elasticities",
    "bound_gradients",
    "bound_value",
    "compose_substitution",
    "compose_triangle",
    "estimate_eps_pi",
    "estimate_eps_s",
    "estimate_eps_t",
    "estimate_lipschitz",
    "gaussian_kl",
    "gaussian_tv_lipschitz",
    "jacobian_spectral_norms",
    "lemma3",
    "lemma4",
    "lemma5",
    "max_over_groups",
    "sensitivity_table",
    "theorem6",
    "theorem6_gap",
    "theorem6_terms",
    "tv_from_kl",
    "validate_constants",
]

if __name__ == "__main__":
    import sys

    sys.exit(main())
