"""Publishing a prediction: a STAC Item with the classification and ML-model (mlm) extensions.

A map nobody can find is not published. The prediction's class map and
vote-share COGs become the assets of one STAC Item that says

* *what* the pixel values mean: the ``classification`` extension lists every
  class value with its name, description and colour;
* *how* it was made: the ``mlm`` (Machine Learning Model) extension names the
  model, its architecture, framework, inputs (bands, time steps, features),
  outputs and classes, and the ``version`` extension its version.

The Item is added to the running local STAC API (rustac's in-memory backend
has no transaction endpoint, so :func:`publish_item` restarts it with the new
documents, see :meth:`geoml_helpers.services.stac_server.LocalStacServer.restart_with`)
and found again with pystac-client (:func:`find_published`).

Examples
--------
>>> item = prediction_item("demo-map", bounds=(310800, 6236800, 313200, 6239200), crs="EPSG:32734",
...                        start="2024-01-01T00:00:00Z", end="2024-12-31T23:59:59Z",
...                        assets={"classification": "/tmp/classes.tif"}, shape=(240, 240),
...                        transform=(10, 0, 310800, 0, -10, 6239200),
...                        model=ModelDescription("rf", "RandomForestClassifier", "scikit-learn", "1.9", "1"),
...                        classes=ClassTable.from_codes(["forest", "water"]))
>>> sorted(e.split("/")[3] for e in item.stac_extensions)
['classification', 'mlm', 'projection', 'version']
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoml_helpers.core.classes import NODATA_CLASS, ClassTable
from geoml_helpers.core.errors import EmptySearchError, StacValidationError

PREDICTION_COLLECTION_ID = "geoml-landcover-predictions"


@dataclass
class ModelDescription:
    """What the mlm extension says about a model.

    Attributes
    ----------
    name, architecture, framework, framework_version, version : str
    bands : sequence of str
        Input bands (Earth Search keys).
    n_times : int
        Time steps of the input (-1: any).
    features : sequence of str
        Derived per-pixel features the model actually sees (if any).
    preprocessing : str
        Where the input pipeline lives (a Python entry point).
    hyperparameters : dict
    total_parameters : int, optional
    """

    name: str
    architecture: str
    framework: str
    framework_version: str
    version: str
    bands: Sequence[str] = ()
    n_times: int = -1
    features: Sequence[str] = ()
    preprocessing: str = "geoml_helpers.learn.features:pixel_features"
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    total_parameters: int | None = None
    tasks: Sequence[str] = ("classification", "semantic-segmentation")


def prediction_collection(
    bounds_4326: Sequence[float], start: str, end: str, *, project_name: str | None = None
) -> dict:
    """The Collection document of geoml's land-cover predictions.

    Examples
    --------
    >>> prediction_collection((18.9, -34.0, 19.0, -33.9), "2024-01-01T00:00:00Z", "2024-12-31T00:00:00Z")["id"]
    'geoml-landcover-predictions'
    """
    import pystac

    collection = pystac.Collection(
        id=PREDICTION_COLLECTION_ID,
        description="Land-cover maps predicted by the geoml course models"
        + (f" for the project {project_name!r}." if project_name else "."),
        extent=pystac.Extent(
            pystac.SpatialExtent([list(bounds_4326)]),
            pystac.TemporalExtent([[_parse(start), _parse(end)]]),
        ),
        license="CC-BY-4.0",
        title="geoml land-cover predictions",
    )
    return collection.to_dict(include_self_link=False)


def _parse(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _href(path: str | os.PathLike[str]) -> str:
    text = str(path)
    return text if "://" in text else Path(text).resolve().as_uri()


def _add_assets(
    item: Any,
    assets: Mapping[str, str | os.PathLike[str]],
    model: ModelDescription,
    classes: ClassTable,
    class_percentages: Mapping[int, float] | None,
) -> None:
    """Add the class map (with its classification table), the vote-share band and the model file to ``item``."""
    import pystac
    from pystac.extensions.classification import Classification, ClassificationExtension

    stac_classes = [
        Classification.create(
            value=NODATA_CLASS, name="nodata", description="No prediction (no clear observation)", nodata=True
        )
    ] + [
        Classification.create(
            value=c.id,
            name=c.name,
            description=c.label,
            color_hint=c.colour.lstrip("#").upper(),
            percentage=None if class_percentages is None else round(float(class_percentages.get(c.id, 0.0)), 3),
        )
        for c in classes.classes
    ]
    item.add_asset(
        "classification",
        pystac.Asset(
            _href(assets["classification"]),
            title="Land-cover class map",
            media_type=pystac.MediaType.COG,
            roles=["data", "classification"],
        ),
    )
    ClassificationExtension.ext(item.assets["classification"], add_if_missing=True).classes = stac_classes
    if "vote_share" in assets:
        item.add_asset(
            "vote_share",
            pystac.Asset(
                _href(assets["vote_share"]),
                title="Vote share of the mapped class, 0-100 % (a score, not a calibrated probability)",
                media_type=pystac.MediaType.COG,
                roles=["data", "quality"],
            ),
        )
    if "model" in assets:
        item.add_asset(
            "model",
            pystac.Asset(
                _href(assets["model"]),
                title=f"{model.name} weights",
                media_type="application/octet-stream",
                roles=["mlm:model", "mlm:weights"],
                extra_fields={"mlm:artifact_type": f"{model.framework}.joblib"},
            ),
        )


def _json_safe(values: Mapping[str, Any]) -> dict[str, Any]:
    """The entries JSON can hold: a NaN or infinite float (e.g. scikit-learn's ``missing_values=nan``) is left out.

    STAC servers reject such documents (``NaN`` is not JSON): rustac stops with "expected value".
    """
    return {k: v for k, v in values.items() if not (isinstance(v, float) and not math.isfinite(v))}


def _add_mlm(item: Any, model: ModelDescription, classes: ClassTable) -> None:
    """Describe ``model`` on ``item`` with the Machine Learning Model (mlm) and version extensions."""
    from pystac.extensions import mlm
    from pystac.extensions.version import VersionExtension

    mlm_classes = [
        mlm.Classification.create(value=c.id, name=c.name, description=c.label, color_hint=c.colour.lstrip("#").upper())
        for c in classes.classes
    ]
    bands = list(model.bands)
    n_inputs = len(model.features) or len(bands)
    model_input = mlm.ModelInput.create(
        name="pixel time series" if model.features else "image tile",
        bands=bands,
        input=mlm.InputStructure.create(
            shape=[-1, int(model.n_times), len(bands)] if model.features else [-1, len(bands), -1, -1],
            dim_order=["batch", "time", "bands"] if model.features else ["batch", "bands", "height", "width"],
            data_type=mlm.DataType.FLOAT32,
        ),
        description=(
            f"Monthly cloud-masked median reflectance; {n_inputs} per-pixel features derived with {model.preprocessing}"
            if model.features
            else "Monthly cloud-masked median reflectance"
        ),
        pre_processing_function=mlm.ProcessingExpression.create(format="python", expression=model.preprocessing),
    )
    model_output = mlm.ModelOutput.create(
        name="class probabilities",
        tasks=[mlm.TaskType(t) for t in model.tasks],
        result=mlm.ResultStructure.create(
            shape=[-1, len(classes)], dim_order=["batch", "channel"], data_type=mlm.DataType.FLOAT32
        ),
        classes=mlm_classes,
        description="Score per class (a random forest's mean tree vote); the class map is the arg max",
    )
    ext = mlm.MLMExtension.ext(item, add_if_missing=True)
    ext.apply(
        name=model.name,
        architecture=model.architecture,
        tasks=[mlm.TaskType(t) for t in model.tasks],
        input=[model_input],
        output=[model_output],
        framework=model.framework,
        framework_version=model.framework_version,
        pretrained=False,
        accelerator=mlm.AcceleratorType.AMD64,
        total_parameters=model.total_parameters,
        hyperparameters=mlm.Hyperparameters(_json_safe(model.hyperparameters)) if model.hyperparameters else None,
    )
    if model.features:
        item.properties["geoml:features"] = list(model.features)
    VersionExtension.ext(item, add_if_missing=True).version = str(model.version)


def prediction_item(
    item_id: str,
    *,
    bounds: Sequence[float],
    crs: str,
    start: str,
    end: str,
    assets: Mapping[str, str | os.PathLike[str]],
    shape: Sequence[int],
    transform: Sequence[float],
    model: ModelDescription,
    classes: ClassTable,
    class_percentages: Mapping[int, float] | None = None,
    properties: Mapping[str, Any] | None = None,
    collection_href: str | None = None,
):
    """A ``pystac.Item`` for a predicted class map and its vote-share band.

    Parameters
    ----------
    item_id : str
    bounds : (xmin, ymin, xmax, ymax)
        In ``crs``.
    crs : str
        E.g. ``"EPSG:32734"``.
    start, end : str
        ISO 8601 time range of the imagery the prediction used.
    assets : mapping
        ``classification`` (required: the class-map COG), optionally
        ``vote_share`` (COG) and ``model`` (the model file); paths become ``file://`` hrefs.
    shape, transform : sequence
        ``(rows, cols)`` and the affine's first six numbers (projection extension).
    model : ModelDescription
    classes : ClassTable
        The project's classes: raster id, name, label (the description) and colour of each.
    class_percentages : mapping, optional
        Class id -> percent of mapped pixels.
    properties : mapping, optional
        Extra properties (e.g. ``{"geoml:overall_accuracy": 0.9}``).
    collection_href : str, optional
        Where the collection lives (e.g. ``f"{api}/collections/{PREDICTION_COLLECTION_ID}"``).

    Returns
    -------
    pystac.Item
    """
    import pystac
    from pyproj import Transformer
    from pystac.extensions.projection import ProjectionExtension
    from shapely.geometry import Polygon, box, mapping

    if "classification" not in assets:
        raise ValueError("assets needs a 'classification' entry: the path of the class-map COG.")
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xmin, ymin, xmax, ymax = bounds
    footprint = box(xmin, ymin, xmax, ymax).segmentize(max(xmax - xmin, ymax - ymin) / 8)
    lonlat = [to_ll.transform(x, y) for x, y in footprint.exterior.coords]
    geometry = Polygon(lonlat)
    item = pystac.Item(
        id=item_id,
        geometry=mapping(geometry),
        bbox=list(geometry.bounds),
        datetime=None,
        start_datetime=_parse(start),
        end_datetime=_parse(end),
        properties={
            "title": f"Land cover predicted by {model.name} v{model.version}",
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            **dict(properties or {}),
        },
        collection=PREDICTION_COLLECTION_ID,
    )
    # STAC requires a "collection" link whenever the "collection" field is set.
    item.links.append(
        pystac.Link(
            "collection", collection_href or f"./{PREDICTION_COLLECTION_ID}.json", media_type=pystac.MediaType.JSON
        )
    )
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.code = crs
    proj.shape = [int(s) for s in shape]
    proj.transform = [float(t) for t in list(transform)[:6]]

    _add_assets(item, assets, model, classes, class_percentages)
    _add_mlm(item, model, classes)
    return item


# ------------------------------------------------------------------ validation
REQUIRED_EXTENSION_FIELDS: dict[str, tuple[str, ...]] = {
    "mlm": ("mlm:name", "mlm:architecture", "mlm:tasks", "mlm:input", "mlm:output"),
    "version": ("version",),
    "projection": ("proj:code",),
}


def validate_item(
    item, *, schema_dir: str | os.PathLike[str] | None = None, fetch_timeout: float = 3.0
) -> dict[str, str]:
    """Validate an Item: core schema offline, extension schemas when available.

    The STAC core JSON schemas ship with pystac, so the core check always
    runs. Extension schemas live on stac-extensions.github.io: they are read
    from ``schema_dir`` (files named like the URL's path, e.g.
    ``mlm/v1.4.0/schema.json``) or fetched (``fetch_timeout``); when neither
    works (offline), the extension's required fields and pystac's own
    round-trip reading of them are checked instead, and the report says so.

    Returns
    -------
    dict
        Schema or extension -> ``"schema"`` (validated against its JSON
        schema) or ``"structural (schema not available offline)"``.

    Raises
    ------
    StacValidationError
        With the first problem found.
    """
    import jsonschema
    import pystac
    import pystac.validation
    from pystac.extensions import mlm
    from pystac.extensions.classification import ClassificationExtension

    data = item.to_dict(include_self_link=False)
    report: dict[str, str] = {}
    core = dict(data, stac_extensions=[])
    try:
        pystac.validation.validate_dict(core, stac_object_type=pystac.STACObjectType.ITEM)
    except pystac.errors.STACValidationError as exc:
        raise StacValidationError(
            f"Item {item.id!r} breaks the STAC core schema: {exc}. Fix the field it names."
        ) from exc
    report["core"] = "schema"

    for uri in data.get("stac_extensions", []):
        name = uri.split("/")[3]
        schema = _load_schema(uri, schema_dir, fetch_timeout)
        if schema is not None:
            try:
                jsonschema.validate(data, schema)
            except jsonschema.ValidationError as exc:
                raise StacValidationError(
                    f"Item {item.id!r} breaks the {name} extension schema at {list(exc.absolute_path)}: {exc.message}"
                ) from exc
            report[name] = "schema"
            continue
        for key in REQUIRED_EXTENSION_FIELDS.get(name, ()):
            if key not in data["properties"]:
                raise StacValidationError(
                    f"Item {item.id!r} declares the {name} extension but lacks its required field {key!r}."
                )
        if name == "classification":
            classes = ClassificationExtension.ext(item.assets["classification"]).classes or []
            values = [c.value for c in classes]
            if not classes or len(values) != len(set(values)) or any(not c.name for c in classes):
                raise StacValidationError(
                    f"Item {item.id!r}: classification:classes must list unique values, each with a name."
                )
        if name == "mlm":
            ext = mlm.MLMExtension.ext(item)
            if not ext.input or not ext.output or not ext.output[0].classes:
                raise StacValidationError(f"Item {item.id!r}: mlm:input and mlm:output (with classes) are required.")
        report[name] = "structural (schema not available offline)"
    return report


_FETCHED: dict[str, dict | None] = {}


def _load_schema(uri: str, schema_dir: str | os.PathLike[str] | None, timeout: float) -> dict | None:
    if schema_dir is not None:
        local = Path(schema_dir) / "/".join(uri.split("/")[3:])
        if local.is_file():
            return json.loads(local.read_text())
    if uri not in _FETCHED:  # one attempt per URL and process; once the host is unreachable, no more attempts
        host = "/".join(uri.split("/")[:3])
        if _FETCHED.get(host, True) is None:
            _FETCHED[uri] = None
            return None
        import requests

        try:
            response = requests.get(uri, timeout=timeout)
            response.raise_for_status()
            _FETCHED[uri] = response.json()
        except (requests.ConnectionError, requests.Timeout):
            _FETCHED[uri] = _FETCHED[host] = None
        except Exception:  # noqa: BLE001 - not found or not JSON: the caller falls back
            _FETCHED[uri] = None
    return _FETCHED[uri]


# ------------------------------------------------------------------ publishing
def publish_item(server, item, collection: dict | None = None) -> str:
    """Add ``item`` (and its collection, if the server lacks it) to a running :class:`LocalStacServer`.

    Returns
    -------
    str
        The server's URL (the same port as before).
    """
    data = item.to_dict(include_self_link=False) if hasattr(item, "to_dict") else dict(item)
    have = {c.get("id") for c in server.collections}
    new_collections = [collection] if collection is not None and collection.get("id") not in have else []
    if data.get("collection") not in have and not new_collections:
        raise ValueError(
            f"The server has no collection {data.get('collection')!r}; pass `collection=prediction_collection(...)`."
        )
    server.restart_with(collections=new_collections, items=[data])
    return server.url


def find_published(
    url: str,
    item_id: str,
    *,
    collection: str = PREDICTION_COLLECTION_ID,
    bbox: Sequence[float] | None = None,
    timeout: float = 10.0,
):
    """Find an Item again through the STAC API with pystac-client.

    Raises
    ------
    EmptySearchError
        If the search returns nothing.
    """
    import pystac_client

    client = pystac_client.Client.open(url, timeout=timeout)
    search = client.search(
        collections=[collection], ids=[item_id], bbox=list(bbox) if bbox is not None else None, max_items=5
    )
    found = list(search.items())
    if not found:
        raise EmptySearchError(
            f"No item {item_id!r} in collection {collection!r} at {url}. Publish it first with "
            "publish_item(server, item, collection)."
        )
    return found[0]
