"""Every notebook on a project that is not the demo, in the ci profile: the shipped Earth Search replica project.

``projects/replica_example/replica-ci.toml``: GeoJSON labels in EPSG:4326 near Rosenheim (Bavaria), five
string classes in ``landcover``, no split column, an AOI across 12 E (UTM zones 32 and 33, MGRS tiles 32UQU
and 33UTP), imagery from the offline Earth Search replica (built and served on 127.0.0.1 by the course).
Its labels are polygons only and clean, so messy user labels (invalid geometries, GPS points, labels off the
imagery) run through the notebooks that read them (01, and 05 on points only) on a project made from the demo's.

Its own file, so that pytest-xdist (``--dist loadfile``) runs this second course on the other worker,
beside the demo course and the book in ``test_notebooks.py``.
"""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest
from conftest import PROJECT_ROOT
from test_course_claims import claim_problems, glued_values

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REPLICA_PROJECT = PROJECT_ROOT / "projects" / "replica_example" / "replica-ci.toml"
ZONE_BOUNDARY_LON = 12.0  # UTM zone 32 | zone 33

# What the course checks on the demo that holds on any project (the rest depends on the demo's world).
ANY_PROJECT_EXPECTATIONS = {
    "04_pixel_classification": ["shared_train_test_blocks == 0", "nan_feature_share == 0", "ppf_agreement > 0.995"],
    "08_inference_and_publishing": [
        "tiled_whole_agreement > 0.999",
        "overviews_landcover_prediction >= 1",
        "overviews_landcover_vote_share >= 1",
        "found_published_item == True",
        "model_from_04 == True",
        "unet_used == True",
    ],
}


# --- the course on the replica project ---------------------------------------------------------------


@pytest.fixture(scope="session")
def replica_course(tmp_path_factory):
    """Every notebook in ci on the replica project (the replica is built in the run's data folder)."""
    from geoml_helpers.course.runner import run_notebooks

    data = tmp_path_factory.mktemp("geoml-replica-data")
    executed = tmp_path_factory.mktemp("executed-replica-project")
    run = run_notebooks(
        "ci",
        PROJECT_ROOT / "notebooks",
        executed,
        data_dir=str(data),
        extra_parameters={"project": str(REPLICA_PROJECT)},
    )
    return data, run


@pytest.fixture(scope="session")
def user_labels_runs(replica_course, tmp_path_factory):
    """Messy user labels made from the demo's (imagery from the demo's local STAC API), on the notebooks that read them.

    * ``mixed``: EPSG:4326 GeoJSON, string classes in ``landcover``, no split column, a few invalid geometries,
      labels off the imagery, half of them GPS points: notebook 01 (reading, repairing, the class table);
    * ``points``: GPS points only: notebook 05, which needs polygons and says so.

    The whole course runs on the replica project (``replica_course``); these two stay short.
    """
    from geoml_helpers.course.runner import run_notebooks
    from geoml_helpers.demo.user_project import write_user_project

    data, _ = replica_course  # notebook 08 built the demo there (its local STAC API publishes the map)
    folder = tmp_path_factory.mktemp("user-project")
    mixed = write_user_project(folder / "mixed", data_dir=data, geometry="mixed")
    points = write_user_project(folder / "points", data_dir=data, geometry="points")
    executed = tmp_path_factory.mktemp("executed-user-project")
    notebooks = PROJECT_ROOT / "notebooks"
    mixed_run = run_notebooks(
        "ci", notebooks, executed / "mixed", only=["01"], data_dir=str(data), extra_parameters={"project": str(mixed)}
    )
    points_run = run_notebooks(
        "ci", notebooks, executed / "points", only=["05"], data_dir=str(data), extra_parameters={"project": str(points)}
    )
    return mixed, mixed_run, points_run


def _outputs(path) -> str:
    """Every text output of an executed notebook, joined (plain text and HTML tables)."""
    texts = []
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            texts.append(output.get("text", "") if "text" in output else data.get("text/plain", ""))
            texts.append(data.get("text/html", ""))
    return "\n".join(texts)


@pytest.mark.notebooks
def test_every_notebook_runs_on_the_replica_project(replica_course):
    """The course on the replica: both tiles in the cube, the project's classes everywhere, published with them."""
    import geopandas as gpd
    import xarray as xr
    from pyproj import Transformer

    from geoml_helpers.core.project import load_project
    from geoml_helpers.demo.classes import CLASS_LABELS
    from geoml_helpers.discover import prepare_labels
    from geoml_helpers.load import project_outputs_dir
    from geoml_helpers.load.cube import project_cube_path

    data, run = replica_course
    assert run.ok, run
    assert [r.notebook for r in run.notebooks] == [p.name for p in NOTEBOOKS]
    for r in run.notebooks:
        print(f"replica project {r.notebook}: {r.wall_s:.1f} s, peak {r.peak_rss_mb:.0f} MB")
    print(f"replica project course: {sum(r.wall_s for r in run.notebooks):.0f} s")
    text = {r.notebook[:2]: _outputs(r.output) for r in run.notebooks}
    project = load_project(REPLICA_PROJECT)
    names = sorted(gpd.read_file(project.labels_path(data))[project.class_column].unique())
    assert 4 <= len(names) <= 5, names

    # 01 found both MGRS tiles, in two UTM zones, and 02's cube has data on both sides of 12 E
    items_path = project_outputs_dir(project, "ci", "discovery", data_dir=data, create=False) / "items.ndjson"
    items = [json.loads(line) for line in items_path.read_text().splitlines() if line.strip()]
    tiles = {i["properties"]["grid:code"] for i in items}
    assert tiles == {"MGRS-32UQU", "MGRS-33UTP"}, tiles
    cube = xr.open_zarr(project_cube_path(project, "ci", data))
    observed = cube["reflectance"].notnull().any(["time", "band"]).values
    x, y = np.meshgrid(cube["x"].values, cube["y"].values)
    lon, _ = Transformer.from_crs(cube.attrs["geoml_crs"], 4326, always_xy=True).transform(x, y)
    west, east = observed[lon < ZONE_BOUNDARY_LON], observed[lon > ZONE_BOUNDARY_LON]
    assert west.size > 1000 and east.size > 1000, (west.size, east.size)
    assert west.mean() > 0.9 and east.mean() > 0.9, (west.mean(), east.mean())
    assert cube.sizes["time"] >= 2

    # the project's class names in what the reader sees in 01, 03 and 04; no demo class label anywhere
    for page in ("01", "03", "04"):
        missing = [n for n in names if n not in text[page]]
        assert not missing, (page, missing)
    own = {n.lower() for n in names}
    for label in {v for v in CLASS_LABELS.values() if v.lower() not in own}:
        assert all(label not in t for t in text.values()), label
    # 06 has no hyperspectral source
    assert "no hyperspectral source" in text["06"]

    # 08 publishes the project's classes with their colours in the STAC item's classification extension
    table = prepare_labels(project, data).classes
    notebook_08 = nbformat.read(run.notebooks[-1].output, as_version=4)
    published = glued_values(notebook_08)["published_classes"]
    assert [row[1] for row in published if row[0] != 0] == names
    assert [[c.id, c.name, c.colour.upper()] for c in table.classes] == [
        [v, n, colour.upper()] for v, n, colour in published if v != 0
    ]
    assert f"geoml-landcover-{project.name}" in text["08"]

    # no glued claim contradicts its numbers, and the checks that hold on any project hold
    problems = []
    for r in run.notebooks:
        nb = nbformat.read(r.output, as_version=4)
        problems += claim_problems(nb, r.notebook[:-6], ANY_PROJECT_EXPECTATIONS.get(r.notebook[:-6], []))
    assert not problems, problems


@pytest.mark.notebooks
def test_messy_user_labels_are_repaired_counted_and_named(user_labels_runs):
    """01 on messy user labels: repairs and drops reported, the user's class table derived (no demo label)."""
    from geoml_helpers.demo.classes import CLASS_LABELS

    _, mixed_run, _ = user_labels_runs
    assert mixed_run.ok, mixed_run
    text = _outputs(mixed_run.notebooks[0].output)
    assert "invalid geometries repaired" in text and "outside the AOI/imagery dropped" in text
    assert "alien_trees" in text and "Alien trees" in text
    for label in set(CLASS_LABELS.values()) - {"Water"}:  # the user also has "Water"
        assert label not in text, label


@pytest.mark.notebooks
def test_a_points_only_project_skips_segmentation_and_the_run_goes_on(user_labels_runs):
    _, _, points_run = user_labels_runs
    assert points_run.ok, points_run
    assert "point labels and no polygons" in _outputs(points_run.notebooks[0].output)
