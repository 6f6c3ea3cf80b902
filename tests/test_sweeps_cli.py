"""Command-line behaviour of sweeps: --help, and bad arguments -> one-line error, exit 2, nothing written."""

from __future__ import annotations

import pytest

BAD_ARGS = [
    (["--lambda-s", "-1", "1"], "lambda_s"),
    (["--lambda-var", "1", "0.5"], "lambda_var"),
    (["--m", "0", "4"], "m="),
    (["--preset", "huge"], "preset"),
    (["--objective", "reward"], "objective"),
    (["--protocol", "table9-z"], "protocol"),
    (["--trials", "0"], "trials"),
    (["--with", "worldmodel.context_len=3"], "worldmodel.context_len"),
    (["--storage", "postgresql://nobody@127.0.0.1:1/nowhere"], "cannot connect"),
    (["--storage", "sqlite:///no/such/folder/optuna.db"], "does not exist"),
    (["--storage", "not-a-url"], "storage"),
]


@pytest.mark.parametrize("args,needle", BAD_ARGS, ids=[" ".join(a) for a, _ in BAD_ARGS])
def test_bad_arguments_one_line_exit_2_nothing_written(tmp_path, sweeps_run, args, needle):
    proc = sweeps_run("sweeps.lambda_search", "--preset", "smoke", *args, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("lambda_search: error:") and needle in lines[0]
    assert list(tmp_path.iterdir()) == []
    assert proc.stdout == ""


def test_help_of_every_entry_point(tmp_path, sweeps_run):
    search = sweeps_run("sweeps.lambda_search", "--help", cwd=tmp_path, timeout=120)
    assert search.returncode == 0 and "--storage" in search.stdout and "--objective" in search.stdout
    run = sweeps_run("sweeps.run", "--help", cwd=tmp_path, timeout=120)
    assert run.returncode == 0 and "table1-a" in run.stdout and "--mongo" in run.stdout
    assert "pipeline" in run.stdout
    assert list(tmp_path.iterdir()) == []
