"""The LightningDataModule on the real ci demo data: batches, normalisation, augmentation, determinism."""

from __future__ import annotations

import pytest
import torch

from geoml_helpers.learn.deep.datamodule import DemoSegmentationDataModule, SegmentationDataModule
from geoml_helpers.learn.deep.torchgeo_data import chip_inside_regions, split_regions
from geoml_helpers.learn.deep.training import seed_everything


def _datamodule(data_root, seed: int, **kwargs) -> DemoSegmentationDataModule:
    seed_everything(seed)
    dm = DemoSegmentationDataModule(
        "ci", data_dir=data_root, chip_size=32, batch_size=8, train_chips=16, seed=seed, **kwargs
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def dm(demo_ci, data_root):
    return _datamodule(data_root, 0)


def test_batches_have_the_expected_shapes(dm):
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (8, 11, 32, 32) and batch["image"].dtype == torch.float32
    assert batch["mask"].shape == (8, 32, 32) and batch["mask"].dtype == torch.int64
    assert int(batch["mask"].max()) <= dm.num_classes - 1
    val = next(iter(dm.val_dataloader()))
    assert val["image"].shape[1:] == (11, 32, 32)
    info = dm.describe()
    assert info["train_chips_per_epoch"] == 16 and info["val_chips"] > 0 and info["test_chips"] > 0


def test_training_chips_stay_in_train_blocks(dm):
    train = split_regions(dm.blocks, "train")
    for batch in dm.train_dataloader():
        for bounds in batch["bounds"]:
            assert chip_inside_regions(bounds[:5].tolist(), train)


def test_normalisation_uses_train_statistics(dm):
    """Train-block pixels come out with mean ~0 and std ~1 per band."""
    pixels = []
    for batch in dm._loader(dm.train_sampler):
        pixels.append(dm.normalize(batch["image"]).transpose(0, 1).reshape(11, -1))
    pixels = torch.cat(pixels, dim=1)
    assert pixels.mean(dim=1).abs().max() < 0.6
    assert ((pixels.std(dim=1) > 0.4) & (pixels.std(dim=1) < 2.5)).all()


def test_augmentation_moves_image_and_mask_together(dm):
    batch = next(iter(dm.train_dataloader()))
    # encode the mask in an extra image band so any flip/rotation must move both the same way
    image = torch.cat([batch["image"], batch["mask"][:, None].float()], dim=1)
    torch.manual_seed(5)
    out = dm._augmentation()({"image": image, "mask": batch["mask"].float()})
    assert torch.allclose(out["image"][:, -1], out["mask"], atol=1e-3)  # rotations resample the image in float32
    assert not torch.equal(out["mask"], batch["mask"].float())  # something did move


def test_same_seed_same_batches_different_seed_different_batches(demo_ci, data_root):
    def first_two(seed):
        dm = _datamodule(data_root, seed)
        loader = iter(dm.train_dataloader())
        return [next(loader) for _ in range(2)]

    a, b, c = first_two(11), first_two(11), first_two(12)
    for x, y in zip(a, b):
        assert (
            torch.equal(x["bounds"], y["bounds"])
            and torch.equal(x["image"], y["image"])
            and torch.equal(x["mask"], y["mask"])
        )
    assert not torch.equal(a[0]["bounds"], c[0]["bounds"])


def test_delivered_files_path_gives_the_same_batches(demo_ci, data_root):
    fast = _datamodule(data_root, 4)
    slow = _datamodule(data_root, 4, fast=False)
    f, s = next(iter(fast.val_dataloader())), next(iter(slow.val_dataloader()))
    assert torch.equal(f["bounds"], s["bounds"])
    assert torch.allclose(f["image"], s["image"], atol=2e-4)
    assert torch.equal(f["mask"], s["mask"])


def test_unknown_scene_is_a_clear_error(demo_ci, data_root):
    dm = DemoSegmentationDataModule("ci", data_dir=data_root, item_id="S2Z_00XXX_20990101_0_L2A")
    with pytest.raises(ValueError, match="choose one of"):
        dm.prepare_data()


@pytest.fixture(scope="module")
def user_projects(demo_ci, data_root, tmp_path_factory):
    """User-style projects made from the demo's labels: half points, and points only."""
    from geoml_helpers.demo.user_project import write_user_project

    folder = tmp_path_factory.mktemp("user-projects")
    return {g: write_user_project(folder / g, data_dir=data_root, geometry=g) for g in ("mixed", "points")}


def test_a_users_project_brings_its_classes_and_leaves_its_points_out(user_projects, data_root):
    from geoml_helpers.core.project import load_project
    from geoml_helpers.discover.labels import prepare_labels

    prepared = prepare_labels(load_project(user_projects["mixed"]), data_root)
    dm = _datamodule(data_root, 0, project=str(user_projects["mixed"]))
    assert dm.class_names == ["unlabelled", *prepared.classes.names.values()]
    assert dm.num_classes == len(prepared.classes) + 1
    assert dm.points_left_out == len(prepared.points) > 0
    assert dm.describe()["points_left_out"] == dm.points_left_out
    batch = next(iter(dm.val_dataloader()))
    assert int(batch["mask"].max()) <= dm.num_classes - 1


def test_a_points_only_project_says_segmentation_needs_polygons(user_projects, data_root):
    from geoml_helpers.learn.deep.datamodule import NoPolygonLabelsError

    dm = SegmentationDataModule("ci", data_dir=data_root, project=str(user_projects["points"]))
    with pytest.raises(NoPolygonLabelsError, match="point labels and no polygons"):
        dm.prepare_data()
