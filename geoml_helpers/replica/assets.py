"""Full-size, sparse Cloud-Optimised GeoTIFFs: a 10980 x 10980 band for a few hundred kB.

A replica asset covers the whole 109.8 km tile, like the real one, but only the
AOI holds pixels. The file is written directly in the COG layout GDAL's COG
driver produces (IFDs first, then the tiles of the smallest overview first and
the full resolution last, 1024 x 1024 DEFLATE tiles with the horizontal
predictor), and every tile outside the AOI is *sparse*: its offset and byte
count are 0, which GDAL reads as nodata without a request. Writing the file
takes only the time to compress the AOI's tiles, where GDAL's COG driver reads
and checks all 120 million pixels of the band (0.8 s a band, measured).

The files are ordinary GeoTIFFs for GDAL, rasterio, stackstac and odc-stac,
and pass rio-cogeo's validator (``tests/test_replica_assets.py``).

Examples
--------
>>> import numpy as np, tempfile, pathlib, rasterio
>>> from affine import Affine
>>> path = pathlib.Path(tempfile.mkdtemp()) / "B04.tif"
>>> window = np.full((1, 60, 90), 1234, "uint16")
>>> transform = Affine(10, 0, 699960, 0, -10, 5400000)
>>> _ = write_sparse_cog(path, window, (5000, 6000), (10980, 10980), transform, 32632, nodata=0)
>>> with rasterio.open(path) as src:
...     inside = src.read(1, window=((5000, 5001), (6000, 6001)))
...     outside = src.read(1, window=((0, 1), (0, 1)))
>>> src.shape, int(inside[0, 0]), int(outside[0, 0])
((10980, 10980), 1234, 0)
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from geoml_helpers.core.atomic import write_atomic

BLOCKSIZE: int = 1024
"""Internal tile size of Earth Search's Sentinel-2 COGs."""

_TIFF_TYPES = {"SHORT": (3, "H", 2), "LONG": (4, "I", 4), "DOUBLE": (12, "d", 8), "ASCII": (2, "s", 1)}
_SAMPLE_FORMAT = {"u": 1, "i": 2, "f": 3}


@dataclass(frozen=True)
class _Level:
    data: np.ndarray  # (bands, h, w) window at this level
    row0: int
    col0: int
    height: int
    width: int


def _downsample(level: _Level, nodata: float, resampling: str) -> _Level:
    """Halve a level: nodata-aware 2 x 2 mean (or the top-left sample for ``nearest``)."""
    bands, h, w = level.data.shape
    top, left = level.row0 % 2, level.col0 % 2
    ph, pw = h + top, w + left
    ph, pw = ph + ph % 2, pw + pw % 2
    padded = np.full((bands, ph, pw), nodata, dtype=level.data.dtype)
    padded[:, top : top + h, left : left + w] = level.data
    if resampling == "nearest":
        out = padded[:, ::2, ::2].copy()
    else:
        blocks = padded.reshape(bands, ph // 2, 2, pw // 2, 2).astype(np.float64)
        valid = blocks != nodata
        count = valid.sum(axis=(2, 4))
        total = np.where(valid, blocks, 0.0).sum(axis=(2, 4))
        mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        out = np.where(count > 0, np.round(mean), nodata).astype(level.data.dtype)
    return _Level(out, level.row0 // 2, level.col0 // 2, math.ceil(level.height / 2), math.ceil(level.width / 2))


def overview_count(size: int, blocksize: int = BLOCKSIZE) -> int:
    """How many 2x overviews GDAL's COG driver makes: halve until the image fits in one tile.

    Examples
    --------
    >>> overview_count(10980), overview_count(5490), overview_count(1830)
    (4, 3, 1)
    """
    count = 0
    while size > blocksize:
        size = math.ceil(size / 2)
        count += 1
    return count


def _predict(tile: np.ndarray) -> np.ndarray:
    """TIFF horizontal predictor (2) on a pixel-interleaved ``(h, w, bands)`` tile."""
    out = tile.copy()
    out[:, 1:] = tile[:, 1:] - tile[:, :-1]  # integer wrap-around is what the predictor specifies
    return out


def _level_tiles(
    level: _Level, nodata, dtype, blocksize: int, compress_level: int
) -> tuple[list[bytes | None], int, int]:
    """Compressed tiles (``None`` where sparse) in row-major order."""
    bands = level.data.shape[0]
    across, down = math.ceil(level.width / blocksize), math.ceil(level.height / blocksize)
    tiles: list[bytes | None] = [None] * (across * down)
    h, w = level.data.shape[1:]
    r0, c0 = level.row0, level.col0
    for ty in range(r0 // blocksize, min((r0 + h - 1) // blocksize, down - 1) + 1):
        for tx in range(c0 // blocksize, min((c0 + w - 1) // blocksize, across - 1) + 1):
            ys, xs = ty * blocksize, tx * blocksize
            a0, a1 = max(r0, ys), min(r0 + h, ys + blocksize)
            b0, b1 = max(c0, xs), min(c0 + w, xs + blocksize)
            part = level.data[:, a0 - r0 : a1 - r0, b0 - c0 : b1 - c0]
            if np.all(part == nodata):
                continue
            tile = np.full((blocksize, blocksize, bands), nodata, dtype=dtype)
            tile[a0 - ys : a1 - ys, b0 - xs : b1 - xs] = np.moveaxis(part, 0, -1)
            raw = _predict(tile) if np.dtype(dtype).kind in "iu" else tile
            tiles[ty * across + tx] = zlib.compress(
                np.ascontiguousarray(raw).astype(np.dtype(dtype).newbyteorder("<")).tobytes(), compress_level
            )
    return tiles, across, down


def _gdal_metadata(band_names: Sequence[str] | None, tags: Mapping[str, str] | None) -> str | None:
    items = [f'<Item name="{escape(k)}">{escape(str(v))}</Item>' for k, v in (tags or {}).items()]
    items += [
        f'<Item name="DESCRIPTION" sample="{i}" role="description">{escape(n)}</Item>'
        for i, n in enumerate(band_names or [])
    ]
    return f"<GDALMetadata>{''.join(items)}</GDALMetadata>" if items else None


def _ifd_bytes(entries: list[tuple[int, str, list | bytes]], ifd_offset: int, next_ifd: int) -> bytes:
    """One IFD with its out-of-line values right after it; ``entries`` sorted by tag."""
    n = len(entries)
    values_at = ifd_offset + 2 + 12 * n + 4
    head: list[bytes] = [struct.pack("<H", n)]
    extra: list[bytes] = []
    for tag, kind, values in entries:
        code, fmt, size = _TIFF_TYPES[kind]
        payload = bytes(values) if kind == "ASCII" else struct.pack(f"<{len(values)}{fmt}", *values)
        count = len(payload) if kind == "ASCII" else len(values)
        if len(payload) <= 4:
            head.append(struct.pack("<HHI", tag, code, count) + payload.ljust(4, b"\0"))
        else:
            offset = values_at + sum(len(e) for e in extra)
            head.append(struct.pack("<HHII", tag, code, count, offset))
            extra.append(payload + (b"\0" if len(payload) % 2 else b""))
    head.append(struct.pack("<I", next_ifd))
    return b"".join(head) + b"".join(extra)


def write_sparse_cog(
    path: str | os.PathLike[str],
    window: np.ndarray,
    offset: tuple[int, int],
    shape: tuple[int, int],
    transform,
    epsg: int,
    *,
    nodata: int | float = 0,
    band_names: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    photometric: str = "minisblack",
    resampling: str = "average",
    blocksize: int = BLOCKSIZE,
    compress_level: int = 6,
) -> Path:
    """Write a full-size COG whose only pixels are ``window``, placed at ``offset``; the rest is sparse nodata.

    Parameters
    ----------
    path : path-like
        Destination ``.tif``; written under a temporary name, then renamed.
    window : numpy.ndarray
        ``(bands, h, w)`` or ``(h, w)`` pixel values of the painted area.
    offset : (row, col)
        Position of ``window``'s first pixel in the full image.
    shape : (rows, cols)
        Size of the full image, e.g. ``(10980, 10980)``.
    transform : affine.Affine
        Transform of the full image.
    epsg : int
        Projected CRS of the image (a UTM zone).
    nodata : number
        Written as GDAL's nodata value; sparse tiles read as this.
    band_names : sequence of str, optional
        Band descriptions.
    tags : mapping, optional
        Dataset metadata (e.g. that the pixels are synthetic).
    photometric : {"minisblack", "rgb"}
    resampling : {"average", "nearest"}
        For the overviews (``nearest`` for class maps such as SCL).
    blocksize : int
    compress_level : int
        zlib level of the DEFLATE tiles.

    Returns
    -------
    pathlib.Path

    Notes
    -----
    Long because: it lays out one TIFF file by hand (header, IFDs, then the tiles, overviews last), and where each
    part goes depends on the sizes of all the parts before it.
    """
    data = window[np.newaxis] if window.ndim == 2 else window
    bands, h, w = data.shape
    rows, cols = shape
    row0, col0 = offset
    if row0 < 0 or col0 < 0 or row0 + h > rows or col0 + w > cols:
        raise ValueError(f"Window {h}x{w} at {offset} does not fit in an image of {shape}; clip it to the image first.")
    dtype = data.dtype
    levels = [_Level(data, row0, col0, rows, cols)]
    for _ in range(overview_count(max(rows, cols), blocksize)):
        levels.append(_downsample(levels[-1], nodata, resampling))
    compressed = [_level_tiles(level, nodata, dtype, blocksize, compress_level) for level in levels]

    bits = dtype.itemsize * 8
    nodata_text = (f"{nodata:.17g}" if isinstance(nodata, float) else str(nodata)).encode() + b"\0"
    metadata = _gdal_metadata(band_names, tags)
    geo: list[tuple[int, str, list | bytes]] = [
        (33550, "DOUBLE", [float(transform.a), float(-transform.e), 0.0]),
        (33922, "DOUBLE", [0.0, 0.0, 0.0, float(transform.c), float(transform.f), 0.0]),
        (34735, "SHORT", [1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, int(epsg)]),
    ]

    def entries(index: int, tile_offsets: list[int], tile_counts: list[int]) -> list:
        level = levels[index]
        out: list[tuple[int, str, list | bytes]] = [
            (254, "LONG", [0 if index == 0 else 1]),
            (256, "LONG", [level.width]),
            (257, "LONG", [level.height]),
            (258, "SHORT", [bits] * bands),
            (259, "SHORT", [8]),
            (262, "SHORT", [2 if photometric == "rgb" else 1]),
            (277, "SHORT", [bands]),
            (284, "SHORT", [1]),
            (317, "SHORT", [2 if dtype.kind in "iu" else 1]),
            (322, "LONG", [blocksize]),
            (323, "LONG", [blocksize]),
            (324, "LONG", tile_offsets),
            (325, "LONG", tile_counts),
            (339, "SHORT", [_SAMPLE_FORMAT[dtype.kind]] * bands),
        ]
        if index == 0:
            out += geo
            if metadata:
                out.append((42112, "ASCII", metadata.encode() + b"\0"))
        out.append((42113, "ASCII", nodata_text))
        return sorted(out, key=lambda e: e[0])

    ghost = (
        b"GDAL_STRUCTURAL_METADATA_SIZE=000000 bytes\n"
        b"LAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nKNOWN_INCOMPATIBLE_EDITION=NO\n "
    )
    ghost = ghost.replace(b"000000", f"{len(ghost) - 43:06d}".encode())  # size counts the text after the first line
    # Pass 1: IFD sizes with placeholder offsets; pass 2: real offsets.
    sizes = [len(_ifd_bytes(entries(i, [0] * len(t), [0] * len(t)), 0, 0)) for i, (t, _, _) in enumerate(compressed)]
    ifd_offsets, position = [], 8 + len(ghost)
    for size in sizes:
        ifd_offsets.append(position)
        position += size + size % 2
    data_start = position
    # Data: smallest overview first, full resolution last (what GDAL's COG driver does).
    tile_offsets: list[list[int]] = [[] for _ in levels]
    position = data_start
    for index in reversed(range(len(levels))):
        for tile in compressed[index][0]:
            tile_offsets[index].append(position if tile else 0)
            position += len(tile) if tile else 0
    out = bytearray(b"II" + struct.pack("<HI", 42, ifd_offsets[0]) + ghost)
    for index, (tiles, _, _) in enumerate(compressed):
        next_ifd = ifd_offsets[index + 1] if index + 1 < len(levels) else 0
        block = _ifd_bytes(
            entries(index, tile_offsets[index], [len(t) if t else 0 for t in tiles]), ifd_offsets[index], next_ifd
        )
        out += block + (b"\0" if len(block) % 2 else b"")
    assert len(out) == data_start, (len(out), data_start)
    for index in reversed(range(len(levels))):
        for tile in compressed[index][0]:
            if tile:
                out += tile

    return write_atomic(path, bytes(out))
