"""Shared fixtures: the real ci demo data, a real STAC server on 127.0.0.1, and the shared real-STAC fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from geoml_helpers.demo import build_demo_data
from geoml_helpers.services.stac_server import LocalStacServer

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_STAC_DIR = PROJECT_ROOT.parent / "shared" / "fixtures" / "real-stac"
#: The two files that run the whole course (7-10 minutes each on 2 cores). ``make test`` hands out
#: whole files (``--dist loadfile``) in collection order (``--no-loadscope-reorder``): these go first, one
#: to each worker, and the short files fill in around them. Scheduled late, one course ran alone for
#: 12 minutes while the other worker idled.
COURSE_FILES = ("test_notebooks.py", "test_notebooks_user_project.py")


def pytest_collection_modifyitems(config, items) -> None:
    """Collect the course files first (stable otherwise), so pytest-xdist starts them first."""
    items.sort(key=lambda item: COURSE_FILES.index(item.path.name) if item.path.name in COURSE_FILES else 2)


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A private data root for the test session, so tests never touch ./data."""
    return tmp_path_factory.mktemp("geoml-data")


@pytest.fixture(scope="session")
def demo_ci(data_root):
    """The ci profile of the demo world, built once per session (a few seconds)."""
    return build_demo_data("ci", root=data_root, progress=False)


@pytest.fixture(scope="session")
def stac_server(demo_ci):
    """A real rustac STAC API serving the ci demo data on 127.0.0.1."""
    with LocalStacServer.for_demo(demo_ci) as server:
        yield server


@pytest.fixture(scope="session")
def real_stac_dir() -> Path:
    """Real Earth Search / Planetary Computer STAC documents from ../shared/fixtures/real-stac."""
    if not REAL_STAC_DIR.is_dir():
        pytest.skip(
            f"{REAL_STAC_DIR} is absent (it lives beside the project checkout, not in it); real-STAC fixture "
            "tests skipped"
        )
    return REAL_STAC_DIR


@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory):
    """Execute every notebook in the ci profile once per session, into build/executed/ci.

    The data root is private to the session, so a test run never depends on or
    changes ./data. Tests that need executed notebooks (the book) share this run.
    Returns the RunSummary; a failing notebook fails every test that uses it.
    """
    from geoml_helpers.course.runner import run_notebooks

    data = tmp_path_factory.mktemp("geoml-notebook-data")
    watched = [PROJECT_ROOT / "notebooks", PROJECT_ROOT / "geoml_helpers", PROJECT_ROOT / "tests", PROJECT_ROOT]

    def snapshot() -> set[str]:
        files = {
            str(p)
            for folder in watched[:-1]
            for p in folder.rglob("*")
            if "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts
        }
        return files | {str(p) for p in PROJECT_ROOT.iterdir() if p.name not in ("build", ".pytest_cache")}

    before = snapshot()
    summary = run_notebooks("ci", PROJECT_ROOT / "notebooks", PROJECT_ROOT / "build" / "executed", data_dir=str(data))
    summary.left_behind = sorted(snapshot() - before)
    summary.data_dir = data  # where 02's cube is, for the JupyterLab test that re-runs 00 and 03 as a learner
    return summary


@pytest.fixture(scope="session")
def cube(demo_ci, data_root):
    """The analysis-ready cube of the ci demo data (built once per session, lazily opened)."""
    from geoml_helpers.load.cube import ensure_analysis_ready_cube

    return ensure_analysis_ready_cube("ci", data_root)


@pytest.fixture(scope="session")
def ci_rf_map(demo_ci, cube):
    """A real random-forest class map of the ci demo (notebook 04's recipe, 30 trees), with the truth and the samples.

    Returns a SimpleNamespace: ``samples`` (every labelled pixel), ``model``, ``class_map`` and ``truth`` ``(y, x)``,
    ``transform``, ``test_polygon_mask`` (pixels inside the test polygons).
    """
    from types import SimpleNamespace

    import numpy as np
    import rasterio
    from sklearn.ensemble import RandomForestClassifier

    from geoml_helpers.learn.prediction import predict_lazy
    from geoml_helpers.learn.sampling import balance_classes, feature_matrix, polygon_index_raster, sample_pixels

    labels = demo_ci.read_labels()
    samples = sample_pixels(cube, labels, max_pixels_per_polygon=40, seed=42)
    X, y = feature_matrix(balance_classes(samples[samples["split"] != "test"], seed=42))
    model = RandomForestClassifier(n_estimators=30, min_samples_leaf=2, class_weight="balanced", n_jobs=1,
                                   random_state=42)
    model.fit(X, y)
    class_map = predict_lazy(model, cube)["class_id"].compute(scheduler="threads").values
    with rasterio.open(demo_ci.truth_path) as src:
        truth, transform = src.read(1), src.transform
    polygons = polygon_index_raster(labels, cube["reflectance"])
    test_ids = np.flatnonzero(labels["split"].to_numpy() == "test")
    test_polygon_mask = np.isin(polygons, test_ids)
    return SimpleNamespace(
        samples=samples, model=model, class_map=class_map, truth=truth, transform=transform,
        test_polygon_mask=test_polygon_mask,
    )
