"""The replica's Sentinel-2 tile grid against real Earth Search items (ground truth in tests/data/real-stac)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import shape

from geoml_helpers.replica.grid import (
    TileGridError,
    latitude_band,
    lonlat_to_utm,
    square_letters,
    tile_by_name,
    tiles_for_aoi,
    utm_zone_of,
)

REAL = Path(__file__).resolve().parent / "data" / "real-stac"
REAL_ITEMS = {
    "13SCV": "earth-search-v1_sentinel-2-l2a_item_S2A_13SCV_20200413_0_L2A.json",
    "13TDE": "earth-search-v1_sentinel-2-l2a_item_S2A_13TDE_20231008_0_L2A.json",
    "37WDS": "earth-search-v1_sentinel-2-l2a_item_S2A_37WDS_20240419_0_L2A.json",
    "20EPT": "earth-search-v1_sentinel-2-l2a_item_S2B_20EPT_20250731_0_L2A.json",
}
EXAMPLE_LABELS = Path(__file__).resolve().parents[1] / "projects" / "replica_example" / "labels.geojson"


def _real(name: str) -> dict:
    return json.loads((REAL / REAL_ITEMS[name]).read_text())


@pytest.mark.parametrize("name", sorted(REAL_ITEMS))
def test_tile_grid_matches_real_items_exactly(name):
    """Earth Search trap: full 109.8 km tiles at 10/20/60 m, UL on the 60 m grid (399960, 4000020, 3300040 ...)."""
    item = _real(name)
    tile = tile_by_name(name)
    assert tile.epsg == item["properties"]["proj:epsg"]
    assert (tile.zone, tile.latitude_band, tile.grid_square) == (
        item["properties"]["mgrs:utm_zone"],
        item["properties"]["mgrs:latitude_band"],
        item["properties"]["mgrs:grid_square"],
    )
    checked = set()
    for key, asset in item["assets"].items():
        if "proj:transform" not in asset:
            continue
        resolution = int(asset["proj:transform"][0])
        assert tile.proj_transform(resolution) == asset["proj:transform"], key
        assert list(tile.shape(resolution)) == asset["proj:shape"], key
        checked.add(resolution)
    assert checked == {10, 20, 60}


@pytest.mark.parametrize("name", sorted(REAL_ITEMS))
def test_tiles_for_aoi_finds_the_real_tile_of_its_footprint(name):
    item = _real(name)
    footprint = shape(item["geometry"])
    found = {t.name for t in tiles_for_aoi(footprint.representative_point().buffer(0.001))}
    assert name in found
    # and every tile found really covers the point, in its own CRS
    for tile in tiles_for_aoi(footprint.representative_point().buffer(0.001)):
        from shapely.geometry import box

        assert box(*tile.bounds).intersects(lonlat_to_utm(footprint.representative_point(), tile.epsg))


def test_square_letters_agree_with_the_mgrs_library():
    mgrs = pytest.importorskip("mgrs").MGRS()
    from pyproj import Transformer

    rng = np.random.default_rng(0)
    for lon, lat in zip(rng.uniform(-179, 179, 200), rng.uniform(-79, 83, 200)):
        if 56 <= lat < 64 and 3 <= lon < 12 or lat >= 72 and 0 <= lon < 42:
            continue  # Norway and Svalbard exceptions: outside the standard zones this grid uses
        name = mgrs.toMGRS(float(lat), float(lon), MGRSPrecision=0)
        zone = utm_zone_of(lon)
        epsg = (32600 if lat >= 0 else 32700) + zone
        x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
        square = square_letters(zone, int(x // 100_000) * 100_000, int(y // 100_000) * 100_000)
        ours = f"{zone}{latitude_band(lat)}{square}"
        assert ours == name.lstrip("0"), (lon, lat)


def test_an_aoi_across_a_zone_boundary_lies_in_tiles_of_both_zones():
    """Earth Search trap: one AOI, two MGRS tiles in two UTM zones (EPSG:32632 and 32633)."""
    import geopandas as gpd

    labels = gpd.read_file(EXAMPLE_LABELS)
    west, south, east, north = labels.total_bounds
    assert west < 12.0 < east and south > 0
    tiles = tiles_for_aoi((west, south, east, north))
    assert [(t.name, t.epsg) for t in tiles] == [("32UQU", 32632), ("33UTP", 32633)]
    for tile in tiles:
        xmin, ymin, xmax, ymax = tile.bounds
        aoi = lonlat_to_utm(labels.union_all(), tile.epsg)
        assert xmin < aoi.bounds[0] and aoi.bounds[2] < xmax and ymin < aoi.bounds[1] and aoi.bounds[3] < ymax


def test_bad_names_and_aois_say_what_to_do():
    with pytest.raises(TileGridError, match="not an MGRS"):
        tile_by_name("99ZZZ")
    with pytest.raises(TileGridError, match="lon/lat"):
        tiles_for_aoi((500000, 5300000, 510000, 5310000))
    with pytest.raises(TileGridError, match="10, 20 or 60"):
        tile_by_name("13TDE").shape(30)
