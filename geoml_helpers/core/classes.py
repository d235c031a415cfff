"""The class table: one place that says what each class is called and how it is drawn.

Every raster in the course stores classes as small contiguous integers
(``1..K``, with ``0`` meaning "no class"). A user's labels may use any codes
(``10, 20, 40`` or strings such as ``"forest"``); the :class:`ClassTable`
maps those codes to the raster ids, and carries a name (machine-friendly),
a label (for legends and tables) and a colour for each class. Plots, COG
colour tables, STAC ``classification:classes`` and model heads all read the
table, so a class keeps its name and colour from the first map to the last.

Without colours from the user, classes get a colour-blind-safe palette
(Okabe & Ito 2008, then Paul Tol's "muted" scheme), in a stable order.

Examples
--------
>>> table = ClassTable.from_codes([40, 10, 20, 10])
>>> table.ids
[1, 2, 3]
>>> table.id_of(40), table.names[1]
(3, '10')
>>> ClassTable.from_codes(["water", "forest"]).names
{1: 'forest', 2: 'water'}
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["NODATA_CLASS", "PALETTE", "ClassInfo", "ClassTable"]

NODATA_CLASS: int = 0
"""Raster value for "no class" in label and prediction rasters."""

PALETTE: tuple[str, ...] = (
    # Okabe & Ito (2008), black left out: it is the colour of nodata in most viewers.
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    # Paul Tol's "muted" scheme, for projects with more classes.
    "#332288",
    "#88CCEE",
    "#44AA99",
    "#117733",
    "#999933",
    "#DDCC77",
    "#CC6677",
    "#882255",
    "#AA4499",
)
"""Colour-blind-safe colours given to classes that have none, in order."""

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class ClassInfo:
    """One class: its raster id, the user's code, a name, a legend label and a colour.

    Examples
    --------
    >>> ClassInfo(1, 10, "forest", "Forest", "#117733").rgba
    (17, 119, 51, 255)
    """

    id: int
    code: int | str
    name: str
    label: str
    colour: str

    @property
    def rgba(self) -> tuple[int, int, int, int]:
        """The colour as an 8-bit RGBA tuple (for GeoTIFF colour tables)."""
        r, g, b = (int(self.colour[i : i + 2], 16) for i in (1, 3, 5))
        return (r, g, b, 255)


@dataclass(frozen=True)
class ClassTable:
    """The classes of a project, in raster-id order (ids ``1..K``).

    Build one with :meth:`from_codes` (from the codes found in the labels,
    optionally with names and colours the user gave) or :meth:`from_records`
    (from a project file's table).

    Examples
    --------
    >>> table = ClassTable.from_codes([1, 2], names={1: "fynbos", 2: "invasive_trees"},
    ...                               colours={1: "#9bbf4a", 2: "#1f5e2e"})
    >>> table.colours[2], table.labels[2]
    ('#1f5e2e', 'Invasive trees')
    >>> table.colormap()[0]
    (0, 0, 0, 0)
    """

    classes: tuple[ClassInfo, ...]

    def __post_init__(self) -> None:
        ids = [c.id for c in self.classes]
        if ids != list(range(1, len(ids) + 1)):
            raise ValueError(f"class ids must be 1..{len(ids)} in order, got {ids}")
        for field in ("code", "name"):
            values = [getattr(c, field) for c in self.classes]
            if len(set(values)) != len(values):
                raise ValueError(f"class {field}s must be unique, got {values}; give each class its own {field}")
        for c in self.classes:
            if not _HEX.match(c.colour):
                raise ValueError(f"class {c.name!r} has colour {c.colour!r}; use a hex colour such as '#1f5e2e'")

    # construction -----------------------------------------------------------------
    @classmethod
    def from_codes(
        cls,
        codes: Iterable[int | str],
        *,
        names: Mapping[int | str, str] | None = None,
        labels: Mapping[int | str, str] | None = None,
        colours: Mapping[int | str, str] | None = None,
    ) -> ClassTable:
        """Build a table from the class codes found in the labels.

        Codes are sorted (numbers numerically, strings alphabetically) so the
        same labels always give the same ids and colours. ``names``,
        ``labels`` and ``colours`` map a code to its value; missing entries are
        derived (the code as name, a title-cased label, the next palette colour
        not already taken).

        Examples
        --------
        >>> t = ClassTable.from_codes(["urban", "crop", "urban"])
        >>> [(c.id, c.code, c.colour) for c in t.classes]
        [(1, 'crop', '#E69F00'), (2, 'urban', '#56B4E9')]
        """
        unique = sorted(set(codes), key=lambda c: (isinstance(c, str), c))
        if not unique:
            raise ValueError("no class codes given: the labels have no classes; check the class column")
        names, labels, colours = dict(names or {}), dict(labels or {}), dict(colours or {})
        taken = {v.lower() for v in colours.values()}
        free = iter([p for p in PALETTE if p.lower() not in taken])
        infos = []
        for class_id, code in enumerate(unique, start=1):
            name = str(names.get(code, code))
            colour = colours.get(code)
            if colour is None:
                colour = next(free, None)
                if colour is None:
                    raise ValueError(f"{len(unique)} classes but only {len(PALETTE)} palette colours; give colours")
            label = labels.get(code) or name.replace("_", " ").strip().capitalize()
            infos.append(ClassInfo(class_id, code, name, label, colour))
        return cls(tuple(infos))

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, object]]) -> ClassTable:
        """Build a table from records with ``code`` and optional ``name``, ``label``, ``colour``.

        The records' order is kept: the first record gets id 1.

        Examples
        --------
        >>> ClassTable.from_records([{"code": 20, "name": "water"}, {"code": 10}]).names
        {1: 'water', 2: '10'}
        """
        records = list(records)
        derived = ClassTable.from_codes(
            [r["code"] for r in records],  # type: ignore[misc]
            colours={r["code"]: r["colour"] for r in records if r.get("colour")},  # type: ignore[misc]
        )
        infos = []
        for class_id, record in enumerate(records, start=1):
            code = record["code"]
            name = str(record.get("name") or code)
            label = str(record.get("label") or name.replace("_", " ").strip().capitalize())
            colour = str(record.get("colour") or derived.colours[derived.id_of(code)])  # type: ignore[arg-type]
            infos.append(ClassInfo(class_id, code, name, label, colour))  # type: ignore[arg-type]
        return cls(tuple(infos))

    # lookups ----------------------------------------------------------------------
    @property
    def ids(self) -> list[int]:
        """Raster ids ``1..K``."""
        return [c.id for c in self.classes]

    @property
    def names(self) -> dict[int, str]:
        """Raster id to machine-friendly name."""
        return {c.id: c.name for c in self.classes}

    @property
    def labels(self) -> dict[int, str]:
        """Raster id to legend label."""
        return {c.id: c.label for c in self.classes}

    @property
    def colours(self) -> dict[int, str]:
        """Raster id to hex colour."""
        return {c.id: c.colour for c in self.classes}

    def colour_of_label(self) -> dict[str, str]:
        """Legend label to colour, for plots grouped by label (``hv.dim(...).categorize``).

        Examples
        --------
        >>> ClassTable.from_codes(["a"]).colour_of_label()
        {'A': '#E69F00'}
        """
        return {c.label: c.colour for c in self.classes}

    def id_of(self, code: int | str) -> int:
        """The raster id of a user's class code.

        Examples
        --------
        >>> ClassTable.from_codes([10, 20]).id_of(20)
        2
        """
        for c in self.classes:
            if c.code == code or str(c.code) == str(code):
                return c.id
        known = ", ".join(repr(c.code) for c in self.classes)
        raise KeyError(f"class code {code!r} is not in the class table ({known}); add it to the project's classes")

    def __len__(self) -> int:
        return len(self.classes)

    # outputs ------------------------------------------------------------------------
    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        """RGBA colour table for GeoTIFFs, with ``0`` (no class) transparent."""
        return {NODATA_CLASS: (0, 0, 0, 0)} | {c.id: c.rgba for c in self.classes}

    def to_records(self) -> list[dict[str, object]]:
        """The table as plain records (for TOML, JSON and STAC).

        Examples
        --------
        >>> ClassTable.from_codes([5]).to_records()
        [{'id': 1, 'code': 5, 'name': '5', 'label': '5', 'colour': '#E69F00'}]
        """
        return [
            {"id": c.id, "code": c.code, "name": c.name, "label": c.label, "colour": c.colour} for c in self.classes
        ]

    def to_json(self) -> str:
        """The records as compact JSON (for GeoTIFF tags)."""
        return json.dumps(self.to_records(), separators=(",", ":"))
