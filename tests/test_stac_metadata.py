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


# --- The offset checked on the pixels, SCL names, dilated masks and the AOI's clear fraction -----------------------

import numpy as np  # noqa: E402

from geoml_helpers.discover.stac_metadata import (  # noqa: E402
    aoi_clear_fraction,
    baseline_jump,
    check_offset,
    clear_fraction_table,
    cloud_shadow_mask,
    offset_metadata,
    read_asset_window,
    scl_class_names,
)

ES_2024 = "earth-search-v1_sentinel-2-l2a_item_S2A_37WDS_20240419_0_L2A.json"
ES_2025 = "earth-search-v1_sentinel-2-l2a_item_S2B_20EPT_20250731_0_L2A.json"


def test_metadata_says_which_real_items_need_a_pixel_check(real_stac_dir):
    report = {
        name: offset_metadata(_load(real_stac_dir, name))
        for name in (ES_HARMONISED, ES_2024, ES_2025, ES_OLD, ES_C1, PC)
    }
    # Earth Search sentinel-2-l2a after baseline 04.00: the flag has been wrong before, only the pixels can tell
    for name in (ES_HARMONISED, ES_2024, ES_2025):
        assert report[name]["needs_pixel_check"] and report[name]["boa_offset_applied"] is True
        assert report[name]["declared_offset"] == -0.1 and report[name]["scaling"].offset == 0.0
    # before 04.00 there is no offset to get wrong; collection 1 declares what its DNs hold; PC has no flag
    assert not report[ES_OLD]["needs_pixel_check"] and report[ES_OLD]["baseline"] < 4
    assert not report[ES_C1]["needs_pixel_check"] and report[ES_C1]["scaling"].offset == -0.1
    assert not report[PC]["needs_pixel_check"] and report[PC]["declared_offset"] is None


def test_scl_class_2_changed_name_at_baseline_04(real_stac_dir):
    assert scl_class_names(_load(real_stac_dir, ES_OLD))[2] == "dark area pixels"
    for name in (ES_HARMONISED, ES_C1, PC):
        assert scl_class_names(_load(real_stac_dir, name))[2] == "topographic casted shadows"
    assert scl_class_names()[9] == "cloud high probability" and len(scl_class_names()) == 12


@pytest.fixture(scope="module")
def demo_pixels(demo_ci):
    """Raw DNs (blue, red, nir) and SCL of every demo item over the AOI, read through the items' own hrefs."""
    out = []
    for item in demo_ci.s2_items():
        dn = {b: read_asset_window(item, b, demo_ci.bounds, demo_ci.crs) for b in ("blue", "red", "nir")}
        out.append((item, dn, read_asset_window(item, "scl", demo_ci.bounds, demo_ci.crs)))
    return out


def test_demo_pixels_agree_with_their_metadata(demo_pixels, demo_ci):
    side = demo_ci.profile.size_px
    for item, dn, scl in demo_pixels:
        assert dn["red"].shape == (side, side) and scl.shape == (side // 2, side // 2)
        check = check_offset(item, dn, scl)
        assert check.ok and check.dns_carry_offset and check.dn_low >= 1000
        assert check.vegetation_negative_share == 0.0


def test_mistagged_offset_is_flagged(demo_pixels):
    for item, dn, scl in demo_pixels:
        # Harmonised pixels (what earth-search#24/#66 found) under the same metadata: the offset is applied twice.
        harmonised = {b: np.where(v > 0, np.maximum(v.astype(np.int64) - 1000, 1), 0) for b, v in dn.items()}
        twice = check_offset(item, harmonised, scl)
        assert twice.verdict == "offset applied twice" and not twice.dns_carry_offset
        assert twice.vegetation_negative_share > 0.3 and twice.negative_share > 0.1
        # Raw pixels flagged as harmonised: the offset is missing.
        flagged = json.loads(json.dumps(item))
        flagged["properties"]["earthsearch:boa_offset_applied"] = True
        assert check_offset(flagged, dn, scl).verdict == "offset missing"


def test_a_wrong_offset_on_one_side_of_2022_01_25_shows_as_a_jump(demo_pixels):
    # Pretend the first half of the demo year was processed before baseline 04.00: DNs without +1000 and offset 0.
    medians_right, medians_wrong, dates = [], [], []
    for k, (item, dn, scl) in enumerate(demo_pixels):
        old = k < len(demo_pixels) // 2
        red = dn["red"].astype(np.float64)
        red = np.where(red > 0, red - 1000, 0) if old else red
        valid = (red > 0) & ~cloud_shadow_mask(np.kron(scl, np.ones((2, 2), scl.dtype)), dilate_px=1)
        right = red * 0.0001 + (0.0 if old else -0.1)
        wrong = red * 0.0001 - 0.1  # the declared offset applied to every date
        medians_right.append(float(np.median(right[valid])))
        medians_wrong.append(float(np.median(wrong[valid])))
        dates.append(("2021" if old else "2022") + item["properties"]["datetime"][4:10])
    assert not baseline_jump(dates, medians_right)["flagged"]
    jump = baseline_jump(dates, medians_wrong)
    assert jump["flagged"] and jump["jump"] == pytest.approx(0.1, abs=0.03)


def test_dilated_mask_and_aoi_clear_fraction_on_demo_items(demo_pixels, demo_ci):
    fractions = []
    for item, _, scl in demo_pixels:
        masks = [cloud_shadow_mask(scl, dilate_px=r) for r in (0, 1, 2, 4)]
        for small, big in zip(masks, masks[1:]):
            assert (big >= small).all() and big.sum() >= small.sum()
        if masks[0].any() and not masks[0].all():
            assert masks[-1].sum() > masks[0].sum()
        clear = [aoi_clear_fraction(scl, dilate_px=r) for r in (0, 2)]
        assert 0 <= clear[1] <= clear[0] <= 1
        fractions.append((item["properties"]["eo:cloud_cover"], clear[0]))
    cloud_free = [f for cover, f in fractions if cover == 0]
    assert cloud_free and min(cloud_free) > 0.95
    table = clear_fraction_table(demo_ci.s2_items(), demo_ci.bounds, demo_ci.crs, dilate_px=2)
    assert table["aoi_clear_fraction"].is_monotonic_decreasing and len(table) == len(demo_pixels)
    # the cloudiest item over the AOI is the one with the most cloud, and its dilated clear fraction is low
    assert table.iloc[-1]["eo_cloud_cover"] == max(cover for cover, _ in fractions)
