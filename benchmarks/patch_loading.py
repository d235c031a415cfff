"""Time-series patches from per-date COGs (the STAC items) versus from the zarr cube.

The same (time, band, 24 x 24 px) patches are read (a) with one windowed read per date and band from the
Sentinel-2 COGs of the demo STAC items, and (b) from zarr, once with notebook 02's chunks and once from a copy whose
chunks match the patches. Ratios are against the COG path measured in the same run. Goal: zarr at least 10x faster.

    python benchmarks/patch_loading.py --profile ci --patches 30

Writes build/benchmarks/patch_loading.json.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def main(argv=None) -> int:
    """Time loading the same patches with each loader, print the table and write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--patches", type=int, default=30)
    parser.add_argument("--size", type=int, default=24, help="patch side in 10 m pixels (a multiple of 6)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="build/benchmarks")
    args = parser.parse_args(argv)

    import zarr

    from geoml_helpers.core.profiles import outputs_dir
    from geoml_helpers.demo import ensure_demo_data
    from geoml_helpers.learn.deep.loader_benchmark import read_patch_from_cogs, write_benchmark_json
    from geoml_helpers.load.cube import cube_path, ensure_analysis_ready_cube
    from geoml_helpers.scale.rechunk import rechunk_to_zarr

    demo = ensure_demo_data(args.profile, root=args.data_dir, progress=False)
    cube = ensure_analysis_ready_cube(args.profile, data_dir=args.data_dir)
    refl = cube["reflectance"]
    bands = [str(b) for b in refl["band"].values]
    items = sorted(demo.s2_items(), key=lambda it: it["properties"]["datetime"])
    size = args.size
    aligned_path = outputs_dir(args.profile, "06_timeseries", data_dir=args.data_dir) / f"reflectance_tiles_{size}.zarr"
    rechunk_to_zarr(refl, aligned_path, {"y": size, "x": size})
    rng = np.random.default_rng(args.seed)
    n = refl.sizes["y"] // size
    cells = rng.choice(n * n, size=min(args.patches, n * n), replace=False)
    origins = [(int(c // n) * size, int(c % n) * size) for c in cells]

    def cogs():
        return [read_patch_from_cogs(items, bands, r, c, size) for r, c in origins]

    def from_zarr(path):
        arr = zarr.open_group(str(path), mode="r")["reflectance"]
        return [arr[:, :, r : r + size, c : c + size] for r, c in origins]

    paths = {
        "zarr, notebook-02 chunks": cube_path(args.profile, args.data_dir),
        "zarr, patch-aligned chunks": aligned_path,
    }
    timings = {}
    for name, fn in [("per-date COGs (STAC items)", cogs)] + [(k, lambda p=p: from_zarr(p)) for k, p in paths.items()]:
        fn()  # warm the OS file cache the same way for every path
        t = time.perf_counter()
        patches = fn()
        timings[name] = time.perf_counter() - t
        assert all(p.shape[-2:] == (size, size) for p in patches)
    base = timings["per-date COGs (STAC items)"]
    print(
        f"profile {args.profile}: {len(origins)} patches of {len(items)} dates x {len(bands)} bands x {size} x "
        f"{size} px (2 shared cores: noisy)"
    )
    rows = []
    for name, seconds in timings.items():
        rows.append(
            {
                "path": name,
                "seconds": seconds,
                "ms_per_patch": 1000 * seconds / len(origins),
                "speedup_vs_cog": base / seconds,
            }
        )
        print(f"  {name:<30} {1000 * seconds / len(origins):8.1f} ms/patch   x{base / seconds:6.1f} vs COGs")
    best = max(r["speedup_vs_cog"] for r in rows[1:])
    print(f"zarr vs COGs: x{best:.1f} (goal >= 10x)")
    out = write_benchmark_json(
        "patch_loading",
        {
            "profile": args.profile,
            "patches": len(origins),
            "patch_px": size,
            "dates_in_cogs": len(items),
            "dates_in_cube": refl.sizes["time"],
            "bands": len(bands),
            "rows": rows,
            "best_zarr_speedup": best,
            "goal_met": best >= 10,
        },
        args.out,
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
