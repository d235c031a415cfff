"""Label validation on the real demo labels: other CRS, invalid geometries, AOI outside the data, class statistics."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.affinity import translate
from shapely.geometry import Polygon

from geoml_helpers.core.errors import LabelError
from geoml_helpers.discover.labels import class_means, read_labels, validate_labels
from geoml_helpers.load.rasterize import rasterize_labels


@pytest.fixture(scope="module")
def labels(demo_ci):
    return demo_ci.read_labels()


def test_demo_labels_are_valid(demo_ci, labels):
    report = read_labels(demo_ci.labels_path, data_bounds=demo_ci.bounds)
    assert report.messages == []
    assert len(report.labels) == len(labels)


def test_other_crs_is_reprojected_and_said(demo_ci, labels):
    report = validate_labels(labels.to_crs(4326), "EPSG:32734", data_bounds=demo_ci.bounds)
    assert report.labels.crs.to_epsg() == 32734
    assert any("Reprojected" in m and "EPSG:4326" in m for m in report.messages)
    np.testing.assert_allclose(report.labels.area.sum(), labels.area.sum(), rtol=1e-6)


def test_invalid_geometries_repaired_or_refused_with_ids(labels):
    broken = labels.copy()
    target = broken.index[:2]
    xmin, ymin, xmax, ymax = broken.geometry.iloc[0].bounds
    bowtie = Polygon([(xmin, ymin), (xmax, ymax), (xmax, ymin), (xmin, ymax)])
    broken.loc[target, "geometry"] = [bowtie, translate(bowtie, 10, 0)]
    ids = broken.loc[target, "polygon_id"].tolist()
    report = validate_labels(broken)
    assert report.repaired_ids == ids
    assert report.labels.geometry.is_valid.all()
    assert str(ids) in report.messages[0]
    with pytest.raises(LabelError, match=str(ids).replace("[", r"\[").replace("]", r"\]")):
        validate_labels(broken, repair=False)


def test_labels_outside_the_data_are_refused(demo_ci, labels):
    far = labels.copy()
    far["geometry"] = far.geometry.translate(200_000, 0)
    with pytest.raises(LabelError, match="overlap"):
        validate_labels(far, data_bounds=demo_ci.bounds)
    partly = labels.copy()
    partly.loc[partly.index[0], "geometry"] = translate(partly.geometry.iloc[0], 200_000, 0)
    report = validate_labels(partly, data_bounds=demo_ci.bounds)
    assert len(report.labels) == len(labels) - 1 and "outside" in report.messages[-1]


def test_missing_crs_and_columns(labels):
    with pytest.raises(LabelError, match="no CRS"):
        validate_labels(labels.set_crs(None, allow_override=True))
    with pytest.raises(LabelError, match="class_id"):
        validate_labels(labels.drop(columns="class_id"))


def test_rasterize_and_class_means_agree_with_truth(demo_ci, labels, data_root):
    import rioxarray  # noqa: F401
    import xarray as xr

    truth = xr.open_dataarray(demo_ci.truth_path, engine="rasterio").squeeze("band", drop=True)
    burned = rasterize_labels(labels, truth)
    inside = burned.values > 0
    assert inside.mean() > 0.01
    # Labels were digitised from the true land cover: almost every labelled pixel agrees with it.
    assert (burned.values[inside] == truth.values[inside]).mean() > 0.9
    means = class_means(truth.astype("float64"), burned)
    for _, row in means.iterrows():
        assert row["value"] == pytest.approx(truth.values[burned.values == row["class_id"]].mean())
