"""The project file, prepare_labels on real label files as users have them, and each bad input's error."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Polygon, box

from geoml_helpers.core.errors import (
    AoiTooLargeError,
    EmptySearchError,
    LabelError,
    MissingDependencyError,
    ProjectFileError,
    UnknownSourceError,
)
from geoml_helpers.core.profiles import check_imagery_size, estimate_imagery
from geoml_helpers.core.project import (
    COURSE_BANDS,
    PLANETARY_COMPUTER_BANDS,
    STAC_SOURCES,
    Project,
    demo_project,
    load_project,
    project_to_toml,
    resolve_project,
    source_spec,
)
from geoml_helpers.demo.classes import demo_class_table
from geoml_helpers.demo.user_project import USER_CLASS_NAMES, write_user_labels, write_user_project
from geoml_helpers.discover.labels import prepare_labels, snap_bounds
from geoml_helpers.discover.project_init import init_project
from geoml_helpers.load.loading import REFLECTANCE_BANDS

MINIMAL = '[labels]\npath = "labels.geojson"\nclass_column = "crop"\n'


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "project.toml"
    path.write_text(text)
    return path


# --- the project file ------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["ci", "workshop", "full"])
def test_demo_projects_ship_the_demo_classes_and_grid(profile):
    project = demo_project(profile)
    assert project.name == f"demo-{profile}" and project.demo_profile == profile and project.is_demo
    assert project.classes == demo_class_table()
    assert (project.stac, project.collection, project.crs, project.hyperspectral) == (
        "local",
        "sentinel-2-l2a",
        "EPSG:32734",
        True,
    )
    assert resolve_project(None, profile) == project
    assert resolve_project(f"demo-{profile}", "ci") == project


def test_course_bands_are_the_loaders_bands_and_scl():
    assert COURSE_BANDS == (*REFLECTANCE_BANDS, "scl")


def test_project_round_trips_through_toml_and_has_a_stable_key(tmp_path):
    project = demo_project("ci")
    again = load_project(_write(tmp_path, project_to_toml(replace(project, path=tmp_path / "project.toml"))))
    assert again.key() == project.key() and again.classes == project.classes
    assert replace(project, max_cloud_cover=10.0).key() != project.key()
    assert hash(project) == hash(demo_project("ci"))


def test_minimal_project_defaults(tmp_path):
    project = load_project(_write(tmp_path, MINIMAL))
    assert project.labels == (tmp_path / "labels.geojson").resolve()
    assert project.name == "project" and project.classes is None and project.split_column is None
    assert project.crs is None and project.aoi is None and project.stac == "earth-search"
    assert dict(project.bands) == {b: b for b in COURSE_BANDS}


def test_planetary_computer_gets_its_asset_keys_and_overrides_merge(tmp_path):
    project = load_project(
        _write(tmp_path, MINIMAL + '[imagery]\nstac = "planetary-computer"\nbands = { scl = "SCL_20m" }\n')
    )
    assert project.bands["nir08"] == PLANETARY_COMPUTER_BANDS["nir08"] == "B8A"
    assert project.bands["scl"] == "SCL_20m"
    assert source_spec("planetary-computer").signed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL.replace("class_column", "clas_column"), r"`labels.clas_column`.*did you mean `labels.class_column`"),
        (MINIMAL + "[area]\nresolution = 10\n", r"Unknown key `area.resolution`.*`area.resolution_m`"),
        (MINIMAL + "[imagry]\nstac = 'local'\n", r"Unknown key `imagry`.*did you mean `imagery`"),
        (MINIMAL + 'block_size_m = "2km"\n', r"`labels.block_size_m`.* must be an integer or a number, got str '2km'"),
        (MINIMAL + "[imagery]\nhyperspectral = 1\n", r"`imagery.hyperspectral`.*true or false"),
        (MINIMAL + "[imagery]\nmax_cloud_cover = true\n", r"`imagery.max_cloud_cover`.*must be an integer or a number"),
        (MINIMAL + "[area]\naoi = [18.9, -33.9]\n", r"`area.aoi.*lon_min, lat_min, lon_max, lat_max"),
        (MINIMAL + '[area]\ncrs = "EPSG:4326"\n', r"not projected.*UTM"),
        (MINIMAL + '[imagery]\ndatetime = "2024"\n', r"START/END"),
        (MINIMAL + "[[classes]]\nname = 'x'\n", r"has no `code`"),
        ('[labels]\npath = "demo:"\nclass_column = "class_id"\n', r"add `demo_profile"),
        ("[area]\nmargin_m = 1\n", r"needs `\[labels\]` with `path` and `class_column`"),
    ],
)
def test_bad_project_files_name_the_key_and_the_fix(tmp_path, text, expected):
    with pytest.raises(ProjectFileError, match=expected):
        load_project(_write(tmp_path, text))


def test_unknown_source_name_lists_the_known_names(tmp_path):
    expected = r"imagery.stac.*'earth-serch' \(did you mean 'earth-search'\?\)"
    with pytest.raises(ProjectFileError, match=expected) as info:
        load_project(_write(tmp_path, MINIMAL + '[imagery]\nstac = "earth-serch"\n'))
    for name in STAC_SOURCES:
        assert repr(name) in str(info.value)
    with pytest.raises(UnknownSourceError):
        source_spec("sentinel-hub")


def test_missing_project_file_says_how_to_write_one(tmp_path):
    with pytest.raises(ProjectFileError, match="geoml init"):
        load_project(tmp_path / "nope.toml")


def test_planetary_computer_without_its_package_is_a_clear_error():
    pytest.importorskip("pystac_client")
    try:
        import planetary_computer  # noqa: F401

        pytest.skip("planetary-computer is installed here; the error path needs it absent")
    except ImportError:
        pass
    from geoml_helpers.discover.stac_search import open_stac_source

    with pytest.raises(MissingDependencyError, match="pip install planetary-computer"):
        open_stac_source("planetary-computer")


# --- prepare_labels on the demo and on user-style files ------------------------------------------------


def test_demo_project_labels_keep_the_demo_grid_and_split(demo_ci, data_root):
    prepared = prepare_labels(demo_project("ci"), data_root)
    assert prepared.bounds == demo_ci.bounds and prepared.crs == demo_ci.crs and prepared.shape == (240, 240)
    assert prepared.classes == demo_class_table()
    demo_labels = demo_ci.read_labels().sort_values("polygon_id")
    labels = prepared.labels.sort_values("polygon_id")
    assert labels["class_id"].tolist() == demo_labels["class_id"].tolist()
    assert labels["split"].tolist() == demo_labels["split"].tolist()
    assert prepared.report.repaired_invalid == prepared.report.dropped_outside == 0
    assert len(prepared.blocks) == len(demo_ci.read_blocks())


@pytest.fixture(scope="module")
def user_project(demo_ci, data_root, tmp_path_factory) -> Path:
    return write_user_project(tmp_path_factory.mktemp("user"), data_dir=data_root)


def test_user_style_project_string_classes_repairs_and_outside_labels(user_project, demo_ci, data_root):
    project = load_project(user_project)
    labels_file = gpd.read_file(project.labels)
    assert labels_file.crs.to_epsg() == 4326 and "split" not in labels_file.columns
    assert project.class_column == "landcover" and project.stac == "local" and project.crs == "EPSG:32734"
    prepared = prepare_labels(project, data_root)
    report = prepared.report
    # Codes sorted alphabetically; names are slugs, labels the user's strings.
    assert [c.code for c in prepared.classes.classes] == sorted(USER_CLASS_NAMES.values())
    assert prepared.classes.names[1] == "alien_trees" and prepared.classes.labels[1] == "Alien trees"
    assert report.repaired_invalid == 3 and report.dropped_outside == 4 and report.partly_outside == 0
    assert report.multipolygons >= 1 and report.points == 0
    assert report.every_class_in_every_split, report.missing_in_split
    assert report.utm_zones == ["34S"] and not report.crosses_utm_zones
    # The grid lies on the demo imagery and on the 10 m lattice.
    xmin, ymin, xmax, ymax = prepared.bounds
    dx0, dy0, dx1, dy1 = demo_ci.bounds
    assert dx0 <= xmin < xmax <= dx1 and dy0 <= ymin < ymax <= dy1
    assert all(v % 10 == 0 for v in prepared.bounds)
    assert set(prepared.labels["split"]) == {"train", "val", "test"}
    assert prepared.labels.geometry.is_valid.all()
    # The same seed gives the same split.
    assert prepare_labels(project, data_root).labels["split"].tolist() == prepared.labels["split"].tolist()


def test_points_and_zipped_shapefile(demo_ci, data_root, tmp_path):
    path = write_user_labels(tmp_path, data_dir=data_root, fmt="shp.zip", geometry="points")
    with zipfile.ZipFile(path) as archive:
        assert {Path(n).suffix for n in archive.namelist()} >= {".shp", ".shx", ".dbf", ".prj"}
    project = Project(name="points", labels=path, class_column="landcover", block_size_m=500.0)
    prepared = prepare_labels(project)
    assert prepared.report.points == len(prepared.labels) + prepared.report.dropped_outside
    assert len(prepared.points) == len(prepared.labels) and len(prepared.polygons) == 0
    assert prepared.report.per_class["points"].sum() == len(prepared.points)


def test_integer_codes_non_contiguous_other_crs_lines_and_empty(demo_ci, data_root, tmp_path):
    demo = demo_ci.read_labels()
    codes = demo["class_id"].map({1: 10, 2: 20, 3: 40, 4: 70, 5: 80, 6: 90})
    geoms = list(demo.geometry)
    geoms[0] = Polygon()  # empty
    geoms[1] = LineString([(311000, 6238000), (311100, 6238100)])  # a digitised line, not a label
    frame = gpd.GeoDataFrame({"lc_code": codes}, geometry=geoms, crs=demo_ci.crs).to_crs("EPSG:3857")
    path = tmp_path / "codes.gpkg"
    frame.to_file(path)
    prepared = prepare_labels(Project(name="codes", labels=path, class_column="lc_code", block_size_m=500.0))
    assert [c.code for c in prepared.classes.classes] == [10, 20, 40, 70, 80, 90]
    assert prepared.classes.ids == [1, 2, 3, 4, 5, 6] and prepared.classes.id_of(40) == 3
    assert prepared.report.dropped_empty == 1 and prepared.report.dropped_other_geometry == 1
    assert prepared.crs == "EPSG:32734"
    kept = prepared.labels
    assert (kept["class_id"] == kept["code"].map({10: 1, 20: 2, 40: 3, 70: 4, 80: 5, 90: 6})).all()


def test_aoi_across_a_utm_zone_boundary_is_detected(tmp_path):
    # 18 E is the boundary of UTM zones 33 and 34; squares of 500 m on both sides.
    lons = np.linspace(17.97, 18.03, 12)
    polys = [box(lon, -33.95, lon + 0.004, -33.946) for lon in lons]
    frame = gpd.GeoDataFrame({"cls": ["a", "b", "c"] * 4}, geometry=polys, crs="EPSG:4326")
    path = tmp_path / "straddle.fgb"
    frame.to_file(path)
    prepared = prepare_labels(Project(name="straddle", labels=path, class_column="cls", block_size_m=1000.0))
    assert prepared.report.utm_zones == ["33S", "34S"] and prepared.report.crosses_utm_zones
    assert prepared.crs in ("EPSG:32733", "EPSG:32734")
    assert snap_bounds(prepared.bounds, 10) == prepared.bounds


# --- each bad input --------------------------------------------------------------------------------------


def test_labels_without_crs(demo_ci, tmp_path):
    frame = demo_ci.read_labels().set_crs(None, allow_override=True)
    folder = tmp_path / "nocrs"
    folder.mkdir()
    frame[["class_id", "geometry"]].to_file(folder / "labels.shp")
    path = tmp_path / "nocrs.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for part in folder.iterdir():
            archive.write(part, part.name)
    with pytest.raises(LabelError, match=r"no CRS.*set_crs"):
        prepare_labels(Project(name="x", labels=path, class_column="class_id"))


def test_missing_class_column_lists_the_columns(user_project, data_root):
    project = replace(load_project(user_project), class_column="class")
    with pytest.raises(LabelError, match=r"no column 'class'.*\['plot', 'landcover', 'surveyor'\].*class_column"):
        prepare_labels(project, data_root)


def test_too_few_polygons_names_the_class_and_the_number(demo_ci, tmp_path):
    demo = demo_ci.read_labels()
    water = demo.index[demo["class_id"] == 3]
    frame = demo.drop(index=water[2:])
    path = tmp_path / "two_water.parquet"
    frame.to_parquet(path)
    with pytest.raises(LabelError, match=r"class '3' has 2; each class needs at least 3"):
        prepare_labels(Project(name="x", labels=path, class_column="class_id"))


def test_aoi_too_large_gives_volume_and_tier(user_project, tmp_path):
    project = load_project(user_project)
    with pytest.raises(AoiTooLargeError, match=r"about .* TB of imagery .*storage tier 'object-storage'.*allows 2 GB"):
        init_project(
            project.labels,
            "landcover",
            out=tmp_path / "big.toml",
            stac="local",
            aoi=(14.0, -36.0, 24.0, -30.0),
            check_imagery=False,
        )
    estimate = estimate_imagery(30_000 * 30_000, 366)
    assert estimate.tier == "local-disk"
    assert check_imagery_size(estimate, "full") is estimate


def test_no_item_found_names_the_filter(user_project, data_root, tmp_path):
    project = load_project(user_project)
    with pytest.raises(EmptySearchError, match=r"The datetime filter emptied the search") as info:
        init_project(
            project.labels,
            "landcover",
            out=tmp_path / "old.toml",
            stac="local",
            datetime="2015-01-01/2015-03-01",
            data_dir=data_root,
        )
    assert info.value.emptied_by == "datetime"
    assert not (tmp_path / "old.toml").exists()
