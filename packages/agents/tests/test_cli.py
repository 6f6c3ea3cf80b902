"""Every mrcom.agents command answers bad input with one line on stderr and exit 2, never a traceback."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "argv, says",
    [
        (
            ["mrcom.agents.cli.train", "--preset", "smoke", "--set", "adapt.nope=3"],
            "adapt keys ['nope']: unknown",
        ),
        (
            ["mrcom.agents.cli.collect", "--preset", "smoke", "--set", "collect.train_prompt=oracle"],
            "train_prompt",
        ),
        (["mrcom.agents.cli.pipeline", "--preset", "smoke", "--methods", "dreamer"], "--methods 'dreamer'"),
        (["mrcom.agents.evaluate", "--preset", "smoke", "--methods", "dreamer"], "--methods 'dreamer'"),
        (["mrcom.agents.cli.adapt", "--preset", "smoke", "--workdir", "{tmp}/empty"], "run run_train first"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, argv, says):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    out = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip() and "WARNING" not in line]
    assert says in lines[-1], out.stderr
    assert lines[-1].startswith(f"python -m {argv[0]}") or "usage: python -m" in out.stderr
