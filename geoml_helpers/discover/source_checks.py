"""Check a STAC source's collection against what the course assumes, before loading anything.

The course reads Sentinel-2 L2A through STAC metadata, and four fields of
that metadata have changed under users' feet in real catalogues:

``assets``
    The asset keys: Earth Search names assets ``red``, ``nir08``, ``scl``;
    Planetary Computer ``B04``, ``B8A``, ``SCL``. A project maps the course's
    band names to the collection's keys (``[imagery] bands``).
``raster:bands`` scale and offset
    ``reflectance = DN * scale + offset``. The course expects scale 0.0001 and
    offset 0 or -0.1; without ``raster:bands`` it falls back on the processing
    baseline (``s2:processing_baseline`` >= 04.00 means offset -0.1).
``proj:epsg`` and ``proj:code``
    Projection extension v1 writes ``proj:epsg``, v2 ``proj:code``; stackstac
    reads only ``proj:epsg``. Without either, no loader can place the pixels.
``earthsearch:boa_offset_applied``
    Earth Search v1 ``sentinel-2-l2a`` items with the flag true have the
    offset already removed from the pixels yet still declare offset -0.1.

Each finding is one :class:`SourceFinding`: ``ok``, ``note`` (handled by the
course, said once) or ``drift`` (the course would read wrong values or fail:
the message names the field and the fix). The scaling rules themselves live
in :mod:`geoml_helpers.discover.stac_metadata`; this module only compares.

Examples
--------
>>> item = {"id": "x", "properties": {"proj:code": "EPSG:32734", "s2:processing_baseline": "05.10"},
...         "assets": {"red": {"raster:bands": [{"scale": 0.0001, "offset": -0.1}]}}}
>>> [f.status for f in check_items([item], {"red": "red"})]
['ok', 'ok', 'note', 'ok']
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from geoml_helpers.core.errors import SourceCheckError
from geoml_helpers.discover.stac_metadata import (
    NON_REFLECTANCE_KEYS,
    _baseline,
    _get,
    asset_key,
    canonical_band_name,
    item_epsg,
    reflectance_scaling,
)

__all__ = ["SourceCheck", "SourceFinding", "check_collection", "check_items", "check_source"]

EXPECTED_SCALE = 0.0001
EXPECTED_OFFSETS = (0.0, -0.1)


@dataclass(frozen=True)
class SourceFinding:
    """One check's outcome.

    Attributes
    ----------
    field : str
        The metadata field checked (``assets``, ``raster:bands``, ``proj:epsg``, ...).
    status : str
        ``ok``, ``note`` or ``drift``.
    message : str
        What was found and, for a drift, the fix.
    """

    field: str
    status: str
    message: str

    def __str__(self) -> str:
        return f"[{self.status}] {self.field}: {self.message}"


@dataclass
class SourceCheck:
    """All findings for one source and collection.

    Attributes
    ----------
    source : str
    collection : str
    items_checked : int
    findings : list of SourceFinding
    """

    source: str
    collection: str
    items_checked: int = 0
    findings: list[SourceFinding] = field(default_factory=list)

    @property
    def drifts(self) -> list[SourceFinding]:
        """The findings the course cannot work around."""
        return [f for f in self.findings if f.status == "drift"]

    @property
    def ok(self) -> bool:
        """No drift."""
        return not self.drifts

    def raise_for_drift(self) -> SourceCheck:
        """Raise :class:`SourceCheckError` with every drift, one per line; return self when there is none."""
        if self.drifts:
            lines = "\n".join(f"- {f.field}: {f.message}" for f in self.drifts)
            raise SourceCheckError(
                f"{self.source} collection {self.collection!r} differs from what the course assumes:\n{lines}"
            )
        return self

    def __str__(self) -> str:
        head = f"{self.source} / {self.collection}: {self.items_checked} items checked"
        return "\n".join([head, *(f"  {f}" for f in self.findings)])


def _bands_hint(bands: Mapping[str, str], found: Mapping[str, str]) -> str:
    pairs = ", ".join(f'{band} = "{key}"' for band, key in found.items())
    return f"set `[imagery] bands = {{ {pairs} }}` in the project file"


def check_items(items: Sequence[Any], bands: Mapping[str, str]) -> list[SourceFinding]:
    """Check items (dicts or pystac Items) for asset keys, scaling, projection and the BOA flag.

    Parameters
    ----------
    items : sequence
        One or more items of the collection (a few dates are enough; old and new baselines differ).
    bands : mapping
        Course band name -> asset key, as in ``Project.bands``.

    Returns
    -------
    list of SourceFinding
        One per field: ``assets``, ``raster:bands``, ``proj:epsg/proj:code``,
        ``earthsearch:boa_offset_applied``.

    Examples
    --------
    >>> pc = {"id": "pc", "properties": {"proj:epsg": 32624, "s2:processing_baseline": "04.00"},
    ...       "assets": {"B04": {}, "SCL": {}}}
    >>> findings = check_items([pc], {"red": "red", "scl": "scl"})
    >>> findings[0].status, 'red = "B04"' in findings[0].message
    ('drift', True)
    """
    if not items:
        raise SourceCheckError("No items to check: search the collection first (a wider date range or area).")
    return [
        _check_assets(items, bands),
        _check_scaling(items, bands),
        _check_projection(items),
        _check_boa(items, bands),
    ]


def _check_assets(items: Sequence[Any], bands: Mapping[str, str]) -> SourceFinding:
    """Asset keys: a key no item has is a drift; a key some items lack is a note (those dates load as nodata).

    Earth Search holds items with an asset missing (a failed conversion): the loader reads them as NaN for
    that band, so only a key missing from every item checked means the mapping is wrong.
    """
    lacking: dict[str, list[str]] = {}
    suggested: dict[str, str] = {}
    for item in items:
        assets = _get(item, "assets") or {}
        for band, key in bands.items():
            if key in assets:
                continue
            lacking.setdefault(band, []).append(str(_get(item, "id")))
            try:
                suggested[band] = asset_key(item, band)
            except KeyError:
                pass
    missing = {band: bands[band] for band, ids in lacking.items() if len(ids) == len(items)}
    partly = {band: ids for band, ids in lacking.items() if band not in missing}
    some = "; ".join(
        f"{band!r} ({bands[band]!r}) is missing from {len(ids)} of {len(items)} items ({', '.join(ids[:3])}): "
        "those dates load as nodata for it"
        for band, ids in partly.items()
    )
    if not missing:
        if partly:
            return SourceFinding("assets", "note", some)
        return SourceFinding("assets", "ok", f"all {len(bands)} course bands found under their asset keys")
    suggested = {band: key for band, key in suggested.items() if band in missing}
    example = next(
        (_get(i, "assets") or {} for i in items if any(k not in (_get(i, "assets") or {}) for k in missing.values())),
        {},
    )
    text = ", ".join(f"{band} -> {key!r}" for band, key in missing.items())
    fix = _bands_hint(bands, suggested) if suggested else "map each course band to an asset key in `[imagery] bands`"
    absent = [b for b in missing if b not in suggested]
    extra = f"; no asset at all for {absent}" if absent else ""
    also = f" Also: {some}." if partly else ""
    return SourceFinding(
        "assets",
        "drift",
        f"asset keys missing: {text} (the items have {sorted(example)}){extra}. Fix: {fix}.{also}",
    )


def _declared(item: Any, key: str) -> tuple[float | None, float | None]:
    asset = (_get(item, "assets") or {}).get(key) or {}
    raster_bands = asset.get("raster:bands") or asset.get("bands") or []
    first = raster_bands[0] if raster_bands and isinstance(raster_bands[0], Mapping) else {}
    return first.get("scale"), first.get("offset")


def _check_scaling(items: Sequence[Any], bands: Mapping[str, str]) -> SourceFinding:
    reflective = {b: k for b, k in bands.items() if canonical_band_name(b) not in NON_REFLECTANCE_KEYS}
    bad: list[str] = []
    derived: set[str] = set()
    for item in items:
        assets = _get(item, "assets") or {}
        for band, key in reflective.items():
            if key not in assets:
                continue
            scale, offset = _declared(item, key)
            if scale is None and offset is None:
                derived.add(reflectance_scaling(item, key).source)
                continue
            scale_ok = scale is None or abs(float(scale) - EXPECTED_SCALE) < 1e-12
            offset_ok = offset is None or any(abs(float(offset) - o) < 1e-9 for o in EXPECTED_OFFSETS)
            if not (scale_ok and offset_ok):
                bad.append(f"{_get(item, 'id')}/{key}: scale {scale}, offset {offset}")
    if bad:
        return SourceFinding(
            "raster:bands",
            "drift",
            f"unexpected scale/offset ({'; '.join(bad[:4])}); the course expects scale {EXPECTED_SCALE} and offset 0 "
            "or -0.1 (Sentinel-2 L2A reflectance). Fix: check the collection is L2A surface reflectance, or convert "
            "with the declared values yourself (geoml_helpers.discover.stac_metadata.reflectance_scaling).",
        )
    if derived:
        return SourceFinding(
            "raster:bands",
            "note",
            "no raster:bands scale/offset on the assets; the course derives them: " + "; ".join(sorted(derived)),
        )
    return SourceFinding("raster:bands", "ok", f"scale {EXPECTED_SCALE}, offset 0 or -0.1 on every reflective asset")


def _check_projection(items: Sequence[Any]) -> SourceFinding:
    without: list[str] = []
    code_only: list[str] = []
    for item in items:
        sources = [_get(item, "properties") or {}, *((_get(item, "assets") or {}).values())]
        has_epsg = any(s.get("proj:epsg") is not None for s in sources)
        if item_epsg(item) is None:
            without.append(str(_get(item, "id")))
        elif not has_epsg:
            code_only.append(str(_get(item, "id")))
    if without:
        return SourceFinding(
            "proj:epsg/proj:code",
            "drift",
            f"items {without[:3]} carry neither proj:epsg nor an EPSG proj:code, so their CRS is unknown. Fix: set "
            "`[area] crs` and load with an explicit CRS (stackstac `epsg=`, odc-stac `crs=`), or use a source whose "
            "items have the projection extension.",
        )
    if code_only:
        return SourceFinding(
            "proj:epsg/proj:code",
            "note",
            f"{len(code_only)} items carry proj:code (projection extension v2) and no proj:epsg; stackstac reads only "
            "proj:epsg, so the course passes the EPSG code from proj:code explicitly (item_epsg).",
        )
    return SourceFinding("proj:epsg/proj:code", "ok", "every item has proj:epsg")


def _check_boa(items: Sequence[Any], bands: Mapping[str, str]) -> SourceFinding:
    reflective = [k for b, k in bands.items() if canonical_band_name(b) not in NON_REFLECTANCE_KEYS]
    flagged, ambiguous = [], []
    for item in items:
        properties = _get(item, "properties") or {}
        flag = properties.get("earthsearch:boa_offset_applied")
        key = next((k for k in reflective if k in (_get(item, "assets") or {})), None)
        if key is None:
            continue
        _, offset = _declared(item, key)
        baseline = _baseline(properties)
        if flag is True and offset is not None and float(offset) != 0.0:
            flagged.append(str(_get(item, "id")))
        elif flag is False and baseline is not None and baseline >= 4.0 and (offset is None or float(offset) == 0.0):
            ambiguous.append(f"{_get(item, 'id')} (baseline {baseline:05.2f}, flag false, declared offset {offset})")
    if ambiguous:
        return SourceFinding(
            "earthsearch:boa_offset_applied",
            "drift",
            f"{ambiguous[:2]}: the flag says the +1000 offset is still in the pixels but no -0.1 offset is declared, "
            "so reflectance would come out 0.1 too high. Fix: report it to the catalogue, and until then apply "
            "`Scaling(0.0001, -0.1, ...)` to these items yourself.",
        )
    if flagged:
        return SourceFinding(
            "earthsearch:boa_offset_applied",
            "note",
            f"{len(flagged)} items say earthsearch:boa_offset_applied = true and still declare offset -0.1; the pixels "
            "are already harmonised, so the course ignores the declared offset (applying it would make every "
            "reflectance 0.1 too low).",
        )
    return SourceFinding(
        "earthsearch:boa_offset_applied", "ok", "no item declares an offset its pixels already had removed"
    )


def check_collection(collection: Mapping[str, Any], bands: Mapping[str, str]) -> list[SourceFinding]:
    """Check a collection document's ``item_assets`` (when it has them) for the course's asset keys.

    Examples
    --------
    >>> check_collection({"id": "c", "item_assets": {"B04": {}}}, {"red": "red"})[0].status
    'drift'
    >>> check_collection({"id": "c"}, {"red": "red"})
    []
    """
    item_assets = collection.get("item_assets") or {}
    if not item_assets:
        return []
    as_item = {"id": f"collection {collection.get('id')}", "properties": {}, "assets": item_assets}
    finding = _check_assets([as_item], bands)
    return [SourceFinding("item_assets", finding.status, finding.message)]


def check_source(
    stac: str,
    collection: str | None = None,
    *,
    bands: Mapping[str, str] | None = None,
    bbox: Sequence[float] | None = None,
    datetime: str | None = None,
    profile: str = "ci",
    data_dir: str | os.PathLike[str] | None = None,
    max_items: int = 5,
    timeout: float = 10.0,
    project: Any = None,
) -> SourceCheck:
    """Open a STAC source, read its collection and a few items, and check them.

    Parameters
    ----------
    stac : str
        A source name (``local``, ``earth-search``, ...) or a STAC API URL.
    collection : str, optional
        Defaults to the source's default collection.
    bands : mapping, optional
        Course band -> asset key; defaults to the source's mapping for the collection.
    bbox, datetime : optional
        Where and when to sample items (a project's AOI and dates); anywhere otherwise.
    profile, data_dir :
        For the ``local`` demo API.
    max_items : int
    project : Project or path, optional
        The project the source is for: the ``earth-search-replica`` source is built from its labels,
        AOI and dates.

    Returns
    -------
    SourceCheck

    Raises
    ------
    UnknownSourceError, StacApiUnreachableError, EmptySearchError

    Examples
    --------
    Needs a running STAC API (skipped under doctest):

    >>> print(check_source("local"))  # doctest: +SKIP
    """
    from geoml_helpers.core.project import default_bands, source_spec
    from geoml_helpers.discover.stac_search import open_stac_source, search_items

    spec = source_spec(stac)
    collection = collection or spec.default_collection
    bands = dict(bands or default_bands(stac, collection))
    with open_stac_source(
        stac, profile, data_dir, timeout=timeout, collection=collection, project=project
    ) as source:
        check = SourceCheck(source.url if spec.url is None else spec.name, collection)
        try:
            document = source.client.get_collection(collection).to_dict()
        except Exception as exc:  # pystac-client raises APIError or KeyError by version
            known = [c.id for c in source.client.get_collections()]
            raise SourceCheckError(
                f"{check.source} has no collection {collection!r} ({type(exc).__name__}); it has {known}. "
                "Fix: `--collection` / `[imagery] collection`."
            ) from None
        check.findings += check_collection(document, bands)
        found = search_items(
            source, bbox=bbox, datetime=datetime, collections=[collection], limit=max_items, max_items=max_items
        )
        items = list(found.items)
        check.items_checked = len(items)
        check.findings += check_items(items, bands)
    return check
