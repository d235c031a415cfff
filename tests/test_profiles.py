"""Profiles, data directory resolution and their errors."""

from __future__ import annotations

import pytest

from geoml_helpers.core.errors import DataDirectoryError, UnknownProfileError
from geoml_helpers.core.profiles import PROFILE_NAMES, data_root, ensure_writable, get_profile, outputs_dir


def test_profiles_grow_from_ci_to_full():
    sizes = [get_profile(name).size_px for name in PROFILE_NAMES]
    dates = [get_profile(name).n_dates for name in PROFILE_NAMES]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
    assert dates == sorted(dates)
    for name in PROFILE_NAMES:
        profile = get_profile(name)
        assert profile.size_px % 6 == 0, "60 m bands need the 10 m grid to be a multiple of 6"
        assert profile.size_px % profile.block_px == 0


def test_unknown_profile_names_the_valid_ones():
    with pytest.raises(UnknownProfileError) as info:
        get_profile("laptop")
    message = str(info.value)
    assert "'laptop'" in message and all(name in message for name in PROFILE_NAMES)


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOML_DATA_DIR", str(tmp_path / "from-env"))
    assert data_root() == tmp_path / "from-env"
    assert data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert outputs_dir("ci", "models", create=False) == tmp_path / "from-env" / "outputs" / "ci" / "models"


def test_unwritable_data_dir_gives_the_fix(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DataDirectoryError) as info:
        ensure_writable(blocker / "data")
    assert "GEOML_DATA_DIR" in str(info.value) and "data_dir" in str(info.value)
