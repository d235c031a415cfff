"""The rows of notebook 00, on this machine and with broken inputs."""

from __future__ import annotations

import pytest

from geoml_helpers.course.environment_check import (
    check_data_dir,
    check_package,
    check_stac_api,
    check_wandb,
    run_checks,
    version_at_least,
)


def test_table_has_every_row_with_status_and_fix(demo_ci, data_root):
    table = run_checks("ci", data_dir=data_root)
    assert list(table.columns) == ["check", "found", "status", "fix"]
    assert set(table["status"]) <= {"pass", "warn", "fail"}
    for name in (
        "python",
        "xarray",
        "stackstac",
        "device",
        "data directory",
        "free space",
        "demo data",
        "STAC API (local)",
        "W&B mode",
    ):
        assert name in set(table["check"]), name
    assert (table.loc[table["status"] != "pass", "fix"].str.len() > 0).all()
    stac = table.set_index("check").loc["STAC API (local)"]
    assert stac["status"] == "pass" and "127.0.0.1" in stac["found"]


def test_missing_and_old_packages_fail_with_fix():
    missing = check_package("geoml-surely-not-a-package")
    assert missing.status == "fail" and "pip install" in missing.fix
    old = check_package("numpy", minimum="999")
    assert old.status == "fail" and "999" in old.fix
    pinned = check_package("numpy", exact="0.0.1")
    assert pinned.status == "warn"


def test_version_comparison():
    assert version_at_least("2026.9.0", "2024.10")
    assert not version_at_least("0.9.18", "0.10")
    assert version_at_least("1.0.0rc1", "1.0")


def test_unreachable_api_fails_fast_with_fix():
    import time

    started = time.perf_counter()
    row = check_stac_api("http://127.0.0.1:9/v1", timeout=2)
    assert row.status == "fail" and "stac_api='local'" in row.fix
    assert time.perf_counter() - started < 10


def test_unwritable_data_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rows = check_data_dir("ci", blocker / "sub")
    assert rows[0].status == "fail" and "GEOML_DATA_DIR" in rows[0].fix


@pytest.mark.parametrize("mode,status", [("offline", "pass"), ("disabled", "pass")])
def test_wandb_modes(monkeypatch, mode, status):
    monkeypatch.setenv("WANDB_MODE", mode)
    assert check_wandb().status == status
