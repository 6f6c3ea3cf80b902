"""The one atomic writer: the old file or the whole new one, never a part; the umask's mode, not 0600."""

import os

import jax
import pytest

from mrcom.worldmodel import atomic_write_bytes, atomic_writer, init_train_state, save_checkpoint


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield 0o644
    os.umask(old)


def test_files_get_the_umask_mode(tmp_path, umask_022, config):
    atomic_write_bytes(tmp_path / "a" / "results.json", b"{}")
    assert (tmp_path / "a" / "results.json").stat().st_mode & 0o777 == umask_022
    ckpt = save_checkpoint(tmp_path / "ck", init_train_state(config, jax.random.PRNGKey(0)), config)
    assert ckpt.stat().st_mode & 0o777 == umask_022  # readable by the group and others, as open() gives


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.json"
    atomic_write_bytes(path, b"old")
    with pytest.raises(RuntimeError), atomic_writer(path) as f:
        f.write(b"half of the new")
        raise RuntimeError("killed mid-write")
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
