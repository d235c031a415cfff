"""The project file: one mapping project (labels, area, dates, STAC source) in a small TOML file.

A *project* says what to map; a *profile* (``ci``, ``workshop``, ``full``) says
how hard to work at it. Every notebook takes both. The demo valley is one
project among others: ``projects/demo-<profile>.toml`` ships in the repository
and is what a notebook uses when its ``project`` parameter is ``None``.

A project file, with every section optional except ``[labels]``::

    name = "my-fields"

    [labels]
    path = "fields.geojson"       # any file geopandas reads; relative to this file
    class_column = "crop"         # integer codes (10, 20, 40) or strings
    # split_column = "split"      # omit: seeded spatial blocks of block_size_m
    block_size_m = 2000

    [area]
    # aoi = [18.80, -34.02, 18.95, -33.90]   # lon/lat; omit: the labels' extent + margin_m
    margin_m = 200
    # crs = "EPSG:32734"          # omit: the UTM zone of the AOI centre
    resolution_m = 10

    [imagery]
    stac = "earth-search"         # local | earth-search | planetary-computer | earth-search-replica | a URL
    # collection = "sentinel-2-l2a"
    datetime = "2024-01-01/2024-12-31"
    max_cloud_cover = 30

    [[classes]]                   # optional; omit to derive the table from the labels
    code = 10
    name = "wheat"
    colour = "#E69F00"

Examples
--------
>>> project = demo_project("ci")
>>> project.name, project.stac, project.crs
('demo-ci', 'local', 'EPSG:32734')
>>> project.classes.names[2]
'invasive_trees'
>>> source_spec("planetary-computer").signed
True
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from geoml_helpers.core.classes import ClassTable
from geoml_helpers.core.errors import ProjectFileError, UnknownSourceError

__all__ = [
    "COURSE_BANDS",
    "DEMO_LABELS",
    "FrozenMapping",
    "PLANETARY_COMPUTER_BANDS",
    "Project",
    "STAC_SOURCES",
    "SourceSpec",
    "default_bands",
    "demo_project",
    "demo_project_path",
    "last_resolved_project",
    "load_project",
    "project_to_toml",
    "resolve_project",
    "source_spec",
]

DEMO_LABELS = "demo:"
"""The ``labels.path`` of the shipped demo projects: the labels of the demo build in the data directory."""

COURSE_BANDS: tuple[str, ...] = (
    "coastal",
    "blue",
    "green",
    "red",
    "rededge1",
    "rededge2",
    "rededge3",
    "nir",
    "nir08",
    "swir16",
    "swir22",
    "scl",
)
"""The band names the notebooks use (Earth Search v1 asset keys): 11 reflective bands and the SCL mask."""

PLANETARY_COMPUTER_BANDS: Mapping[str, str] = MappingProxyType(
    {
        "coastal": "B01",
        "blue": "B02",
        "green": "B03",
        "red": "B04",
        "rededge1": "B05",
        "rededge2": "B06",
        "rededge3": "B07",
        "nir": "B08",
        "nir08": "B8A",
        "swir16": "B11",
        "swir22": "B12",
        "scl": "SCL",
    }
)
"""Course band name -> Planetary Computer ``sentinel-2-l2a`` asset key."""


class FrozenMapping(Mapping):
    """A read-only, hashable mapping (so that a :class:`Project` can be a cache key).

    Examples
    --------
    >>> m = FrozenMapping({"red": "B04"})
    >>> m["red"], hash(m) == hash(FrozenMapping({"red": "B04"}))
    ('B04', True)
    """

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._data.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._data) == dict(other)

    def __repr__(self) -> str:
        return f"FrozenMapping({self._data!r})"


@dataclass(frozen=True)
class SourceSpec:
    """A named STAC source.

    Attributes
    ----------
    name : str
    url : str or None
        ``None`` for sources started on this machine (the demo API, the replica).
    default_collection : str
    collections : tuple of str
        Collections whose asset keys the course knows.
    signed : bool
        Asset URLs need signing (Planetary Computer, with the ``planetary-computer`` package).
    description : str
    """

    name: str
    url: str | None
    default_collection: str
    collections: tuple[str, ...]
    signed: bool = False
    description: str = ""


STAC_SOURCES: Mapping[str, SourceSpec] = MappingProxyType(
    {
        "local": SourceSpec(
            "local",
            None,
            "sentinel-2-l2a",
            ("sentinel-2-l2a",),
            description="the demo data behind a STAC API on 127.0.0.1",
        ),
        "earth-search": SourceSpec(
            "earth-search",
            "https://earth-search.aws.element84.com/v1",
            "sentinel-2-l2a",
            ("sentinel-2-l2a", "sentinel-2-c1-l2a"),
            description="Element 84's Earth Search v1 (AWS open data, no key)",
        ),
        "planetary-computer": SourceSpec(
            "planetary-computer",
            "https://planetarycomputer.microsoft.com/api/stac/v1",
            "sentinel-2-l2a",
            ("sentinel-2-l2a",),
            signed=True,
            description=(
                "Microsoft Planetary Computer (opt-in; needs `pip install planetary-computer` to sign asset URLs)"
            ),
        ),
        "earth-search-replica": SourceSpec(
            "earth-search-replica",
            None,
            "sentinel-2-l2a",
            ("sentinel-2-l2a", "sentinel-2-c1-l2a"),
            description="an offline replica of Earth Search on 127.0.0.1 (`geoml replica serve --project FILE`)",
        ),
    }
)
"""The STAC source names a project may give; anything else must be an http(s) URL."""


def source_spec(stac: str) -> SourceSpec:
    """The :class:`SourceSpec` of a source name or URL.

    A URL gets a spec of its own (name = the URL, Earth Search asset keys assumed).

    Raises
    ------
    UnknownSourceError
        For a name that is neither known nor a URL; the message lists the known names.

    Examples
    --------
    >>> source_spec("earth-search").url
    'https://earth-search.aws.element84.com/v1'
    >>> source_spec("https://example.org/stac").default_collection
    'sentinel-2-l2a'
    >>> source_spec("earth-serch")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.UnknownSourceError: Unknown STAC source 'earth-serch' (did you mean 'earth-search'?)...
    """
    if stac in STAC_SOURCES:
        return STAC_SOURCES[stac]
    if isinstance(stac, str) and re.match(r"^https?://\S+$", stac):
        signed = "planetarycomputer.microsoft.com" in stac
        return SourceSpec(
            stac, stac.rstrip("/"), "sentinel-2-l2a", (), signed=signed, description="a STAC API given by URL"
        )
    close = difflib.get_close_matches(str(stac), list(STAC_SOURCES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    known = ", ".join(f"{name!r} ({spec.description})" for name, spec in STAC_SOURCES.items())
    raise UnknownSourceError(
        f"Unknown STAC source {stac!r}{hint}. Use one of {known}, or the URL "
        "of a STAC API such as 'https://earth-search.aws.element84.com/v1'."
    )


def default_bands(stac: str, collection: str) -> dict[str, str]:
    """Course band name -> asset key for a source's collection.

    Planetary Computer names assets by band id (``B02``, ``SCL``); Earth Search,
    its replica, the demo and unknown URLs are assumed to use Earth Search keys
    (``blue``, ``scl``); ``geoml check-source`` says when they do not.

    Examples
    --------
    >>> default_bands("planetary-computer", "sentinel-2-l2a")["nir08"]
    'B8A'
    >>> default_bands("earth-search", "sentinel-2-c1-l2a")["scl"]
    'scl'
    """
    spec = source_spec(stac)
    if spec.name == "planetary-computer" or (spec.url or "").find("planetarycomputer.microsoft.com") >= 0:
        return dict(PLANETARY_COMPUTER_BANDS)
    return {band: band for band in COURSE_BANDS}


@dataclass(frozen=True)
class Project:
    """One mapping project: labels, area, grid, dates and STAC source.

    Build one with :func:`load_project` (a TOML file), :func:`demo_project`
    or :func:`resolve_project`; change a copy with :func:`dataclasses.replace`.

    Attributes
    ----------
    name : str
    labels : pathlib.Path
        Absolute path of the labels file; ``Path("demo:")`` for the demo projects
        (see :meth:`labels_path`).
    class_column : str
    classes : ClassTable or None
        ``None``: derived from the labels by ``prepare_labels``.
    split_column : str or None
        ``None``: seeded spatial blocks of ``block_size_m``.
    block_size_m : float
    aoi : tuple of float or None
        ``(lon_min, lat_min, lon_max, lat_max)``; ``None``: the labels' extent + ``margin_m``.
    margin_m : float
    crs : str or None
        ``None``: the UTM zone of the AOI centre.
    resolution_m : float
    datetime : str
        ``"START/END"``.
    max_cloud_cover : float
    stac : str
        A name of :data:`STAC_SOURCES` or a URL.
    collection : str
    bands : Mapping[str, str]
        Course band name (Earth Search keys, :data:`COURSE_BANDS`) -> the collection's asset key.
    hyperspectral : bool
        The project has a hyperspectral source (only the demo has one).
    seed : int
        Seed of the synthetic imagery of an ``earth-search-replica`` source (its class
        signatures, landscape and clouds); other sources ignore it.
    demo_profile : str or None
        Set for the demo projects: labels and imagery come from that demo build.
    path : pathlib.Path or None
        The TOML file it came from.

    Examples
    --------
    >>> p = demo_project("ci")
    >>> len(p.key()), p.key() == demo_project("ci").key()
    (12, True)
    >>> from dataclasses import replace
    >>> replace(p, max_cloud_cover=10.0).key() != p.key()
    True
    """

    name: str
    labels: Path
    class_column: str
    classes: ClassTable | None = None
    split_column: str | None = None
    block_size_m: float = 2000.0
    aoi: tuple[float, float, float, float] | None = None
    margin_m: float = 200.0
    crs: str | None = None
    resolution_m: float = 10.0
    datetime: str = "2024-01-01/2024-12-31"
    max_cloud_cover: float = 60.0
    stac: str = "earth-search"
    collection: str = "sentinel-2-l2a"
    bands: Mapping[str, str] = field(default_factory=lambda: FrozenMapping({b: b for b in COURSE_BANDS}))
    hyperspectral: bool = False
    seed: int = 2024
    demo_profile: str | None = None
    path: Path | None = None

    @property
    def is_demo(self) -> bool:
        """Whether labels and imagery come from the demo build."""
        return self.demo_profile is not None

    @property
    def source(self) -> SourceSpec:
        """The :class:`SourceSpec` of :attr:`stac`."""
        return source_spec(self.stac)

    @property
    def date_range(self) -> tuple[dt.date, dt.date]:
        """Start and end dates of :attr:`datetime`.

        Examples
        --------
        >>> demo_project("ci").date_range
        (datetime.date(2024, 1, 1), datetime.date(2024, 12, 31))
        """
        return _parse_datetime(self.datetime)

    def labels_path(self, data_dir: str | os.PathLike[str] | None = None) -> Path:
        """The labels file; for a demo project, that of its demo build (built if missing).

        Examples
        --------
        Needs a project's labels and the demo data (skipped under doctest):

        >>> demo_project("ci").labels_path("/tmp/geoml-data").name  # doctest: +SKIP
        'labels.parquet'
        """
        if self.demo_profile is not None and str(self.labels) == DEMO_LABELS:
            from geoml_helpers.demo.build import ensure_demo_data

            return ensure_demo_data(self.demo_profile, data_dir, progress=False).labels_path
        return self.labels

    def settings(self) -> dict[str, Any]:
        """The settings as plain JSON-able values (paths as strings, classes as records).

        Examples
        --------
        >>> demo_project("ci").settings()["stac"]
        'local'
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, ClassTable):
                value = value.to_records()
            elif isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def key(self) -> str:
        """A short stable hash of the settings that change results (not the file's own path)."""
        settings = self.settings()
        settings.pop("path")
        if self.stac != "earth-search-replica":  # the seed only makes a replica's imagery
            settings.pop("seed")
        blob = json.dumps(settings, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


# --- the file format -----------------------------------------------------------------------------

_NUMBER = (int, float)
# section -> key -> (accepted types, example shown in the error message)
_SCHEMA: dict[str | None, dict[str, tuple[tuple[type, ...], str]]] = {
    None: {"name": ((str,), '"my-fields"'), "demo_profile": ((str,), '"ci"')},
    "labels": {
        "path": ((str,), '"labels.geojson"'),
        "class_column": ((str,), '"class_id"'),
        "split_column": ((str,), '"split"'),
        "block_size_m": (_NUMBER, "2000"),
    },
    "area": {
        "aoi": ((list,), "[18.80, -34.02, 18.95, -33.90]"),
        "margin_m": (_NUMBER, "200"),
        "crs": ((str,), '"EPSG:32734"'),
        "resolution_m": (_NUMBER, "10"),
    },
    "imagery": {
        "stac": ((str,), '"earth-search"'),
        "collection": ((str,), '"sentinel-2-l2a"'),
        "datetime": ((str,), '"2024-01-01/2024-12-31"'),
        "max_cloud_cover": (_NUMBER, "30"),
        "bands": ((dict,), '{ nir08 = "B8A" }'),
        "hyperspectral": ((bool,), "false"),
        "seed": ((int,), "2024"),
    },
    "classes": {
        "code": ((int, str), '10 or "forest"'),
        "name": ((str,), '"forest"'),
        "label": ((str,), '"Natural forest"'),
        "colour": ((str,), '"#117733"'),
    },
}
_TYPE_WORDS = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def _where(path: Path | None) -> str:
    return f" in {path}" if path is not None else ""


def _check_keys(table: Mapping[str, Any], section: str | None, path: Path | None) -> None:
    schema = _SCHEMA[section]
    allowed = list(schema) + ([] if section else [s for s in _SCHEMA if s])
    for key, value in table.items():
        dotted = f"{section}.{key}" if section else key
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean `{(section + '.') if section else ''}{close[0]}`?" if close else "."
            where = f"[{section}]" if section else "the top level"
            raise ProjectFileError(
                f"Unknown key `{dotted}`{_where(path)}{hint} Keys allowed "
                f"at {where}: {', '.join(allowed)}. Rename or remove it."
            )
        if key in schema:
            types, example = schema[key]
            # bool is an int in Python: a number field must not accept true/false.
            wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
            if wrong:
                wanted = " or ".join(dict.fromkeys(_TYPE_WORDS.get(t, t.__name__) for t in types))
                raise ProjectFileError(
                    f"`{dotted}`{_where(path)} must be {wanted}, got "
                    f"{type(value).__name__} {value!r}. Write it like `{key} = {example}`."
                )
        elif key != "classes" and not isinstance(value, dict):
            raise ProjectFileError(
                f"`{dotted}`{_where(path)} must be a table `[{key}]`, got "
                f"{type(value).__name__} {value!r}. See projects/demo-ci.toml."
            )


def _parse_datetime(value: str, path: Path | None = None) -> tuple[dt.date, dt.date]:
    try:
        start, end = (dt.date.fromisoformat(part.strip()[:10]) for part in value.split("/"))
    except ValueError:
        raise ProjectFileError(
            f"`imagery.datetime = {value!r}`{_where(path)} is not a date "
            'range; write it as START/END, e.g. "2024-01-01/2024-12-31".'
        ) from None
    if end < start:
        raise ProjectFileError(f"`imagery.datetime = {value!r}`{_where(path)} ends before it starts; swap the dates.")
    return start, end


def _check_crs(crs: str, path: Path | None) -> str:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        parsed = CRS.from_user_input(crs)
    except CRSError:
        raise ProjectFileError(
            f"`area.crs = {crs!r}`{_where(path)} is not a CRS pyproj knows; "
            'write it as "EPSG:32734" or remove it to use the UTM zone.'
        ) from None
    if not parsed.is_projected:
        raise ProjectFileError(
            f"`area.crs = {crs!r}`{_where(path)} is not projected; the "
            'grid needs metres: use a UTM zone such as "EPSG:32734".'
        )
    return crs


def _check_aoi(aoi: Any, path: Path | None) -> tuple[float, float, float, float] | None:
    if aoi is None:
        return None
    ok = len(aoi) == 4 and all(isinstance(v, _NUMBER) and not isinstance(v, bool) for v in aoi)
    if ok:
        box = tuple(float(v) for v in aoi)
        ok = -180 <= box[0] < box[2] <= 180 and -90 <= box[1] < box[3] <= 90
    if not ok:
        raise ProjectFileError(
            f"`area.aoi = {aoi!r}`{_where(path)} must be [lon_min, lat_min, lon_max, lat_max] in degrees "
            "with min < max, e.g. [18.80, -34.02, 18.95, -33.90]; or remove it to use the labels' extent."
        )
    return box  # type: ignore[return-value]


def _bands(stac: str, collection: str, overrides: Mapping[str, Any], path: Path | None) -> dict[str, str]:
    bands = default_bands(stac, collection)
    for band, key in overrides.items():
        if band not in COURSE_BANDS:
            raise ProjectFileError(
                f"`imagery.bands.{band}`{_where(path)} is not a course band; "
                f"map these names to your asset keys: {', '.join(COURSE_BANDS)}."
            )
        if not isinstance(key, str):
            raise ProjectFileError(f"`imagery.bands.{band}`{_where(path)} must be an asset key string, got {key!r}.")
        bands[band] = key
    return bands


def _labels_file(value: str, demo_profile: str | None, path: Path | None) -> Path:
    """The labels path, resolved against the project file's folder; ``demo:`` needs a ``demo_profile``."""
    if demo_profile is not None:
        from geoml_helpers.core.profiles import get_profile

        get_profile(demo_profile)
    if value != DEMO_LABELS:
        base = path.parent if path is not None else Path.cwd()
        return (base / Path(value).expanduser()).resolve()
    if demo_profile is None:
        raise ProjectFileError(
            f'`labels.path = "{DEMO_LABELS}"`{_where(path)} means the '
            'demo build\'s labels; add `demo_profile = "ci"` at the top.'
        )
    return Path(DEMO_LABELS)


def _check_positive(labels: Mapping[str, Any], area: Mapping[str, Any], path: Path | None) -> None:
    if "block_size_m" in labels and not labels["block_size_m"] > 0:
        raise ProjectFileError(f"`labels.block_size_m`{_where(path)} must be positive, got {labels['block_size_m']}.")
    for key in ("margin_m", "resolution_m"):
        if key in area and not (area[key] > 0 or (key == "margin_m" and area[key] == 0)):
            raise ProjectFileError(
                f"`area.{key}`{_where(path)} must be {'>= 0' if key == 'margin_m' else 'positive'}, got {area[key]}."
            )


def _project_from_table(data: Mapping[str, Any], path: Path | None) -> Project:
    _check_keys(data, None, path)
    for section in ("labels", "area", "imagery"):
        _check_keys(data.get(section, {}), section, path)
    labels = data.get("labels")
    if not labels or "path" not in labels or "class_column" not in labels:
        raise ProjectFileError(
            f"The project{_where(path)} needs `[labels]` with `path` and `class_column`, "
            'e.g.\n[labels]\npath = "labels.geojson"\nclass_column = "class_id"'
        )
    area, imagery = data.get("area", {}), data.get("imagery", {})
    demo_profile = data.get("demo_profile")
    labels_file = _labels_file(labels["path"], demo_profile, path)
    _check_positive(labels, area, path)
    aoi = _check_aoi(area.get("aoi"), path)
    crs = _check_crs(area["crs"], path) if "crs" in area else None
    stac = imagery.get("stac", "earth-search")
    try:
        spec = source_spec(stac)
    except UnknownSourceError as exc:
        raise ProjectFileError(f"`imagery.stac`{_where(path)}: {exc}") from None
    collection = imagery.get("collection", spec.default_collection)
    bands = _bands(stac, collection, imagery.get("bands", {}), path)
    datetime = imagery.get("datetime", "2024-01-01/2024-12-31")
    _parse_datetime(datetime, path)
    cloud = float(imagery.get("max_cloud_cover", 60.0))
    if not 0 <= cloud <= 100:
        raise ProjectFileError(
            f"`imagery.max_cloud_cover = {cloud}`{_where(path)} is a percentage: give a number from 0 to 100."
        )
    classes = _class_table(data.get("classes"), path)
    return Project(
        name=str(data.get("name") or (path.stem if path is not None else "project")),
        labels=labels_file,
        class_column=labels["class_column"],
        classes=classes,
        split_column=labels.get("split_column") or None,
        block_size_m=float(labels.get("block_size_m", 2000.0)),
        aoi=aoi,
        margin_m=float(area.get("margin_m", 200.0)),
        crs=crs,
        resolution_m=float(area.get("resolution_m", 10.0)),
        datetime=datetime,
        max_cloud_cover=cloud,
        stac=stac,
        collection=collection,
        bands=FrozenMapping(bands),
        hyperspectral=bool(imagery.get("hyperspectral", False)),
        seed=int(imagery.get("seed", 2024)),
        demo_profile=demo_profile,
        path=path,
    )


def _class_table(records: Any, path: Path | None) -> ClassTable | None:
    if records is None:
        return None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ProjectFileError(
            f"`classes`{_where(path)} must be a list of tables `[[classes]]` "
            "with `code` and optional `name`, `label`, `colour`."
        )
    for number, record in enumerate(records, start=1):
        _check_keys(record, "classes", path)
        if "code" not in record:
            raise ProjectFileError(
                f"Class number {number} of `[[classes]]`{_where(path)} has no "
                "`code`; give the value the class column holds, e.g. `code = 10`."
            )
    try:
        return ClassTable.from_records(records)
    except ValueError as exc:
        raise ProjectFileError(f"`[[classes]]`{_where(path)}: {exc}.") from None


def load_project(path: str | os.PathLike[str]) -> Project:
    """Read and check a project TOML file.

    Relative ``labels.path`` values are relative to the file.

    Raises
    ------
    ProjectFileError
        For a missing or unreadable file, an unknown key, a wrong type or a bad
        value; the message names the key and how to write it.

    Examples
    --------
    >>> load_project(demo_project_path("ci")).demo_profile
    'ci'
    """
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise ProjectFileError(
            f"No project file at {file}. Write one with `geoml init "
            f"--labels LABELS --class-column COL --out {Path(path).name}`."
        )
    try:
        data = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProjectFileError(
            f"{file} is not valid TOML ({exc}). Check the quotes and brackets on that line."
        ) from None
    return _project_from_table(data, file)


def demo_project_path(profile: str) -> Path:
    """``projects/demo-<profile>.toml`` of the repository.

    Examples
    --------
    >>> demo_project_path("ci").name
    'demo-ci.toml'
    """
    from geoml_helpers.core.profiles import get_profile

    name = get_profile(profile).name
    here = Path(__file__).resolve().parents[2] / "projects" / f"demo-{name}.toml"
    if here.is_file():
        return here
    from geoml_helpers.core.profiles import find_project_root

    root = find_project_root()
    if root is not None and (root / "projects" / f"demo-{name}.toml").is_file():
        return root / "projects" / f"demo-{name}.toml"
    raise ProjectFileError(
        f"The demo project file {here} is missing; restore it with "
        "`git checkout projects/` or pass `project=` a TOML file."
    )


def demo_project(profile: str) -> Project:
    """The demo valley as a project, for one profile (``projects/demo-<profile>.toml``).

    Examples
    --------
    >>> demo_project("workshop").block_size_m
    960.0
    """
    return load_project(demo_project_path(profile))


def resolve_project(project: str | os.PathLike[str] | Project | None, profile: str) -> Project:
    """What a notebook's ``project`` parameter means.

    ``None`` is the demo project of ``profile``; a :class:`Project` is kept; a
    path is read with :func:`load_project`; a bare name such as ``"demo-ci"``
    is looked up in the repository's ``projects/`` folder.

    Examples
    --------
    >>> resolve_project(None, "ci").name
    'demo-ci'
    >>> resolve_project("demo-workshop", "ci").demo_profile
    'workshop'
    """
    resolved = _resolve(project, profile)
    _LAST_RESOLVED.pop(resolved.stac, None)
    _LAST_RESOLVED[resolved.stac] = resolved  # the last one resolved comes last
    return resolved


_LAST_RESOLVED: dict[str, Project] = {}


def last_resolved_project(stac: str | None = None) -> Project | None:
    """The project :func:`resolve_project` returned last in this process (``None`` before any).

    A notebook resolves its ``project`` parameter first; a source that is built from a project
    (the Earth Search replica) uses the last project of that source when it is opened by name alone.

    Parameters
    ----------
    stac : str, optional
        Only projects with this source (e.g. ``"earth-search-replica"``).

    Examples
    --------
    >>> _ = resolve_project(None, "ci")
    >>> last_resolved_project().name, last_resolved_project("local").name
    ('demo-ci', 'demo-ci')
    """
    if stac is not None:
        return _LAST_RESOLVED.get(stac)
    return next(reversed(_LAST_RESOLVED.values()), None)


def _resolve(project: str | os.PathLike[str] | Project | None, profile: str) -> Project:
    if project is None or (isinstance(project, str) and not project.strip()):
        return demo_project(profile)
    if isinstance(project, Project):
        return project
    candidate = Path(project).expanduser()
    if not candidate.exists() and candidate.suffix == "" and len(candidate.parts) == 1:
        shipped = demo_project_path("ci").parent / f"{candidate.name}.toml"
        if shipped.is_file():
            return load_project(shipped)
    return load_project(candidate)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) and not math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} to TOML")


def project_to_toml(project: Project, comments: Mapping[str, str] | None = None) -> str:
    """The project as a TOML file that :func:`load_project` reads back to an equal project.

    ``comments`` maps a section name (``""`` for the top, ``labels``, ``area``,
    ``imagery``, ``classes``) to comment lines written above it.

    Examples
    --------
    >>> text = project_to_toml(demo_project("ci"))
    >>> _project_from_table(tomllib.loads(text), demo_project_path("ci")).key() == demo_project("ci").key()
    True
    """
    comments = dict(comments or {})

    def note(section: str) -> list[str]:
        text = comments.get(section, "")
        return [f"# {line}".rstrip() for line in text.splitlines()] if text else []

    lines = [*note(""), f"name = {_toml_value(project.name)}"]
    if project.demo_profile:
        lines.append(f"demo_profile = {_toml_value(project.demo_profile)}")
    lines += ["", *note("labels"), *_labels_section(project)]
    lines += ["", *note("area"), *_area_section(project)]
    lines += ["", *note("imagery"), *_imagery_section(project)]
    if project.classes is not None:
        lines += ["", *note("classes")]
        for record in project.classes.to_records():
            lines.append("[[classes]]")
            lines += [f"{key} = {_toml_value(record[key])}" for key in ("code", "name", "label", "colour")]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _labels_section(project: Project) -> list[str]:
    labels_path = str(project.labels)
    if project.path is not None and labels_path != DEMO_LABELS:
        try:
            labels_path = os.path.relpath(project.labels, project.path.parent)
        except ValueError:  # another drive on Windows: keep the absolute path
            pass
    lines = ["[labels]", f"path = {_toml_value(labels_path)}", f"class_column = {_toml_value(project.class_column)}"]
    if project.split_column:
        lines.append(f"split_column = {_toml_value(project.split_column)}")
    else:
        lines.append('# split_column = "split"   # none: seeded spatial blocks of block_size_m')
    lines.append(f"block_size_m = {_toml_value(project.block_size_m)}")
    return lines


def _area_section(project: Project) -> list[str]:
    return [
        "[area]",
        f"aoi = {_toml_value(list(project.aoi))}"
        if project.aoi
        else "# aoi = [lon_min, lat_min, lon_max, lat_max]   # none: the labels' extent + margin_m",
        f"margin_m = {_toml_value(project.margin_m)}",
        f"crs = {_toml_value(project.crs)}"
        if project.crs
        else '# crs = "EPSG:326NN"   # none: the UTM zone of the AOI centre',
        f"resolution_m = {_toml_value(project.resolution_m)}",
    ]


def _imagery_section(project: Project) -> list[str]:
    lines = [
        "[imagery]",
        f"stac = {_toml_value(project.stac)}",
        f"collection = {_toml_value(project.collection)}",
        f"datetime = {_toml_value(project.datetime)}",
        f"max_cloud_cover = {_toml_value(project.max_cloud_cover)}",
        f"hyperspectral = {_toml_value(project.hyperspectral)}",
    ]
    if project.seed != 2024 or project.stac == "earth-search-replica":
        lines.append(f"seed = {_toml_value(project.seed)}")
    defaults = default_bands(project.stac, project.collection)
    changed = {k: v for k, v in project.bands.items() if defaults.get(k) != v}
    if changed:
        lines.append(f"bands = {_toml_value(changed)}")
    return lines
