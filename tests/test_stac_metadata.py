"""Scale/offset, projection and asset keys on real Earth Search / Planetary Computer items and on the demo items."""

from __future__ import annotations

import json

import pystac
import pytest

from geoml_helpers.discover.stac_metadata import (
    asset_key,
    band_resolutions,
    canonical_band_name,
    item_epsg,
    reflectance_scaling,
)

ES_HARMONISED = (
    "earth-search-v1_sentinel-2-l2a_item_S2A_13TDE_20231008_0_L2A.json"  # baseline 05.09, boa_offset_applied true
)
ES_OLD = "earth-search-v1_sentinel-2-l2a_item_S2A_13SCV_20200413_0_L2A.json"  # baseline 02.14, offset 0
ES_C1 = "earth-search-v1_sentinel-2-c1-l2a_item_S2B_T20EPT_20250731T131905_L2A.json"  # c1: DNs keep the +1000 offset
PC = "planetary-computer_sentinel-2-l2a_item_S2B_MSIL2A_20220612T182919_R027_T24XWR_20220613T123251.json"


def _load(real_stac_dir, name):
    return json.loads((real_stac_dir / name).read_text())


def test_boa_offset_is_not_applied_twice(real_stac_dir):
    item = _load(real_stac_dir, ES_HARMONISED)
    assert item["assets"]["red"]["raster:bands"][0]["offset"] == -0.1  # the trap: still declared
    scaling = reflectance_scaling(item, "red")
    assert (scaling.scale, scaling.offset) == (0.0001, 0.0)
    assert "boa_offset_applied" in scaling.source
    # A harmonised DN of 1500 is reflectance 0.15, not 0.05.
    assert scaling.apply(1500) == pytest.approx(0.15)


def test_old_baseline_and_collection_1_use_the_declared_offset(real_stac_dir):
    assert reflectance_scaling(_load(real_stac_dir, ES_OLD), "nir").offset == 0.0
    c1 = reflectance_scaling(_load(real_stac_dir, ES_C1), "red")
    assert (c1.scale, c1.offset, c1.source) == (0.0001, -0.1, "raster:bands")


def test_planetary_computer_keys_and_baseline_rule(real_stac_dir):
    item = _load(real_stac_dir, PC)
    assert asset_key(item, "nir08") == "B8A"
    assert asset_key(item, "red") == "B04"
    scaling = reflectance_scaling(item, "swir16")
    assert (scaling.scale, scaling.offset) == (0.0001, -0.1)
    assert "04.00" in scaling.source
    assert reflectance_scaling(item, "SCL").offset == 0.0
    assert band_resolutions(item)["nir08"] == 20.0
    with pytest.raises(KeyError, match="has no asset for band 'thermal'"):
        asset_key(item, "thermal")


def test_pystac_objects_work_like_dicts(real_stac_dir):
    item = pystac.Item.from_dict(_load(real_stac_dir, ES_HARMONISED))
    assert reflectance_scaling(item, "red").offset == 0.0
    assert item_epsg(item) == 32613


def test_proj_epsg_and_proj_code(real_stac_dir):
    for name, epsg in [(ES_HARMONISED, 32613), (PC, 32624), (ES_C1, 32720)]:
        item = _load(real_stac_dir, name)
        assert item_epsg(item) == epsg
        # The same item written with projection extension v2.
        v2 = json.loads(json.dumps(item))
        v2["properties"]["proj:code"] = f"EPSG:{v2['properties'].pop('proj:epsg')}"
        assert item_epsg(v2) == epsg


def test_demo_items_follow_the_same_rules(demo_ci):
    item = demo_ci.s2_items()[0]
    assert item["properties"]["earthsearch:boa_offset_applied"] is False
    scaling = reflectance_scaling(item, "B11")
    assert (scaling.scale, scaling.offset) == (0.0001, -0.1)
    assert item_epsg(item) == 32734
    assert band_resolutions(item)["coastal"] == 60
    assert canonical_band_name("B8A") == "nir08"
