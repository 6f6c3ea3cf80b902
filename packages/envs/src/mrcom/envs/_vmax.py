"""v_max per robot: the fastest forward speed under default dynamics (see `mrcom.envs.measure_vmax`)."""

__all__ = ["V_MAX"]

# PROVISIONAL: replaced by measured figures from `python -m mrcom.envs.measure_vmax`.
V_MAX: dict[str, float] = {"hopper": 3.0, "walker": 4.0, "cheetah": 10.0}
