"""v_max per robot: the fastest forward speed found under default dynamics (m/s, rounded to 0.01).

Two measurements, both reproducible, and per robot the faster one is kept (docs/choices.md, "v_max"):

- SAC trained on ``stand * (1 + speed)`` for 120k real steps, mean speed of its last 3 evaluations
  (``python scripts/measure_vmax.py --steps 120000 --seeds 1``): hopper 1.19, walker 0.76, cheetah 4.77;
- CEM over PD and torque gait controllers (``python scripts/measure_gait_vmax.py``): hopper 1.28,
  walker 1.17, cheetah 3.62.

Both are lower bounds of the true top speed (the SAC curves were still rising at 120k steps).
"""

__all__ = ["V_MAX", "V_MAX_SOURCE"]

V_MAX: dict[str, float] = {"hopper": 1.28, "walker": 1.17, "cheetah": 4.77}
V_MAX_SOURCE: dict[str, str] = {"hopper": "gait-cem", "walker": "gait-cem", "cheetah": "sac-120k"}
