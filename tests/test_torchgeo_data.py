"""torchgeo datasets and samplers on the real ci demo scene: shapes, scaling, label alignment, splits, errors."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest
import rasterio
import torch

from geoml_helpers.core.errors import LabelError
from geoml_helpers.core.profiles import outputs_dir
from geoml_helpers.learn.deep.torchgeo_data import (
    REFLECTANCE_BANDS,
    AlignedLabels,
    AlignedStack,
    BandMissingError,
    BlockAlignedRandomSampler,
    ChipSizeError,
    DemoLabelPolygons,
    DemoLabels,
    DemoSentinel2,
    build_chip_stack,
    chip_inside_regions,
    clearest_item,
    item_band_path,
    rasterize_label_cog,
    split_grid_sampler,
    split_random_sampler,
    split_regions,
)

CHIP = 32


@pytest.fixture(scope="module")
def scene(demo_ci, data_root):
    item = clearest_item(demo_ci.s2_items())
    folder = outputs_dir("ci", "torchgeo-tests", data_dir=data_root)
    stack = build_chip_stack(item, folder / f"{item['id']}_stack10m.tif", blocksize=16)
    labels = rasterize_label_cog(demo_ci.labels_path, stack, folder / "labels_10m.tif", blocksize=16)
    return {"item": item, "stack": stack, "labels": labels, "folder": folder, "blocks": demo_ci.read_blocks()}


@pytest.fixture(scope="module")
def delivered(scene):
    return DemoSentinel2.from_item(scene["item"]) & DemoLabels(scene["labels"])


@pytest.fixture(scope="module")
def fast(scene):
    return AlignedStack(scene["stack"]) & AlignedLabels(scene["labels"])


def test_clearest_item_has_fewest_clouds(demo_ci):
    items = demo_ci.s2_items()
    chosen = clearest_item(items)
    assert chosen["properties"]["eo:cloud_cover"] == min(i["properties"]["eo:cloud_cover"] for i in items)


def test_chip_shapes_dtypes_and_date(delivered, fast, scene):
    sampler = split_random_sampler(
        delivered, scene["blocks"], "train", size=CHIP, length=4, generator=torch.Generator().manual_seed(1)
    )
    for query in sampler:
        for dataset in (delivered, fast):
            sample = dataset[query]
            assert sample["image"].shape == (len(REFLECTANCE_BANDS), CHIP, CHIP)
            assert sample["image"].dtype == torch.float32
            assert sample["mask"].shape == (CHIP, CHIP)
            assert sample["mask"].dtype == torch.int64
    image = delivered.datasets[0]
    date = scene["item"]["properties"]["datetime"][:10]
    assert str(image.index.index[0].left.date()) == date
    assert image.res == (10.0, 10.0)


def test_reflectance_scaling_and_resampling_match_the_files(delivered, scene):
    """A 10 m pixel equals DN * scale + offset of the red COG; the 20 m band is resampled to 10 m."""
    image = delivered.datasets[0]
    x, y, t = image.bounds
    sample = image[x.start : x.start + 320, y.stop - 320 : y.stop, t]
    red = REFLECTANCE_BANDS.index("red")
    with rasterio.open(item_band_path(scene["item"], "red")) as src:
        dn = src.read(1, window=((0, 32), (0, 32))).astype("float64")
        expected = dn * src.scales[0] + src.offsets[0]
    assert np.allclose(sample["image"][red].numpy(), np.where(dn == 0, 0, expected), atol=1e-6)
    assert sample["image"].shape[-1] == 32  # swir16 (20 m) came out on the 10 m grid too
    assert 0.0 <= float(sample["image"].mean()) <= 1.0


def test_fast_path_returns_the_same_pixels_as_torchgeo(delivered, fast, scene):
    sampler = split_grid_sampler(delivered, scene["blocks"], "val", size=CHIP, stride=16)
    for query in list(sampler)[:6]:
        a, b = delivered[query], fast[query]
        assert torch.allclose(a["image"], b["image"], atol=2e-4)  # uint16 rounding of the resampled bands
        assert torch.equal(a["mask"], b["mask"])
        assert torch.equal(a["bounds"], b["bounds"])


def test_a_known_polygon_lands_in_the_right_pixels(demo_ci, delivered, scene):
    labels = demo_ci.read_labels()
    polygon = labels.sort_values("area_m2").iloc[-1]
    point = polygon.geometry.representative_point()
    x, y, t = delivered.bounds
    # a chip whose top-left corner is the 10 m pixel 5 columns/rows up-left of the point
    col = int((point.x - x.start) // 10) - 5
    row = int((y.stop - point.y) // 10) - 5
    x0, y1 = x.start + col * 10, y.stop - row * 10
    sample = delivered[x0 : x0 + CHIP * 10, y1 - CHIP * 10 : y1, t]
    assert int(sample["mask"][5, 5]) == int(polygon.class_id)
    # every masked pixel of that class in the chip has its centre inside a polygon of that class
    rows, cols = np.nonzero(sample["mask"].numpy() == polygon.class_id)
    from shapely.geometry import Point

    same_class = labels[labels.class_id == polygon.class_id].geometry.union_all()
    assert all(same_class.contains(Point(x0 + (c + 0.5) * 10, y1 - (r + 0.5) * 10)) for r, c in zip(rows, cols))
    # torchgeo's own vector rasterisation agrees pixel for pixel
    vector = DemoLabelPolygons(demo_ci.labels_path)
    assert torch.equal(vector[x0 : x0 + CHIP * 10, y1 - CHIP * 10 : y1, t]["mask"], sample["mask"])


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_no_chip_crosses_splits(delivered, scene, split):
    blocks = scene["blocks"]
    own = split_regions(blocks, split)
    others = blocks[blocks.split != split]
    random_chips = split_random_sampler(
        delivered, blocks, split, size=CHIP, length=200, generator=torch.Generator().manual_seed(0)
    )
    grid_chips = split_grid_sampler(
        delivered, blocks, split, size=CHIP, stride=20
    )  # 20 does not tile 48 px blocks: lowered
    from shapely.geometry import box

    for query in [*random_chips, *grid_chips]:
        bounds = [query[0].start, query[0].stop, 10, query[1].start, query[1].stop]
        assert chip_inside_regions(bounds, own)
        chip = box(query[0].start, query[1].start, query[0].stop, query[1].stop)
        assert not others.geometry.intersects(chip.buffer(-1)).any()
    assert len(grid_chips) >= len(own)


def test_block_aligned_sampler_snaps_to_tiles(fast, scene):
    sampler = BlockAlignedRandomSampler(
        fast, size=CHIP, align=16, length=50, regions=split_regions(scene["blocks"], "train"), seed=3
    )
    x, y, _ = fast.bounds
    for query in sampler:
        assert round((query[0].start - x.start) / 10) % 16 == 0
        assert round((y.stop - query[1].stop) / 10) % 16 == 0
        assert chip_inside_regions(
            [query[0].start, query[0].stop, 10, query[1].start, query[1].stop], split_regions(scene["blocks"], "train")
        )


def test_chip_larger_than_the_blocks_is_a_clear_error(delivered, scene):
    with pytest.raises(ChipSizeError, match="larger than every train region"):
        split_random_sampler(delivered, scene["blocks"], "train", size=64)
    with pytest.raises(ChipSizeError, match="chip_size <= 48"):
        split_grid_sampler(delivered, scene["blocks"], "test", size=96)


def test_missing_band_is_a_clear_error(scene, tmp_path):
    item = copy.deepcopy(scene["item"])
    del item["assets"]["swir16"]
    with pytest.raises(BandMissingError, match="has no band 'swir16'"):
        DemoSentinel2.from_item(item)
    # the asset is listed but its file is gone (a half-copied download)
    source = item_band_path(scene["item"], "red").parent
    copy_dir = tmp_path / source.name
    shutil.copytree(source, copy_dir)
    (copy_dir / "nir08.tif").unlink()
    with pytest.raises(BandMissingError, match="nir08"):
        DemoSentinel2(copy_dir / "coastal.tif")
    with pytest.raises(BandMissingError, match="has no band 'B99'"):
        DemoSentinel2.from_item(scene["item"], bands=["red", "B99"])
    with pytest.raises(BandMissingError, match="Unknown band"):
        DemoSentinel2(item_band_path(scene["item"], "red"), bands=["red", "B99"])
    with pytest.raises(BandMissingError, match="no band"):
        AlignedStack(scene["stack"], bands=["red", "thermal"])


def test_labels_outside_the_imagery_are_a_clear_error(demo_ci, scene, tmp_path):
    labels = demo_ci.read_labels()
    shifted = labels.copy()
    shifted["geometry"] = labels.geometry.translate(xoff=50_000)
    with pytest.raises(LabelError, match="outside the imagery"):
        rasterize_label_cog(shifted, scene["stack"], tmp_path / "labels_10m.tif")
    assert not (tmp_path / "labels_10m.tif").exists()


def test_grid_chips_stay_inside_and_cover_partial_edge_blocks(delivered, scene):
    """Blocks cut by the scene edge (35 and 40 px here) are tiled to their edge, never past it.

    One stride for all blocks cannot do it: 3 px tiles the 35 px block's span but not the
    40 px one's (8 px), and lowering it to 2 for the second lets the first block's chips run out.
    """
    from shapely.geometry import box

    blocks = scene["blocks"].copy()
    test = blocks.index[blocks.split == "test"][:2]
    for index, width_px in zip(test, (35, 40)):
        x0, y0, _, y1 = blocks.geometry[index].bounds
        blocks.loc[index, "geometry"] = box(x0, y0, x0 + width_px * 10, y1)
    own = split_regions(blocks, "test")
    chips = list(split_grid_sampler(delivered, blocks, "test", size=CHIP, stride=16))
    assert len(chips) == len(split_grid_sampler(delivered, blocks, "test", size=CHIP, stride=16))
    for query in chips:
        assert chip_inside_regions([query[0].start, query[0].stop, 10, query[1].start, query[1].stop], own)
    for index in test:  # the chips reach the right edge of each cut block: every pixel is covered
        x0, y0, x1, y1 = blocks.geometry[index].bounds
        inside = [q for q in chips if x0 - 1 <= q[0].start and q[0].stop <= x1 + 1 and y0 - 1 <= q[1].start]
        assert inside and max(q[0].stop for q in inside) == pytest.approx(x1)
        assert max(q[1].stop for q in inside if q[1].stop <= y1 + 1) == pytest.approx(y1)
