"""MrCoM sweeps: the Sacred experiment (``python -m sweeps.run``) and the Optuna lambda search
(``python -m sweeps.lambda_search``). The only place in the project that knows Sacred and Optuna."""

import warnings

# Sacred 0.8.7 imports pkg_resources (setuptools < 81, pinned in the root pyproject), which warns on import.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

from sweeps._objective import model_error, objective_value  # noqa: E402
from sweeps._search_config import SEARCH_DELTA, param_updates, search_config, trial_updates  # noqa: E402

__all__ = [
    "SEARCH_DELTA",
    "model_error",
    "objective_value",
    "param_updates",
    "search_config",
    "trial_updates",
]
