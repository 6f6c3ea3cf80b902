"""MrCoM sweeps: the Sacred experiment (``python -m sweeps.run``) and the Optuna lambda search
(``python -m sweeps.lambda_search``). The only place in the project that knows Sacred and Optuna."""

import warnings

# Sacred 0.8.7 imports pkg_resources (setuptools < 81, pinned in the root pyproject), which warns on import.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
