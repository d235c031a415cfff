"""Every notebook on a project that is not the demo, in the ci profile.

Its own file, so that pytest-xdist (``--dist loadfile``) runs this second course on the other worker,
beside the demo course and the book in ``test_notebooks.py``.
"""

from __future__ import annotations

import nbformat
import pytest
from conftest import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


# --- the course on a project that is not the demo ---------------------------------------------------


@pytest.fixture(scope="session")
def user_project_run(tmp_path_factory):
    """Every notebook in ci on a user-style project made from the demo's labels.

    EPSG:4326 GeoJSON, string classes in ``landcover``, no split column, a few invalid geometries, labels off
    the imagery, half of them GPS points (imagery from the demo's local STAC API); and notebook 05 alone on a
    points-only project. Returns the two TOMLs, the full run and the points-only run.
    """
    from geoml_helpers.course.runner import run_notebooks
    from geoml_helpers.demo.user_project import write_user_project

    data = tmp_path_factory.mktemp("geoml-user-project-data")
    folder = tmp_path_factory.mktemp("user-project")
    mixed = write_user_project(folder / "mixed", data_dir=data, geometry="mixed")
    points = write_user_project(folder / "points", data_dir=data, geometry="points")
    executed = tmp_path_factory.mktemp("executed-user-project")
    notebooks = PROJECT_ROOT / "notebooks"
    full = run_notebooks(
        "ci", notebooks, executed / "mixed", data_dir=str(data), extra_parameters={"project": str(mixed)}
    )
    only_points = run_notebooks(
        "ci", notebooks, executed / "points", only=["05"], data_dir=str(data), extra_parameters={"project": str(points)}
    )
    return mixed, points, full, only_points


def _outputs(path) -> str:
    """Every text output of an executed notebook, joined."""
    texts = []
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", "") if "text" in output else output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


@pytest.mark.notebooks
def test_every_notebook_runs_on_a_users_project(user_project_run):
    """The course on user-style labels: the project's classes everywhere, points sampled or left out and counted."""
    from test_course_claims import glued_values

    from geoml_helpers.core.project import load_project
    from geoml_helpers.demo.classes import CLASS_LABELS
    from geoml_helpers.discover.labels import prepare_labels

    mixed, points, full, only_points = user_project_run
    assert full.ok, full
    assert [run.notebook for run in full.notebooks] == [p.name for p in NOTEBOOKS]
    for run in full.notebooks:
        print(f"user project {run.notebook}: {run.wall_s:.1f} s, peak {run.peak_rss_mb:.0f} MB")
    text = {run.notebook[:2]: _outputs(run.output) for run in full.notebooks}
    project = load_project(mixed)
    # 01 reports the repairs and the labels off the imagery, and derives the user's class table
    assert "invalid geometries repaired" in text["01"] and "outside the AOI/imagery dropped" in text["01"]
    assert "alien_trees" in text["01"] and "Alien trees" in text["01"]
    # no demo class label anywhere in what the reader sees
    for label in set(CLASS_LABELS.values()) - {"Water"}:  # the user also has "Water"
        assert all(label not in t for t in text.values()), label
    # 05 segments the polygons and says how many points it left out; 06 has no hyperspectral source
    assert "point labels are left out" in text["05"] and "points left out:" in text["05"]
    assert "no hyperspectral source" in text["06"]
    # 08 publishes the project's classes in the STAC item, as read back from the STAC API
    run_08 = next(run for run in full.notebooks if run.notebook.startswith("08"))
    published = glued_values(nbformat.read(run_08.output, as_version=4))["published_classes"]
    published_names = {value: name for value, name, _colour in published if value}  # 0: nodata
    assert published_names == prepare_labels(project).classes.names, published
    assert "alien_trees" in published_names.values() and "invasive_trees" not in published_names.values()
    assert f"geoml-landcover-{project.name}" in text["08"]
    # a points-only project: 05 says why it stops, and the run goes on
    assert only_points.ok and "point labels and no polygons" in _outputs(only_points.notebooks[0].output)
