"""A picture of a chunk layout: which stored chunks one map and one pixel's time series touch.

A ``(time, band, y, x)`` cube is drawn as a grid with the (date, band) pairs down the
side and the pixels of one row of tiles across. Each rectangle is one stored chunk,
coloured by the reads that touch it: a map (one date and band, every pixel) and one
pixel's series (every date and band, one pixel). The titles count the chunks each read
touches in the whole cube, so the picture and :func:`geoml_helpers.scale.rechunk.measure_access`
tell the same story: a read costs every chunk it touches.

Examples
--------
>>> sorted(CHUNK_READ_COLOURS)
['both', 'map', 'not read', 'pixel series']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["CHUNK_READ_COLOURS", "chunk_layout_plot"]

CHUNK_READ_COLOURS: dict[str, str] = {
    "not read": "#dddddd",
    "map": "#E69F00",
    "pixel series": "#0072B2",
    "both": "#CC79A7",
}
"""Colour of a chunk by the reads that touch it (Okabe-Ito, readable by colour-blind readers)."""


def _touched(sizes: Mapping[str, int], chunks: Mapping[str, int]) -> dict[str, int]:
    """Stored chunks read by one map (one date and band) and by one pixel's whole time series.

    Parameters
    ----------
    sizes, chunks : mapping
        Size and chunk size of ``time``, ``band``, ``y`` and ``x``.

    (the closed form of :func:`geoml_helpers.scale.rechunk.measure_access`'s count for one map and one pixel)
    """
    count = {d: math.ceil(sizes[d] / min(chunks[d], sizes[d])) for d in ("time", "band", "y", "x")}
    return {"map": count["y"] * count["x"], "pixel_timeseries": count["time"] * count["band"]}


def _rectangles(sizes: Mapping[str, int], chunks: Mapping[str, int], band: int, pixel_x: int) -> list[tuple]:
    n_time, n_band, n_x = sizes["time"], sizes["band"], sizes["x"]
    ct, cb, cx = (min(chunks[d], sizes[d]) for d in ("time", "band", "x"))
    # (date, band) pairs are rows t * n_band + b: a chunk is one block of rows when it holds every band
    row_blocks = []
    for t0 in range(0, n_time, ct):
        times = range(t0, min(t0 + ct, n_time))
        if cb >= n_band:
            row_blocks.append((times[0] * n_band, (times[-1] + 1) * n_band, times, range(n_band)))
        else:
            for t in times:
                for b0 in range(0, n_band, cb):
                    bands = range(b0, min(b0 + cb, n_band))
                    row_blocks.append((t * n_band + b0, t * n_band + bands[-1] + 1, range(t, t + 1), bands))
    rects = []
    for top, bottom, times, bands in row_blocks:
        map_rows = 0 in times and band in bands
        for x0 in range(0, n_x, cx):
            x1 = min(x0 + cx, n_x)
            pixel = x0 <= pixel_x < x1
            read = {(False, False): "not read", (True, False): "map", (False, True): "pixel series"}
            rects.append((x0, top, x1, bottom, read.get((map_rows, pixel), "both")))
    return rects


def chunk_layout_plot(
    sizes: Mapping[str, int],
    chunks: Mapping[str, int],
    *,
    name: str,
    band: int = 0,
    pixel_x: int = 0,
    width: int = 340,
    height: int = 320,
) -> Any:
    """The stored chunks of one layout, coloured by what one map and one pixel's series read.

    Parameters
    ----------
    sizes, chunks : mapping
        Size and chunk size of ``time``, ``band``, ``y`` and ``x``.
    name : str
        The layout's name, for the title.
    band : int
        Band index of the map read (on the first date).
    pixel_x : int
        Column of the pixel whose series is read.
    width, height : int
        Figure size in CSS pixels.

    Returns
    -------
    holoviews.Rectangles

    Examples
    --------
    >>> plot = chunk_layout_plot({"time": 2, "band": 2, "y": 4, "x": 4},
    ...                          {"time": 1, "band": 1, "y": 4, "x": 4}, name="spatial")
    >>> len(plot.data), plot.opts.get().kwargs["title"].split(":")[0]
    (4, 'spatial')
    """
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401  (options need a backend)
    import pandas as pd

    touched = _touched(sizes, chunks)
    frame = pd.DataFrame(_rectangles(sizes, chunks, band, pixel_x), columns=["x0", "y0", "x1", "y1", "read"])
    frame["read"] = pd.Categorical(frame["read"], categories=list(CHUNK_READ_COLOURS))
    n_map, n_pixel = touched["map"], touched["pixel_timeseries"]
    title = f"{name}: a map reads {n_map} chunk{'s' * (n_map != 1)}, a pixel {n_pixel}"
    return hv.Rectangles(frame, kdims=["x0", "y0", "x1", "y1"], vdims=["read"]).opts(
        color="read",
        cmap=CHUNK_READ_COLOURS,
        line_color="white",
        line_width=0.5,
        width=width,
        height=height,
        invert_yaxis=True,
        xlabel="x (pixels, one row of tiles)",
        ylabel="date x band",
        title=title,
        show_legend=False,
        toolbar=None,
        fontsize={"title": 10},
    )
