"""v_max per robot: the fastest forward speed found under default dynamics.

Measured once with ``python -m mrcom.envs.measure_vmax`` (CEM over simple gait controllers on the native
engine; method and figures in docs/choices.md). Rounded to 0.01 m/s.
"""

__all__ = ["V_MAX"]

V_MAX: dict[str, float] = {"hopper": 1.28, "walker": 1.17, "cheetah": 3.62}
