"""Plots land in the southern hemisphere (the UTM-south pitfall), stay small, and save offline."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer

from geoml_helpers.explore.plotting import (
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
