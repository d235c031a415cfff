"""The Sentinel-2 tiling grid: which MGRS tiles cover an AOI, and each tile's CRS, transform and shape.

A Sentinel-2 L2A granule is a 109.8 km square in the UTM zone of its MGRS
100 km square: 10980 x 10980 pixels at 10 m, 5490 at 20 m, 1830 at 60 m.
Neighbouring tiles overlap by 9.8 km, and the tiles at the edge of a UTM
zone reach into the next zone, so an AOI near a zone boundary lies in tiles
of *both* zones, in two CRSs.

The upper-left corner sits on the 100 km square's west edge and north edge
(``easting0``, ``northing0 + 100 km``), snapped onto the 60 m grid: west to a
multiple of 60 m in easting, north to a multiple of 60 m in northing counted
from the equator. That reproduces the real items exactly, e.g. 13TDE's
``399960`` (400 km snapped west) and 20EPT's ``3300040`` (10 000 km - 6 700 000 m
snapped north), see ``tests/test_replica_grid.py``.

MGRS names are parsed with the ``mgrs`` package (GeoTrans) and UTM
coordinates come from ``pyproj``. Naming a square from its UTM coordinates is
done here, because ``mgrs`` names a point in the zone of its longitude, not
in the zone of the tile (the squares at a zone's edge belong to that zone);
each name is checked by parsing it back with ``mgrs``.

Examples
--------
>>> tile = tile_by_name("13TDE")
>>> tile.epsg, tile.proj_transform(10), tile.shape(20)
(32613, [10, 0, 399960, 0, -10, 4500000], (5490, 5490))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import cast

from geoml_helpers.core.errors import TileGridError

TILE_SIZE_M: int = 109_800
"""Side of a Sentinel-2 tile: 100 km MGRS square + 9.8 km overlap."""
SQUARE_M: int = 100_000
GRID_ALIGNMENT_M: int = 60
"""Every tile corner lies on the 60 m grid, so 10, 20 and 60 m pixels nest."""
RESOLUTIONS_M: tuple[int, ...] = (10, 20, 60)
_LATITUDE_BANDS = "CDEFGHJKLMNPQRSTUVWX"
_COLUMN_SETS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
_ROW_LETTERS = "ABCDEFGHJKLMNPQRSTUV"


@dataclass(frozen=True)
class S2Tile:
    """One Sentinel-2 MGRS tile.

    Attributes
    ----------
    name : str
        ``{zone}{latitude band}{square}``, e.g. ``32TQU``.
    zone : int
        UTM zone.
    hemisphere : str
        ``N`` or ``S`` (of the UTM projection, EPSG 326xx or 327xx).
    x_min, y_max : int
        Upper-left corner in the zone's UTM CRS, metres.
    """

    name: str
    zone: int
    hemisphere: str
    x_min: int
    y_max: int

    @property
    def latitude_band(self) -> str:
        """MGRS latitude band letter, e.g. ``T``."""
        return self.name[len(str(self.zone))]

    @property
    def grid_square(self) -> str:
        """The two letters of the 100 km square, e.g. ``QU``."""
        return self.name[-2:]

    @property
    def epsg(self) -> int:
        """EPSG code of the tile's UTM CRS (326zz north, 327zz south)."""
        return (32600 if self.hemisphere == "N" else 32700) + self.zone

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """``(xmin, ymin, xmax, ymax)`` in the tile's CRS."""
        return (self.x_min, self.y_max - TILE_SIZE_M, self.x_min + TILE_SIZE_M, self.y_max)

    def shape(self, resolution: int) -> tuple[int, int]:
        """``(rows, cols)`` at ``resolution`` metres.

        Examples
        --------
        >>> tile_by_name("37WDS").shape(60)
        (1830, 1830)
        """
        _check_resolution(resolution)
        n = TILE_SIZE_M // resolution
        return (n, n)

    def proj_transform(self, resolution: int) -> list[int]:
        """The six ``proj:transform`` numbers Earth Search writes for this tile at ``resolution``."""
        _check_resolution(resolution)
        return [resolution, 0, self.x_min, 0, -resolution, self.y_max]

    def transform(self, resolution: int):
        """The affine transform at ``resolution`` metres."""
        from affine import Affine

        return Affine(*self.proj_transform(resolution))

    def footprint_lonlat(self, densify: int = 16):
        """The whole tile as a shapely Polygon in lon/lat (EPSG:4326)."""
        from shapely.geometry import box

        return utm_to_lonlat(box(*self.bounds), self.epsg, densify)


def _check_resolution(resolution: int) -> None:
    if resolution not in RESOLUTIONS_M:
        raise TileGridError(
            f"Sentinel-2 tiles come at 10, 20 or 60 m, not {resolution!r}; pass one of {RESOLUTIONS_M}."
        )


def _snap_west(x: float) -> int:
    return int(math.floor(x / GRID_ALIGNMENT_M) * GRID_ALIGNMENT_M)


def _snap_north(y: float, hemisphere: str) -> int:
    false_northing = 10_000_000 if hemisphere == "S" else 0
    return int(math.ceil((y - false_northing) / GRID_ALIGNMENT_M) * GRID_ALIGNMENT_M + false_northing)


def _tile_from_square(name: str, zone: int, hemisphere: str, easting0: float, northing0: float) -> S2Tile:
    return S2Tile(name, zone, hemisphere, _snap_west(easting0), _snap_north(northing0 + SQUARE_M, hemisphere))


@cache
def _mgrs():
    try:
        import mgrs
    except ImportError as exc:  # pragma: no cover - a project dependency
        from geoml_helpers.core.errors import MissingDependencyError

        raise MissingDependencyError(
            "The `mgrs` package is needed for the Sentinel-2 tile grid: `pip install mgrs`."
        ) from exc
    return mgrs.MGRS()


def _square_origin(name: str) -> tuple[int, str, int, int]:
    """Zone, hemisphere and the lower-left corner of a 100 km square, parsed by ``mgrs``."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # GeoTrans warns when a band letter and square disagree
            zone, hemisphere, easting, northing = _mgrs().MGRSToUTM(f"{name}0000000000")
    except Exception as exc:  # noqa: BLE001 - GeoTrans raises its own error types
        raise TileGridError(
            f"{name!r} is not an MGRS 100 km square; tile names look like '32TQU' (zone, band, two letters)."
        ) from exc
    return int(zone), str(hemisphere), int(math.floor(easting)), int(math.floor(northing))


def tile_by_name(name: str) -> S2Tile:
    """The Sentinel-2 tile called ``name`` (``13SCV`` or ``T13SCV``).

    Raises
    ------
    TileGridError
        If the name is not a valid MGRS square.

    Examples
    --------
    >>> tile_by_name("T20EPT").bounds
    (600000, 3190240, 709800, 3300040)
    """
    name = name.upper().removeprefix("MGRS-")
    if len(name) == 6 and name[0] == "T":
        name = name[1:]
    zone, hemisphere, easting0, northing0 = _square_origin(name)
    return _tile_from_square(name, zone, hemisphere, easting0, northing0)


def latitude_band(lat: float) -> str:
    """MGRS latitude band letter (8 degrees each, ``X`` is 12) of a latitude in [-80, 84].

    Examples
    --------
    >>> latitude_band(47.9), latitude_band(-60.4)
    ('T', 'E')
    """
    if not -80.0 <= lat <= 84.0:
        raise TileGridError(
            f"Latitude {lat} is outside UTM/MGRS (80 S to 84 N); "
            "the polar regions use UPS, which Sentinel-2 tiles do not."
        )
    return _LATITUDE_BANDS[min(int((lat + 80.0) // 8), len(_LATITUDE_BANDS) - 1)]


def square_letters(zone: int, easting0: int, northing0: int) -> str:
    """The two MGRS letters of the 100 km square whose lower-left corner is ``(easting0, northing0)`` in ``zone``.

    Examples
    --------
    >>> square_letters(13, 400000, 4400000)
    'DE'
    """
    column = _COLUMN_SETS[(zone - 1) % 3][easting0 // SQUARE_M - 1]
    row = _ROW_LETTERS[(northing0 // SQUARE_M + (5 if zone % 2 == 0 else 0)) % 20]
    return column + row


def utm_zone_of(lon: float) -> int:
    """The standard UTM zone of a longitude (no Norway/Svalbard exceptions).

    Examples
    --------
    >>> utm_zone_of(11.99), utm_zone_of(12.01)
    (32, 33)
    """
    return int((lon + 180.0) // 6.0) % 60 + 1


def utm_to_lonlat(geometry, epsg: int, densify: int = 16):
    """Reproject a shapely geometry from ``epsg`` to lon/lat, densifying edges first."""
    import shapely
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(epsg, 4326, always_xy=True)
    if densify and hasattr(geometry, "segmentize"):
        geometry = geometry.segmentize(max(geometry.length / (4 * densify), 1.0))
    return shapely.transform(geometry, lambda x, y: to_lonlat.transform(x, y), interleaved=False)


def lonlat_to_utm(geometry, epsg: int, densify: int = 16):
    """Reproject a shapely geometry from lon/lat to ``epsg``, densifying edges first."""
    import shapely
    from pyproj import Transformer

    to_utm = Transformer.from_crs(4326, epsg, always_xy=True)
    if densify and hasattr(geometry, "segmentize"):
        geometry = geometry.segmentize(max(geometry.length / (4 * densify), 1e-5))
    return shapely.transform(geometry, lambda x, y: to_utm.transform(x, y), interleaved=False)


def tiles_for_aoi(aoi_lonlat: Sequence[float] | object) -> list[S2Tile]:
    """Every Sentinel-2 tile whose 109.8 km square intersects an AOI.

    A tile belongs to the zone of its 100 km MGRS square, and a square exists
    where it overlaps its zone (6 degrees of longitude); its tile may reach
    into the next zone. So near a zone boundary an AOI lies in tiles of both
    zones, as real searches show.

    Parameters
    ----------
    aoi_lonlat : (west, south, east, north) or shapely geometry
        In EPSG:4326.

    Returns
    -------
    list of S2Tile
        Sorted by name.

    Examples
    --------
    >>> [t.name for t in tiles_for_aoi((11.98, 47.86, 12.02, 47.88))]
    ['32UQU', '33UTP']
    """
    from shapely.geometry import box
    from shapely.geometry.base import BaseGeometry

    if isinstance(aoi_lonlat, BaseGeometry):
        aoi = aoi_lonlat
    else:
        aoi = box(*cast(Sequence[float], aoi_lonlat))
    west, south, east, north = aoi.bounds
    if not (-180 <= west <= east <= 180 and -80 <= south <= north <= 84):
        raise TileGridError(
            f"AOI bounds {aoi.bounds} are not lon/lat within the UTM range (lon -180..180, lat -80..84); "
            "give (west, south, east, north) in EPSG:4326."
        )
    # A tile reaches at most 110 km past its zone's edge: zones whose strip, widened by that, meets the AOI.
    reach = min(110.0 / (111.32 * max(math.cos(math.radians(max(abs(south), abs(north)))), 0.05)), 12.0)
    zones = [
        zone for zone in range(1, 61) if -180.0 + 6.0 * (zone - 1) - reach < east and -180.0 + 6.0 * zone + reach > west
    ]
    tiles: dict[str, S2Tile] = {}
    for zone in zones:
        zone_west = -180.0 + 6.0 * (zone - 1)
        zone_strip = box(zone_west, -80.0, zone_west + 6.0, 84.0)
        for hemisphere in {("N" if lat >= 0 else "S") for lat in (south, north)}:
            epsg = (32600 if hemisphere == "N" else 32700) + zone
            aoi_utm = lonlat_to_utm(aoi, epsg)
            xmin, ymin, xmax, ymax = aoi_utm.bounds
            for e0 in range(
                int((xmin - TILE_SIZE_M) // SQUARE_M + 1) * SQUARE_M, int(xmax // SQUARE_M + 1) * SQUARE_M, SQUARE_M
            ):
                if not SQUARE_M <= e0 <= 8 * SQUARE_M:
                    continue
                for n0 in range(
                    int((ymin - SQUARE_M) // SQUARE_M) * SQUARE_M,
                    int((ymax + TILE_SIZE_M) // SQUARE_M + 1) * SQUARE_M,
                    SQUARE_M,
                ):
                    if not 0 <= n0 < 10_000_000:
                        continue
                    probe = _tile_from_square("", zone, hemisphere, e0, n0)
                    if not box(*probe.bounds).intersects(aoi_utm):
                        continue
                    square = utm_to_lonlat(box(e0, n0, e0 + SQUARE_M, n0 + SQUARE_M), epsg, densify=4)
                    if not square.intersection(zone_strip).area > 0:
                        continue
                    # A square that straddles two latitude bands is named after the band of its centre, as
                    # ESA's tiling grid does (gis.stackexchange.com/q/241614: 13SFR, not 13RFR).
                    centre = square.centroid
                    name = f"{zone}{latitude_band(centre.y)}{square_letters(zone, e0, n0)}"
                    if _square_origin(name)[1:] != (hemisphere, e0, n0):
                        raise TileGridError(
                            f"Computed MGRS name {name} does not parse back to square ({e0}, {n0}) "
                            f"in zone {zone}{hemisphere}."
                        )
                    tiles[name] = _tile_from_square(name, zone, hemisphere, e0, n0)
    return [tiles[name] for name in sorted(tiles)]
