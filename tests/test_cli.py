"""``geoml`` as a user runs it: subprocesses on real label files made from the demo's labels."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from geoml_helpers.core.project import load_project
from geoml_helpers.demo.user_project import write_user_labels

GEOML = Path(sys.executable).with_name("geoml")


def geoml(*args: str, data_root: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the installed ``geoml`` entry point (or ``python -m geoml_helpers.cli`` without one)."""
    command = [str(GEOML)] if GEOML.exists() else [sys.executable, "-m", "geoml_helpers.cli"]
    env = dict(os.environ, GEOML_DATA_DIR=str(data_root)) if data_root else None
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def labels_dir(demo_ci, data_root, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("labels")
    write_user_labels(folder, data_dir=data_root, fmt="geojson", geometry="polygons")
    write_user_labels(folder, data_dir=data_root, fmt="shp.zip", geometry="points")
    return folder


def test_help_lists_subcommands_in_pipeline_order():
    result = geoml("--help")
    assert result.returncode == 0, result.stderr
    listed = [m.group(1) for m in re.finditer(r"^    (\S+)", result.stdout, re.MULTILINE)]
    assert listed == ["init", "check-source", "run", "demo", "stac", "replica"]


def test_init_on_user_style_geojson(labels_dir, data_root, tmp_path):
    out = tmp_path / "survey.toml"
    result = geoml(
        "init",
        "--labels",
        str(labels_dir / "field_survey_polygons.geojson"),
        "--class-column",
        "landcover",
        "--stac",
        "local",
        "--datetime",
        "2024-01-01/2024-12-31",
        "--out",
        str(out),
        "--data-dir",
        str(data_root),
        data_root=data_root,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout
    for expected in (
        "CRS EPSG:4326",
        "classes (6), from column 'landcover'",
        "'Alien trees' -> alien_trees",
        "invalid (repaired with make_valid) 3",
        "outside the AOI or the imagery: 4 dropped",
        "UTM zone: 34S; within one zone",
        "every class is in train, val and test",
        "74 dates",
        "storage tier 'cloud'",
        f"wrote {out}",
    ):
        assert expected in printed, (expected, printed)
    project = load_project(out)
    assert project.class_column == "landcover" and project.crs == "EPSG:32734" and project.stac == "local"
    assert project.aoi is not None, "labels off the imagery: init records the AOI cut to it"
    assert len(project.classes) == 6 and project.classes.labels[6] == "Water"
    text = out.read_text()
    assert "# What geoml init found:" in text and "# classes (6)" in text


def test_init_on_zipped_shapefile_of_points(labels_dir, data_root, tmp_path):
    out = tmp_path / "points.toml"
    result = geoml(
        "init",
        "--labels",
        str(labels_dir / "field_survey_points.zip"),
        "--class-column",
        "landcover",
        "--stac",
        "local",
        "--out",
        str(out),
        "--data-dir",
        str(data_root),
        data_root=data_root,
    )
    assert result.returncode == 0, result.stderr
    assert "0 polygons, 0 multipolygons, 94 points" in result.stdout
    assert load_project(out).labels.name == "field_survey_points.zip"


def _init_error(labels: Path, out: Path, *extra: str, data_root: Path, column: str = "landcover") -> str:
    result = geoml(
        "init", "--labels", str(labels), "--class-column", column, "--out", str(out), *extra, data_root=data_root
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert not out.exists()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_bad_inputs_each_give_one_error_line_with_the_fix(labels_dir, data_root, tmp_path, demo_ci):
    geojson = labels_dir / "field_survey_polygons.geojson"
    out = tmp_path / "bad.toml"
    local = ("--stac", "local", "--data-dir", str(data_root))
    assert "no column 'class'" in _init_error(geojson, out, *local, data_root=data_root, column="class")
    line = _init_error(geojson, out, "--stac", "earth-serch", data_root=data_root)
    assert "did you mean 'earth-search'" in line and "'planetary-computer'" in line
    line = _init_error(geojson, out, *local, "--aoi", "14,-36,24,-30", data_root=data_root)
    assert "storage tier 'object-storage'" in line and "profile 'ci' allows 2 GB" in line
    line = _init_error(geojson, out, *local, "--datetime", "2015-01-01/2015-03-01", data_root=data_root)
    assert "The datetime filter emptied the search" in line and "[imagery] datetime" in line
    # A Shapefile zipped without its .prj: no CRS.
    no_prj = tmp_path / "no_prj.zip"
    with zipfile.ZipFile(labels_dir / "field_survey_points.zip") as source, zipfile.ZipFile(no_prj, "w") as target:
        for name in source.namelist():
            if not name.endswith((".prj", ".cpg")):
                target.writestr(name, source.read(name))
    assert "have no CRS" in _init_error(no_prj, out, *local, data_root=data_root)


def test_check_source_on_the_demo_api(demo_ci, data_root):
    result = geoml("check-source", "local", "--data-dir", str(data_root), data_root=data_root)
    assert result.returncode == 0, result.stderr
    assert "[ok] assets" in result.stdout and "OK: the course can read this collection" in result.stdout


def test_run_checks_the_project_file_before_any_notebook(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[labels]\npath = "x.geojson"\nclass_colum = "c"\n')
    result = geoml("run", "--project", str(bad), "--only", "00")
    assert result.returncode == 2
    assert "Unknown key `labels.class_colum`" in result.stderr and "did you mean `labels.class_column`" in result.stderr
    helped = geoml("run", "--help")
    assert helped.returncode == 0 and "--project" in helped.stdout and "usage: geoml run" in helped.stdout


def test_old_entry_points_and_passthrough_help():
    for args in (("stac", "--help"), ("replica", "--help"), ("demo", "--help")):
        result = geoml(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "usage:" in result.stdout
    alias = Path(sys.executable).with_name("geoml-run-notebooks")
    if alias.exists():
        result = subprocess.run([str(alias), "--help"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "--project" in result.stdout
