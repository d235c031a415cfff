"""A LightningDataModule for single-date segmentation of a project's clearest scene.

It puts :mod:`geoml_helpers.learn.deep.torchgeo_data` together: the image (the
preprocessed chip stack by default, the files as delivered with
``fast=False``), the rasterised labels, an IntersectionDataset of the two,
and split-restricted samplers (random chips in train blocks, a grid of
overlapping chips in val and test blocks). On the device it normalises every
batch with per-band statistics of the *train* blocks only and, while
training, flips and rotates it with kornia (image and mask together).

Examples
--------
Needs the demo data and a training run (skipped under doctest):

>>> dm = SegmentationDataModule("ci", chip_size=32, batch_size=8, seed=0)  # doctest: +SKIP
>>> dm.prepare_data(); dm.setup("fit")                                           # doctest: +SKIP
>>> batch = next(iter(dm.train_dataloader()))                                    # doctest: +SKIP
>>> batch["image"].shape, batch["mask"].shape                                    # doctest: +SKIP
(torch.Size([8, 11, 32, 32]), torch.Size([8, 32, 32]))
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from geoml_helpers.core.errors import NoPolygonLabelsError
from geoml_helpers.learn.deep.torchgeo_data import (
    REFLECTANCE_BANDS,
    AlignedLabels,
    AlignedStack,
    DemoLabels,
    DemoSentinel2,
    build_chip_stack,
    chip_dataloader,
    clearest_item,
    rasterize_label_cog,
    split_grid_sampler,
    split_random_sampler,
    split_regions,
)


def train_statistics(
    stack_path: str | os.PathLike[str], blocks: Any, bands: Sequence[str], split: str = "train"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-band mean and standard deviation of reflectance over the blocks of one split.

    Only the training blocks are used, so nothing about val/test pixels leaks
    into the normalisation. Nodata (DN 0) is left out.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> mean, std = train_statistics(stack_path, demo.read_blocks(), ["red", "nir"])  # doctest: +SKIP
    """
    import rasterio

    from geoml_helpers.load.rasterize import burn_shapes

    with rasterio.open(stack_path) as src:
        names = list(src.descriptions)
        idx = [names.index(b) + 1 for b in bands]
        dn = src.read(idx).astype("float32")
        scales = np.array([src.scales[i - 1] for i in idx], dtype="float32")[:, None]
        offsets = np.array([src.offsets[i - 1] for i in idx], dtype="float32")[:, None]
        regions = split_regions(blocks, split).to_crs(src.crs)
        inside = burn_shapes(((g, 1) for g in regions.geometry), (src.height, src.width), src.transform).astype(bool)
    pixels = dn[:, inside]
    valid = (pixels != 0).all(axis=0)  # nodata: DN 0, or 0.0 in a reflectance stack
    refl = pixels[:, valid] * scales + offsets
    mean = refl.mean(axis=1)
    std = refl.std(axis=1)
    return torch.from_numpy(mean.astype("float32")), torch.from_numpy(np.maximum(std, 1e-6).astype("float32"))


class SegmentationDataModule(pl.LightningDataModule):
    """Chips, labels and splits of one scene of a project for :class:`torchgeo.tasks.SemanticSegmentation`.

    The project's polygon labels are burnt onto the scene's 10 m grid; point
    labels cannot supervise a segmentation and are left out (counted in
    :attr:`points_left_out`). Classes come from the project's class table.

    Parameters
    ----------
    profile : str
        Course profile (``ci``, ``workshop``, ``full``).
    data_dir : path-like, optional
        Data root (see :func:`geoml_helpers.core.profiles.data_root`).
    item_id : str, optional
        Scene to use; default the one with the fewest clouds.
    bands : sequence of str
        Bands fed to the model.
    chip_size : int
        Chip side in pixels (a multiple of 32 for a U-Net; at most the block size).
    batch_size : int
    train_chips : int
        Random training chips per epoch.
    eval_stride : int, optional
        Stride of the val/test grid (default half a chip: overlapping chips).
    num_workers : int
        DataLoader worker processes.
    seed : int
        Seeds the chip positions; with :func:`lightning.seed_everything` the
        whole pipeline (chip choice and augmentation) is reproducible.
    fast : bool
        Read the preprocessed, tiled chip stack (True) or the COGs as delivered (False).
    augment : bool
        Random flips and 90-degree rotations of training batches.
    tile_size : int
        Internal tile size of the chip stack (a divisor of ``chip_size``).
    project : str, optional
        Path of the project TOML; ``None``: the demo project of ``profile``.

    Raises
    ------
    NoPolygonLabelsError
        From :meth:`prepare_data`, for a project whose labels are all points.

    Examples
    --------
    Needs the demo data and a training run (skipped under doctest):

    >>> dm = SegmentationDataModule("ci", chip_size=32)  # doctest: +SKIP
    """

    def __init__(
        self,
        profile: str = "ci",
        data_dir: str | os.PathLike[str] | None = None,
        *,
        item_id: str | None = None,
        bands: Sequence[str] = REFLECTANCE_BANDS,
        chip_size: int = 32,
        batch_size: int = 16,
        train_chips: int = 256,
        eval_stride: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        fast: bool = True,
        augment: bool = True,
        tile_size: int = 16,
        project: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        data_dir = None if data_dir is None else str(data_dir)  # checkpoints load with weights_only: no Path objects
        project = None if project is None else str(project)
        bands = list(bands)
        self.save_hyperparameters()
        self.profile, self.data_dir, self.project = profile, data_dir, project
        self.item_id, self.bands = item_id, tuple(bands)
        self.chip_size, self.batch_size, self.train_chips = int(chip_size), int(batch_size), int(train_chips)
        self.eval_stride = int(eval_stride or max(chip_size // 2, 1))
        self.num_workers, self.seed, self.fast, self.augment, self.tile_size = (
            num_workers,
            seed,
            fast,
            augment,
            tile_size,
        )
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None
        self._prepared = False

    # -- files -------------------------------------------------------------------------

    def prepare_data(self) -> None:
        """Search the project's scenes, build the chip stack and the label COG (once; later calls reuse them)."""
        from geoml_helpers.core.project import resolve_project
        from geoml_helpers.discover.labels import prepare_labels
        from geoml_helpers.load.cube import project_outputs_dir, search_project_items

        project = resolve_project(self.project, self.profile)
        prepared = prepare_labels(project, self.data_dir)
        self.classes = prepared.classes
        polygons = prepared.polygons
        self.points_left_out = len(prepared.points)
        if polygons.empty:
            raise NoPolygonLabelsError(
                f"The project {project.name!r} has {self.points_left_out} point labels and no polygons: "
                "segmentation needs polygons. Digitise polygons around the field plots, or use the pixel "
                "classifiers (notebooks 04, 06, 08), which sample at the points."
            )
        if project.is_demo:
            from geoml_helpers.demo.build import ensure_demo_data

            items = ensure_demo_data(self.profile, root=self.data_dir, progress=False).s2_items()
        else:
            items = search_project_items(project, self.profile, self.data_dir, bbox=prepared.aoi_lonlat)
        if self.item_id is None:
            self.item = clearest_item(items)
        else:
            matches = [i for i in items if i["id"] == self.item_id]
            if not matches:
                raise ValueError(
                    f"No scene {self.item_id!r} for the project {project.name!r}; choose one of "
                    f"{[i['id'] for i in items]}."
                )
            self.item = matches[0]
        folder = project_outputs_dir(project, self.profile, "torchgeo", data_dir=self.data_dir)
        if not project.is_demo:  # torchgeo and the chip stack read local files: the AOI window of each band
            from geoml_helpers.load.local_copy import copy_item_locally

            self.item = copy_item_locally(self.item, folder / "scenes", prepared.bounds, prepared.crs)
        self.stack_path = build_chip_stack(
            self.item, folder / f"{self.item['id']}_stack10m.tif", blocksize=self.tile_size
        )
        polygons, self.polygons_outside_scene = _inside_scene(polygons, self.stack_path)
        self.labels_path = rasterize_label_cog(
            polygons, self.stack_path, folder / "labels_10m.tif", blocksize=self.tile_size, classes=self.classes
        )
        self.blocks = prepared.blocks
        self._prepared = True

    def setup(self, stage: str | None = None) -> None:
        """Datasets, samplers and train-block normalisation statistics."""
        if not self._prepared:
            self.prepare_data()
        self.image_dataset: Any
        self.label_dataset: Any
        if self.fast:
            self.image_dataset = AlignedStack(self.stack_path, bands=self.bands)
            self.label_dataset = AlignedLabels(self.labels_path)
        else:
            self.image_dataset = DemoSentinel2.from_item(self.item, bands=self.bands)
            self.label_dataset = DemoLabels(self.labels_path)
        self.dataset = self.image_dataset & self.label_dataset  # an IntersectionDataset
        self.mean, self.std = train_statistics(self.stack_path, self.blocks, self.bands)
        self.train_sampler = split_random_sampler(
            self.dataset,
            self.blocks,
            "train",
            size=self.chip_size,
            length=self.train_chips,
            generator=torch.Generator().manual_seed(self.seed),
        )
        self.val_sampler = split_grid_sampler(
            self.dataset, self.blocks, "val", size=self.chip_size, stride=self.eval_stride
        )
        self.test_sampler = split_grid_sampler(
            self.dataset, self.blocks, "test", size=self.chip_size, stride=self.eval_stride
        )

    # -- loaders -----------------------------------------------------------------------

    def _loader(self, sampler) -> Any:
        return chip_dataloader(self.dataset, sampler, batch_size=self.batch_size, num_workers=self.num_workers)

    def train_dataloader(self):
        """Random chips inside train blocks."""
        return self._loader(self.train_sampler)

    def val_dataloader(self):
        """A grid of overlapping chips inside val blocks."""
        return self._loader(self.val_sampler)

    def test_dataloader(self):
        """A grid of overlapping chips inside test blocks."""
        return self._loader(self.test_sampler)

    # -- on-device transforms ------------------------------------------------------------

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        """``(image - mean) / std`` per band with the train-block statistics."""
        assert self.mean is not None and self.std is not None, "setup() computes the train-block statistics"
        mean = self.mean.to(image.device).view(1, -1, 1, 1)
        std = self.std.to(image.device).view(1, -1, 1, 1)
        return (image - mean) / std

    def _augmentation(self):
        import kornia.augmentation as K

        if not hasattr(self, "_aug"):
            self._aug = K.AugmentationSequential(
                K.RandomHorizontalFlip(p=0.5),
                K.RandomVerticalFlip(p=0.5),
                K.RandomRotation90(times=(0, 3), p=0.5),
                data_keys=None,
                keepdim=True,
            )
        return self._aug

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """Normalise every batch; augment training batches (image and mask with the same flips)."""
        batch = dict(batch)
        batch["image"] = self.normalize(batch["image"].float())
        training = self.trainer is not None and self.trainer.training
        if self.augment and training:
            extra = {k: batch.pop(k) for k in list(batch) if k not in ("image", "mask")}
            mask_dtype = batch["mask"].dtype
            out = self._augmentation()({"image": batch["image"], "mask": batch["mask"].float()})
            batch = {"image": out["image"], "mask": out["mask"].round().to(mask_dtype), **extra}
        return batch

    def state_dict(self) -> dict:
        """Saved in checkpoints, so a resumed run normalises the same way."""
        return {"mean": self.mean, "std": self.std, "item_id": getattr(self, "item", {}).get("id")}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore normalisation statistics from a checkpoint."""
        if state_dict.get("mean") is not None:
            self.mean, self.std = state_dict["mean"], state_dict["std"]

    @property
    def num_classes(self) -> int:
        """``K + 1``: ``0`` (unlabelled, ignored) and the project's ``K`` classes."""
        self._require_prepared()
        return len(self.classes) + 1

    @property
    def class_names(self) -> list[str]:
        """Names by class index, ``unlabelled`` first, then the project's classes."""
        self._require_prepared()
        return ["unlabelled"] + [self.classes.names[i] for i in self.classes.ids]

    def _require_prepared(self) -> None:
        if not self._prepared:
            self.prepare_data()

    def describe(self) -> dict:
        """A short summary for the notebook: scene, chips, splits."""
        return {
            "scene": self.item["id"],
            "classes": len(self.classes),
            "points_left_out": self.points_left_out,
            "polygons_outside_scene": self.polygons_outside_scene,
            "bands": list(self.bands),
            "chip_size": self.chip_size,
            "train_chips_per_epoch": len(self.train_sampler),
            "val_chips": len(self.val_sampler),
            "test_chips": len(self.test_sampler),
            "reader": "chip stack (fast path)" if self.fast else "COGs as delivered",
            "stack": str(Path(self.stack_path)),
        }


def _inside_scene(polygons: Any, image_like: str | os.PathLike[str]) -> tuple[Any, int]:
    """The polygons clipped to the scene's footprint, and how many lay wholly outside it."""
    import rasterio
    from shapely.geometry import box

    with rasterio.open(image_like) as src:
        scene, crs = box(*src.bounds), src.crs
    frame = polygons.to_crs(crs)
    touches = frame.geometry.intersects(scene)
    return frame.loc[touches].clip(scene), int((~touches).sum())


DemoSegmentationDataModule = SegmentationDataModule
"""The former name, kept for old notebooks and checkpoints."""
