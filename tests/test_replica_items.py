"""Replica items and collection against the real Earth Search documents: same shape, same code paths.

Each test that covers one of Earth Search's traps names it in its docstring.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from geoml_helpers.discover.stac_metadata import asset_key, band_resolutions, item_epsg, reflectance_scaling
from geoml_helpers.load.loading import REFLECTANCE_BANDS, scaling_table
from geoml_helpers.replica.grid import tile_by_name
from geoml_helpers.replica.items import (
    BASELINE_04_DATE,
    ENDPOINT_PLACEHOLDER,
    ItemPlan,
    baseline_on,
    collection_document,
    item_document,
    plan_datatakes,
    plan_items,
)

REAL = Path(__file__).resolve().parent / "data" / "real-stac"
ES_2023 = "earth-search-v1_sentinel-2-l2a_item_S2A_13TDE_20231008_0_L2A.json"  # baseline 05.09, boa_offset_applied
ES_2020 = "earth-search-v1_sentinel-2-l2a_item_S2A_13SCV_20200413_0_L2A.json"  # baseline 02.14, offset 0
ES_COLLECTION = "earth-search-v1_sentinel-2-l2a_collection.json"
TILES = [tile_by_name("32UQU"), tile_by_name("33UTP")]
STATS = {
    "eo:cloud_cover": 12.5,
    **{f"s2:{k}_percentage": 1.0 for k in ("saturated_defective_pixel", "dark_features", "cloud_shadow", "vegetation")},
    **{f"s2:{k}_percentage": 1.0 for k in ("not_vegetated", "water", "unclassified", "medium_proba_clouds")},
    **{f"s2:{k}_percentage": 1.0 for k in ("high_proba_clouds", "thin_cirrus", "snow_ice")},
}


def _real(name: str) -> dict:
    return json.loads((REAL / name).read_text())


@pytest.fixture(scope="module")
def plans() -> list[ItemPlan]:
    takes = plan_datatakes(dt.date(2022, 1, 5), dt.date(2022, 2, 5), 12.0, seed=2024)
    return plan_items(TILES, takes)


def _document(plan: ItemPlan) -> dict:
    geometry = {
        "type": "Polygon",
        "coordinates": [[[11.7, 47.3], [13.1, 47.3], [13.1, 48.7], [11.7, 48.7], [11.7, 47.3]]],
    }
    return item_document(plan, geometry, [11.7, 47.3, 13.1, 48.7], STATS, 0.0, (160.0, 20.0))


def _variant(plans, **wanted) -> ItemPlan:
    for plan in plans:
        if all(getattr(plan, k) == v for k, v in wanted.items()):
            return plan
    raise AssertionError(f"no item plan with {wanted}")


def test_item_has_the_real_items_properties_assets_and_fields(plans):
    real = {**_real(ES_2023), "links": []}  # no link to resolve: pystac would ask Earth Search for the root
    ours = _document(_variant(plans, proj_code_only=False, missing_assets=()))
    assert set(ours) == set(real)
    assert set(ours["properties"]) == set(real["properties"]) | {"geoml:synthetic"}
    assert list(ours["assets"]) == list(real["assets"])
    for key, asset in real["assets"].items():
        assert set(ours["assets"][key]) == set(asset), key
        for ours_band, real_band in zip(ours["assets"][key].get("raster:bands", []), asset.get("raster:bands", [])):
            assert set(ours_band) == set(real_band), key
    assert ours["stac_extensions"] == real["stac_extensions"]
    assert ours["properties"]["geoml:synthetic"] is True


def test_asset_hrefs_follow_the_real_key_layout(plans):
    """Earth Search trap: HTTPS hrefs under sentinel-s2-l2a-cogs/..., read by range requests.

    The layout is sentinel-s2-l2a-cogs/{zone}/{band}/{square}/{yyyy}/{m}/{id}/.
    """
    real = _real(ES_2023)
    plan = plans[0]
    ours = _document(plan)
    real_tail = real["assets"]["red"]["href"].split("sentinel-cogs.s3.us-west-2.amazonaws.com/", 1)[1]
    ours_tail = ours["assets"]["red"]["href"].split("{endpoint}/sentinel-cogs/", 1)[1]
    assert real_tail.split("/")[0] == ours_tail.split("/")[0] == "sentinel-s2-l2a-cogs"
    assert ours_tail == f"sentinel-s2-l2a-cogs/32/U/QU/2022/1/{plan.id}/B04.tif"
    for key, asset in real["assets"].items():
        assert Path(ours["assets"][key]["href"]).name == Path(asset["href"]).name, key  # B8A.tif, TCI.tif, B05.jp2 ...
        assert ours["assets"][key]["href"].startswith("s3://" if key.endswith("-jp2") else "{endpoint}/")
    assert (
        ours["properties"]["earthsearch:s3_path"] == f"s3://sentinel-cogs/sentinel-s2-l2a-cogs/32/U/QU/2022/1/{plan.id}"
    )


def test_collection_has_the_real_collections_shape():
    real = _real(ES_COLLECTION)
    ours = collection_document(TILES, (11.97, 47.85, 12.03, 47.89), "2022-01-05T00:00:00Z", "2022-02-05T23:59:59Z")
    assert set(ours) == set(real)
    assert set(ours["item_assets"]) == set(real["item_assets"])
    for key, asset in real["item_assets"].items():
        assert set(ours["item_assets"][key]) == set(asset), key
    assert "SYNTHETIC" in ours["title"] and "Not real" in ours["description"]


def test_baseline_changes_on_2022_01_25():
    """Earth Search trap: processing baseline 04.00 (2022-01-25) adds the -0.1 offset; older items have offset 0."""
    assert baseline_on(BASELINE_04_DATE - dt.timedelta(days=1)) < "04.00" <= baseline_on(BASELINE_04_DATE)
    assert baseline_on(dt.date(2020, 4, 13)) == _real(ES_2020)["properties"]["s2:processing_baseline"] == "02.14"
    assert baseline_on(dt.date(2023, 10, 8)) == _real(ES_2023)["properties"]["s2:processing_baseline"] == "05.09"


def test_plan_has_every_variant(plans):
    """Earth Search traps in one month.

    Two baselines, boa flag both ways, proj:code only, 100 % cloud, a missing asset, partial swaths from a second
    relative orbit, two tiles in two UTM zones.
    """
    assert {p.baseline for p in plans} == {"03.01", "04.00"}
    assert {p.boa_offset_applied for p in plans if p.baseline == "04.00"} == {True, False}
    assert any(p.proj_code_only for p in plans) and any(not p.proj_code_only for p in plans)
    assert sum(1 for p in plans if p.missing_assets) == 1
    assert {p.datatake.cloud_target for p in plans} >= {0.0, 1.0}
    assert {p.datatake.partial for p in plans} == {True, False}
    assert len({p.datatake.relative_orbit for p in plans}) == 2
    assert {p.tile.epsg for p in plans} == {32632, 32633}
    main_dates = sorted({p.datatake.date for p in plans if not p.datatake.partial})
    assert {(b - a).days for a, b in zip(main_dates, main_dates[1:])} == {5}
    ids = [p.id for p in plans]
    assert len(ids) == len(set(ids))


def test_scaling_takes_the_same_branch_as_the_real_items(plans):
    """Earth Search traps: the double-applied BOA offset, and baseline < 04.00 with offset 0.

    (boa_offset_applied true + raster:bands offset -0.1.) reflectance_scaling must answer the same for replica
    and real items.
    """
    cases = [
        (_real(ES_2023), _variant(plans, baseline="04.00", boa_offset_applied=True)),
        (_real(ES_2020), _variant(plans, baseline="03.01")),
    ]
    for real, plan in cases:
        ours = _document(plan)
        for band in REFLECTANCE_BANDS:
            assert reflectance_scaling(ours, band) == reflectance_scaling(real, band), (plan.id, band)
        assert asset_key(ours, "B8A") == asset_key(real, "B8A") == "nir08"
        assert band_resolutions(ours) == band_resolutions(real)
    # Baseline 04.00 items that Element 84 did not harmonise: the declared offset is used, and the pixels carry +1000.
    unharmonised = _variant(plans, baseline="04.00", boa_offset_applied=False)
    assert unharmonised.offset_in_pixels
    assert reflectance_scaling(_document(unharmonised), "red").offset == pytest.approx(-0.1)
    table = scaling_table([_document(p) for p in plans if not p.missing_assets], ["red"])
    assert set(table["offset"].round(3)) == {0.0, -0.1}


def test_proj_code_only_items_give_the_same_epsg(plans):
    """Earth Search trap: projection extension v2 items carry proj:code and no proj:epsg (stackstac needs epsg=)."""
    ours = _document(_variant(plans, proj_code_only=True))
    assert "proj:epsg" not in ours["properties"] and ours["properties"]["proj:code"].startswith("EPSG:")
    assert "https://stac-extensions.github.io/projection/v2.0.0/schema.json" in ours["stac_extensions"]
    assert item_epsg(ours) in (32632, 32633)
    assert item_epsg(_real(ES_2023)) == 32613


def test_missing_asset_is_missing_from_the_item(plans):
    """Earth Search trap: an item without one of the collection's assets."""
    plan = _variant(plans, missing_assets=("swir22",))
    ours = _document(plan)
    assert "swir22" not in ours["assets"] and "swir22-jp2" not in ours["assets"]
    with pytest.raises(KeyError, match="no asset for band 'swir22'"):
        reflectance_scaling(ours, "swir22")


def test_source_checks_give_the_same_findings_as_for_the_real_item(plans):
    """The course's source checks (issue 13) see a replica item as they see the real Earth Search item."""
    checks = pytest.importorskip("geoml_helpers.discover.source_checks")
    project = pytest.importorskip("geoml_helpers.core.project")
    bands = project.default_bands("earth-search", "sentinel-2-l2a")
    real = {f.field: f.status for f in checks.check_items([_real(ES_2023)], bands)}
    ours = {
        f.field: f.status
        for f in checks.check_items(
            [_document(_variant(plans, baseline="04.00", boa_offset_applied=True, proj_code_only=False))], bands
        )
    }
    assert ours == real


def _lines_run(call) -> set[tuple[str, int]]:
    """The lines of the loader, the source checks and the scaling code that ``call()`` executes."""
    import sys

    import geoml_helpers.discover.source_checks as checks
    import geoml_helpers.discover.stac_metadata as metadata
    import geoml_helpers.load.loading as loading

    watched = {m.__file__: m.__name__ for m in (checks, metadata, loading)}
    seen: set[tuple[str, int]] = set()

    def tracer(frame, event, arg):
        name = watched.get(frame.f_code.co_filename)
        if name is None:
            return None

        def local(frame, event, arg):
            if event == "line":
                seen.add((name, frame.f_lineno))
            return local

        return local

    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(None)
    return seen


def _grid_in(item: dict):
    """A 10 m grid of 64 x 64 pixels at the centre of an item's footprint, in the item's own UTM zone."""
    from pyproj import Transformer

    from geoml_helpers.load.loading import Grid

    epsg = item_epsg(item)
    west, south, east, north = item["bbox"]
    x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform((west + east) / 2, (south + north) / 2)
    x0, y0 = round(x, -1), round(y, -1)
    return Grid(epsg, (x0, y0, x0 + 640.0, y0 + 640.0), 10.0)


def test_loader_source_checks_and_scaling_take_the_same_branches_for_earth_search_and_the_replica(plans):
    """Issue 14: the course's code path is identical for `earth-search` and `earth-search-replica`.

    Every line of the loader (stackstac and odc-stac graphs, scaling, SCL mask, solar-day mosaic), the source
    checks and the scaling rules that runs for a real Earth Search item runs for a replica item of the same
    variant (baseline 04.00+, boa_offset_applied, proj:epsg), and no other line does. Nothing is read: the
    loaders only build their lazy graphs.
    """
    from geoml_helpers.core.project import default_bands
    from geoml_helpers.discover.source_checks import check_items
    from geoml_helpers.load.loading import load_reflectance

    bands = default_bands("earth-search", "sentinel-2-l2a")
    real = {**_real(ES_2023), "links": []}  # no link to resolve: pystac would ask Earth Search for the root
    plan = _variant(plans, baseline="04.00", boa_offset_applied=True, proj_code_only=False, missing_assets=())
    served = json.dumps(_document(plan)).replace(ENDPOINT_PLACEHOLDER, "http://127.0.0.1:8333")
    ours = json.loads(served)  # hrefs as the served replica writes them

    def course_path(item):
        def run():
            check_items([item], bands)
            scaling_table([item])
            for loader in ("stackstac", "odc"):
                load_reflectance([item], _grid_in(item), loader=loader, chunksize=64)

        return run

    real_lines, our_lines = _lines_run(course_path(real)), _lines_run(course_path(ours))
    assert len(real_lines) > 100, "the trace saw the loader, the checks and the scaling code"
    assert sorted(our_lines - real_lines) == [] and sorted(real_lines - our_lines) == []
