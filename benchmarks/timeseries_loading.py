"""Does the loader keep the model busy? Naive vs tuned xbatcher + DataLoader pipelines on the analysis-ready cube.

A simulated 50 ms training step (``time.sleep``) stands in for the model; we measure the share of epoch time spent
in the step and the samples per second, for the naive pipeline (xbatcher defaults on the dask-backed cube as notebook
02 wrote it, ``num_workers=0``), for each knob in turn, and for the tuned pipeline, all in one run. Ratios are against
the naive pipeline measured in the same run.

    python benchmarks/timeseries_loading.py --profile ci
    python benchmarks/timeseries_loading.py --profile workshop --workers 2

Writes build/benchmarks/timeseries_loading.json.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import warnings

import torch

print = functools.partial(print, flush=True)  # noqa: A001 - show progress when piped


def main(argv=None) -> int:
    """Time the time-series loaders against a simulated training step; write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--step-ms", type=float, default=50.0)
    parser.add_argument("--batch-size", type=int, default=4, help="tiles per batch")
    parser.add_argument("--tile", type=int, default=None, help="tile side in pixels (default: half a spatial block)")
    parser.add_argument(
        "--workers", type=int, default=None, help="workers of the tuned loader (default: one per core, at least 2)"
    )
    parser.add_argument("--max-batches", type=int, default=40, help="batches per measured epoch")
    parser.add_argument("--out", default="build/benchmarks")
    args = parser.parse_args(argv)

    import xarray as xr

    from geoml_helpers.core.profiles import outputs_dir
    from geoml_helpers.demo import ensure_demo_data
    from geoml_helpers.learn.deep.loader_benchmark import measure_loader, write_benchmark_json
    from geoml_helpers.learn.deep.xbatcher_data import (
        ChunkAlignmentWarning,
        LoaderSettings,
        XBatcherDataset,
        band_statistics,
        make_loader,
    )
    from geoml_helpers.learn.features import valid_pixel_mask
    from geoml_helpers.load.cube import ensure_analysis_ready_cube
    from geoml_helpers.load.rasterize import rasterize_labels
    from geoml_helpers.scale.rechunk import rechunk_to_zarr

    torch.set_num_threads(1)
    demo = ensure_demo_data(args.profile, root=args.data_dir, progress=False)
    refl = ensure_analysis_ready_cube(args.profile, data_dir=args.data_dir)["reflectance"]
    tile = args.tile or demo.profile.block_px // 2
    path = outputs_dir(args.profile, "06_timeseries", data_dir=args.data_dir) / f"reflectance_tiles_{tile}.zarr"
    tiles = rechunk_to_zarr(refl, path, {"y": tile, "x": tile})
    labels = rasterize_labels(demo.read_labels(), refl)
    everywhere = xr.ones_like(labels)  # loader throughput: every tile with a label counts as "train"
    dims = {"time": refl.sizes["time"], "band": refl.sizes["band"], "y": tile, "x": tile}
    valid = valid_pixel_mask(tiles, require="any")
    mean, std = band_statistics(tiles)
    base = dict(mean=mean, std=std, valid_mask=valid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChunkAlignmentWarning)
        naive_ds = XBatcherDataset(refl, labels, everywhere, "train", dims, **base)
    aligned_dask = XBatcherDataset(tiles.chunk(), labels, everywhere, "train", dims, **base)
    aligned_zarr = XBatcherDataset(
        tiles, labels, everywhere, "train", dims, reader="zarr", zarr_path=path, variable="reflectance", **base
    )
    workers = args.workers if args.workers is not None else max(2, min(4, os.cpu_count() or 2))
    bs = args.batch_size
    configs = [
        ("naive: notebook-02 chunks, xbatcher/dask, 0 workers", naive_ds, LoaderSettings.naive(bs)),
        ("aligned chunks, xbatcher/dask, 0 workers", aligned_dask, LoaderSettings.naive(bs)),
        ("aligned chunks, zarr direct, 0 workers", aligned_zarr, LoaderSettings.naive(bs)),
        (
            f"aligned, dask, {workers} workers, dask threaded",
            aligned_dask,
            LoaderSettings(
                batch_size=bs,
                num_workers=workers,
                persistent_workers=True,
                prefetch_factor=4,
                multiprocessing_context="forkserver",
            ),
        ),
        (
            f"tuned: aligned, zarr direct, {workers} workers, single-threaded, persistent, prefetch 4",
            aligned_zarr,
            LoaderSettings.tuned(bs, num_workers=workers, prefetch_factor=4),
        ),
    ]
    print(
        f"profile {args.profile}: cube {dict(refl.sizes)} (zarr chunks {refl.encoding.get('chunks')}), tiles of "
        f"{tile} px, "
        f"{len(aligned_zarr)} samples, batch {bs}, simulated step {args.step_ms:.0f} ms, {os.cpu_count()} cores "
        "(shared machine: timings are noisy)"
    )
    rows = []
    for name, dataset, settings in configs:
        loader = make_loader(dataset, settings, shuffle=True, seed=0)
        m = measure_loader(
            loader,
            step_s=args.step_ms / 1000,
            epochs=2,
            max_batches=args.max_batches,
            name=name,
            settings=vars(settings) if hasattr(settings, "__dict__") else None,
        )
        rows.append(m)
        del loader
        print(
            f"  {name:<85} step share {100 * m.step_share:5.1f} %   {m.samples_per_s:7.1f} samples/s   epoch "
            f"{m.epoch_s:6.2f} s (first {m.first_epoch_s:.2f} s)"
        )
    naive, tuned = rows[0], rows[-1]
    print(
        f"tuned vs naive: step share {100 * naive.step_share:.1f} % -> {100 * tuned.step_share:.1f} % (goal >= 90 %), "
        f"samples/s x{tuned.samples_per_s / naive.samples_per_s:.1f}"
    )
    out = write_benchmark_json(
        "timeseries_loading",
        {
            "profile": args.profile,
            "step_ms": args.step_ms,
            "tile_px": tile,
            "batch_size": bs,
            "samples": len(aligned_zarr),
            "rows": rows,
            "naive_step_share": naive.step_share,
            "tuned_step_share": tuned.step_share,
            "samples_per_s_ratio": tuned.samples_per_s / naive.samples_per_s,
            "goal_met": tuned.step_share >= 0.9,
        },
        args.out,
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
