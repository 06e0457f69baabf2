"""virtlab/files.py: a file other processes read is replaced whole, by any number of
writers at once."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from virtlab.files import replace_file


def test_writers_at_once_each_replace_the_file_whole(tmp_path):
    target = tmp_path / "cache.json"
    contents = [bytes([65 + n]) * 200_000 for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda data: replace_file(target, data), contents))
    assert target.read_bytes() in contents
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]  # no temporary left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "cache.json"
    replace_file(target, b"old")
    with pytest.raises(TypeError):
        replace_file(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]
