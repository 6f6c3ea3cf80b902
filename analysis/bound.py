"""The generalization bound of Theorem 6, its constants, their sensitivity, and a report.

Library: Lemmas 3-5 and Theorem 6 (``analysis._bound``), gradients/elasticities
(``analysis._sensitivity``), estimators of the constants (``analysis._estimators``).

Command line: ``python -m analysis.bound --run <sacred run dir | checkpoint dir> --out <dir>``
(see ``--help``) writes ``bound.md`` and PNG figures.
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
from analysis._bound_cli import RunPaths, main, measure_run, resolve_run
from analysis._estimators import (
    estimate_eps_pi,
    estimate_eps_s,
    estimate_eps_t,
    estimate_lipschitz,
    gaussian_kl,
    gaussian_tv_lipschitz,
    jacobian_spectral_norms,
    max_over_groups,
    tv_from_kl,
)
from analysis._sensitivity import bound_elasticities, bound_gradients, bound_value, sensitivity_table

__all__ = [
    "BoundConstants",
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
