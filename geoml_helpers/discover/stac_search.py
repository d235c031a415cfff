"""Searching a STAC API the same way for the local demo server and Earth Search.

The notebooks call :func:`open_stac_source` with ``stac_api="local"`` (the
default: the demo data behind a real API on 127.0.0.1) or
``"earth-search"`` (https://earth-search.aws.element84.com/v1), and then
:func:`search_items`. Cloud-cover filtering happens on the server when the
API declares the CQL2 filter or the query extension in its conformance
classes (Earth Search does), and on the client otherwise (rustac's in-memory
backend); the result says which.

Examples
--------
>>> supported_cloud_filter(["https://api.stacspec.org/v1.0.0/item-search"])
'client'
>>> supported_cloud_filter(["https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
...                         "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json"])
'filter'
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from geoml_helpers.core.errors import EmptySearchError, MissingDependencyError, StacApiUnreachableError

__all__ = [
    "DEFAULT_COLLECTION",
    "EARTH_SEARCH_URL",
    "STAC_APIS",
    "SearchResult",
    "StacSource",
    "check_reachable",
    "open_stac_source",
    "replica_spec",
    "search_items",
    "supported_cloud_filter",
]

EARTH_SEARCH_URL = "https://earth-search.aws.element84.com/v1"
STAC_APIS: dict[str, str | None] = {"local": None, "earth-search": EARTH_SEARCH_URL}
"""Named APIs; ``local`` is started on demand from the demo data."""

DEFAULT_COLLECTION = "sentinel-2-l2a"


def check_reachable(url: str, timeout: float = 10.0) -> float:
    """Fail fast, within ``timeout`` seconds, if ``url`` does not answer.

    Returns
    -------
    float
        Seconds the landing page took.

    Raises
    ------
    StacApiUnreachableError
        With the fixes: check the network, or use the local demo API.

    Examples
    --------
    >>> check_reachable("http://127.0.0.1:9", timeout=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geoml_helpers.core.errors.StacApiUnreachableError: ...
    """
    import requests

    started = time.perf_counter()
    try:
        response = requests.get(url, timeout=(timeout, timeout), headers={"Accept": "application/json"})
        response.raise_for_status()
    except requests.RequestException as exc:
        raise StacApiUnreachableError(
            f"The STAC API at {url} did not answer within {timeout:.0f} s ({type(exc).__name__}: {exc}). "
            "Check your network connection and the URL, or use the embedded demo data with "
            "`stac_api='local'` (papermill: `-p stac_api local`)."
        ) from exc
    return time.perf_counter() - started


def supported_cloud_filter(conforms_to: Sequence[str]) -> str:
    """How an API with these conformance classes can filter on ``eo:cloud_cover``.

    Returns
    -------
    str
        ``"filter"`` (CQL2), ``"query"`` (the query extension) or ``"client"``.
    """
    joined = " ".join(conforms_to)
    if "item-search#filter" in joined or "/conf/cql2-json" in joined or "/conf/filter" in joined:
        return "filter"
    if "item-search#query" in joined:
        return "query"
    return "client"


@dataclass
class StacSource:
    """An open STAC API and, for the local one, the server and data behind it.

    Attributes
    ----------
    name : str
        ``local`` or ``earth-search`` (or a URL).
    url : str
    client : pystac_client.Client
    collection : str
        The Sentinel-2 L2A collection id.
    server : LocalStacServer, RunningReplica or None
        The servers behind a source started on this machine.
    demo : DemoData or None
    shared : bool
        The server is this process's shared one (the replica's): :meth:`close` leaves it running,
        for the lazy loads of the items found, and it stops when the process ends.
    """

    name: str
    url: str
    client: Any
    collection: str = DEFAULT_COLLECTION
    server: Any = None
    demo: Any = None
    shared: bool = False

    @property
    def cloud_filter(self) -> str:
        """``filter``, ``query`` or ``client``: where cloud cover is filtered."""
        return supported_cloud_filter(self.client.to_dict().get("conformsTo", []))

    def close(self) -> None:
        """Stop the local server, if this source started one (a shared replica runs until the process ends)."""
        if self.server is not None and not self.shared:
            self.server.stop()

    def __enter__(self) -> StacSource:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_stac_source(
    stac_api: str = "local",
    profile: str = "ci",
    data_dir: str | os.PathLike[str] | None = None,
    timeout: float = 10.0,
    *,
    collection: str | None = None,
    project: Any = None,
) -> StacSource:
    """Connect to a STAC API by name or URL.

    Names are those of :data:`geoml_helpers.core.project.STAC_SOURCES`: ``local``
    (the demo data of ``profile``, built if missing and served on 127.0.0.1; call
    :meth:`StacSource.close` or use ``with`` to stop it), ``earth-search``,
    ``planetary-computer`` (asset URLs signed with the ``planetary-computer``
    package) and ``earth-search-replica``: the offline replica of Earth Search for
    ``project`` (default: the project this process resolved last), built under
    ``<data_dir>/replica/<project name>`` if missing and served on 127.0.0.1 by
    :func:`~geoml_helpers.replica.server.shared_replica` (it keeps running after
    :meth:`StacSource.close`, for lazy loads, and stops when the process ends).
    Apart from its root URL, the replica takes the ``earth-search`` code path.

    Raises
    ------
    UnknownSourceError
        For a name that is neither known nor a URL; the message lists the names.
    MissingDependencyError
        For ``planetary-computer`` without the ``planetary-computer`` package.

    Examples
    --------
    Needs a running STAC API (skipped under doctest):

    >>> with open_stac_source("local", "ci") as source:  # doctest: +SKIP
    ...     source.cloud_filter
    'client'
    """
    import pystac_client

    from geoml_helpers.core.project import source_spec
    from geoml_helpers.demo.build import ensure_demo_data
    from geoml_helpers.services.stac_server import LocalStacServer

    spec = source_spec(stac_api)
    collection = collection or spec.default_collection
    if spec.name == "local":
        demo = ensure_demo_data(profile, data_dir)
        server = LocalStacServer.for_demo(demo).start()
        try:
            client = pystac_client.Client.open(server.url, timeout=timeout)
        except BaseException:
            server.stop()
            raise
        return StacSource("local", server.url, client, collection=collection, server=server, demo=demo)
    url = spec.url
    running = None
    if spec.name == "earth-search-replica":
        running = _start_replica(project, profile, data_dir)
        url = running.url
    if url is None:
        raise StacApiUnreachableError(
            f"The {spec.name!r} source runs on this machine and is not started: run "
            "`geoml replica serve --project FILE` in a terminal and use the URL it prints as `[imagery] stac`."
        )
    modifier = None
    if spec.signed:
        try:
            import planetary_computer
        except ImportError:
            raise MissingDependencyError(
                "The Planetary Computer's asset URLs must be signed with the `planetary-computer` package: "
                "`pip install planetary-computer` (opt-in; Earth Search needs nothing)."
            ) from None
        modifier = planetary_computer.sign_inplace
    check_reachable(url, timeout)
    client = pystac_client.Client.open(url, timeout=timeout, modifier=modifier)
    return StacSource(stac_api, url, client, collection=collection, server=running, shared=running is not None)


def replica_spec(project: Any, data_dir: str | os.PathLike[str] | None = None):
    """The :class:`~geoml_helpers.replica.build.ReplicaSpec` of a project: its labels, class column, dates, seed.

    The replica is painted over the lon/lat box of the project's grid (its AOI, or the labels' extent plus
    ``margin_m``, snapped), so that every pixel of the project's cube has imagery.

    Examples
    --------
    >>> from geoml_helpers.core.project import load_project
    >>> spec = replica_spec(load_project("projects/replica_example/replica-ci.toml"))
    >>> spec.class_column, spec.datetime, spec.seed
    ('landcover', '2022-01-10/2022-02-10', 2024)
    """
    from geoml_helpers.discover.labels import prepare_labels
    from geoml_helpers.replica.build import ReplicaSpec

    west, south, east, north = prepare_labels(project, data_dir).aoi_lonlat
    aoi = (round(west - 5e-6, 5), round(south - 5e-6, 5), round(east + 5e-6, 5), round(north + 5e-6, 5))
    return ReplicaSpec(
        labels=str(project.labels_path(data_dir)),
        class_column=project.class_column,
        datetime=project.datetime,
        aoi=aoi,
        seed=project.seed,
    )


def _start_replica(project: Any, profile: str, data_dir: str | os.PathLike[str] | None):
    """The running replica of ``project`` (or of the project resolved last) in this process."""
    from geoml_helpers.core.profiles import data_root
    from geoml_helpers.core.project import last_resolved_project, resolve_project
    from geoml_helpers.replica.build import SOURCE_NAME
    from geoml_helpers.replica.server import shared_replica

    project = resolve_project(project, profile) if project is not None else last_resolved_project(SOURCE_NAME)
    if project is None:
        raise StacApiUnreachableError(
            "The 'earth-search-replica' source is built from a project's labels, AOI and dates: pass "
            "`project=` (a project file) to open_stac_source, or run `geoml replica serve --project FILE` "
            "in a terminal and use the URL it prints as `[imagery] stac`."
        )
    root = data_root(data_dir) / "replica" / project.name
    return shared_replica(replica_spec(project, data_dir), root)


@dataclass
class SearchResult:
    """Items found, and how the cloud filter was applied.

    Attributes
    ----------
    items : pystac.ItemCollection
    cloud_filter : str
        ``filter``/``query`` (server side), ``client`` or ``none``.
    matched_before_cloud_filter : int
        Items the server returned before any client-side cloud filter.
    parameters : dict
        The search parameters, for reporting and for widening.
    """

    items: Any
    cloud_filter: str
    matched_before_cloud_filter: int
    parameters: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)


def search_items(
    source: StacSource,
    *,
    bbox: Sequence[float] | None = None,
    intersects: Any = None,
    datetime: str | None = None,
    max_cloud_cover: float | None = None,
    collections: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    limit: int = 100,
    max_items: int | None = 1000,
) -> SearchResult:
    """Search items by area, time and cloud cover; identical code for every API.

    Parameters
    ----------
    source : StacSource
    bbox, intersects : optional
        Area of interest in lon/lat (``intersects`` takes GeoJSON or a shapely geometry).
    datetime : str, optional
        RFC 3339 interval, e.g. ``"2024-01-01/2024-12-31"``.
    max_cloud_cover : float, optional
        Keep items with ``eo:cloud_cover`` below this percentage.
    collections : sequence of str, optional
        Defaults to the source's Sentinel-2 collection.
    ids : sequence of str, optional
    limit : int
        Page size (the API pages through the rest).
    max_items : int, optional
        Stop after this many items.

    Raises
    ------
    EmptySearchError
        When nothing matches; the message lists the parameters to widen.
    """
    from pystac import ItemCollection

    if intersects is not None and hasattr(intersects, "__geo_interface__"):
        intersects = intersects.__geo_interface__
    collections = list(collections or [source.collection])
    parameters: dict[str, Any] = {"collections": collections, "limit": limit, "max_items": max_items}
    if bbox is not None:
        parameters["bbox"] = list(bbox)
    if intersects is not None:
        parameters["intersects"] = intersects
    if datetime is not None:
        parameters["datetime"] = datetime
    if ids is not None:
        parameters["ids"] = list(ids)
    mode = "none" if max_cloud_cover is None else source.cloud_filter
    if mode == "filter":
        parameters["filter"] = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, max_cloud_cover]}
        parameters["filter_lang"] = "cql2-json"
    elif mode == "query":
        parameters["query"] = {"eo:cloud_cover": {"lte": max_cloud_cover}}
    found = list(source.client.search(**parameters).items())
    before = len(found)
    if mode == "client":
        found = [item for item in found if item.properties.get("eo:cloud_cover", 100.0) <= max_cloud_cover]
    if not found:
        raise _empty_search_error(source, parameters, max_cloud_cover, before)
    return SearchResult(ItemCollection(found), mode, before, {**parameters, "max_cloud_cover": max_cloud_cover})


def _any_item(source: StacSource, parameters: dict) -> bool:
    try:
        return next(iter(source.client.search(**parameters, max_items=1).items()), None) is not None
    except Exception:  # an API that refuses a probe (e.g. unknown collection) matched nothing
        return False


def _empty_search_error(
    source: StacSource, parameters: dict, max_cloud_cover: float | None, before: int
) -> EmptySearchError:
    """Say which filter emptied the search: collection, area, datetime, ids or cloud cover (probed in that order)."""
    probe: dict[str, Any] = {"collections": parameters["collections"], "limit": 1}
    steps = [
        ("collections", {}),
        ("area", {k: parameters[k] for k in ("bbox", "intersects") if k in parameters}),
        ("datetime", {k: parameters[k] for k in ("datetime",) if k in parameters}),
        ("ids", {k: parameters[k] for k in ("ids",) if k in parameters}),
    ]
    emptied_by = "max_cloud_cover"
    for name, extra in steps:
        if name != "collections" and not extra:
            continue
        probe.update(extra)
        if not _any_item(source, probe):
            emptied_by = name
            break
    area = parameters.get("bbox") or ("the `intersects` geometry" if "intersects" in parameters else "anywhere")
    why = {
        "collections": f"the collection {parameters['collections']} has no items at {source.url}. "
        "Fix: check the collection id (`[imagery] collection`; `geoml check-source` lists them).",
        "area": f"no item of {parameters['collections']} intersects the area {area}. "
        "Fix: check the AOI (lon/lat order, `[area] aoi`) and the labels' CRS; the source may not cover this place.",
        "datetime": f"items cover the area, but none in datetime {parameters.get('datetime')!r}. "
        "Fix: widen the date range (`[imagery] datetime`); check the mission's archive starts before it.",
        "ids": f"none of the ids {parameters.get('ids')} matched in the area and dates. Fix: check the ids.",
        "max_cloud_cover": "items match the area and dates, but none with eo:cloud_cover "
        f"<= {max_cloud_cover}%. Fix: raise `max_cloud_cover` (`[imagery] max_cloud_cover`) or widen the dates.",
    }[emptied_by]
    shown = {k: v for k, v in parameters.items() if k not in ("limit", "max_items", "filter_lang")}
    if max_cloud_cover is not None:
        shown["max_cloud_cover"] = max_cloud_cover
    client_side = max_cloud_cover is not None and source.cloud_filter == "client"
    error = EmptySearchError(
        f"No items matched at {source.url} with {shown}"
        + (f" ({before} matched before the cloud-cover filter)" if client_side else "")
        + f". The {emptied_by} filter emptied the search: {why} Widen the search where it says; "
        "the other filters matched items."
    )
    error.emptied_by = emptied_by  # type: ignore[attr-defined]
    return error
