import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1]

SCRIPT = """
import numpy as np
import mrcom.envs as e
env = e.make([e.Scenario("hopper", 1.1, 0.9, 1.0), e.Scenario("cheetah")], episode_length=3)
obs = env.reset(0)
for _ in range(3):
    obs, r, d, info = env.step(np.zeros((2, e.ACT_DIM)))
assert obs.shape == (2, e.OBS_DIM) and d.all() and (r > 0).all()
print("ok", e.__file__)
"""


@pytest.mark.slow
def test_pip_install_envs_alone_into_fresh_venv(tmp_path):
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    venv = tmp_path / "venv"
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    subprocess.run([uv, "venv", "-q", "--python", py, str(venv)], check=True, env=env)
    python = venv / "bin" / "python"
    subprocess.run([uv, "pip", "install", "-q", "--python", str(python), str(PKG)], check=True, env=env)
    out = subprocess.run(
        [str(python), "-c", SCRIPT], check=True, capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.stdout.startswith("ok") and str(venv) in out.stdout  # imported from the fresh venv
