"""Source checks on real Earth Search / Planetary Computer documents and on the demo STAC API."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from geoml_helpers.core.errors import SourceCheckError
from geoml_helpers.core.project import default_bands
from geoml_helpers.discover.source_checks import check_collection, check_items, check_source

PROJECT_ROOT = Path(__file__).resolve().parents[1]
IN_REPO = PROJECT_ROOT / "tests" / "data" / "real-stac"
SHARED = PROJECT_ROOT.parent / "shared" / "fixtures" / "real-stac"

ES_2023 = "earth-search-v1_sentinel-2-l2a_item_S2A_13TDE_20231008_0_L2A.json"
ES_2020 = "earth-search-v1_sentinel-2-l2a_item_S2A_13SCV_20200413_0_L2A.json"
ES_C1 = "earth-search-v1_sentinel-2-c1-l2a_item_S2B_T20EPT_20250731T131905_L2A.json"
PC = "planetary-computer_sentinel-2-l2a_item_S2B_MSIL2A_20220612T182919_R027_T24XWR_20220613T123251.json"
ES_COLLECTION = "earth-search-v1_sentinel-2-l2a_collection.json"


@pytest.fixture(scope="module")
def real(request) -> callable:
    """Load a real STAC document from tests/data/real-stac (issue 14's copy) or ../shared/fixtures/real-stac."""
    folder = IN_REPO if IN_REPO.is_dir() else SHARED
    if not folder.is_dir():
        pytest.skip(f"neither {IN_REPO} nor {SHARED} exists; real-STAC source checks skipped")
    return lambda name: json.loads((folder / name).read_text())


def _by_field(findings):
    return {f.field: f for f in findings}


ES = default_bands("earth-search", "sentinel-2-l2a")
PC_BANDS = default_bands("planetary-computer", "sentinel-2-l2a")


def test_earth_search_baseline_05_item_notes_the_boa_flag(real):
    found = _by_field(check_items([real(ES_2023)], ES))
    assert found["assets"].status == "ok"
    assert found["raster:bands"].status == "ok"
    assert found["proj:epsg/proj:code"].status == "ok"
    boa = found["earthsearch:boa_offset_applied"]
    assert boa.status == "note" and "ignores the declared offset" in boa.message


def test_earth_search_old_baseline_and_c1_items_pass(real):
    for name in (ES_2020, ES_C1):
        findings = check_items([real(name)], ES)
        assert [f.status for f in findings] == ["ok"] * 4, [str(f) for f in findings]


def test_planetary_computer_item_with_earth_search_keys_is_a_drift_naming_the_mapping(real):
    found = _by_field(check_items([real(PC)], ES))
    assets = found["assets"]
    assert assets.status == "drift"
    assert 'nir08 = "B8A"' in assets.message and 'scl = "SCL"' in assets.message and "[imagery] bands" in assets.message


def test_planetary_computer_item_with_its_own_keys_derives_scaling_from_the_baseline(real):
    found = _by_field(check_items([real(PC)], PC_BANDS))
    assert found["assets"].status == "ok"
    assert found["raster:bands"].status == "note" and "04.00" in found["raster:bands"].message


def test_proj_code_only_is_a_note_and_no_projection_is_a_drift(real):
    item = copy.deepcopy(real(ES_2023))
    epsg = item["properties"].pop("proj:epsg")
    item["properties"]["proj:code"] = f"EPSG:{epsg}"
    for asset in item["assets"].values():
        asset.pop("proj:epsg", None)
    assert _by_field(check_items([item], ES))["proj:epsg/proj:code"].status == "note"
    item["properties"].pop("proj:code")
    finding = _by_field(check_items([item], ES))["proj:epsg/proj:code"]
    assert finding.status == "drift" and "[area] crs" in finding.message


def test_unexpected_scale_is_a_drift_naming_raster_bands(real):
    item = copy.deepcopy(real(ES_2020))
    item["assets"]["red"]["raster:bands"][0]["scale"] = 1.0
    finding = _by_field(check_items([item], ES))["raster:bands"]
    assert finding.status == "drift" and "scale 1.0" in finding.message and "red" in finding.message


def test_flag_false_without_declared_offset_on_a_new_baseline_is_a_drift(real):
    item = copy.deepcopy(real(ES_2023))
    item["properties"]["earthsearch:boa_offset_applied"] = False
    for asset in item["assets"].values():
        for band in asset.get("raster:bands", []):
            band["offset"] = 0
    finding = _by_field(check_items([item], ES))["earthsearch:boa_offset_applied"]
    assert finding.status == "drift" and "0.1 too high" in finding.message


def test_an_asset_missing_from_some_items_is_a_note_and_from_every_item_a_drift(real):
    """Earth Search holds items with an asset missing: the loader reads them as nodata, the mapping is right."""
    old, new = real(ES_2020), real(ES_2023)
    del new["assets"]["swir22"]
    partly = _by_field(check_items([old, new], ES))["assets"]
    assert partly.status == "note", partly
    assert "'swir22'" in partly.message and "1 of 2 items" in partly.message and new["id"] in partly.message
    del old["assets"]["swir22"]
    everywhere = _by_field(check_items([old, new], ES))["assets"]
    assert everywhere.status == "drift" and "swir22 -> 'swir22'" in everywhere.message


def test_collection_item_assets(real):
    collection = real(ES_COLLECTION)
    assert check_collection(collection, ES)[0].status == "ok"
    drift = check_collection(collection, PC_BANDS)[0]
    assert drift.status == "drift" and drift.field == "item_assets"


def test_search_response_sentinel_items(real):
    response = real("earth-search-v1_search-response_sentinel-2-l2a+landsat-c2-l2_2023-10-08.json")
    s2 = [f for f in response["features"] if f["collection"] == "sentinel-2-l2a"]
    assert s2, "the fixture holds Sentinel-2 items"
    assert all(f.status in ("ok", "note") for f in check_items(s2, ES))


def test_no_items_is_an_error():
    with pytest.raises(SourceCheckError, match="No items"):
        check_items([], ES)


def test_demo_api_passes_every_check(demo_ci, data_root):
    check = check_source("local", profile="ci", data_dir=str(data_root))
    assert check.items_checked >= 1
    assert check.ok, str(check)
    assert check.raise_for_drift() is check
    assert {f.field for f in check.findings} >= {"assets", "raster:bands", "proj:epsg/proj:code"}


def test_demo_api_with_planetary_keys_raises_one_message_per_drift(demo_ci, data_root):
    check = check_source("local", bands=PC_BANDS, profile="ci", data_dir=str(data_root))
    with pytest.raises(SourceCheckError, match=r"- item_assets: .*\n- assets: .*blue = \"blue\""):
        check.raise_for_drift()
