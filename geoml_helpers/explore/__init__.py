"""Explore: plotting helpers and the interactive dashboard.

Used by notebook 03 (explore with HoloViz). Internal code imports from the modules, not from this package,
so that the stage packages never import each other in a cycle.
"""
from geoml_helpers.explore.class_plots import (
    class_colour_cycle,
    class_legend,
    class_lines,
    class_map,
    label_overlay,
)
from geoml_helpers.explore.dashboard import (
    DASHBOARD_TITLE,
    INDEX_VARIABLES,
    build_dashboard,
    dashboard_data,
    main,
)
from geoml_helpers.explore.plotting import (
    FALSE_COLOUR_BANDS,
    PLOT_BOUNDS_MIME,
    PLOT_CRS,
    RGB_BANDS,
    SWIR_BANDS,
    composite_rgb,
    element_lonlat_bounds,
    image_plot,
    lonlat_bounds_of_3857,
    polygon_overlay,
    rasterized_image,
    record_plot_bounds,
    rgb_plot,
    save_html,
    stretch,
    to_plot_crs,
    vector_to_plot_crs,
)

__all__ = [
    "class_colour_cycle",
    "class_legend",
    "class_lines",
    "class_map",
    "label_overlay",
    "DASHBOARD_TITLE",
    "FALSE_COLOUR_BANDS",
    "INDEX_VARIABLES",
    "PLOT_BOUNDS_MIME",
    "PLOT_CRS",
    "RGB_BANDS",
    "SWIR_BANDS",
    "build_dashboard",
    "composite_rgb",
    "dashboard_data",
    "element_lonlat_bounds",
    "image_plot",
    "lonlat_bounds_of_3857",
    "main",
    "polygon_overlay",
    "rasterized_image",
    "record_plot_bounds",
    "rgb_plot",
    "save_html",
    "stretch",
    "to_plot_crs",
    "vector_to_plot_crs",
]
