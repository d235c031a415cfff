"""Land-cover classes of the demo world.

The classes are the ones that matter for conservation mapping in the Cape
Floristic Region: native fynbos against invasive alien trees (pines, wattles,
eucalypts) that use more water and raise fire intensity.

Examples
--------
>>> from geoml_helpers.demo.classes import CLASS_NAMES
>>> CLASS_NAMES[2]
'invasive_trees'
"""

from __future__ import annotations

NODATA_CLASS: int = 0
"""Value used for "no class" in label and prediction rasters."""

CLASS_NAMES: dict[int, str] = {
    1: "fynbos",
    2: "invasive_trees",
    3: "water",
    4: "bare_rock_sand",
    5: "cultivated",
    6: "built_up",
}
"""Class id to machine-friendly name; ids start at 1 so 0 can mean nodata."""

CLASS_LABELS: dict[int, str] = {
    1: "Native fynbos shrubland",
    2: "Invasive alien trees",
    3: "Water",
    4: "Bare rock / sand",
    5: "Cultivated land",
    6: "Built-up",
}
"""Class id to a human-readable label for legends and tables."""

CLASS_COLORS: dict[int, str] = {
    1: "#9bbf4a",
    2: "#1f5e2e",
    3: "#2b7bd6",
    4: "#d9c9a3",
    5: "#e6a532",
    6: "#c0392b",
}
"""Class id to hex colour, used for maps and the COG colour table."""


def class_colormap() -> dict[int, tuple[int, int, int, int]]:
    """Return the classes' colours as an RGBA colour table for GeoTIFFs.

    Examples
    --------
    >>> class_colormap()[3]
    (43, 123, 214, 255)
    """
    table: dict[int, tuple[int, int, int, int]] = {NODATA_CLASS: (0, 0, 0, 0)}
    for class_id, color in CLASS_COLORS.items():
        r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
        table[class_id] = (r, g, b, 255)
    return table


def demo_class_table():
    """The demo's classes as a :class:`~geoml_helpers.core.classes.ClassTable`.

    Examples
    --------
    >>> demo_class_table().names[3]
    'water'
    """
    from geoml_helpers.core.classes import ClassTable

    return ClassTable.from_records(
        {"code": c, "name": CLASS_NAMES[c], "label": CLASS_LABELS[c], "colour": CLASS_COLORS[c]}
        for c in sorted(CLASS_NAMES)
    )
