"""Chip loading throughput: torchgeo over the delivered COGs vs the preprocessed chip stack vs raw rasterio.

Three loaders on the same demo scene, in one run, batch 32, 256 px chips:

(a) torchgeo's default path: ``DemoSentinel2`` (a RasterDataset over the per-band
    COGs as delivered, 20/60 m bands resampled to 10 m on read) with
    ``RandomGeoSampler``, ``num_workers`` 0 and 2;
(b) the path notebook 05 teaches: the scene preprocessed once into an aligned,
    tiled (256 px), pixel-interleaved 10 m stack (``AlignedStack``), chips drawn
    on the tile grid (``BlockAlignedRandomSampler``), same DataLoader settings;
(c) the ceiling: raw ``rasterio`` reads of whole tiles of that same stack, in one process.

Prints samples/s, (b)/(a) and (b)/(c), and writes build/benchmarks/chip_loading.json.

Usage::

    python benchmarks/chip_loading.py                 # workshop profile (960 px scene), 256 px chips
    python benchmarks/chip_loading.py --profile ci --patch 128
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from geoml_helpers.learn.deep.loader_benchmark import write_benchmark_json


def _loader_rate(dataset, sampler, batch_size: int, num_workers: int, warmup_batches: int = 1) -> dict:
    from geoml_helpers.learn.deep.torchgeo_data import chip_dataloader

    loader = chip_dataloader(dataset, sampler, batch_size=batch_size, num_workers=num_workers)
    iterator = iter(loader)
    for _ in range(warmup_batches):  # worker start-up and first file opens are not throughput
        next(iterator)
    n, started = 0, time.perf_counter()
    for batch in iterator:
        n += len(batch["image"])
    seconds = time.perf_counter() - started
    del iterator, loader
    return {"samples": n, "seconds": round(seconds, 3), "samples_per_s": round(n / seconds, 1)}


def _raw_rate(stack_path: Path, patch: int, n_samples: int, batch_size: int, seed: int) -> dict:
    import rasterio
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    with rasterio.open(stack_path) as src:
        rows, cols = (src.height - patch) // patch + 1, (src.width - patch) // patch + 1
        positions = [(r * patch, c * patch) for r in range(rows) for c in range(cols)]
        src.read(window=Window(0, 0, patch, patch))  # warm-up: open, first tile
        n, started = 0, time.perf_counter()
        while n < n_samples:
            picks = rng.integers(0, len(positions), size=batch_size)
            batch = np.stack([src.read(window=Window(positions[i][1], positions[i][0], patch, patch)) for i in picks])
            n += len(batch)
        seconds = time.perf_counter() - started
    return {"samples": n, "seconds": round(seconds, 3), "samples_per_s": round(n / seconds, 1)}


def main(argv=None) -> dict:
    """Time both chip loaders, print the table and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="workshop")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--patch", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=6, help="timed batches per loader (after one warm-up batch)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="build/benchmarks/chip_loading.json")
    args = parser.parse_args(argv)

    os.environ.setdefault("GDAL_CACHEMAX", "512")  # MB; the stack's decoded tiles stay in GDAL's block cache
    import warnings

    import torch
    from torchgeo.samplers import RandomGeoSampler

    from geoml_helpers.core.profiles import outputs_dir
    from geoml_helpers.demo import ensure_demo_data
    from geoml_helpers.learn.deep.torchgeo_data import (
        AlignedStack,
        BlockAlignedRandomSampler,
        DemoSentinel2,
        build_chip_stack,
        clearest_item,
    )

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    demo = ensure_demo_data(args.profile, root=args.data_dir, progress=True)
    item = clearest_item(demo.s2_items())
    folder = outputs_dir(args.profile, "benchmarks", f"stack{args.patch}", data_dir=args.data_dir)
    started = time.perf_counter()
    stack_path = build_chip_stack(item, folder / f"{item['id']}_stack10m.tif", blocksize=args.patch)
    preprocess_s = time.perf_counter() - started
    n = args.batches * args.batch_size
    total = (args.batches + 1) * args.batch_size  # one warm-up batch
    results: dict = {"a_torchgeo_default": {}, "b_chip_stack": {}, "c_raw_rasterio": {}}

    delivered = DemoSentinel2.from_item(item)
    stack = AlignedStack(stack_path)
    for workers in args.workers:
        torch.manual_seed(args.seed)
        sampler_a = RandomGeoSampler(
            delivered, size=args.patch, length=total, generator=torch.Generator().manual_seed(args.seed)
        )
        results["a_torchgeo_default"][f"num_workers={workers}"] = _loader_rate(
            delivered, sampler_a, args.batch_size, workers
        )
        print(
            f"(a) torchgeo default, num_workers={workers}: "
            f"{results['a_torchgeo_default'][f'num_workers={workers}']['samples_per_s']} samples/s",
            flush=True,
        )
        sampler_b = BlockAlignedRandomSampler(stack, size=args.patch, align=args.patch, length=total, seed=args.seed)
        results["b_chip_stack"][f"num_workers={workers}"] = _loader_rate(stack, sampler_b, args.batch_size, workers)
        print(
            f"(b) chip stack,       num_workers={workers}: "
            f"{results['b_chip_stack'][f'num_workers={workers}']['samples_per_s']} samples/s",
            flush=True,
        )
    results["c_raw_rasterio"]["single process"] = _raw_rate(stack_path, args.patch, n, args.batch_size, args.seed)
    print(
        f"(c) raw rasterio block reads: {results['c_raw_rasterio']['single process']['samples_per_s']} samples/s",
        flush=True,
    )

    ratios = {}
    c = results["c_raw_rasterio"]["single process"]["samples_per_s"]
    for workers in args.workers:
        key = f"num_workers={workers}"
        a = results["a_torchgeo_default"][key]["samples_per_s"]
        b = results["b_chip_stack"][key]["samples_per_s"]
        ratios[key] = {"b_over_a": round(b / a, 2), "b_over_c": round(b / c, 2)}
        print(f"{key}: (b)/(a) = {b / a:.1f}x (goal >= 3)   (b)/(c) = {b / c:.0%} (goal >= 50%)")
    report = {
        "benchmark": "chip_loading",
        "profile": args.profile,
        "scene": item["id"],
        "scene_px": demo.profile.size_px,
        "patch_px": args.patch,
        "batch_size": args.batch_size,
        "timed_samples_per_loader": n,
        "bands": 11,
        "preprocess_seconds": round(preprocess_s, 2),
        "gdal_cachemax_mb": os.environ.get("GDAL_CACHEMAX"),
        "results": results,
        "ratios": ratios,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": "shared 2-core machine; timings are noisy",
        },
    }
    out = write_benchmark_json(Path(args.output).stem, report, Path(args.output).parent)
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
