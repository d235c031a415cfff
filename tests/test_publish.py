"""The prediction's STAC Item validates, is added to the real local STAC API and is found again."""

from __future__ import annotations

import numpy as np
import pystac
import pytest

from geoml_helpers.core.classes import ClassTable
from geoml_helpers.core.errors import EmptySearchError
from geoml_helpers.demo.classes import CLASS_NAMES, class_colormap, demo_class_table
from geoml_helpers.load.cog import write_cog
from geoml_helpers.publish.stac_publish import (
    PREDICTION_COLLECTION_ID,
    ModelDescription,
    StacValidationError,
    find_published,
    prediction_collection,
    prediction_item,
    publish_item,
    validate_item,
)
from geoml_helpers.services.stac_server import LocalStacServer


@pytest.fixture(scope="module")
def item(demo_ci, tmp_path_factory):
    import rasterio

    folder = tmp_path_factory.mktemp("prediction")
    with rasterio.open(demo_ci.truth_path) as src:
        classes = src.read(1)
    cls_path = write_cog(
        folder / "classes.tif",
        classes,
        transform=demo_ci.transform,
        crs=demo_ci.crs,
        nodata=0,
        colormap=class_colormap(),
        overview_resampling="nearest",
    )
    conf_path = write_cog(
        folder / "vote_share.tif",
        np.full(classes.shape, 90, "uint8"),
        transform=demo_ci.transform,
        crs=demo_ci.crs,
        nodata=255,
    )
    model = ModelDescription(
        "geoml-rf",
        "RandomForestClassifier",
        "scikit-learn",
        "1.9",
        "0.1.0",
        bands=["red", "nir"],
        n_times=11,
        features=["red_p50", "nir_p50"],
        # a scikit-learn Pipeline's imputer reports missing_values=nan: not JSON, and rustac refused the Item
        hyperparameters={"n_estimators": 50, "impute__missing_values": float("nan")},
    )
    return prediction_item(
        "geoml-test-prediction",
        bounds=demo_ci.bounds,
        crs=demo_ci.crs,
        start="2024-01-01T00:00:00Z",
        end="2024-12-31T23:59:59Z",
        assets={"classification": cls_path, "vote_share": conf_path},
        shape=classes.shape,
        transform=list(demo_ci.transform)[:6],
        model=model,
        classes=demo_class_table(),
        class_percentages={c: 100 * float((classes == c).mean()) for c in CLASS_NAMES},
    )


def test_item_carries_the_projects_own_classes(item):
    """A user's table (string codes, no colours given) reaches the classification and mlm extensions."""
    table = ClassTable.from_codes(["wetland", "forest", "crop"], colours={"forest": "#117733"})
    other = prediction_item(
        "geoml-user-prediction",
        bounds=(0.0, 0.0, 100.0, 100.0),
        crs="EPSG:32633",
        start="2024-01-01T00:00:00Z",
        end="2024-12-31T23:59:59Z",
        assets={"classification": item.assets["classification"].href},
        shape=(10, 10),
        transform=(10, 0, 0, 0, -10, 100),
        model=ModelDescription("rf", "RandomForestClassifier", "scikit-learn", "1.9", "1"),
        classes=table,
    )
    classes = other.assets["classification"].ext.classification.classes
    assert [(c.value, c.name) for c in classes] == [(0, "nodata"), (1, "crop"), (2, "forest"), (3, "wetland")]
    assert classes[2].color_hint == "117733" and classes[1].color_hint == table.colours[1].lstrip("#").upper()
    mlm_output = other.to_dict()["properties"]["mlm:output"][0]
    assert [c["name"] for c in mlm_output["classification:classes"]] == ["crop", "forest", "wetland"]
    assert mlm_output["result"]["shape"] == [-1, 3]


def test_item_validates(item):
    report = validate_item(item)
    assert report["core"] == "schema"
    assert {"classification", "mlm", "version", "projection"} <= set(report)
    classes = item.assets["classification"].ext.classification.classes
    assert [c.value for c in classes] == [0, *sorted(CLASS_NAMES)]
    assert item.properties["mlm:architecture"] == "RandomForestClassifier"
    assert item.properties["version"] == "0.1.0"


def test_broken_item_is_rejected(item):
    broken = item.clone()
    del broken.properties["mlm:input"]
    with pytest.raises(StacValidationError, match="mlm:input"):
        validate_item(broken)
    bad_core = item.clone()
    bad_core.bbox = None
    bad_core.geometry = {"type": "Polygon", "coordinates": "nope"}
    with pytest.raises(StacValidationError, match="core schema"):
        validate_item(bad_core)


def test_published_item_is_searchable(demo_ci, item):
    with LocalStacServer.for_demo(demo_ci) as server:
        with pytest.raises(EmptySearchError):
            find_published(server.url, item.id, collection="sentinel-2-l2a")
        collection = prediction_collection(item.bbox, "2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z")
        url = publish_item(server, item, collection)
        assert server.running and url == server.url and url.startswith("http://127.0.0.1:")
        found = find_published(server.url, item.id, bbox=item.bbox)
        assert (
            isinstance(found, pystac.Item) and found.id == item.id and found.collection_id == PREDICTION_COLLECTION_ID
        )
        assert found.assets["classification"].href == item.assets["classification"].href
        assert found.properties["mlm:name"] == "geoml-rf"
        # the demo imagery is still there, and publishing twice does not duplicate
        publish_item(server, item, collection)
        assert sum(i["id"] == item.id for i in server.items) == 1
        import pystac_client

        s2 = list(pystac_client.Client.open(server.url).search(collections=["sentinel-2-l2a"], max_items=3).items())
        assert len(s2) == 3
