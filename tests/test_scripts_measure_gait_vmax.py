"""The gait search of `scripts/measure_gait_vmax.py` (v_max by CEM over gait controllers)."""

import importlib.util
import json
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "measure_gait_vmax.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("measure_gait_vmax", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_gait = _load_script()
GaitController, main = _gait.GaitController, _gait.main
measure, rollout_speed = _gait.measure, _gait.rollout_speed


def test_controller_shapes_and_padding():
    c = GaitController("hopper")
    theta = np.tile(c.init()[0], (5, 1))
    a = c(theta, np.zeros((5, 19)), t=3)
    assert a.shape == (5, 6) and np.all(a[:, 3:] == 0) and np.all(np.abs(a) <= 1)


def test_cem_finds_forward_motion_and_cli_writes_json(tmp_path):
    c = GaitController("cheetah")
    start = rollout_speed("cheetah", c, c.init()[0][None], 60, [0])[0]
    r = measure(
        "cheetah", iters=3, pop=8, elite=2, horizon=60, search_seeds=1, eval_episodes=1, eval_length=60
    )
    assert r["v_max"] > start + 0.1 and np.isfinite(r["v_max"])
    out = tmp_path / "v.json"
    assert (
        main(
            [
                "--robots",
                "hopper",
                "--iters",
                "1",
                "--pop",
                "4",
                "--horizon",
                "10",
                "--search-seeds",
                "1",
                "--eval-episodes",
                "1",
                "--eval-length",
                "10",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    assert set(json.loads(out.read_text())) == {"hopper"}
