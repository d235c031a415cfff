"""torchgeo datasets and split-restricted samplers for the demo Sentinel-2 scene.

Two ways to feed the same single-date scene to a model, both torchgeo
:class:`~torchgeo.datasets.GeoDataset` objects that can be combined with
``&`` (an :class:`~torchgeo.datasets.IntersectionDataset`):

*As delivered* -- :class:`DemoSentinel2`
    One COG per band and date (``<item id>/<band>.tif``) at 10, 20 or 60 m,
    read and resampled to 10 m on every query by torchgeo. Simple, and slow:
    every chip opens 11 files and resamples six of them.
*Preprocessed* -- :func:`build_chip_stack` + :class:`AlignedStack`
    The bands resampled *once* to the 10 m grid and written as one
    pixel-interleaved, tiled GeoTIFF, so that a chip aligned with the file's
    grid is a single windowed read of whole internal tiles.

Labels come from the GeoParquet polygons, either rasterised once to a label
COG on the same grid (:func:`rasterize_label_cog` + :class:`DemoLabels`) or
rasterised per query by torchgeo (:class:`DemoLabelPolygons`).

Samplers (:func:`split_random_sampler`, :func:`split_grid_sampler`) are
torchgeo's ``RandomGeoSampler`` / ``GridGeoSampler`` run over *one region per
spatial block* of a split, so that no chip ever crosses from a train block
into a val or test block.

Examples
--------
Needs the built demo data (skipped under doctest):

>>> from geoml_helpers.demo import ensure_demo_data   # doctest: +SKIP
>>> demo = ensure_demo_data("ci")                      # doctest: +SKIP
>>> item = clearest_item(demo.s2_items())              # doctest: +SKIP
>>> image = DemoSentinel2.from_item(item)              # doctest: +SKIP
>>> label_cog = rasterize_label_cog(demo.labels_path, item_band_path(item, "red"), "labels.tif")  # doctest: +SKIP
>>> labels = DemoLabels(label_cog)  # doctest: +SKIP
>>> dataset = image & labels                           # doctest: +SKIP
>>> sampler = split_random_sampler(dataset, demo.read_blocks(), "train", size=32, length=64)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np

from geoml_helpers.core.atomic import atomic_write
from geoml_helpers.core.classes import NODATA_CLASS, ClassTable
from geoml_helpers.core.errors import BandMissingError, ChipSizeError, DatasetLayoutError, GeomlError, LabelError
from geoml_helpers.discover.stac_metadata import reflectance_scaling

REFLECTANCE_BANDS: tuple[str, ...] = (
    "coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08", "swir16", "swir22",
)
"""The 11 reflectance bands of the demo items, Earth Search keys, in Sentinel-2 order."""

SCENE_DIR_REGEX: str = r"^S2[ABCD]_(?P<tile>\d{2}[A-Z]{3})_(?P<date>\d{8})_\d+_L2A$"
"""Earth Search item ids, which are also the demo's scene folder names (``S2B_34HCH_20240203_0_L2A``)."""


# --------------------------------------------------------------------------------------
# Scenes and their files
# --------------------------------------------------------------------------------------


def href_to_path(href: str) -> Path:
    """Local path of a ``file://`` URL or a plain path.

    Examples
    --------
    >>> href_to_path("file:///tmp/a%20b/red.tif").as_posix()
    '/tmp/a b/red.tif'
    """
    parsed = urlparse(href)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path if parsed.scheme else href))
    raise DatasetLayoutError(
        f"Asset href {href!r} is not a local file. torchgeo's RasterDataset reads local paths or GDAL /vsi paths; "
        "download the assets first or use the demo items (`demo.s2_items()` gives file:// hrefs)."
    )


def item_band_path(item: dict, band: str) -> Path:
    """Path of ``band``'s COG in a demo item, with a clear error when the band or its file is missing.

    Raises
    ------
    BandMissingError
        If the item has no such asset or the file is not on disk.

    Examples
    --------
    >>> item_band_path({"id": "x", "assets": {}}, "red")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.BandMissingError: Scene 'x' has no band 'red'...
    """
    asset = item.get("assets", {}).get(band)
    if asset is None:
        raise BandMissingError(
            f"Scene {item.get('id')!r} has no band {band!r}; its assets are {sorted(item.get('assets', {}))}. "
            f"Drop {band!r} from `bands`, or pick another scene that has it."
        )
    path = href_to_path(asset["href"])
    if not path.is_file():
        raise BandMissingError(
            f"Scene {item.get('id')!r} lists band {band!r} but its file {path} is missing. "
            "Rebuild the demo data (`python -m geoml_helpers.demo build --profile <profile> --force`) or drop the band."
        )
    return path


def clearest_item(items: Sequence[dict]) -> dict:
    """The item with the lowest ``eo:cloud_cover`` (then the least nodata, then the earliest).

    Examples
    --------
    >>> clearest_item([{"id": "a", "properties": {"eo:cloud_cover": 5, "datetime": "2024-01-01"}},
    ...                {"id": "b", "properties": {"eo:cloud_cover": 0, "datetime": "2024-02-01"}}])["id"]
    'b'
    """
    if not items:
        raise GeomlError("No items to choose from; check the STAC search (dates, bbox, collection).")

    def key(item: dict) -> tuple:
        p = item.get("properties", {})
        return (
            float(p.get("eo:cloud_cover", 100.0)),
            float(p.get("s2:nodata_pixel_percentage", 0.0)),
            str(p.get("datetime", "")),
        )

    return min(items, key=key)


# --------------------------------------------------------------------------------------
# torchgeo datasets
# --------------------------------------------------------------------------------------

from torchgeo.datasets import RasterDataset, VectorDataset  # noqa: E402
from torchgeo.datasets.utils import disambiguate_timestamp  # noqa: E402


class _ScaledMixin:
    """Turns DNs into reflectance after torchgeo has read a chip, then applies the user's transforms."""

    _scale: Any = None
    _offset: Any = None
    _identity: bool = False
    _user_transforms: Callable | None = None

    def _set_scaling(self, scales: Sequence[float], offsets: Sequence[float]) -> None:
        import torch

        self._identity = all(float(v) == 1.0 for v in scales) and all(float(v) == 0.0 for v in offsets)
        self._scale = torch.tensor(list(scales), dtype=torch.float32).view(-1, 1, 1)
        self._offset = torch.tensor(list(offsets), dtype=torch.float32).view(-1, 1, 1)

    def _finish(self, sample: dict) -> dict:
        import torch

        if self._identity:
            if self._user_transforms is not None:
                sample = self._user_transforms(sample)
            return sample
        image = sample["image"]
        nodata = image == 0  # DN 0 is Sentinel-2 L2A nodata
        image = image * self._scale + self._offset
        sample["image"] = torch.where(nodata, torch.zeros((), dtype=image.dtype), image)
        if self._user_transforms is not None:
            sample = self._user_transforms(sample)
        return sample


class DemoSentinel2(_ScaledMixin, RasterDataset):
    """One Sentinel-2 L2A scene as delivered: one COG per band, read at 10 m by torchgeo.

    torchgeo finds one file per scene with :attr:`filename_glob` (the first
    band's file), swaps the ``band`` group of :attr:`filename_regex` to find the
    others (``separate_files``), resamples 20 m and 60 m bands to ``res`` on
    read, and takes the date from the scene folder with :attr:`date_regex`.
    DNs become reflectance with the scale/offset of the STAC item
    (:func:`geoml_helpers.discover.stac_metadata.reflectance_scaling`); nodata (DN 0)
    becomes 0.

    Parameters
    ----------
    paths : path-like or list
        Scene folder(s) or the demo's ``sentinel-2-l2a`` folder.
    scaling : sequence of (scale, offset), optional
        Per band; from :meth:`from_item` it comes from the STAC item.
        Without it, Sentinel-2 L2A baseline >= 04.00 (0.0001, -0.1) is used.
    bands : sequence of str, optional
        Subset of :attr:`all_bands` (default all 11).
    res : float
        Output resolution in metres (10 by default).
    transforms : callable, optional
        Applied to each sample after scaling.
    cache : bool
        Keep file handles open between queries (torchgeo's default).

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> image = DemoSentinel2.from_item(item, bands=["red", "nir"])  # doctest: +SKIP
    >>> image[image.bounds]["image"].shape                           # doctest: +SKIP
    torch.Size([2, 240, 240])
    """

    all_bands: tuple[str, ...] = REFLECTANCE_BANDS
    separate_files = True
    filename_glob = "S2*_L2A/{}.tif"
    filename_regex = r"^(?P<band>[a-z0-9]+)\.tif$"
    date_regex = SCENE_DIR_REGEX
    date_format = "%Y%m%d"
    rgb_bands = ("red", "green", "blue")

    def __init__(
        self,
        paths: Any = "data",
        scaling: Sequence[tuple[float, float]] | None = None,
        bands: Sequence[str] | None = None,
        res: float = 10.0,
        transforms: Callable | None = None,
        cache: bool = True,
    ) -> None:
        bands = tuple(bands or self.all_bands)
        unknown = [b for b in bands if b not in self.all_bands]
        if unknown:
            raise BandMissingError(
                f"Unknown band(s) {unknown}; the demo scenes have {list(self.all_bands)}. Fix `bands`."
            )
        self.filename_glob = type(self).filename_glob.format(bands[0])
        super().__init__(paths, crs=None, res=res, bands=bands, transforms=None, cache=cache)
        for filepath in self.index.filepath:
            for band in bands:
                other = Path(self._update_filepath(band, filepath))
                if not other.is_file():
                    raise BandMissingError(
                        f"Scene folder {other.parent.name} has no file for band {band!r} ({other.name}). "
                        "Drop the band from `bands`, or rebuild the demo data with --force."
                    )
        scaling = list(scaling) if scaling is not None else [(0.0001, -0.1)] * len(bands)
        if len(scaling) != len(bands):
            raise ValueError(
                f"`scaling` has {len(scaling)} entries for {len(bands)} bands; give one (scale, offset) per band."
            )
        self._set_scaling([s for s, _ in scaling], [o for _, o in scaling])
        self._user_transforms = transforms

    @classmethod
    def from_item(
        cls,
        item: dict,
        bands: Sequence[str] | None = None,
        res: float = 10.0,
        transforms: Callable | None = None,
        cache: bool = True,
    ) -> DemoSentinel2:
        """The scene of one STAC item, scaled with that item's own metadata.

        Raises
        ------
        BandMissingError
            If a band has no asset or no file.
        """
        bands = tuple(bands or cls.all_bands)
        paths = [item_band_path(item, band) for band in bands]
        scaling = []
        for band in bands:
            s = reflectance_scaling(item, band)
            scaling.append((s.scale, s.offset))
        return cls(paths[0], scaling=scaling, bands=bands, res=res, transforms=transforms, cache=cache)

    def _filepath_to_timestamp(self, filepath):
        match = re.match(self.date_regex, Path(filepath).parent.name)
        if match is None:
            return self.mint, self.maxt
        return disambiguate_timestamp(match.group("date"), self.date_format)

    def __getitem__(self, index):
        return self._finish(super().__getitem__(index))


class DemoLabels(RasterDataset):
    """The rasterised label COG (class ids, 0 = unlabelled) as a torchgeo mask dataset.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> labels = DemoLabels(outputs_dir("ci", "torchgeo") / "labels_10m.tif")  # doctest: +SKIP
    """

    filename_glob = "labels_10m*.tif"
    is_image = False


class DemoLabelPolygons(VectorDataset):
    """The GeoParquet label polygons, rasterised by torchgeo on every query.

    Equivalent to :class:`DemoLabels` (a test checks it pixel for pixel) but it
    reads and rasterises the polygons for every chip.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> polygons = DemoLabelPolygons(demo.labels_path, res=10.0)  # doctest: +SKIP
    """

    filename_glob = "labels*.parquet"

    def __init__(self, paths: Any, res: float = 10.0, crs=None, transforms: Callable | None = None) -> None:
        super().__init__(paths, crs=crs, res=(res, res), transforms=transforms, label_name="class_id")


# --------------------------------------------------------------------------------------
# Rasterised labels
# --------------------------------------------------------------------------------------


def check_labels_inside(labels, bounds: tuple[float, float, float, float], crs: str) -> None:
    """Raise :class:`~geoml_helpers.core.errors.LabelError` if any polygon lies (partly) outside ``bounds``.

    Examples
    --------
    >>> import geopandas as gpd; from shapely.geometry import box
    >>> gdf = gpd.GeoDataFrame({"polygon_id": [7]}, geometry=[box(500, 500, 600, 600)], crs="EPSG:32734")
    >>> check_labels_inside(gdf, (0, 0, 100, 100), "EPSG:32734")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.LabelError: 1 of 1 label polygons lie outside the imagery...
    """
    from shapely.geometry import box

    if labels.crs is None:
        raise LabelError("The label polygons have no CRS; set it with `gdf.set_crs(...)` before rasterising.")
    frame = labels.to_crs(crs)
    outside = ~frame.geometry.within(box(*bounds).buffer(1e-6))
    if outside.any():
        ids = frame.loc[outside, "polygon_id"].tolist() if "polygon_id" in frame else frame.index[outside].tolist()
        raise LabelError(
            f"{int(outside.sum())} of {len(frame)} label polygons lie outside the imagery "
            f"{tuple(round(b, 1) for b in bounds)} "
            f"(polygon ids {ids[:10]}{'...' if len(ids) > 10 else ''}). Clip the labels to the scene "
            "(`labels.clip(box(*bounds))`) or choose a scene that covers them."
        )


def rasterize_label_cog(
    labels: Any,
    image_like: str | os.PathLike[str],
    path: str | os.PathLike[str],
    blocksize: int = 256,
    column: str = "class_id",
    classes: ClassTable | None = None,
) -> Path:
    """Burn label polygons onto the 10 m grid of ``image_like`` and write a uint8 COG (0 = unlabelled).

    A pixel gets a polygon's class when its centre is inside the polygon.
    The file is rebuilt only when missing or older than the labels.

    Parameters
    ----------
    labels : path-like or GeoDataFrame
        GeoParquet of polygons with ``column``.
    image_like : path-like
        A 10 m raster whose grid the labels take (e.g. the red band, or the chip stack).
    path : path-like
        Destination ``.tif``.
    blocksize : int
        Internal tile size; use the chip stack's so both are read block-aligned.
    column : str
        The column of raster class ids (``1..K``).
    classes : ClassTable, optional
        The project's classes: their colours become the COG's colour table.

    Raises
    ------
    LabelError
        If polygons lie outside the imagery or have no CRS.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> rasterize_label_cog(demo.labels_path, item_band_path(item, "red"), "labels_10m.tif")  # doctest: +SKIP
    """
    import geopandas as gpd
    import rasterio

    from geoml_helpers.load.cog import write_cog
    from geoml_helpers.load.rasterize import burn_shapes

    path = Path(path)
    source = Path(labels) if isinstance(labels, (str, os.PathLike)) else None
    if path.exists() and source is not None and path.stat().st_mtime >= source.stat().st_mtime:
        return path
    gdf = gpd.read_parquet(source) if source is not None else labels
    with rasterio.open(image_like) as ref:
        transform, shape, crs, bounds = ref.transform, (ref.height, ref.width), ref.crs.to_string(), tuple(ref.bounds)
    check_labels_inside(gdf, bounds, crs)
    gdf = gdf.to_crs(crs)
    burnt = burn_shapes(((g, int(v)) for g, v in zip(gdf.geometry, gdf[column])), shape, transform, dtype="uint8")
    return write_cog(
        path,
        burnt,
        transform=transform,
        crs=crs,
        nodata=NODATA_CLASS,
        colormap=None if classes is None else classes.colormap(),
        overview_resampling="nearest",
        band_names=[column],
        blocksize=blocksize,
    )


# --------------------------------------------------------------------------------------
# The fast path: an aligned, tiled 10 m stack read with block-aligned windows
# --------------------------------------------------------------------------------------


def build_chip_stack(
    item: dict,
    path: str | os.PathLike[str],
    bands: Sequence[str] = REFLECTANCE_BANDS,
    *,
    blocksize: int = 256,
    compress: str = "ZSTD",
    overwrite: bool = False,
    reflectance: bool = True,
) -> Path:
    """Resample a scene's bands once to 10 m and write them as one tiled, pixel-interleaved GeoTIFF.

    Every internal tile holds all bands of a ``blocksize`` x ``blocksize``
    square, so a chip aligned with the tiles costs one read and one
    decompression per tile instead of one file open, read and resample per
    band. With ``reflectance=True`` (default) the STAC scale/offset is
    applied here, once, and the file holds float32 reflectance (nodata as
    0.0), so reading a chip needs no arithmetic at all; with False it keeps
    uint16 DNs (half the bytes) and stores scale/offset as band metadata,
    applied on every read.

    Parameters
    ----------
    item : dict
        A demo (or downloaded Earth Search) item with local ``file://`` hrefs.
    path : path-like
        Destination; its name should end with ``_stack10m.tif``.
    bands : sequence of str
    blocksize : int
        Internal tile size (a multiple of 16), ideally the chip size or a divisor of it.
    compress : str
        ``ZSTD`` (fast to decode), ``DEFLATE`` or ``NONE``.
    overwrite : bool
        Rebuild even if the file exists.

    Returns
    -------
    pathlib.Path

    Notes
    -----
    Long because: the resampling, the reflectance scaling tags and the GeoTIFF options describe one file; the steps
    are short and only make sense in this order.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> stack_path = outputs_dir("ci", "torchgeo") / f"{item['id']}_stack10m.tif"  # doctest: +SKIP
    >>> build_chip_stack(item, stack_path, blocksize=16)  # doctest: +SKIP
    """
    import rasterio
    from rasterio.enums import Resampling

    if blocksize % 16:
        raise DatasetLayoutError(
            f"blocksize={blocksize} is not a multiple of 16, which GeoTIFF tiles must be; use e.g. 16, 32, 64 or 256."
        )
    path = Path(path)
    if path.exists() and not overwrite:
        return path
    sources = [item_band_path(item, band) for band in bands]
    with rasterio.open(sources[0]) as first:
        crs = first.crs
    # the finest band defines the 10 m grid
    finest = min(sources, key=lambda p: rasterio.open(p).res[0])
    with rasterio.open(finest) as ref:
        transform, height, width = ref.transform, ref.height, ref.width
    data = np.empty((len(bands), height, width), dtype="uint16")
    for i, src_path in enumerate(sources):
        with rasterio.open(src_path) as src:
            # bilinear like torchgeo's default for images; nodata (0) stays 0
            data[i] = src.read(
                1,
                out_shape=(height, width),
                resampling=Resampling.bilinear if src.res[0] != transform.a else Resampling.nearest,
            )
    scalings = [reflectance_scaling(item, band) for band in bands]
    if reflectance:
        # scale once here instead of on every chip; nodata (DN 0) becomes 0.0 as in DemoSentinel2
        scaled = np.empty(data.shape, dtype="float32")
        for i, s in enumerate(scalings):
            scaled[i] = np.where(
                data[i] == 0, np.float32(0), data[i].astype("float32") * np.float32(s.scale) + np.float32(s.offset)
            )
        data, dtype, predictor = scaled, "float32", 3
        file_scales, file_offsets = [1.0] * len(bands), [0.0] * len(bands)
    else:
        dtype, predictor = "uint16", 2
        file_scales, file_offsets = [s.scale for s in scalings], [s.offset for s in scalings]
    options: dict[str, Any] = {
        "tiled": True,
        "blockxsize": blocksize,
        "blockysize": blocksize,
        "interleave": "pixel",
        "compress": compress,
    }
    if compress.upper() in ("ZSTD", "DEFLATE", "LZW"):
        options["predictor"] = predictor
    with (
        atomic_write(path) as tmp,
        rasterio.open(
            tmp,
            "w",
            driver="GTiff",
            width=width,
            height=height,
            count=len(bands),
            dtype=dtype,
            crs=crs,
            transform=transform,
            nodata=None if reflectance else 0,
            **options,
        ) as dst,
    ):
        dst.write(data)
        dst.descriptions = tuple(bands)
        dst.scales = tuple(file_scales)
        dst.offsets = tuple(file_offsets)
        dst.update_tags(item_id=item.get("id", ""), datetime=item.get("properties", {}).get("datetime", ""))
    return path


class _WindowReadMixin:
    """Serve grid-aligned queries of a single-file dataset with one windowed read.

    torchgeo's generic path queries its index with pandas, opens a warped
    view and calls ``rasterio.merge`` for every chip. When the query lies on
    the file's own pixel grid, one ``DatasetReader.read(window=...)`` gives the
    same pixels for much less work. Anything else falls back to torchgeo.
    """

    _reader: Any = None
    _reader_pid: int | None = None
    _grid: tuple | None = None

    def _open(self):
        import rasterio

        if self._reader is None or self._reader_pid != os.getpid():  # one handle per worker process
            self._reader = rasterio.open(self.index.filepath.iloc[0])
            self._reader_pid = os.getpid()
        return self._reader

    def _fast_window(self, index):
        """Window (row_off, col_off, height, width) for an aligned query, else None."""
        if len(self.index) != 1:
            return None
        x, y, _ = self._disambiguate_slice(index)
        src = self._open()
        t = src.transform
        if x.step != t.a or y.step != -t.e:
            return None
        col, row = (x.start - t.c) / t.a, (t.f - y.stop) / -t.e
        width, height = (x.stop - x.start) / t.a, (y.stop - y.start) / -t.e
        vals = np.array([col, row, width, height])
        if np.abs(vals - np.round(vals)).max() > 1e-6:
            return None
        col, row, width, height = (int(round(v)) for v in vals)
        if col < 0 or row < 0 or col + width > src.width or row + height > src.height:
            return None
        return row, col, height, width

    def _fast_read(self, index):
        import rasterio.transform
        import torch
        from rasterio.windows import Window

        window = self._fast_window(index)
        if window is None:
            return None
        row, col, height, width = window
        src = self._open()
        data = src.read(self._band_indexes(), window=Window(col, row, width, height))
        x, y, _ = self._disambiguate_slice(index)
        transform = rasterio.transform.from_origin(x.start, y.stop, x.step, y.step)
        return {
            "bounds": self._slice_to_tensor(index),
            "transform": torch.tensor(transform),
            "_data": torch.from_numpy(data.astype(np.float32 if self.is_image else np.int64, copy=False)),
        }

    def _band_indexes(self):
        return getattr(self, "band_indexes", None) or list(range(1, self._open().count + 1))

    def __getstate__(self):  # open handles do not pickle (DataLoader workers with spawn)
        state = dict(self.__dict__)
        state["_reader"], state["_reader_pid"] = None, None
        return state


class AlignedStack(_WindowReadMixin, _ScaledMixin, RasterDataset):
    """The preprocessed 10 m chip stack made by :func:`build_chip_stack`.

    Band names, scale and offset are read from the file; a chip on the file's
    pixel grid is one windowed read (tile-aligned chips decode each tile once).

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> stack = AlignedStack(outputs_dir("ci", "torchgeo"))  # doctest: +SKIP
    >>> stack.bands[:3]                                        # doctest: +SKIP
    ('coastal', 'blue', 'green')
    """

    filename_glob = "*_stack10m.tif"
    filename_regex = r"^(?P<scene>S2[ABCD]_(?P<tile>\d{2}[A-Z]{3})_(?P<date>\d{8})_\d+_L2A)_stack10m\.tif$"
    date_format = "%Y%m%d"
    rgb_bands = ("red", "green", "blue")

    def __init__(
        self, paths: Any, bands: Sequence[str] | None = None, transforms: Callable | None = None, cache: bool = True
    ) -> None:
        import rasterio
        from torchgeo.datasets.utils import find_files

        roots = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        files = sorted(f for p in roots for f in find_files(p, self.filename_glob))
        if not files:
            raise DatasetLayoutError(
                f"No chip stack (*_stack10m.tif) under {paths}; build one with `build_chip_stack(item, path)`."
            )
        with rasterio.open(files[0]) as src:
            names = tuple(src.descriptions)
            scales, offsets = src.scales, src.offsets
        if any(n is None for n in names):
            raise DatasetLayoutError(
                f"{files[0]} has unnamed bands; rebuild it with `build_chip_stack` (it writes band names)."
            )
        self.all_bands = names
        bands = tuple(bands or names)
        missing = [b for b in bands if b not in names]
        if missing:
            raise BandMissingError(
                f"The chip stack has no band(s) {missing}; it has {list(names)}. Rebuild it with those bands or "
                "drop them."
            )
        super().__init__(paths, bands=bands, transforms=None, cache=cache)
        picked = [names.index(b) for b in bands]
        self._set_scaling([scales[i] for i in picked], [offsets[i] for i in picked])
        self._user_transforms = transforms

    def __getitem__(self, index):
        fast = self._fast_read(index)
        if fast is None:
            return self._finish(super().__getitem__(index))
        data = fast.pop("_data")
        fast["image"] = data
        return self._finish(fast)




class AlignedLabels(_WindowReadMixin, DemoLabels):
    """:class:`DemoLabels` with the aligned one-read fast path.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> labels = AlignedLabels(outputs_dir("ci", "torchgeo") / "labels_10m.tif")  # doctest: +SKIP
    """

    def __getitem__(self, index):
        fast = self._fast_read(index)
        if fast is None:
            return super().__getitem__(index)
        fast["mask"] = fast.pop("_data")[0].to(self.dtype)
        if self.transforms is not None:
            fast = self.transforms(fast)
        return fast


# --------------------------------------------------------------------------------------
# Samplers restricted to the spatial blocks of one split
# --------------------------------------------------------------------------------------


def split_regions(blocks: Any, split: str) -> Any:
    """The spatial blocks of one split (``train``, ``val`` or ``test``) as a GeoDataFrame.

    Raises
    ------
    ValueError
        For an unknown split name, listing the valid ones.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> split_regions(demo.read_blocks(), "test").split.unique().tolist()  # doctest: +SKIP
    ['test']
    """
    import geopandas as gpd

    gdf = gpd.read_parquet(blocks) if isinstance(blocks, (str, os.PathLike)) else blocks
    names = sorted(gdf["split"].unique())
    if split not in names:
        raise ValueError(f"Unknown split {split!r}; the blocks have {names}.")
    return gdf[gdf["split"] == split].reset_index(drop=True)


class _RegionView:
    """A dataset's index cut into one row per (file, region): what torchgeo's samplers iterate over.

    torchgeo's ``roi`` is one polygon; with several disjoint blocks its
    bounding box would span other splits. Giving the sampler one index row per
    block keeps every chip inside a single block.
    """

    def __init__(self, dataset: Any, regions: Any) -> None:
        import geopandas as gpd
        import pandas as pd

        index = dataset.index.reset_index()
        regions = regions.to_crs(dataset.crs)[["geometry"]]
        cut = gpd.overlay(index, regions, how="intersection", keep_geom_type=True)
        if cut.empty:
            raise LabelError(
                "None of the split's blocks overlaps the imagery; check that blocks and scene share an area and CRS."
            )
        cut.index = pd.IntervalIndex(list(cut.pop("datetime")), closed="both", name="datetime")
        self.index = cut
        self.res = dataset.res
        self.crs = dataset.crs

    @property
    def bounds(self) -> tuple[slice, slice, slice]:
        xmin, ymin, xmax, ymax = self.index.total_bounds
        return (
            slice(xmin, xmax, self.res[0]),
            slice(ymin, ymax, self.res[1]),
            slice(self.index.index.left.min(), self.index.index.right.max(), 1),
        )


def _check_fits(view: _RegionView, size_px: int, what: str) -> None:
    widths = (view.index.bounds["maxx"] - view.index.bounds["minx"]) / view.res[0]
    heights = (view.index.bounds["maxy"] - view.index.bounds["miny"]) / view.res[1]
    fits = (widths >= size_px - 1e-6) & (heights >= size_px - 1e-6)
    if not fits.any():
        raise ChipSizeError(
            f"A {size_px} px chip ({size_px * view.res[0]:g} m) is larger than every {what} region "
            f"(the largest is {widths.max():.0f} x {heights.max():.0f} px), so no chip fits without crossing into "
            "another split. "
            f"Use chip_size <= {int(min(widths.max(), heights.max()))}, or make bigger spatial blocks."
        )
    if not fits.all():
        warnings.warn(
            f"{int((~fits).sum())} of {len(fits)} {what} regions are smaller than {size_px} px and are skipped.",
            stacklevel=3,
        )


def _quiet_torchgeo_deprecations() -> None:
    # torchgeo 0.10 marks RandomGeoSampler/GridGeoSampler (and the helpers they call per chip)
    # deprecated in favour of RandomPatchSampler/GriddedPatchSampler. Those take a single ROI
    # and do not keep chips inside it (GriddedPatchSampler yields chips that merely touch it),
    # which is exactly what a spatial split must not do, so we keep the per-block samplers.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torchgeo\.samplers")
    warnings.filterwarnings(
        "ignore",
        message=r".*(RandomGeoSampler|GridGeoSampler|get_random_bounding_box|tile_to_chips).*",
        category=DeprecationWarning,
    )


def split_random_sampler(
    dataset: Any, blocks: Any, split: str, size: int, length: int | None = None, generator: Any = None
):
    """A torchgeo ``RandomGeoSampler`` drawing chips only inside the blocks of ``split``.

    Parameters
    ----------
    dataset : GeoDataset
        E.g. ``image & labels``.
    blocks : GeoDataFrame or path-like
        Spatial blocks with a ``split`` column (``demo.blocks_path``).
    split : str
    size : int
        Chip side in pixels.
    length : int, optional
        Chips per epoch (default: about the number of non-overlapping chips).
    generator : torch.Generator, optional
        For the chip positions; the block is drawn with torch's global RNG
        (seed it with :func:`lightning.seed_everything`).

    Raises
    ------
    ChipSizeError
        If the chip is larger than every block of the split.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> sampler = split_random_sampler(image & labels, demo.blocks_path, "train", size=32, length=100)  # doctest: +SKIP
    """
    from torchgeo.samplers import RandomGeoSampler

    _quiet_torchgeo_deprecations()
    view = _RegionView(dataset, split_regions(blocks, split))
    _check_fits(view, size, split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return RandomGeoSampler(view, size=size, length=length, generator=generator)  # type: ignore[arg-type]


def _chip_starts(extent: float, size: float, stride: float) -> list[float]:
    """Offsets of chips of ``size`` at most ``stride`` apart that tile ``extent`` to its far edge.

    The chips start every ``stride`` and the last one is moved back to end on
    the edge (it overlaps its neighbour more), so no chip runs past the
    region and every pixel of it is covered. Each block gets its own offsets:
    one stride for blocks of several sizes (blocks cut by the scene edge)
    either runs chips out of some of them or falls to 1 px.

    Parameters
    ----------
    extent, size, stride : float
        Region side, chip side and largest step, in the same units.

    Returns
    -------
    list of float
        Empty when the chip is larger than the region.

    Examples
    --------
    >>> _chip_starts(40, 32, 16)
    [0, 8]
    >>> _chip_starts(35, 32, 2)
    [0, 2, 3]
    >>> _chip_starts(30, 32, 16)
    []
    """
    span = extent - size
    if span < -1e-6 * max(size, 1):
        return []
    if span <= 1e-6 * max(size, 1):
        return [0]
    n = math.ceil(span / stride - 1e-9)
    return [i * stride for i in range(n)] + [span]


from torchgeo.samplers import GridGeoSampler as _GridGeoSampler  # noqa: E402


class _InsideGridSampler(_GridGeoSampler):
    """torchgeo's ``GridGeoSampler`` with the last chip of each row and column flush with the region's edge.

    torchgeo 0.10 lets the last chip of a row run past the region when
    ``(region - size)`` is not a multiple of ``stride``; here it is moved back
    inside (see :func:`_chip_starts`).
    """

    def _rows(self) -> Iterator[tuple[int, list[float], list[float]]]:
        for i in range(len(self.index)):
            xmin, ymin, xmax, ymax = self.index.geometry.iloc[i].bounds
            ys = _chip_starts(ymax - ymin, self.size[0], self.stride[0])
            xs = _chip_starts(xmax - xmin, self.size[1], self.stride[1])
            if ys and xs:
                yield i, [ymin + y for y in ys], [xmin + x for x in xs]

    def __iter__(self) -> Iterator[tuple[slice, slice, slice]]:
        for i, ys, xs in self._rows():
            tmin, tmax = self.index.index[i].left, self.index.index[i].right
            for y in ys:
                for x in xs:
                    yield slice(x, x + self.size[1]), slice(y, y + self.size[0]), slice(tmin, tmax)

    def __len__(self) -> int:
        return sum(len(ys) * len(xs) for _, ys, xs in self._rows())


def split_grid_sampler(dataset: Any, blocks: Any, split: str, size: int, stride: int | None = None):
    """A grid of (overlapping) chips over each block of ``split``, every chip inside its block.

    Chips are at most ``stride`` apart; in each block the last chip of a row
    or column is moved back to end on the block's edge (torchgeo 0.10's
    ``GridGeoSampler`` would let it run past, into another split), so blocks
    of any size, including those cut by the scene edge, are covered exactly.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> sampler = split_grid_sampler(image & labels, demo.blocks_path, "test", size=32, stride=16)  # doctest: +SKIP
    """
    _quiet_torchgeo_deprecations()
    view = _RegionView(dataset, split_regions(blocks, split))
    _check_fits(view, size, split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _InsideGridSampler(view, size=size, stride=stride or size)  # type: ignore[arg-type]


from torchgeo.samplers.base import GeoSampler as _GeoSamplerBase  # noqa: E402


class BlockAlignedRandomSampler(_GeoSamplerBase):
    """Random chips whose origin falls on a multiple of ``align`` pixels of the image grid.

    With ``align`` equal to the chip stack's internal tile size (and a chip
    size that is a multiple of it) every chip reads whole tiles only: nothing
    is decompressed for a few pixels and thrown away.

    Parameters
    ----------
    dataset : GeoDataset
    size : int
        Chip side in pixels (a multiple of ``align``).
    align : int
        Grid step in pixels for chip origins.
    length : int
        Chips per epoch.
    regions : GeoDataFrame, optional
        Blocks to stay inside (e.g. ``split_regions(blocks, "train")``); default the whole image.
    seed : int, optional

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> sampler = BlockAlignedRandomSampler(stack, size=256, align=256, length=320, seed=0)  # doctest: +SKIP
    """

    def __init__(
        self, dataset: Any, size: int, align: int, length: int, regions: Any = None, seed: int | None = None
    ) -> None:
        import geopandas as gpd
        from shapely.geometry import box

        if size % align:
            raise ChipSizeError(
                f"size={size} is not a multiple of align={align}; chips would cut tiles. Use a chip size that is "
                "a multiple of the tile size."
            )
        if regions is None:
            x, y, _ = dataset.bounds
            regions = gpd.GeoDataFrame(geometry=[box(x.start, y.start, x.stop, y.stop)], crs=dataset.crs)
        view = _RegionView(dataset, regions)
        _check_fits(view, size, "sampling")
        x0, _, _ = dataset.bounds
        self._x0, self._ytop = x0.start, dataset.bounds[1].stop
        self.res = dataset.res
        self.size, self.align, self._length = size, align, int(length)
        self.rng = np.random.default_rng(seed)
        self.origins: list[tuple[float, float, Any]] = []
        rx, ry = self.res
        for geom, interval in zip(view.index.geometry, view.index.index):
            xmin, ymin, xmax, ymax = geom.bounds
            c0 = math.ceil(round((xmin - self._x0) / rx, 6) / align) * align
            c1 = math.floor(round((xmax - self._x0) / rx - size, 6) / align) * align
            r0 = math.ceil(round((self._ytop - ymax) / ry, 6) / align) * align
            r1 = math.floor(round((self._ytop - ymin) / ry - size, 6) / align) * align
            for r in range(r0, r1 + 1, align):
                for c in range(c0, c1 + 1, align):
                    self.origins.append((self._x0 + c * rx, self._ytop - r * ry, interval))
        if not self.origins:
            raise ChipSizeError(
                f"No {size} px chip aligned to {align} px fits inside the regions; use a smaller chip or align."
            )

    def __iter__(self) -> Iterator[tuple[slice, slice, slice]]:
        rx, ry = self.res
        for i in self.rng.integers(0, len(self.origins), size=self._length):
            x, ytop, interval = self.origins[int(i)]
            yield slice(x, x + self.size * rx), slice(ytop - self.size * ry, ytop), slice(interval.left, interval.right)

    def __len__(self) -> int:
        return self._length


def chip_dataloader(dataset: Any, sampler: Any, batch_size: int, num_workers: int = 0, **kwargs: Any):
    """A :class:`torch.utils.data.DataLoader` for a GeoDataset and GeoSampler, batched with ``stack_samples``.

    Examples
    --------
    Needs the built demo data (skipped under doctest):

    >>> loader = chip_dataloader(image & labels, sampler, batch_size=8)  # doctest: +SKIP
    """
    from torch.utils.data import DataLoader
    from torchgeo.datasets import stack_samples

    if num_workers > 0:
        kwargs.setdefault("persistent_workers", True)
    return DataLoader(
        dataset, sampler=sampler, batch_size=batch_size, num_workers=num_workers, collate_fn=stack_samples, **kwargs
    )


def chip_inside_regions(bounds: Sequence[float], regions: Any) -> bool:
    """Whether a chip ``(xmin, xmax, ymin, ymax, ...)`` (torchgeo's ``bounds`` tensor order) lies inside one region.

    Examples
    --------
    >>> import geopandas as gpd; from shapely.geometry import box
    >>> r = gpd.GeoDataFrame(geometry=[box(0, 0, 10, 10)])
    >>> chip_inside_regions([1, 5, 1, 5], r), chip_inside_regions([5, 15, 1, 5], r)
    (True, False)
    """
    from shapely.geometry import box

    xmin, xmax, _xs, ymin, ymax = (
        (float(v) for v in list(bounds)[:5])
        if len(bounds) >= 5
        else (float(bounds[0]), float(bounds[1]), 0.0, float(bounds[2]), float(bounds[3]))
    )
    chip = box(xmin, ymin, xmax, ymax)
    return bool(regions.geometry.buffer(1e-6).contains(chip).any())
