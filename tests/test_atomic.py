"""Atomic writes: a failed writer leaves the old file or folder and no temporary sibling behind."""

from __future__ import annotations

import pytest

from geoml_helpers.core.atomic import atomic_dir, atomic_write, write_atomic


def test_failed_file_write_keeps_the_old_content_and_no_partial(tmp_path):
    target = write_atomic(tmp_path / "table.csv", "old\n")
    with pytest.raises(RuntimeError, match="writer died"):
        with atomic_write(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("writer died")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_new_file_has_default_permissions_and_bytes_round_trip(tmp_path):
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"x")
    written = write_atomic(tmp_path / "a" / "b.bin", b"\x00\xff")
    assert written.read_bytes() == b"\x00\xff"
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_folder_is_replaced_whole_or_not_at_all(tmp_path):
    store = tmp_path / "cube.zarr"
    with atomic_dir(store) as staging:
        (staging / "old").write_text("1")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(store) as staging:
            (staging / "new").write_text("2")
            raise KeyboardInterrupt
    assert sorted(p.name for p in store.iterdir()) == ["old"]
    with atomic_dir(store) as staging:
        (staging / "new").write_text("2")
    assert sorted(p.name for p in store.iterdir()) == ["new"]
    assert store.stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cube.zarr"]

