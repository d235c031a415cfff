"""Plots land in the southern hemisphere (the UTM-south pitfall), stay small, and save offline."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer

from geoml_helpers.core import resolve_project
from geoml_helpers.course.browser import find_chromium
from geoml_helpers.discover import prepare_labels
from geoml_helpers.explore import class_map, image_plot, label_overlay, plot_title, record_plot_bounds
from geoml_helpers.explore.plotting import (
    MAX_FIGURE_WIDTH,
    composite_rgb,
    element_lonlat_bounds,
    polygon_overlay,
    rasterized_image,
    rgb_plot,
    save_html,
    to_plot_crs,
)


@pytest.fixture(scope="module")
def true_lonlat(demo_ci):
    xmin, ymin, xmax, ymax = demo_ci.bounds
    t = Transformer.from_crs(demo_ci.crs, 4326, always_xy=True)
    (w, e), (s, n) = t.transform([xmin, xmax], [ymin, ymax])
    return w, s, e, n


def _close(a, b, tol=0.005):
    return all(abs(x - y) < tol for x, y in zip(a, b))


def test_to_plot_crs_keeps_location_and_values(cube, true_lonlat):
    ndvi = cube["ndvi"].isel(time=0)
    projected = to_plot_crs(ndvi)
    assert "spatial_ref" not in projected.coords
    assert projected.attrs["source_crs"] == "EPSG:32734"
    t = Transformer.from_crs(3857, 4326, always_xy=True)
    lon, lat = t.transform(float(projected.x.mean()), float(projected.y.mean()))
    assert lat < -33 and 18 < lon < 20  # Stellenbosch, not 63 N
    assert abs(np.nanmean(projected.values) - float(ndvi.mean())) < 0.02
    # Several extra dims are reprojected plane by plane.
    multi = to_plot_crs(cube["reflectance"].isel(time=[0, 1]).sel(band=["red", "nir"]), max_pixels=100)
    assert multi.dims == ("time", "band", "y", "x") and max(multi.sizes["y"], multi.sizes["x"]) <= 110


def test_elements_land_in_the_right_place(cube, demo_ci, true_lonlat):
    rgb = composite_rgb(cube["reflectance"].isel(time=[0, 1]))
    assert float(rgb.min()) >= 0 and float(rgb.max()) <= 1
    slider = rgb_plot(rgb)
    assert len(slider) == 2  # one embedded frame per time step
    assert _close(element_lonlat_bounds(slider), true_lonlat)
    image = rasterized_image(cube["ndvi"].isel(time=0), width=120, height=120)
    assert image.dimension_values(2, flat=False).shape == (120, 120)  # aggregated, not the full array
    assert _close(element_lonlat_bounds(image), true_lonlat)
    labels = polygon_overlay(demo_ci.read_labels())
    lab_bounds = element_lonlat_bounds(labels)
    assert true_lonlat[1] - 0.005 < lab_bounds[1] < lab_bounds[3] < true_lonlat[3] + 0.005


def test_saved_page_is_self_contained_and_small(cube, demo_ci, tmp_path):
    overlay = rgb_plot(composite_rgb(cube["reflectance"].isel(time=[0]))) * polygon_overlay(demo_ci.read_labels())
    size = save_html(overlay, tmp_path / "overlay.html")
    text = (tmp_path / "overlay.html").read_text()
    assert "cdn.bokeh.org" not in text  # BokehJS inline: renders offline
    assert size < 10_000_000


# --- Placement as the book draws it, and sizes that fit the page -----------------------------------------------


def _drawn(obj, path) -> dict[str, tuple[float, float, float, float]]:
    """Every geographic plot's drawn data extent (degrees) by title, read from the saved Bokeh document.

    The same reader as the book's placement check: what Bokeh draws, not what the element claims.
    """
    import holoviews as hv

    from geoml_helpers.course.bokeh_json import BokehDocument, embedded_documents

    hv.save(obj, path, resources="cdn")
    plots = [p for doc in embedded_documents(path.read_text()) for p in BokehDocument(doc).plots()]
    return {p.title: p.lonlat_extent for p in plots if p.geographic and p.lonlat_extent is not None}


def _half_pixel_deg(resolution_m: float, lat: float) -> tuple[float, float]:
    """Half a pixel of ``resolution_m`` in degrees of longitude and latitude at ``lat``."""
    return 0.5 * resolution_m / (111_320 * np.cos(np.radians(lat))), 0.5 * resolution_m / 110_574


def _assert_within_half_a_pixel(drawn, truth, resolution_m):
    tol_lon, tol_lat = _half_pixel_deg(resolution_m, truth[1])
    off = [abs(a - b) for a, b in zip(drawn, truth)]
    assert off[0] <= tol_lon and off[2] <= tol_lon, (drawn, truth, off)
    assert off[1] <= tol_lat and off[3] <= tol_lat, (drawn, truth, off)


def test_every_map_is_drawn_where_its_data_is_to_half_a_pixel(cube, demo_ci, tmp_path):
    """Class map of the truth COG, NDVI image, RGB slider and label outlines, as rendered: within half a pixel.

    The 04/08 maps were once drawn 0.19 degrees south of their COGs; a check of +-0.5 degrees let that pass.
    """
    import rioxarray

    prepared = prepare_labels(resolve_project(None, "ci"), demo_ci.root.parent)
    truth_file = demo_ci.truth_path
    with rioxarray.open_rasterio(truth_file) as raster:
        landcover = raster.squeeze("band", drop=True).load()
    resolution = abs(float(landcover.rio.resolution()[0]))
    truth_bounds = record_plot_bounds("Land cover", truth_file)
    cube_bounds = record_plot_bounds("NDVI", cube)
    plots = {
        "Land cover": class_map(landcover, prepared.classes, title="Land cover", width=600),
        "Land cover (coarse)": class_map(landcover, prepared.classes, title="Land cover (coarse)", max_pixels=60),
        "NDVI": image_plot(cube["ndvi"].isel(time=0), title="NDVI"),
        "RGB": rgb_plot(composite_rgb(cube["reflectance"].isel(time=[0, 1])), title="RGB"),
    }
    for title, plot in plots.items():
        drawn = _drawn(plot, tmp_path / "plot.html")[title]
        truth = truth_bounds if title.startswith("Land cover") else cube_bounds
        pixel_m = resolution * landcover.sizes["x"] / 60 if "coarse" in title else resolution
        _assert_within_half_a_pixel(drawn, truth, pixel_m)
    outlines = label_overlay(prepared.labels, prepared.classes).opts(title="Labels")
    drawn = _drawn(outlines, tmp_path / "labels.html")["Labels"]
    assert max(abs(a - b) for a, b in zip(drawn, record_plot_bounds("Labels", prepared.labels))) < 1e-6


def test_a_coarse_class_map_keeps_the_class_ids(demo_ci):
    """Shrinking a class raster for display takes the most frequent class, never the mean of two ids."""
    import rioxarray

    with rioxarray.open_rasterio(demo_ci.truth_path) as raster:
        landcover = raster.squeeze("band", drop=True).load()
    small = to_plot_crs(landcover, max_pixels=50)
    assert max(small.sizes["y"], small.sizes["x"]) <= 50
    values = np.unique(small.values[np.isfinite(small.values)])
    assert set(values.tolist()) <= set(np.unique(landcover.values).tolist())


def test_record_plot_bounds_reads_the_title_from_the_plot(cube):

    plot = image_plot(cube["ndvi"].isel(time=0), title="NDVI in March")
    assert plot_title(plot) == "NDVI in March"
    assert record_plot_bounds(plot, cube) == record_plot_bounds("NDVI in March", cube)
    assert plot_title(rgb_plot(composite_rgb(cube["reflectance"].isel(time=[0, 1])), title="Slider")) == "Slider"
    with pytest.raises(ValueError, match="no title"):
        record_plot_bounds(image_plot(cube["ndvi"].isel(time=0)), cube)


@pytest.mark.skipif(find_chromium() is None, reason="needs Debian's chromium")
def test_maps_are_no_wider_than_asked_in_chromium(cube, demo_ci, tmp_path):
    """Each map helper, rendered by Chromium in a 704 px column: no canvas or toolbar wider than ``width``."""
    import holoviews as hv
    import rioxarray
    from bokeh.embed import components
    from bokeh.resources import INLINE

    from geoml_helpers.course.browser import HeadlessChromium, serve_directory

    classes = prepare_labels(resolve_project(None, "ci"), demo_ci.root.parent).classes
    with rioxarray.open_rasterio(demo_ci.truth_path) as raster:
        landcover = raster.squeeze("band", drop=True).load()
    ndvi = cube["ndvi"].isel(time=0)
    rgb = composite_rgb(cube["reflectance"].isel(time=0))
    asked = {
        "class_map_380": (class_map(landcover, classes, title="a", width=380), 380),
        "class_map_900": (class_map(landcover, classes, title="b", width=900), MAX_FIGURE_WIDTH),
        "image_plot_420": (image_plot(ndvi, title="c", width=420), 420),
        "image_plot_640": (image_plot(ndvi, title="d", width=640, height=600), 640),
        "rgb_plot_340": (rgb_plot(rgb, title="e", width=340), 340),
        "rasterized_300": (rasterized_image(ndvi, width=300, height=300, title="f"), 300 + 90 + 95),
    }
    for name, (plot, _) in asked.items():
        script, div = components(hv.render(plot))
        (tmp_path / f"{name}.html").write_text(
            f"<html><head>{INLINE.render_js()}</head><body><main><article style='width:704px'>"
            f"<p>{name}</p>{div}</article></main>{script}</body></html>"
        )
    with serve_directory(tmp_path) as base, HeadlessChromium() as browser:
        for name, (_, limit) in asked.items():
            check = browser.visit(base + f"{name}.html")
            widths = [box["width"] for box in check.boxes if box["kind"] == "plot"]
            assert widths and max(widths) <= limit, (name, widths, limit)
            assert max(widths) >= 0.8 * limit, (name, widths, limit)  # and not needlessly small
