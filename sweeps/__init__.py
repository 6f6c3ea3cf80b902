"""MrCoM sweeps: the Sacred experiment (``python -m sweeps.run``) and the Optuna lambda search
(``python -m sweeps.lambda_search``). The only place in the project that knows Sacred and Optuna."""

from sweeps import _compat  # noqa: F401  (registers a pkg_resources stand-in before Sacred loads)
