"""Read the Bokeh documents that HoloViews, hvplot and Panel embed in a page, without a browser.

A notebook output (and so a book page) carries each plot as Bokeh's document JSON,
``var docs_json = {...}; var render_items = [...]``; a page saved with
``hv.save(obj, path, resources="inline")`` carries it in a
``<script type="application/json">`` element. :func:`embedded_documents` finds both,
and :class:`BokehDocument` resolves the model references, decodes the (gzipped,
base64) arrays of the data sources, and answers the questions the reader checks ask:
where each plot's data lies (:meth:`BokehDocument.plots`) and which colour each legend
entry has (:meth:`BokehDocument.legend_entries`).

Examples
--------
>>> mercator_to_lonlat(0.0, 0.0)
(0.0, 0.0)
>>> [round(v, 4) for v in mercator_to_lonlat(2103453.0, -4024123.0)]
[18.8956, -33.9651]
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BokehDocument",
    "ColourScale",
    "LegendEntry",
    "PlotData",
    "embedded_documents",
    "mercator_to_lonlat",
    "to_hex",
]

_EARTH_RADIUS_M = 6378137.0
_NOTEBOOK_DOCS_RE = re.compile(r"var docs_json = (\{.*?\});\s*var render_items = (\[.*?\]);", re.DOTALL)
_FILE_DOCS_RE = re.compile(r'<script type="application/json" id="[^"]*">\s*(\{.*?\})\s*</script>', re.DOTALL)
_X_FIELDS = ("x", "xs", "left", "right", "x0", "x1")
_Y_FIELDS = ("y", "ys", "top", "bottom", "y0", "y1")
_IMAGE_GLYPHS = {"Image", "ImageRGBA", "ImageStack"}
_LINE_GLYPHS = {"Line", "MultiLine", "Step", "Segment", "Ray", "Bezier", "Quadratic"}
_PLOT_MODELS = {"Figure", "Plot", "GMap"}


def mercator_to_lonlat(x: float, y: float) -> tuple[float, float]:
    """Web Mercator (EPSG:3857) metres to ``(lon, lat)`` degrees on the sphere Bokeh and tiles use.

    Examples
    --------
    >>> [round(v, 6) for v in mercator_to_lonlat(111319.49079327357, 0.0)]
    [1.0, 0.0]
    """
    lon = math.degrees(x / _EARTH_RADIUS_M)
    lat = math.degrees(2.0 * math.atan(math.exp(y / _EARTH_RADIUS_M)) - math.pi / 2.0)
    return lon, lat


def embedded_documents(html_text: str) -> list[dict]:
    """Every Bokeh document embedded in a page: notebook outputs (``var docs_json``) and saved pages.

    Examples
    --------
    >>> embedded_documents('var docs_json = {"d": {"roots": []}};  var render_items = [];')
    [{'roots': []}]
    """
    found = []
    for pattern in (_NOTEBOOK_DOCS_RE, _FILE_DOCS_RE):
        for match in pattern.finditer(html_text):
            try:
                docs = json.loads(match.group(1))
            except json.JSONDecodeError:
                continue
            found += [doc for doc in docs.values() if isinstance(doc, dict) and "roots" in doc]
    return found


def _decode(value: Any) -> Any:
    """A Bokeh-serialised value as plain Python: ``map`` as dict, ``ndarray`` as a numpy array."""
    if isinstance(value, dict):
        kind = value.get("type")
        if kind == "ndarray":
            array = value.get("array")
            if isinstance(array, dict) and array.get("type") == "bytes":
                raw = base64.b64decode(array["data"])
                if raw[:2] == b"\x1f\x8b":
                    raw = gzip.decompress(raw)
                dtype = np.dtype(value.get("dtype", "float64")).newbyteorder(
                    "<" if value.get("order", "little") == "little" else ">"
                )
                return np.frombuffer(raw, dtype=dtype).reshape(value.get("shape") or -1)
            return np.asarray(_decode(array))
        if kind == "map":
            return {_key(k): _decode(v) for k, v in value.get("entries", [])}
        if kind in {"number"}:
            return float(value.get("value", "nan")) if isinstance(value.get("value"), str) else value.get("value")
        return value
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _key(key: Any) -> Any:
    return key if isinstance(key, (str, int, float)) else json.dumps(key)


def to_hex(colour: Any) -> str | None:
    """A Bokeh colour (``#rgb``, ``#rrggbb[aa]``, a CSS name, ``rgb(...)``, an RGB(A) list) as ``#rrggbb``.

    Examples
    --------
    >>> to_hex("#1F5E2E"), to_hex("red"), to_hex([43, 123, 214]), to_hex("rgba(43, 123, 214, 0.5)")
    ('#1f5e2e', '#ff0000', '#2b7bd6', '#2b7bd6')
    """
    if colour is None:
        return None
    if isinstance(colour, (list, tuple)) and len(colour) >= 3:
        return "#" + "".join(f"{int(round(float(c))):02x}" for c in colour[:3])
    if not isinstance(colour, str):
        return None
    text = colour.strip().lower()
    if re.fullmatch(r"#[0-9a-f]{3}", text):
        return "#" + "".join(c * 2 for c in text[1:])
    if re.fullmatch(r"#[0-9a-f]{6}([0-9a-f]{2})?", text):
        return text[:7]
    match = re.fullmatch(r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+).*\)", text)
    if match:
        return to_hex([float(v) for v in match.groups()])
    from bokeh.colors import named

    found = getattr(named, text, None)
    return found.to_hex()[:7].lower() if found is not None else None


@dataclass
class PlotData:
    """One Bokeh plot (a figure) of a document: its title, axes and the extent of its glyphs' data.

    Attributes
    ----------
    title : str
        The plot's title text ("" when it has none).
    geographic : bool
        True when an axis uses Web Mercator ticks (``MercatorTickFormatter``/``MercatorTicker``),
        which is how HoloViews/GeoViews draw every ``geo=True`` plot.
    extent : tuple of float or None
        ``(xmin, ymin, xmax, ymax)`` of the data of every glyph, in the plot's units (metres for a
        geographic plot); None when no glyph holds finite data.
    glyphs : list of str
        The glyph model names, e.g. ``["Image", "MultiPolygons"]``.
    view : tuple of float or None
        ``(xmin, ymin, xmax, ymax)`` of the ranges the plot opens on, in the plot's units, when both are
        fixed ``Range1d``; None when Bokeh fits them to the data in the browser.
    axis_labels : tuple of str
        The labels of the plot's axes (below/above first, then left/right), empty ones left out.
    """

    title: str
    geographic: bool
    extent: tuple[float, float, float, float] | None
    glyphs: list[str] = field(default_factory=list)
    view: tuple[float, float, float, float] | None = None
    axis_labels: tuple[str, ...] = ()

    @property
    def lonlat_extent(self) -> tuple[float, float, float, float] | None:
        """The data extent as ``(west, south, east, north)`` degrees (geographic plots only)."""
        if self.extent is None or not self.geographic:
            return None
        west, south = mercator_to_lonlat(self.extent[0], self.extent[1])
        east, north = mercator_to_lonlat(self.extent[2], self.extent[3])
        return west, south, east, north


@dataclass
class ColourScale:
    """How one plot colours an image: the colour mapper of its ``Image`` glyphs and the labels beside it.

    Attributes
    ----------
    plot : str
        The plot's title.
    palette : list of str
        The mapper's palette as ``#rrggbb``.
    low, high : float or None
        The value range the palette spans (None for a categorical mapper).
    legend_labels : list of str
        Labels of the plot's legend entries, and of its colour bar's overridden tick labels.
    """

    plot: str
    palette: list[str]
    low: float | None
    high: float | None
    legend_labels: list[str] = field(default_factory=list)

    def colour_of(self, value: float) -> str | None:
        """The colour a linear mapper gives ``value`` (Bokeh's rule: equal bins from low to high).

        Examples
        --------
        >>> ColourScale("map", ["#000000", "#ffffff"], 0.5, 2.5).colour_of(2)
        '#ffffff'
        """
        if self.low is None or self.high is None or not self.palette or self.high <= self.low:
            return None
        index = math.floor((value - self.low) / (self.high - self.low) * len(self.palette))
        return self.palette[min(max(index, 0), len(self.palette) - 1)]


@dataclass
class LegendEntry:
    """One legend item: its label, the glyph kind it shows and that glyph's colour (``#rrggbb``)."""

    plot: str
    label: str
    glyph: str
    colour: str | None


class BokehDocument:
    """One embedded Bokeh document with its model references resolved.

    Examples
    --------
    >>> doc = BokehDocument({"roots": [{"type": "object", "name": "Figure", "id": "p1", "attributes": {}}]})
    >>> [p.title for p in doc.plots()]
    ['']
    """

    def __init__(self, doc: dict) -> None:
        self.doc = doc
        self.models: dict[str, dict] = {}
        self._index(doc.get("roots", []))

    def _index(self, value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") == "object" and "id" in value and "name" in value:
                self.models.setdefault(value["id"], value)
            for item in value.values():
                self._index(item)
        elif isinstance(value, list):
            for item in value:
                self._index(item)

    def resolve(self, value: Any) -> Any:
        """Follow a ``{"id": ...}`` reference to its model (other values are returned as they are)."""
        if isinstance(value, dict) and set(value) == {"id"}:
            return self.models.get(value["id"], value)
        return value

    def attr(self, model: dict | None, name: str, default: Any = None) -> Any:
        """An attribute of a model, references resolved."""
        if not isinstance(model, dict):
            return default
        return self.resolve(model.get("attributes", {}).get(name, default))

    def of_type(self, *names: str) -> Iterator[dict]:
        """Every model whose name is one of ``names``."""
        return (m for m in self.models.values() if m.get("name") in names)

    def _column(self, source: dict | None, spec: Any) -> np.ndarray | None:
        """The values a glyph property takes: a field of its data source, or a fixed value."""
        if isinstance(spec, dict) and "field" in spec:
            data = _decode(self.attr(source, "data", {})) or {}
            values = data.get(spec["field"]) if isinstance(data, dict) else None
        elif isinstance(spec, dict) and "value" in spec:
            values = [spec["value"]]
        else:
            values = None if spec is None or isinstance(spec, (dict, str)) else [spec]
        if values is None:
            return None
        flat: list[float] = []
        _flatten(values, flat)
        return np.asarray(flat, dtype=float) if flat else None

    def _glyph_extent(self, renderer: dict) -> tuple[str, tuple[float, float, float, float] | None]:
        glyph = self.attr(renderer, "glyph")
        source = self.attr(renderer, "data_source")
        name = glyph.get("name", "?") if isinstance(glyph, dict) else "?"
        if name in _IMAGE_GLYPHS:
            x, y, dw, dh = (self._column(source, self.attr(glyph, key)) for key in ("x", "y", "dw", "dh"))
            if x is None or y is None or dw is None or dh is None:
                return name, None
            anchor = self.attr(glyph, "anchor", "bottom_left")
            anchor = anchor.get("value", "bottom_left") if isinstance(anchor, dict) else anchor
            fx = {"left": 0.0, "center": 0.5, "right": 1.0}.get(str(anchor).split("_")[-1], 0.0)
            fy = {"bottom": 0.0, "center": 0.5, "top": 1.0}.get(str(anchor).split("_")[0], 0.0)
            x0, y0 = x - fx * dw, y - fy * dh
            xs, ys = np.concatenate([x0, x0 + dw]), np.concatenate([y0, y0 + dh])
        else:
            xs = _stack([self._column(source, self.attr(glyph, key)) for key in _X_FIELDS])
            ys = _stack([self._column(source, self.attr(glyph, key)) for key in _Y_FIELDS])
        xs, ys = xs[np.isfinite(xs)], ys[np.isfinite(ys)]
        if not xs.size or not ys.size:
            return name, None
        return name, (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))

    def _is_geographic(self, plot: dict) -> bool:
        for side in ("below", "above", "left", "right"):
            for axis in self.attr(plot, side, []) or []:
                axis = self.resolve(axis)
                for key in ("formatter", "ticker"):
                    part = self.attr(axis, key)
                    if isinstance(part, dict) and part.get("name") in {"MercatorTickFormatter", "MercatorTicker"}:
                        return True
        return False

    def _view(self, plot: dict) -> tuple[float, float, float, float] | None:
        ends = []
        for key in ("x_range", "y_range"):
            rng = self.resolve(self.attr(plot, key))
            if not isinstance(rng, dict) or rng.get("name") != "Range1d":
                return None
            start, end = self.attr(rng, "start"), self.attr(rng, "end")
            if not all(isinstance(v, int | float) and np.isfinite(v) for v in (start, end)):
                return None
            ends.append(sorted((float(start), float(end))))
        (xmin, xmax), (ymin, ymax) = ends
        return xmin, ymin, xmax, ymax

    def _axis_labels(self, plot: dict) -> tuple[str, ...]:
        labels = []
        for side in ("below", "above", "left", "right"):
            for axis in self.attr(plot, side, []) or []:
                label = self.attr(self.resolve(axis), "axis_label")
                if isinstance(label, dict):
                    label = label.get("value", label.get("text"))
                if isinstance(label, str) and label.strip():
                    labels.append(label)
        return tuple(labels)

    def _title(self, plot: dict) -> str:
        title = self.attr(plot, "title")
        if isinstance(title, dict):
            text = self.attr(title, "text", "")
            return str(text.get("value", "") if isinstance(text, dict) else text or "")
        return str(title or "")

    def plots(self) -> list[PlotData]:
        """Every plot (figure) in the document with its title, whether it is geographic, and its data extent."""
        out = []
        for plot in self.of_type(*_PLOT_MODELS):
            extents, glyphs = [], []
            for renderer in self.attr(plot, "renderers", []) or []:
                renderer = self.resolve(renderer)
                if (
                    not isinstance(renderer, dict)
                    or renderer.get("name") != "GlyphRenderer"
                    or self.attr(renderer, "visible", True) is False
                ):
                    continue
                name, extent = self._glyph_extent(renderer)
                glyphs.append(name)
                if extent is not None:
                    extents.append(extent)
            box = None
            if extents:
                arr = np.asarray(extents)
                box = (float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max()))
            out.append(
                PlotData(
                    self._title(plot),
                    self._is_geographic(plot),
                    box,
                    glyphs,
                    view=self._view(plot),
                    axis_labels=self._axis_labels(plot),
                )
            )
        return out

    def _colour_of(self, glyph: dict, source: dict | None, label: str | None) -> list[tuple[str, str | None]]:
        """``(label, colour)`` pairs a legend item's glyph shows: one, or one per factor of a colour mapper."""
        key = "line_color" if glyph.get("name") in _LINE_GLYPHS else "fill_color"
        spec = self.attr(glyph, key)
        if key == "fill_color":
            alpha = self.attr(glyph, "fill_alpha", 1.0)
            alpha = alpha.get("value", 1.0) if isinstance(alpha, dict) else alpha
            if spec is None or (isinstance(alpha, (int, float)) and alpha == 0):
                spec = self.attr(glyph, "line_color")  # outlines only: the line shows the class
        if isinstance(spec, dict) and "transform" in spec:
            mapper = self.resolve(spec["transform"])
            factors = [str(f) for f in _decode(self.attr(mapper, "factors", [])) or []]
            palette = list(_decode(self.attr(mapper, "palette", [])) or [])
            nan = self.attr(mapper, "nan_color", "gray")
            mapping = {f: (palette[i % len(palette)] if palette else nan) for i, f in enumerate(factors)}
            if label is not None:
                return [(label, to_hex(mapping.get(label, nan)))]
            values = self._column_values(source, spec.get("field"))
            return [(str(v), to_hex(mapping.get(str(v), nan))) for v in dict.fromkeys(values)]
        if isinstance(spec, dict) and "field" in spec:
            values = self._column_values(source, spec["field"])
            return [(label or "", to_hex(values[0]) if values else None)]
        if isinstance(spec, dict) and "value" in spec:
            spec = spec["value"]
        return [(label or "", to_hex(spec))]

    def _column_values(self, source: dict | None, name: str | None) -> list:
        data = _decode(self.attr(source, "data", {})) or {}
        values = data.get(name) if isinstance(data, dict) and name else None
        return list(np.asarray(values).ravel()) if values is not None else []

    def colour_scales(self) -> list[ColourScale]:
        """The colour mapper of every plot that draws an ``Image`` glyph, with the plot's legend labels."""
        out = []
        for plot in self.of_type(*_PLOT_MODELS):
            mappers = {}
            for renderer in self.attr(plot, "renderers", []) or []:
                glyph = self.attr(self.resolve(renderer), "glyph")
                if isinstance(glyph, dict) and glyph.get("name") == "Image":
                    mapper = self.attr(glyph, "color_mapper")
                    if isinstance(mapper, dict):
                        mappers[mapper.get("id")] = mapper
            if not mappers:
                continue
            title = self._title(plot)
            labels = [e.label for e in self.legend_entries() if e.plot == title]
            sides = [
                self.resolve(r)
                for side in ("center", "right", "left", "above", "below")
                for r in self.attr(plot, side, []) or []
            ]
            for bar in (m for m in sides if isinstance(m, dict) and m.get("name") == "ColorBar"):
                overrides = _decode(self.attr(bar, "major_label_overrides", {})) or {}
                labels += [str(v) for v in (overrides.values() if isinstance(overrides, dict) else [])]
            for mapper in mappers.values():
                palette = [to_hex(c) or "" for c in _decode(self.attr(mapper, "palette", [])) or []]
                low, high = self.attr(mapper, "low"), self.attr(mapper, "high")
                numeric = isinstance(low, (int, float)) and isinstance(high, (int, float))
                out.append(
                    ColourScale(
                        title, palette, float(low) if numeric else None, float(high) if numeric else None, labels
                    )
                )
        return out

    def legend_entries(self) -> list[LegendEntry]:
        """Every legend entry of every plot, with the colour its glyph is drawn in."""
        out = []
        for plot in self.of_type(*_PLOT_MODELS):
            title = self._title(plot)
            legends = [
                self.resolve(r)
                for side in ("center", "right", "left", "above", "below")
                for r in self.attr(plot, side, []) or []
            ]
            for legend in (m for m in legends if isinstance(m, dict) and m.get("name") == "Legend"):
                for item in self.attr(legend, "items", []) or []:
                    item = self.resolve(item)
                    label_spec = self.attr(item, "label")
                    label = (
                        label_spec.get("value")
                        if isinstance(label_spec, dict) and "value" in label_spec
                        else (label_spec if isinstance(label_spec, str) else None)
                    )
                    for renderer in self.attr(item, "renderers", []) or []:
                        renderer = self.resolve(renderer)
                        glyph, source = self.attr(renderer, "glyph"), self.attr(renderer, "data_source")
                        if not isinstance(glyph, dict):
                            continue
                        if label is None and isinstance(label_spec, dict) and "field" in label_spec:
                            pairs = self._colour_of(glyph, source, None)
                        else:
                            pairs = self._colour_of(glyph, source, label)
                        out += [LegendEntry(title, str(text), glyph.get("name", "?"), colour) for text, colour in pairs]
                        break  # one renderer shows the item's colour
        return out


def _flatten(values: Any, out: list[float]) -> None:
    values = _decode(values)
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "fiu":
            out.extend(values.astype(float).ravel().tolist())
        return
    if isinstance(values, (list, tuple)):
        for value in values:
            _flatten(value, out)
    elif isinstance(values, (int, float)) and not isinstance(values, bool):
        out.append(float(values))


def _stack(parts: list[np.ndarray | None]) -> np.ndarray:
    found = [p for p in parts if p is not None]
    return np.concatenate(found) if found else np.asarray([], dtype=float)
